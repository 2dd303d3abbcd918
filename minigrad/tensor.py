"""Tensor: an n-d array (numpy on the CPU, a numba device array on CUDA) that the tape can track."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import autograd, dtypes
from .backends import backend_of, get
from .walk import run_backward

DEFAULT_FLOAT = np.float32


class Tensor:
    """An array plus what backward needs: whether it wants a gradient and the node that made it."""

    __slots__ = ("data", "_grad", "requires_grad", "_node", "_edge", "_version", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__, not an object array

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        self._grad = None
        self._node = None
        self._edge = None  # (node, k) that made it; a leaf's (AccumulateGrad, 0) on first use
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ---- properties ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)

    @property
    def ndim(self) -> int:
        return len(self.data.shape)

    @property
    def size(self) -> int:
        return math.prod(self.data.shape)  # pure Python: np.prod took 3-8 us a call

    @property
    def device(self) -> str:
        return backend_of(self.data).name

    @property
    def version(self) -> int:
        """In-place modifications so far (optimizer steps), torch's ``_version``: set only when
        bumped (autograd.bump_version), so recording an op costs nothing more."""
        return getattr(self, "_version", 0)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def T(self) -> Tensor:
        return shape_ops.transpose(self)

    def __len__(self) -> int:
        if not self.data.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        fn = self._node[0] if type(self._node) is tuple else self._node
        node = f", grad_fn=<{fn.name}>" if fn is not None else ""
        device = "" if self.device == "cpu" else f", device='{self.device}'"
        return f"tensor({np.array2string(self.numpy(), separator=', ')}{device}{node}{extra})"

    def __bool__(self):
        if self.size != 1:
            raise ValueError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.numpy())

    def __float__(self) -> float:
        """float(t) of a one-element tensor (torch's); item()'s error otherwise."""
        return float(self.item())

    def __int__(self) -> int:
        """int(t) of a one-element tensor, truncated toward 0 (torch's)."""
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __getstate__(self):  # copy and pickle: a leaf without its tape node (torch refuses others)
        if self._node is not None:
            raise RuntimeError("only leaf tensors (made by the user, not by an op) can be copied "
                               "or pickled; detach() it first")
        return {"data": self.data, "grad": self.grad, "requires_grad": self.requires_grad}

    def __setstate__(self, state):
        self.data, self.grad, self.requires_grad = state["data"], state["grad"], state[
            "requires_grad"]
        self._node = self._edge = None

    # ---- gradients -----------------------------------------------------------------------------
    @property
    def grad(self):
        """d(loss)/d(self) after backward(): an array (numpy, or a device array on CUDA) of this
        tensor's shape and dtype, or None. Assigning a Tensor stores its array; an array of
        another shape, dtype or device is refused (torch's checks), not kept for an optimizer
        to fail on later."""
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = None if value is None else grad_array(self, value)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if self._node is not None and not flag:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use detach()")
        if flag and not np.issubdtype(self.dtype, np.floating):
            raise ValueError(f"only floating tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's .grad; grad defaults to 1 for a scalar."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad)"
            )
        be = backend_of(self.data)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output, got shape {self.shape}"
                )
            grad = be.ones(self.data.shape, self.dtype)
        else:
            grad = grad.data if isinstance(grad, Tensor) else be.asarray(grad, self.dtype)
            if tuple(grad.shape) != self.shape:
                raise ValueError(
                    f"backward: grad has shape {tuple(grad.shape)}, expected {self.shape}"
                )
        run_backward(self, grad, retain_graph)

    def retain_grad(self) -> None:
        """Keep .grad on this non-leaf tensor after backward (a no-op on leaves)."""
        autograd.retain(self)

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the tape."""
        return Tensor._wrap(self.data)

    @staticmethod
    def _wrap(data, requires_grad=False) -> Tensor:
        t = Tensor.__new__(Tensor)
        t.data, t._grad, t._node, t._edge, t.requires_grad = data, None, None, None, requires_grad
        return t

    # ---- conversion ----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        return backend_of(self.data).to_host(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device: str) -> Tensor:
        """A copy on `device` ('cpu' or 'cuda'); differentiable, so gradients flow back."""
        return shape_ops.to_device(self, device)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype) -> Tensor:
        return elementwise.astype(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # ---- operators and methods: most are one call of an op, generated from the tables at the
    # end of this file; the ones with their own logic are here
    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def __iter__(self):
        """The slices along the first axis (one unstack node, so their gradients meet once)."""
        if not self.data.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(shape_ops.unstack(self, 0))

    def reshape(self, *shape):
        return shape_ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return shape_ops.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def expand(self, *sizes):
        return shape_more.expand(self, *sizes)


autograd.bind_tensor_class(Tensor)


def _holds_tensors(data) -> bool:
    return any(isinstance(d, Tensor) or (isinstance(d, list | tuple) and _holds_tensors(d))
               for d in data)


def _host_values(data):
    """Nested lists with Tensors in them, each Tensor as its host array."""
    return [d.numpy() if isinstance(d, Tensor) else
            _host_values(d) if isinstance(d, list | tuple) else d for d in data]


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if (hasattr(data, "__cuda_array_interface__") or hasattr(data, "__cuda_ndarray__")) and (
        not isinstance(data, np.ndarray)
    ):
        if dtype is not None and np.dtype(dtype) != data.dtype:
            raise ValueError(f"cannot change dtype of a device array here: {data.dtype}->{dtype}")
        return data
    try:
        probe = data if isinstance(data, np.ndarray | np.generic) else np.asarray(data)
        holds_tensors = probe.dtype == object and isinstance(data, list | tuple) and \
            _holds_tensors(data)
        if holds_tensors:  # torch.tensor([t0, t1]): each tensor's values, its dtype kept
            data = _host_values(data)
            probe = np.asarray(data)
    except ValueError as e:  # ragged nested lists: numpy's message named no function
        raise ValueError(f"tensor: data is not a rectangular array of numbers ({e})") from None
    dtypes.check_supported("tensor", probe.dtype)  # before a cast could hide it (complex -> float)
    python_floats = not isinstance(data, np.ndarray | np.generic) and \
        probe.dtype == np.float64 and not holds_tensors
    if dtype is None and python_floats:
        dtype = DEFAULT_FLOAT  # Python floats become float32, as everywhere here
    if dtype is not None:
        dtypes.check_supported("tensor", dtype)
    if autograd.state.compiling and isinstance(probe, np.ndarray):
        # under mg.compile the copy is a backend op the program runs on every call: np.array
        # made a constant of the traced call's values (mg.tensor(w.grad) froze the first
        # call's gradient)
        cpu = get("cpu")
        if dtype is None or np.dtype(dtype) == probe.dtype:
            return cpu.copy(probe)
        return cpu.astype(probe, np.dtype(dtype))
    return np.array(probe, dtype=dtype)


def grad_array(t: Tensor, value):
    """value as t's .grad: a Tensor's array, or an array of t's shape, dtype and device."""
    if isinstance(value, Tensor):
        value = value.data
    try:
        owner = backend_of(value)
    except TypeError:
        raise TypeError(f".grad must be None, a Tensor or an array of shape {t.shape} and dtype "
                        f"{t.dtype}, got {type(value).__name__}") from None
    if tuple(value.shape) != tuple(t.data.shape):
        raise ValueError(f".grad: assigned shape {tuple(value.shape)}, expected the tensor's "
                         f"shape {t.shape}")
    if np.dtype(value.dtype) != np.dtype(t.data.dtype):
        raise TypeError(f".grad: assigned dtype {np.dtype(value.dtype)}, expected the tensor's "
                        f"dtype {t.dtype}")
    if owner is not backend_of(t.data):
        raise ValueError(f".grad: assigned an array on {owner.name}, expected one on the "
                         f"tensor's device {backend_of(t.data).name}")
    return value


def tensor(data, requires_grad: bool = False, dtype=None, device: str = "cpu") -> Tensor:
    """A new leaf tensor (a copy). Python floats become float32; numpy arrays keep their dtype."""
    t = Tensor(data, requires_grad=False, dtype=dtype)
    if device != "cpu":
        t = Tensor._wrap(get(device).from_host(t.data))
    if requires_grad:
        t.requires_grad_(True)
    return t


def shape_args(name: str, shape) -> tuple[int, ...]:
    """A creation function's shape (sizes, or one sequence of them) as ints, or an error naming
    the function and the shape it was given."""
    if all(type(n) is int and n >= 0 for n in shape):  # the common case: sizes as ints
        return shape
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        try:
            shape = tuple(shape[0])
        except TypeError:
            raise TypeError(f"{name}: shape must be integers or one sequence of them, got "
                            f"{shape[0]!r}") from None
    if any(not isinstance(n, numbers.Integral) or n < 0 for n in shape):
        raise ValueError(f"{name}: shape must be non-negative integers, got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return tensor(np.zeros(shape_args("zeros", shape), dtype), requires_grad, device=device)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return tensor(np.ones(shape_args("ones", shape), dtype), requires_grad, device=device)


def randn(*shape, rng=None, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    """Standard normal draws from `rng` (a numpy Generator or a seed)."""
    rng = np.random.default_rng(rng)
    return tensor(rng.standard_normal(shape_args("randn", shape)).astype(dtype), requires_grad,
                  device=device)


def as_operand(x, like: Tensor) -> Tensor:
    """A Tensor for an op operand: Python numbers take `like`'s dtype and device."""
    if isinstance(x, Tensor):
        return x
    be = backend_of(like.data)
    if isinstance(x, numbers.Number):
        return Tensor._wrap(be.full((), x, like.data.dtype))
    if isinstance(x, np.ndarray | np.generic | list | tuple):
        return Tensor._wrap(be.from_host(np.asarray(x)))
    return Tensor._wrap(x)


def _augmented(t: Tensor, other, symbol: str, op) -> Tensor:
    """`t += other` (and -=, *=, /=): minigrad has no in-place ops, so the name is bound to a new
    tensor, op(t, other). On a leaf that requires grad that rebinding hid a mistake: with grad
    enabled it is refused (torch's "a leaf Variable that requires grad is being used in an
    in-place operation"); under no_grad the leaf itself takes the new values (torch's manual
    `with no_grad(): p -= lr * p.grad`, which used to leave the parameter unchanged) and its
    version goes up, as after an optimizer step."""
    if not (t.requires_grad and t._node is None):
        return op(t, other)
    if autograd.is_grad_enabled():
        raise RuntimeError(
            f"{symbol}: a leaf tensor that requires grad ({t.dtype}{list(t.shape)}) is used in "
            "an in-place operation; update it under mg.no_grad() (or with an optimizer), or "
            f"write `x = x {symbol[0]} y` for a new tensor")
    result = op(t, other)
    if result.shape != t.shape or result.dtype != t.dtype:
        raise ValueError(
            f"{symbol}: the result {result.dtype}{list(result.shape)} does not fit the tensor "
            f"{t.dtype}{list(t.shape)} it updates in place")
    t.data = result.data
    autograd.host_check(autograd.bump_version, t, symbol)  # replayed by a compiled program too
    return t


# The op modules import Tensor from here; import them last so the methods can reach them (the
# generated methods below call them by these names, hence F401).
from .ops import (  # noqa: E402, F401
    activations,
    bitwise,
    elementwise,
    grids,
    linalg,
    logic,
    loss,
    reduce,
    reductions,
    selection,
    shape_more,
)
from .ops import cumulative as scans  # noqa: E402, F401
from .ops import math as math_ops  # noqa: E402, F401
from .ops import shape as shape_ops  # noqa: E402

# Operators: each calls its op with (self, other); the reflected one (__radd__) with (other, self).
_OPERATORS = {
    "add": "elementwise.add", "sub": "elementwise.sub", "mul": "elementwise.mul",
    "truediv": "elementwise.div", "pow": "elementwise.pow", "matmul": "linalg.matmul",
    "mod": "math_ops.remainder", "floordiv": "math_ops.floor_divide",
    "and": "bitwise.bitwise_and", "or": "bitwise.bitwise_or", "xor": "bitwise.bitwise_xor",
    "lshift": "bitwise.bitwise_left_shift", "rshift": "bitwise.bitwise_right_shift",
}
# Methods: (names, parameters after self, module, arguments after self); each is
# `def name(self, <parameters>): return module.name(self, <arguments>)`. The comparisons are
# elementwise, as numpy's and torch's (Tensors hash by identity: __hash__ above).
_METHODS = [
    ("exp log tanh sigmoid relu abs", "", "elementwise", ""),
    ("clip", "lo=None, hi=None", "elementwise", "lo, hi"),
    ("sum mean max", "axis=None, keepdims=False", "reduce", "axis, keepdims"),
    ("any all", "axis=None, keepdims=False", "logic", "axis, keepdims"),
    ("split", "sections, axis=0", "shape_ops", "sections, axis"),
    ("unstack", "axis=0", "shape_ops", "axis"),
    ("softmax log_softmax", "axis=-1", "loss", "axis"),
    ("sqrt rsqrt square sin cos log1p expm1 floor ceil round sign", "", "math_ops", ""),
    ("maximum minimum copysign", "other", "math_ops", "other"),
    ("div", "other, rounding_mode=None", "math_ops", "other, rounding_mode"),
    ("logsigmoid", "", "activations", ""),  # the cell compiler fuses it by this name
    ("min argmax argmin prod logsumexp", "axis=None, keepdims=False", "reductions",
     "axis, keepdims"),
    ("var std", "axis=None, correction=0, keepdims=False", "reductions",
     "axis, correction, keepdims"),
    ("cumsum cumprod", "axis=None", "reductions", "axis"),
    ("norm", "ord=2, axis=None, keepdims=False", "reductions", "ord, axis, keepdims"),
    ("squeeze flip", "axis=None", "shape_more", "axis"),
    ("unsqueeze", "axis", "shape_more", "axis"),
    ("flatten", "start_axis=0, end_axis=-1", "shape_more", "start_axis, end_axis"),
    ("broadcast_to", "shape", "shape_more", "shape"),
    ("repeat", "repeats, axis=None", "shape_more", "repeats, axis"),
    ("tile", "reps", "shape_more", "reps"),
    ("gather", "axis, index", "selection", "axis, index"),
    ("masked_fill", "mask, value", "selection", "mask, value"),
    ("sort argsort", "axis=-1, descending=False, stable=False", "selection",
     "axis, descending, stable"),
    ("topk", "k, axis=-1, largest=True", "selection", "k, axis, largest"),
    ("bitwise_and bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift", "other",
     "bitwise", "other"),
    ("bitwise_not", "", "bitwise", ""),
    ("cummax cummin logcumsumexp", "axis", "scans", "axis"),
    ("masked_select", "mask", "grids", "mask"),
    ("nonzero", "as_tuple=False", "grids", "as_tuple"),
    ("diag", "k=0", "grids", "k"),
    ("unfold", "axis, size, step", "grids", "axis, size, step"),
]


def _method_source() -> str:
    lines = []
    for name, op in _OPERATORS.items():
        lines += [f"def __{name}__(self, other):", f"    return {op}(self, other)",
                  f"def __r{name}__(self, other):", f"    return {op}(other, self)"]
    for name in ("lt", "le", "gt", "ge", "eq", "ne"):
        lines += [f"def __{name}__(self, other):",
                  f"    return elementwise.compare({name!r}, self, other)"]
    for name, symbol in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/")):
        lines += [f"def __i{name}__(self, other):",
                  f"    return _augmented(self, other, {symbol + '=' !r}, {_OPERATORS[name]})"]
    lines += ["def __neg__(self):", "    return elementwise.neg(self)",
              "def __invert__(self):", "    return bitwise.bitwise_not(self)"]
    for names, params, module, args in _METHODS:
        for name in names.split():
            lines += [f"def {name}(self{', ' if params else ''}{params}):",
                      f"    return {module}.{name}(self{', ' if args else ''}{args})"]
    return "\n".join(lines) + "\n"


def _install_methods():
    """Compile the methods above as functions of this file (so tracebacks and mg.compile's
    error attribution see minigrad's tensor.py) and set them on Tensor."""
    scope: dict = {}
    exec(compile(_method_source(), __file__, "exec"), globals(), scope)  # noqa: S102
    for name, fn in scope.items():
        fn.__qualname__ = f"Tensor.{name}"
        setattr(Tensor, name, fn)


_install_methods()
