"""The CPU backend: numpy arrays, Numba kernels, BLAS GEMMs.

This module is the backend interface. The CUDA backend (``cuda.py``) exposes the same names with the
same signatures over device arrays, so the ops never ask which device they run on. Arguments are
raw arrays (never Tensors); results are new arrays unless a name says ``_into``/``_update``.

Where numpy already runs a SIMD loop (add, mul, exp, log, comparisons) we call it: a Numba kernel
would only add its ~0.6 us dispatch. Numba kernels (``cpu_kernels``) serve what numpy does badly:
float32 tanh/sigmoid (libm does not vectorise), clip's backward, the row-wise softmax family and
losses, and the optimizer updates. The backward of the elementwise ops is the scalar rules'
(``rule_unary_backward``/``rule_binary_backward``, generated in ``cpu_elementwise``).
"""

from __future__ import annotations

import numpy as np

from . import cpu_kernels as k
from . import memory as _memory
from . import omp as _omp
from . import optimizer_rules as rules
from .cpu_axis import *  # noqa: F403 - along-axis kernels (engine-ops)
from .cpu_cumulative import (  # noqa: F401 - scans with torch's edges, integer bitwise ops (issue 20)
    bitwise,
    bitwise_not,
    cumextreme_index,
    logcumsumexp,
)
from .cpu_elementwise import (  # noqa: F401 - ops generated from the scalar rules
    rule_binary,
    rule_binary_backward,
    rule_unary,
    rule_unary_backward,
)
from .cpu_gated_scan import (  # noqa: F401 - mg.gated_scan
    gated_scan,
    gated_scan_backward,
    gated_scan_projected,
    gated_scan_projected_backward,
    projection,
    projection_backward,
)
from .cpu_scan import linear_scan, linear_scan_backward  # noqa: F401 - mg.linear_scan

name = "cpu"
ndarray = np.ndarray

_memory.tune_malloc()  # keep freed pages for the next training step (see memory.py)
_omp.wait_passively()  # idle OpenMP threads sleep: no core held by a spin (see omp.py)


# ---- creation and movement ---------------------------------------------------------------------


def asarray(x, dtype=None):
    return np.asarray(x, dtype=dtype)


def to_host(a):
    return a


def from_host(a):
    return a


def empty(shape, dtype):
    return np.empty(shape, dtype=dtype)


def zeros(shape, dtype):
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    return np.ones(shape, dtype=dtype)


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


def copy(a):
    return a.copy()


def all_finite(a) -> bool:
    return bool(np.isfinite(a).all())


# ---- elementwise: numpy broadcasting -----------------------------------------------------------

add = np.add
sub = np.subtract
mul = np.multiply
div = np.true_divide
neg = np.negative
exp = np.exp
log = np.log
equal = np.equal


def power(a, b):
    return np.power(a, b)


def maximum(a, b):
    return np.maximum(a, b)


def where(cond, a, b):
    return np.where(cond, a, b)


def clip(a, lo, hi):
    return np.clip(a, lo, hi)


def absolute(a):
    return np.abs(a)


def relu(a):
    return np.maximum(a, a.dtype.type(0))


def _contiguous(a, dtype=None):
    """a as a C-contiguous array of its own shape (np.ascontiguousarray makes 0-d arrays 1-d)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(np.shape(a))


def tanh(x):
    """The rule's kernel (float32: the rational form, which vectorises where libm's does not)."""
    return rule_unary("tanh", x)


def sigmoid(x):
    return rule_unary("sigmoid", x)


def clip_backward(x, lo, hi, g):
    x = _contiguous(x)
    g = _contiguous(g, dtype=x.dtype)
    out = np.empty_like(x)
    t = x.dtype.type
    k.clip_backward(x.reshape(-1), t(lo), t(hi), g.reshape(-1), out.reshape(-1))
    return out


# ---- reductions --------------------------------------------------------------------------------


def sum(a, axis=None, keepdims=False):  # noqa: A001 - the backend's name for the op
    return np.asarray(np.sum(a, axis=axis, keepdims=keepdims), dtype=a.dtype)


def amax(a, axis=None, keepdims=False):
    return np.asarray(np.max(a, axis=axis, keepdims=keepdims))


def amin(a, axis=None, keepdims=False):
    return np.asarray(np.min(a, axis=axis, keepdims=keepdims))


def sum_to(g, shape):
    """Sum g over the axes numpy broadcast to reach g.shape from shape (the unbroadcast)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def broadcast_to(a, shape):
    return np.broadcast_to(a, shape)


# ---- linear algebra ----------------------------------------------------------------------------


def matmul(a, b):
    return np.matmul(a, b)


def matmul_nt(a, b):
    """a @ b^T over the last two axes."""
    return np.matmul(a, np.swapaxes(b, -1, -2))


def matmul_tn(a, b):
    """a^T @ b over the last two axes."""
    return np.matmul(np.swapaxes(a, -1, -2), b)


def gemm_strided(a, a_offset, a_row, a_col, b, b_offset, b_row, b_col, out, out_offset, m, n,
                 inner, accumulate=False, out_row=None):
    """out[m, n] (+)= A[m, inner] @ B[inner, n] on flat arrays, each matrix given by its offset
    and its row and column strides (elements); out's rows out_row apart (n when None)."""
    def view(flat, offset, shape, row, col):
        return np.lib.stride_tricks.as_strided(flat[offset:], shape, (row * flat.itemsize,
                                                                      col * flat.itemsize))

    product = view(a, a_offset, (m, inner), a_row, a_col) @ view(b, b_offset, (inner, n), b_row,
                                                                  b_col)
    target = view(out, out_offset, (m, n), n if out_row is None else out_row, 1)
    if accumulate:
        target += product
    else:
        target[...] = product


# ---- shape -------------------------------------------------------------------------------------


def reshape(a, shape):
    return np.reshape(a, shape)


def transpose(a, axes):
    return np.transpose(a, axes)


def getitem(a, index):
    return a[index]


def slice_set(shape, index, g, dtype):
    """Zeros of `shape` with g written at a basic (slice/int) index."""
    out = np.zeros(shape, dtype=dtype)
    out[index] = g
    return out


def index_add(shape, index, g, dtype):
    """Zeros of `shape` with g added at `index` (repeated integer indices accumulate). One
    integer array indexing the first axis (an embedding's backward) runs a loop over its rows
    (k.index_add_rows: np.add.at took 2.3 ms for the character model's 3,200 rows of 64; the
    same additions in the same order); other indices go through np.add.at."""
    out = np.zeros(shape, dtype=dtype)
    g = np.asarray(g)
    if isinstance(index, np.ndarray) and index.dtype.kind in "iu" and index.size and \
            len(shape) >= 1 and g.dtype == out.dtype and g.shape == index.shape + tuple(shape[1:]) \
            and out.dtype in (np.float32, np.float64) and \
            -shape[0] <= index.min() and index.max() < shape[0]:
        k.index_add_rows(out.reshape(shape[0], -1), index.reshape(-1).astype(np.int64, copy=False),
                         np.ascontiguousarray(g).reshape(index.size, -1))
        return out
    np.add.at(out, index, g)
    return out


def slice_add(out, index, g):
    """out[index] += g in place at a basic (slice/int) index; g broadcasts to the slice."""
    out[index] += g


def add_into(out, g):
    """out += g in place (g broadcasts to out's shape)."""
    np.add(out, g, out=out)


def concat(arrays, axis):
    return np.concatenate(arrays, axis=axis)


def stack(arrays, axis):
    return np.stack(arrays, axis=axis)


def split(a, indices, axis):
    return np.split(a, indices, axis=axis)


# ---- softmax family and losses (over the last axis) --------------------------------------------


def _rows(x):
    x = np.ascontiguousarray(x)
    return x, x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def softmax(x):
    x, rows = _rows(x)
    out = np.empty_like(x)
    k.softmax_rows(rows, out.reshape(rows.shape))
    return out


def log_softmax(x):
    x, rows = _rows(x)
    out = np.empty_like(x)
    k.log_softmax_rows(rows, out.reshape(rows.shape))
    return out


def softmax_backward(y, g):
    y, rows = _rows(y)
    g = np.ascontiguousarray(g, dtype=y.dtype)
    out = np.empty_like(y)
    k.softmax_backward_rows(rows, g.reshape(rows.shape), out.reshape(rows.shape))
    return out


def log_softmax_backward(y, g):
    y, rows = _rows(y)
    g = np.ascontiguousarray(g, dtype=y.dtype)
    out = np.empty_like(y)
    k.log_softmax_backward_rows(rows, g.reshape(rows.shape), out.reshape(rows.shape))
    return out


def cross_entropy(logits, targets, ignore_index):
    """Returns (mean loss as a 0-d array, log-probabilities, number of counted rows)."""
    logits = np.ascontiguousarray(logits)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    log_probs = np.empty_like(logits)
    total, count = k.cross_entropy_rows(logits, targets, ignore_index, log_probs)
    loss = total / count if count else np.nan
    return np.asarray(loss, dtype=logits.dtype), log_probs, count


def cross_entropy_backward(log_probs, targets, ignore_index, g, count):
    """d logits of the mean loss, scaled by the upstream 0-d gradient g."""
    scale = float(g) / count if count else 0.0
    out = np.empty_like(log_probs)
    k.cross_entropy_backward_rows(
        log_probs, np.ascontiguousarray(targets, dtype=np.int64), ignore_index,
        log_probs.dtype.type(scale), out,
    )
    return out


# ---- random ------------------------------------------------------------------------------------


def dropout_mask(shape, p, rng, dtype):
    """Inverted-dropout mask: 0 with probability p, 1/(1-p) otherwise."""
    keep = rng.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


# ---- optimizer updates (in place on flat views) ------------------------------------------------


def _flat(a):
    if not a.flags.c_contiguous:
        raise ValueError("optimizer state must be C-contiguous")
    return a.reshape(-1)


def sgd_update(param, grad, velocity, lr, momentum, weight_decay, dampening, nesterov, first):
    hyper = rules.sgd_hyperparameters(param.dtype, lr, momentum, weight_decay, dampening)
    k.sgd_update(_flat(param), _flat_grad(grad, param), _flat(velocity), *hyper, bool(nesterov),
                 bool(first))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    hyper = rules.adam_hyperparameters(param.dtype, lr, beta1, beta2, eps, weight_decay, step)
    k.adam_update(_flat(param), _flat_grad(grad, param), _flat(m), _flat(v), *hyper)


def rmsprop_update(param, grad, square_avg, grad_avg, velocity, lr, alpha, eps, weight_decay,
                   momentum, centered):
    hyper = rules.rmsprop_hyperparameters(param.dtype, lr, alpha, eps, weight_decay, momentum)
    k.rmsprop_update(_flat(param), _flat_grad(grad, param), _flat(square_avg), _flat(grad_avg),
                     _flat(velocity), *hyper, bool(centered))


def _flat_grad(grad, param):
    return np.ascontiguousarray(grad, dtype=param.dtype).reshape(-1)


def astype(a, dtype):
    return a.astype(dtype)


_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
            "eq": np.equal, "ne": np.not_equal}
_LOGICAL = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}


def compare(op, a, b):
    """A bool array of a <op> b, op one of lt le gt ge eq ne."""
    return _COMPARE[op](a, b)


def logical(op, a, b):
    """A bool array of a <op> b, op one of and, or, xor (nonzero is true)."""
    return _LOGICAL[op](a, b)


def logical_not(a):
    return np.logical_not(a)


def any(a, axis=None, keepdims=False):  # noqa: A001 - the backend's name for the op
    """A bool array: is any element along axis nonzero."""
    return np.asarray(np.any(a, axis=axis, keepdims=keepdims))


def all(a, axis=None, keepdims=False):  # noqa: A001 - the backend's name for the op
    """A bool array: are all elements along axis nonzero."""
    return np.asarray(np.all(a, axis=axis, keepdims=keepdims))
