"""Modules: Parameter, Module (parameters, state_dict, train/eval, devices), Linear, Embedding,
LayerNorm, Dropout."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from . import autograd, init
from .backends import backend_of, get
from .functional import layer_norm
from .ops.linalg import matmul
from .ops.random import dropout
from .ops.shape import getitem
from .tensor import Tensor

# bumped by every Module attribute write, delete and train()/eval(): mg.compile rereads the
# modules of a call's signature (their parameters, mode and settings) only after it moved
STRUCTURE = [0]
_SETTINGS = (int, float, bool, str, type(None))


class IncompatibleKeys(NamedTuple):
    """What Module.load_state_dict(strict=False) did not match (torch's return value)."""

    missing_keys: list
    unexpected_keys: list


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad, dtype)


def _cast_checked(name: str, array: np.ndarray, dtype) -> np.ndarray:
    """`array` cast to `dtype`; ValueError naming `name` if it is not real numbers or a finite
    value would overflow to inf."""
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise ValueError(f"load_state_dict: {name} is not numeric (dtype {array.dtype}); "
                         f"expected real numbers for a {np.dtype(dtype)} parameter")
    with np.errstate(over="ignore"):
        cast = np.array(array, dtype=dtype)
    overflow = np.isfinite(array) & ~np.isfinite(cast)
    if overflow.any():
        raise ValueError(f"load_state_dict: {name} holds values up to "
                         f"{np.abs(array[overflow]).max():.3g}, beyond {np.dtype(dtype)}'s range "
                         f"({np.finfo(dtype).max:.3g}): they would load as inf")
    return cast


class Module:
    """Base class: attributes that are Parameters or Modules are registered by name, as in torch."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               "before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        STRUCTURE[0] += 1
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        STRUCTURE[0] += 1
        object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")  # abstract

    # ---- traversal -----------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def children(self) -> list[Module]:
        return list(self._modules.values())

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (torch's default), or with set_to_none=False fill
        them with 0."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = backend_of(p.grad).zeros(p.grad.shape, p.grad.dtype)

    def train(self, mode: bool = True) -> Module:
        for _, m in self.named_modules():
            object.__setattr__(m, "training", mode)
        STRUCTURE[0] += 1
        return self

    def structure(self, kept: list) -> tuple:
        """What mg.compile's signature holds of this module and its submodules: each one's
        identity, its Python settings (training, dropout p, flags: numbers, strings, bools,
        None) and the identity of each tensor attribute (a parameter replaced by another
        object); the tensors are appended to kept (so their ids stay theirs)."""
        out = []
        for _, m in self.named_modules():
            items = []
            for name, value in vars(m).items():
                if type(value) in _SETTINGS:
                    items.append((name, value))
                elif isinstance(value, Tensor):
                    kept.append(value)
                    items.append((name, "tensor", id(value)))
            out.append((id(m), tuple(items)))
        return tuple(out)

    def eval(self) -> Module:
        return self.train(False)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Name -> numpy copy of every parameter, names as torch.nn gives them."""
        return OrderedDict((n, p.numpy().copy()) for n, p in self.named_parameters())

    def load_state_dict(self, state: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (numpy, Tensors, or anything with .numpy()) into the parameters by name.

        Shapes must match; values are cast to each parameter's dtype. With strict, missing and
        unexpected names raise ValueError; without, they are returned as torch's
        (missing_keys, unexpected_keys).
        """
        if not hasattr(state, "items") or not hasattr(state, "keys"):
            raise ValueError(f"load_state_dict: state must be a dict of arrays by parameter "
                             f"name, got {type(state).__name__}")
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict:
            if missing or unexpected:
                raise ValueError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        converted = {}
        for name, value in state.items():
            if name not in own:
                continue
            p = own[name]
            array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            array = np.asarray(array)
            if tuple(array.shape) != p.shape:
                raise ValueError(f"load_state_dict: {name} has shape {tuple(array.shape)} in the "
                                 f"state dict but {p.shape} in the module")
            converted[name] = _cast_checked(name, array, p.dtype)
        for name, array in converted.items():  # all checked first: a failure changes nothing
            own[name].data = backend_of(own[name].data).from_host(array)
            autograd.bump_version(own[name], "load_state_dict")  # as an optimizer step
        return IncompatibleKeys(missing, unexpected)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch every parameter's requires_grad (freezing with False), as torch's; returns
        self."""
        if not isinstance(requires_grad, bool | np.bool_):
            raise TypeError(f"requires_grad_: expected True or False, got {requires_grad!r}")
        for p in self.parameters():
            p.requires_grad_(bool(requires_grad))
        return self

    # ---- devices and dtypes --------------------------------------------------------------------
    def to(self, device: str) -> Module:
        """Move every parameter (and its gradient) to `device`, in place; returns self."""
        target = get(device)
        for p in self.parameters():
            source = backend_of(p.data)
            if source is not target:
                p.data = target.from_host(source.to_host(p.data))
                if p.grad is not None:
                    p.grad = target.from_host(source.to_host(p.grad))
        return self

    def astype(self, dtype) -> Module:
        """Cast every parameter to `dtype` in place (e.g. float64 for gradient checks)."""
        for p in self.parameters():
            p.data = backend_of(p.data).astype(p.data, np.dtype(dtype))
            p.grad = None
        return self

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        return lines[0] + (")" if len(lines) == 1 else "\n" + "\n".join(lines[1:]) + "\n)")

    def extra_repr(self) -> str:
        return ""


class Linear(Module):
    """y = x W^T + b, W (out_features, in_features); init U(-1/sqrt(in), 1/sqrt(in)) as torch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"Linear: {name} must be an integer >= 1, got "
                                f"{type(value).__name__} {value!r}")
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: in_features and out_features must be >= 1, got "
                             f"{in_features}, {out_features}")
        rng = np.random.default_rng(rng)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        init.uniform_(self.weight, -bound, bound, rng)
        self.bias = None
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
            init.uniform_(self.bias, -bound, bound, rng)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: input has {x.shape[-1] if x.ndim else 0} features "
                             f"(shape {x.shape}), expected {self.in_features}")
        y = matmul(x, self.weight.T)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) table picked by integer indices; init N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(rng)
        for name, size in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
                raise ValueError(f"Embedding: {name} must be an integer >= 1, got {size!r}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, indices) -> Tensor:
        compiled = autograd.state.compiling and isinstance(indices, Tensor) and \
            type(indices.data) is np.ndarray
        if compiled:  # mg.compile: the program reads the indices; numpy's indexing bounds them
            idx = indices.data
        else:
            idx = indices.numpy() if isinstance(indices, Tensor) else np.asarray(indices)
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        # under mg.compile the program checks every call's indices (numpy's indexing wrapped a
        # negative one to the table's last rows, where eager refuses it)
        autograd.host_check(self._check_indices, idx)
        return getitem(self.weight, idx)

    def _check_indices(self, idx) -> None:
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise ValueError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"min {idx.min()} max {idx.max()}")

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """torch.nn.LayerNorm: layer_norm over the trailing `normalized_shape` axes, with a weight
    (ones) and a bias (zeros) of that shape when elementwise_affine (the bias also off with
    bias=False)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int | np.integer) else \
            tuple(normalized_shape)
        if not shape or any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1
                            for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be one or more integers >= 1, "
                             f"got {normalized_shape!r}")
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps >= 0:
            raise ValueError(f"LayerNorm: eps must be a number >= 0, got {eps!r}")
        self.normalized_shape, self.eps = tuple(int(n) for n in shape), float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine \
            else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine \
            and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class Dropout(Module):
    """torch.nn.Dropout: zeroes each element with probability p and scales the rest by
    1 / (1 - p) in training mode (masks drawn from its own numpy Generator, seeded by `rng`);
    the identity after eval()."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.rng, training=self.training)

    def extra_repr(self):
        return f"p={self.p}"
