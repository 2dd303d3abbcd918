"""Optimizers (SGD, Adam, AdamW, RMSprop as fused in-place kernels; Adagrad in backend ops);
gradient clipping (minigrad/clipping.py) and the learning-rate schedules (lr_scheduler.py) under
mg.optim, as torch.optim.

Each update is torch.optim's formula, run by one backend kernel per parameter so the CUDA backend
updates on the device. ``state_dict()`` is a flat dict of arrays (it saves straight into .npz).
"""

from __future__ import annotations

import math

import numpy as np

from . import optim_kernels
from .autograd import bump_version
from .backends import backend_of, optimizer_rules
from .clipping import (  # noqa: F401 - clipping is mg.optim.clip_grad_norm_ etc., as torch's
    check_hyperparameter,
    clip_grad_norm_,
    clip_grad_value_,
    clipped_step,
)
from .tensor import Tensor


class Optimizer:
    """Holds the parameters and per-parameter state; subclasses define `_update`."""

    state_names: tuple[str, ...] = ()
    maximize = False  # torch's maximize=True: step along +g (the kernels see -g)

    def __init__(self, params, lr: float):
        if isinstance(params, Tensor):  # list() of it would be its rows: copies, never updated
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors, got "
                            f"a single Tensor of shape {params.shape}; pass [tensor]")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        first = {}
        for i, p in enumerate(self.params):
            if isinstance(p, dict):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a dict; parameter "
                                "groups (per-group options) are not supported: make one "
                                "optimizer per group")
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {i} is not a tensor that "
                                 "requires grad")
            if not p.is_leaf:  # torch's rule: a step would write a result no one reads again
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) is "
                                 "not a leaf tensor (an op made it); optimize the tensor it "
                                 "was computed from")
            # refused, not de-duplicated: a repeat would be stepped twice per step, and dropping
            # it would shift every later index of state_dict() from what the caller listed
            if first.setdefault(id(p), i) != i:
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} is parameter {first[id(p)]} again "
                    f"(shape {p.shape}); list each parameter once, e.g. "
                    "list(dict.fromkeys(params)) (Module.parameters() already does)")
        check_hyperparameter("lr", lr)
        self.lr = lr
        self.step_count = 0
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every gradient (torch's default), or with set_to_none=False fill them with 0."""
        for p in self.params:
            _zero_grad(p, set_to_none)

    def _state(self, i, p):
        s = self.state[i]
        be = backend_of(p.data)
        if not s:
            for name in self.state_names:
                s[name] = be.zeros(p.shape, p.dtype)
        elif backend_of(s[self.state_names[0]]) is not be:  # module.to(device) after some steps
            for name in self.state_names:
                s[name] = be.from_host(backend_of(s[name]).to_host(s[name]))
        return s

    def step(self, _clip=None) -> None:
        """One update of every parameter that has a gradient."""
        self.step_count += 1
        items = []
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is None:
                continue
            if grad.shape != p.data.shape:
                raise ValueError(f"parameter {i}: grad shape {grad.shape} != {p.data.shape}")
            items.append((p, grad, self._state(i, p)))
        if self.maximize:
            items, _clip = _negated(items, _clip), None
        self._update_all(items, _clip)
        for p, _, _ in items:
            bump_version(p, f"{type(self).__name__}.step")

    def _update_all(self, items, clip=None) -> None:
        """Update each (parameter, gradient, state) of one step; clip: (factor, {id: gradient})
        of clipped_step, gradients scaled in place by the factor first (and taken out)."""
        for _, g, _ in items if clip is not None else ():
            if clip[1].pop(id(g), None) is not None:
                np.multiply(g, clip[0], out=g)
        for p, g, s in items:
            self._update(p, g, s)

    def state_dict(self) -> dict:
        """Flat dict of arrays: 'step' and '<param index>.<state name>'."""
        out = {"step": np.asarray(self.step_count, dtype=np.int64)}
        for i, s in enumerate(self.state):
            for name in self.state_names:  # arrays only (SGD also keeps an 'initialised' flag)
                if name in s:
                    out[f"{i}.{name}"] = backend_of(s[name]).to_host(s[name]).copy()
        return out

    def _state_keys(self) -> set:
        """Every key a state dict of this optimizer may hold."""
        return {"step"} | {f"{i}.{name}" for i in range(len(self.params))
                           for name in self.state_names}

    def load_state_dict(self, state: dict) -> None:
        """Load what state_dict() gave, checked first: a key this optimizer would not write (a
        state dict of another optimizer, or of more parameters) is refused, naming it (it was
        ignored, so the state silently started afresh)."""
        if not hasattr(state, "keys"):
            raise TypeError(f"{type(self).__name__}.load_state_dict: state must be a dict of "
                            f"arrays, got {type(state).__name__}")
        if "step" not in state:
            raise ValueError(f"{type(self).__name__}.load_state_dict: no 'step' in the state "
                             f"dict (keys {sorted(state)[:6]})")
        unknown = sorted(set(state) - self._state_keys())
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: keys {unknown[:6]} are "
                             f"not this optimizer's ({len(self.params)} parameters, state "
                             f"{list(self.state_names)}): a state dict of another optimizer "
                             "or parameter list?")
        self.step_count = int(np.asarray(state["step"]))
        for i, p in enumerate(self.params):
            be = backend_of(p.data)
            loaded = {}
            for name in self.state_names:
                key = f"{i}.{name}"
                if key not in state:
                    continue
                array = np.asarray(state[key], dtype=p.dtype)
                if array.shape != p.shape:
                    raise ValueError(f"load_state_dict: {key} has shape {array.shape}, parameter "
                                     f"{i} has shape {p.shape}")
                loaded[name] = be.from_host(array.copy())
            if loaded and set(loaded) != set(self.state_names):
                raise ValueError(f"load_state_dict: parameter {i} has only {sorted(loaded)} of "
                                 f"{list(self.state_names)}")
            self.state[i] = loaded


def _negated(items, clip):
    """maximize: each gradient negated into a new array (p.grad keeps its sign, as torch's);
    clipped_step's scaling is applied to the gradient first, where it would have been read."""
    if clip is not None:
        factor, pending = clip
        for _, g, _ in items:
            if pending.pop(id(g), None) is not None:
                np.multiply(g, factor, out=g)
    return [(p, backend_of(g).neg(g), s) for p, g, s in items]


def _flag(owner: str, name: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def _foreach(opt, foreach) -> bool:
    """One kernel call over all parameters of a dtype and step (numpy or device arrays); the
    same scalar rule as the per-parameter kernel, so equal bit for bit: on unless asked off."""
    if foreach not in (None, True, False):
        raise ValueError(f"{type(opt).__name__}: foreach must be None, True or False, got "
                         f"{foreach!r}")
    return foreach is not False


class SGD(Optimizer):
    """p -= lr * v, v = momentum * v + (1 - dampening) * (g + weight_decay * p); torch's SGD."""

    state_names = ("velocity",)

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, foreach: bool | None = None,
                 maximize: bool = False):
        super().__init__(params, lr)
        self.maximize = _flag("SGD", "maximize", maximize)
        # one kernel call per group: by default for CUDA parameters only (a launch each saved);
        # on the CPU it measured no faster than one call per parameter, so there only if True
        _foreach(self, foreach)
        self.foreach = foreach
        check_hyperparameter("momentum", momentum)
        check_hyperparameter("weight_decay", weight_decay)
        check_hyperparameter("dampening", dampening, -math.inf)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening == 0")
        self.momentum, self.weight_decay = momentum, weight_decay
        self.dampening, self.nesterov = dampening, nesterov

    def _update_all(self, items, clip=None):
        if self.foreach is False or clip is not None:  # clip: clipped_step's (Adam's only)
            return super()._update_all(items, clip)
        # one kernel call per group of one dtype and first-step flag (optim_kernels.sgd_foreach:
        # the per-parameter kernel's rule, so equal bit for bit)
        groups: dict = {}
        for p, g, s in items:
            first = "initialised" not in s
            key = optim_kernels.group_key(p, g, first)
            arrays = [optim_kernels.flat(a) for a in (p.data, g, s["velocity"])]
            if key is None or not (key[2] or self.foreach) or any(a is None for a in arrays):
                self._update(p, g, s)
                continue
            s["initialised"] = True
            groups.setdefault(key, []).append(arrays)
        for (dtype, first, _), members in groups.items():
            hyper = optimizer_rules.sgd_hyperparameters(np.dtype(dtype), self.lr, self.momentum,
                                                        self.weight_decay, self.dampening)
            optim_kernels.sgd_foreach(*(tuple(m[k] for m in members) for k in range(3)), *hyper,
                                      nesterov=bool(self.nesterov), first=first)
        return None

    def _update(self, p, g, s):
        first = "initialised" not in s
        s["initialised"] = True
        backend_of(p.data).sgd_update(p.data, g, s["velocity"], self.lr, self.momentum,
                                      self.weight_decay, self.dampening, self.nesterov, first)

    def state_dict(self):
        out = super().state_dict()
        return {k: v for k, v in out.items() if not k.endswith(".initialised")}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for s in self.state:
            if s:
                s["initialised"] = True


class _PerParameterStep(Optimizer):
    """State dicts with each parameter's own step count ('<i>.step'): a step that gave a
    parameter no gradient does not count for it (torch's Adam and Adagrad)."""

    def state_dict(self):
        out = super().state_dict()
        for i, s in enumerate(self.state):
            if "step" in s:
                out[f"{i}.step"] = np.asarray(s["step"], dtype=np.int64)
        return out

    def _state_keys(self):
        return super()._state_keys() | {f"{i}.step" for i in range(len(self.params))}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for i, s in enumerate(self.state):
            if s:  # older state dicts had only the global count
                s["step"] = int(np.asarray(state.get(f"{i}.step", self.step_count)))


class Adam(_PerParameterStep):
    """Kingma & Ba 2015 with bias correction, torch's formula (L2 weight decay: AdamW below is
    the decoupled one); amsgrad (Reddi et al. 2018) divides by the running maximum of the
    second moment, torch's form."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, amsgrad: bool = False,
                 maximize: bool = False):
        super().__init__(params, lr)
        owner = type(self).__name__
        self.maximize = _flag(owner, "maximize", maximize)
        self.amsgrad = _flag(owner, "amsgrad", amsgrad)
        if self.amsgrad:
            self.state_names = (*Adam.state_names, "max_exp_avg_sq")
        self.foreach = _foreach(self, foreach)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        check_hyperparameter("betas[0]", betas[0], 0.0, 1.0, open_high=True)
        check_hyperparameter("betas[1]", betas[1], 0.0, 1.0, open_high=True)
        check_hyperparameter("eps", eps)
        check_hyperparameter("weight_decay", weight_decay)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update_all(self, items, clip=None):
        """clip: (factor, {id: gradient}) of clipped_step: those gradients are scaled by the
        factor (in place) as the multi-tensor kernel reads them, and taken out of the dict."""
        if self.foreach is False or self.amsgrad:  # amsgrad: per parameter, backend ops
            return super()._update_all(items, clip)
        groups: dict = {}
        for p, g, s in items:
            key = optim_kernels.group_key(p, g, s.get("step", 0) + 1)
            arrays = [optim_kernels.flat(a) for a in (p.data, g, s["exp_avg"], s["exp_avg_sq"])]
            scaled = clip is not None and clip[1].pop(id(g), None) is not None
            if key is None or any(a is None for a in arrays):
                if scaled:
                    np.multiply(g, clip[0], out=g)
                self._update(p, g, s)
                continue
            s["step"] = key[1]
            groups.setdefault((*key, scaled), []).append(arrays)
        for (dtype, step, _, scaled), members in groups.items():
            hyper = optimizer_rules.adam_hyperparameters(np.dtype(dtype), self.lr, self.betas[0],
                                                         self.betas[1], self.eps,
                                                         self._l2_decay, step)
            arrays = (tuple(m[k] for m in members) for k in range(4))
            if scaled:
                optim_kernels.adam_foreach_clipped(*arrays, clip[0], *hyper)
            else:
                optim_kernels.adam_foreach(*arrays, *hyper)
        return None

    @property
    def _l2_decay(self) -> float:
        """The weight decay added to the gradient (AdamW's is applied to the weights)."""
        return self.weight_decay

    def _update(self, p, g, s):
        # per parameter, as torch: a step that gave this parameter no gradient does not count
        s["step"] = s.get("step", 0) + 1
        if self.amsgrad:
            return self._amsgrad_update(p, g, s)
        backend_of(p.data).adam_update(p.data, g, s["exp_avg"], s["exp_avg_sq"], self.lr,
                                       self.betas[0], self.betas[1], self.eps, self._l2_decay,
                                       s["step"])
        return None

    def _amsgrad_update(self, p, g, s):
        """torch's amsgrad: v_max = max(v_max, v); p -= step_size m / (sqrt(v_max) / rb2 + eps),
        in backend ops in the parameter's dtype (no fused kernel: one array op per term)."""
        be, t = backend_of(p.data), p.dtype.type
        step_size, beta1, beta2, eps, decay, root_bias2 = optimizer_rules.adam_hyperparameters(
            p.dtype, self.lr, self.betas[0], self.betas[1], self.eps, self._l2_decay, s["step"])
        d = be.add(g, be.mul(p.data, decay)) if decay else g
        s["exp_avg"] = be.add(be.mul(s["exp_avg"], beta1), be.mul(d, t(1) - beta1))
        s["exp_avg_sq"] = be.add(be.mul(s["exp_avg_sq"], beta2),
                                 be.mul(be.mul(d, d), t(1) - beta2))
        s["max_exp_avg_sq"] = be.maximum(s["max_exp_avg_sq"], s["exp_avg_sq"])
        denom = be.add(be.div(be.rule_unary("sqrt", s["max_exp_avg_sq"]), root_bias2), eps)
        be.add_into(p.data, be.neg(be.mul(be.div(s["exp_avg"], denom), step_size)))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), torch's AdamW: each step
    first scales the weights by 1 - lr weight_decay, then takes Adam's step without L2 decay."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, foreach: bool | None = None, amsgrad: bool = False,
                 maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, foreach, amsgrad, maximize)

    @property
    def _l2_decay(self) -> float:
        return 0.0

    def _update_all(self, items, clip=None):
        if self.weight_decay:
            for p, _, _ in items:
                be = backend_of(p.data)
                decayed = be.mul(p.data, p.dtype.type(1.0 - self.lr * self.weight_decay))
                # in place: p + (decayed - p) is decayed exactly (the difference of two values
                # within a factor 2 of each other is exact, Sterbenz)
                be.add_into(p.data, be.sub(decayed, p.data))
        return super()._update_all(items, clip)


class RMSprop(Optimizer):
    """RMSprop as torch: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps)."""

    state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False):
        super().__init__(params, lr)
        self.maximize = _flag("RMSprop", "maximize", maximize)
        check_hyperparameter("alpha", alpha, 0.0, 1.0)
        check_hyperparameter("eps", eps)
        check_hyperparameter("weight_decay", weight_decay)
        check_hyperparameter("momentum", momentum)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered

    def _update(self, p, g, s):
        backend_of(p.data).rmsprop_update(p.data, g, s["square_avg"], s["grad_avg"],
                                          s["momentum_buffer"], self.lr, self.alpha, self.eps,
                                          self.weight_decay, self.momentum, self.centered)


def _zero_grad(p: Tensor, set_to_none: bool) -> None:
    if set_to_none or p.grad is None:
        p.grad = None
    else:
        be = backend_of(p.grad)
        p.grad = be.zeros(p.grad.shape, p.grad.dtype)


from . import lr_scheduler  # noqa: E402, F401 - mg.optim.lr_scheduler, as torch.optim's


class Adagrad(_PerParameterStep):
    """Duchi et al. 2011, torch's form: sum += d^2, p -= lr / (1 + (t - 1) lr_decay) d /
    (sqrt(sum) + eps), d = g + weight_decay p; sum starts at initial_accumulator_value. In
    backend ops per parameter (no fused kernel)."""

    state_names = ("sum",)

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                 foreach: bool | None = None, maximize: bool = False):
        super().__init__(params, lr)
        for name, value in (("lr_decay", lr_decay), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value),
                            ("eps", eps)):
            check_hyperparameter(name, value)
        _foreach(self, foreach)
        self.maximize = _flag("Adagrad", "maximize", maximize)
        self.lr_decay, self.weight_decay, self.eps = lr_decay, weight_decay, eps
        self.initial_accumulator_value = initial_accumulator_value

    def _state(self, i, p):
        fresh = not self.state[i]
        s = super()._state(i, p)
        if fresh and self.initial_accumulator_value:
            s["sum"] = backend_of(p.data).full(p.shape, self.initial_accumulator_value, p.dtype)
        return s

    def _update(self, p, g, s):
        s["step"] = s.get("step", 0) + 1
        be, t = backend_of(p.data), p.dtype.type
        if self.weight_decay:
            g = be.add(g, be.mul(p.data, t(self.weight_decay)))
        rate = self.lr / (1.0 + (s["step"] - 1) * self.lr_decay)
        s["sum"] = be.add(s["sum"], be.mul(g, g))
        std = be.add(be.rule_unary("sqrt", s["sum"]), t(self.eps))
        be.add_into(p.data, be.mul(be.div(g, std), t(-rate)))
