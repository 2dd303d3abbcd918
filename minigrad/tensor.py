"""Tensor: an n-d array (numpy on the CPU, a numba device array on CUDA) that the tape can track."""

from __future__ import annotations

import numbers

import numpy as np

from . import autograd, dtypes
from .backends import backend_of, get
from .walk import run_backward

DEFAULT_FLOAT = np.float32


class Tensor:
    """An array plus what backward needs: whether it wants a gradient and the node that made it."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "_edge", "_version", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__, not an object array

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
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
        return int(np.prod(self.data.shape))

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
        t.data, t.grad, t._node, t._edge, t.requires_grad = data, None, None, None, requires_grad
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

    # ---- operators -----------------------------------------------------------------------------
    def __add__(self, other):
        return elementwise.add(self, other)

    def __radd__(self, other):
        return elementwise.add(other, self)

    def __sub__(self, other):
        return elementwise.sub(self, other)

    def __rsub__(self, other):
        return elementwise.sub(other, self)

    def __mul__(self, other):
        return elementwise.mul(self, other)

    def __rmul__(self, other):
        return elementwise.mul(other, self)

    def __truediv__(self, other):
        return elementwise.div(self, other)

    def __rtruediv__(self, other):
        return elementwise.div(other, self)

    def __pow__(self, other):
        return elementwise.pow(self, other)

    def __rpow__(self, other):
        return elementwise.pow(other, self)

    def __neg__(self):
        return elementwise.neg(self)

    def __matmul__(self, other):
        return linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return linalg.matmul(other, self)

    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def __lt__(self, other):
        return elementwise.compare("lt", self, other)

    def __le__(self, other):
        return elementwise.compare("le", self, other)

    def __gt__(self, other):
        return elementwise.compare("gt", self, other)

    def __ge__(self, other):
        return elementwise.compare("ge", self, other)

    def __eq__(self, other):  # elementwise, as numpy and torch; Tensors hash by identity
        return elementwise.compare("eq", self, other)

    def __ne__(self, other):
        return elementwise.compare("ne", self, other)

    def __and__(self, other):
        return bitwise.bitwise_and(self, other)

    def __rand__(self, other):
        return bitwise.bitwise_and(other, self)

    def __or__(self, other):
        return bitwise.bitwise_or(self, other)

    def __ror__(self, other):
        return bitwise.bitwise_or(other, self)

    def __xor__(self, other):
        return bitwise.bitwise_xor(self, other)

    def __rxor__(self, other):
        return bitwise.bitwise_xor(other, self)

    def __invert__(self):
        return bitwise.bitwise_not(self)

    def __lshift__(self, other):
        return bitwise.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return bitwise.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return bitwise.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return bitwise.bitwise_right_shift(other, self)

    def __iter__(self):
        """The slices along the first axis (one unstack node, so their gradients meet once)."""
        if not self.data.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(shape_ops.unstack(self, 0))

    # ---- methods -------------------------------------------------------------------------------
    def exp(self):
        return elementwise.exp(self)

    def log(self):
        return elementwise.log(self)

    def tanh(self):
        return elementwise.tanh(self)

    def sigmoid(self):
        return elementwise.sigmoid(self)

    def relu(self):
        return elementwise.relu(self)

    def abs(self):
        return elementwise.abs(self)

    def clip(self, lo=None, hi=None):
        return elementwise.clip(self, lo, hi)

    def sum(self, axis=None, keepdims=False):
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return reduce.max(self, axis, keepdims)

    def any(self, axis=None, keepdims=False):
        return logic.any(self, axis, keepdims)

    def all(self, axis=None, keepdims=False):
        return logic.all(self, axis, keepdims)

    def reshape(self, *shape):
        return shape_ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return shape_ops.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def split(self, sections, axis=0):
        return shape_ops.split(self, sections, axis)

    def unstack(self, axis=0):
        return shape_ops.unstack(self, axis)

    def softmax(self, axis=-1):
        return loss.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return loss.log_softmax(self, axis)

    # ---- engine-ops (issue 11): methods of the added ops ----------------------------------------
    def __mod__(self, other):
        return math_ops.remainder(self, other)

    def __rmod__(self, other):
        return math_ops.remainder(other, self)

    def __floordiv__(self, other):
        return math_ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return math_ops.floor_divide(other, self)

    def sqrt(self):
        return math_ops.sqrt(self)

    def rsqrt(self):
        return math_ops.rsqrt(self)

    def square(self):
        return math_ops.square(self)

    def sin(self):
        return math_ops.sin(self)

    def cos(self):
        return math_ops.cos(self)

    def log1p(self):
        return math_ops.log1p(self)

    def expm1(self):
        return math_ops.expm1(self)

    def floor(self):
        return math_ops.floor(self)

    def ceil(self):
        return math_ops.ceil(self)

    def round(self):
        return math_ops.round(self)

    def sign(self):
        return math_ops.sign(self)

    def maximum(self, other):
        return math_ops.maximum(self, other)

    def logsigmoid(self):
        """log(sigmoid(x)) without underflow (the cell compiler fuses it by this name)."""
        return activations.logsigmoid(self)

    def minimum(self, other):
        return math_ops.minimum(self, other)
    def min(self, axis=None, keepdims=False):
        return reductions.min(self, axis, keepdims)

    def argmax(self, axis=None, keepdims=False):
        return reductions.argmax(self, axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        return reductions.argmin(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        return reductions.prod(self, axis, keepdims)

    def var(self, axis=None, correction=0, keepdims=False):
        return reductions.var(self, axis, correction, keepdims)

    def std(self, axis=None, correction=0, keepdims=False):
        return reductions.std(self, axis, correction, keepdims)

    def logsumexp(self, axis=None, keepdims=False):
        return reductions.logsumexp(self, axis, keepdims)

    def cumsum(self, axis=None):
        return reductions.cumsum(self, axis)

    def cumprod(self, axis=None):
        return reductions.cumprod(self, axis)

    def norm(self, ord=2, axis=None, keepdims=False):  # noqa: A002
        return reductions.norm(self, ord, axis, keepdims)

    def squeeze(self, axis=None):
        return shape_more.squeeze(self, axis)

    def unsqueeze(self, axis):
        return shape_more.unsqueeze(self, axis)

    def flatten(self, start_axis=0, end_axis=-1):
        return shape_more.flatten(self, start_axis, end_axis)

    def expand(self, *sizes):
        return shape_more.expand(self, *sizes)

    def broadcast_to(self, shape):
        return shape_more.broadcast_to(self, shape)

    def repeat(self, repeats, axis=None):
        return shape_more.repeat(self, repeats, axis)

    def tile(self, reps):
        return shape_more.tile(self, reps)

    def flip(self, axis=None):
        return shape_more.flip(self, axis)

    def gather(self, axis, index):
        return selection.gather(self, axis, index)

    def masked_fill(self, mask, value):
        return selection.masked_fill(self, mask, value)

    def sort(self, axis=-1, descending=False, stable=False):
        return selection.sort(self, axis, descending, stable)

    def argsort(self, axis=-1, descending=False, stable=False):
        return selection.argsort(self, axis, descending, stable)

    def topk(self, k, axis=-1, largest=True):
        return selection.topk(self, k, axis, largest)
    # ---- end of engine-ops methods --------------------------------------------------------------

    # ---- issue 20: methods of the added ops (torch's Tensor methods) ----------------------------
    def div(self, other, rounding_mode=None):
        return math_ops.div(self, other, rounding_mode)

    def copysign(self, other):
        return math_ops.copysign(self, other)

    def bitwise_and(self, other):
        return bitwise.bitwise_and(self, other)

    def bitwise_or(self, other):
        return bitwise.bitwise_or(self, other)

    def bitwise_xor(self, other):
        return bitwise.bitwise_xor(self, other)

    def bitwise_not(self):
        return bitwise.bitwise_not(self)

    def bitwise_left_shift(self, other):
        return bitwise.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other):
        return bitwise.bitwise_right_shift(self, other)

    def cummax(self, axis):
        return scans.cummax(self, axis)

    def cummin(self, axis):
        return scans.cummin(self, axis)

    def logcumsumexp(self, axis):
        return scans.logcumsumexp(self, axis)

    def masked_select(self, mask):
        return grids.masked_select(self, mask)

    def nonzero(self, as_tuple=False):
        return grids.nonzero(self, as_tuple)

    def diag(self, k=0):
        return grids.diag(self, k)

    def unfold(self, axis, size, step):
        return grids.unfold(self, axis, size, step)
    # ---- end of issue 20 methods ----------------------------------------------------------------


autograd.bind_tensor_class(Tensor)


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if (hasattr(data, "__cuda_array_interface__") or hasattr(data, "__cuda_ndarray__")) and (
        not isinstance(data, np.ndarray)
    ):
        if dtype is not None and np.dtype(dtype) != data.dtype:
            raise ValueError(f"cannot change dtype of a device array here: {data.dtype}->{dtype}")
        return data
    probe = data if isinstance(data, np.ndarray | np.generic) else np.asarray(data)
    dtypes.check_supported("tensor", probe.dtype)  # before a cast could hide it (complex -> float)
    python_floats = not isinstance(data, np.ndarray | np.generic) and probe.dtype == np.float64
    if dtype is None and python_floats:
        dtype = DEFAULT_FLOAT  # Python floats become float32, as everywhere here
    if dtype is not None:
        dtypes.check_supported("tensor", dtype)
    return np.array(probe, dtype=dtype)


def tensor(data, requires_grad: bool = False, dtype=None, device: str = "cpu") -> Tensor:
    """A new leaf tensor (a copy). Python floats become float32; numpy arrays keep their dtype."""
    t = Tensor(data, requires_grad=False, dtype=dtype)
    if device != "cpu":
        t = Tensor._wrap(get(device).from_host(t.data))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _shape_args(shape):
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return tensor(np.zeros(_shape_args(shape), dtype), requires_grad, device=device)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    return tensor(np.ones(_shape_args(shape), dtype), requires_grad, device=device)


def randn(*shape, rng=None, dtype=DEFAULT_FLOAT, requires_grad=False, device="cpu") -> Tensor:
    """Standard normal draws from `rng` (a numpy Generator or a seed)."""
    rng = np.random.default_rng(rng)
    return tensor(rng.standard_normal(_shape_args(shape)).astype(dtype), requires_grad,
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


# The op modules import Tensor from here; import them last so the methods above can reach them.
from .ops import elementwise, linalg, logic, loss, reduce  # noqa: E402
from .ops import shape as shape_ops  # noqa: E402

_METHODS_BLOCK = "engine-ops"  # the modules of the engine-ops methods block:
from .ops import activations, reductions, selection, shape_more  # noqa: E402
from .ops import math as math_ops  # noqa: E402

_ISSUE20_METHODS = "issue 20"  # the modules of the issue 20 methods block:
from .ops import bitwise, grids  # noqa: E402
from .ops import cumulative as scans  # noqa: E402
