"""The CUDA backend: numba device arrays and numba.cuda kernels, with the CPU backend's names and
signatures (``cpu.py`` is the interface), so the ops never ask which device they run on.

Every array this backend returns is C-contiguous and lives on the device. Views that numba device
arrays cannot express (transposes, broadcasts, strided slices) are materialised by a gather kernel;
a slice that is contiguous (a leading-axis range, ``x[t]``) is returned as a device view, as the CPU
backend returns a numpy view. Nothing here copies data to the host except ``to_host`` and
``all_finite`` (its bool answer), and nothing copies from the host except ``from_host``/``asarray``
and host-side indices (integer arrays in ``getitem``/``index_add``); kernel launches take shapes,
strides and scalars by value. Shared-memory kernels live in ``cuda_block_kernels``, the rest in
``cuda_kernels``; the fused recurrences' kernels are minigrad.compiler's (emit_cuda, cuda_runtime),
which runs them through this module's functions (``gemm_strided`` for the per-step GEMMs).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from . import cuda_block_kernels as bk
from . import cuda_kernels as k
from . import optimizer_rules as rules
from .cuda_array_ops import (  # noqa: F401 - shape ops are part of this backend's interface
    broadcast_to,
    concat,
    getitem,
    index_add,
    reshape,
    slice_add,
    slice_set,
    split,
    stack,
    transpose,
)
from .cuda_axis import *  # noqa: F403 - along-axis kernels (engine-ops)
from .cuda_base import (  # noqa: F401 - creation and movement are part of the interface
    all_finite,
    asarray,
    astype,
    check_device,
    copy,
    empty,
    flat,
    from_host,
    full,
    is_device_array,
    is_scalar,
    ndarray,
    ones,
    to_host,
    zeros,
)
from .cuda_elementwise import (  # noqa: F401 - ops generated from the scalar rules
    rule_binary,
    rule_binary_backward,
    rule_unary,
    rule_unary_backward,
)
from .cuda_gated_scan import (  # noqa: F401 - mg.gated_scan
    gated_scan,
    gated_scan_backward,
    gated_scan_projected,
    gated_scan_projected_backward,
    projection,
    projection_backward,
)
from .cuda_gemm import gemm_into, matmul, matmul_nt, matmul_tn  # noqa: F401 - the GEMMs
from .cuda_reduce import amax, amin, sum, sum_to  # noqa: F401 - reductions
from .cuda_scan import linear_scan, linear_scan_backward  # noqa: F401 - mg.linear_scan
from .indexing import at_least_1d, broadcast_strides

name = "cuda"


# ---- elementwise: numpy broadcasting -----------------------------------------------------------


def _operand(x, dtype):
    if is_scalar(x):
        return dtype.type(x)
    return x if x.dtype == dtype else astype(x, dtype)


def _elementwise(op, a, b, same, scalar, broadcast, out_dtype=None):
    check_device(a, b)
    if is_scalar(a) and is_scalar(b):
        raise ValueError("cuda backend: at least one operand must be a device array")
    dtype = np.result_type(a if is_scalar(a) else a.dtype, b if is_scalar(b) else b.dtype)
    a, b = _operand(a, dtype), _operand(b, dtype)
    out_dtype = dtype if out_dtype is None else out_dtype
    if is_scalar(a) or is_scalar(b):
        array, value = (b, a) if is_scalar(a) else (a, b)
        out = empty(array.shape, out_dtype)
        if out.size:
            scalar[k.launch(out.size)](op, flat(array), value, is_scalar(a), flat(out))
        return out
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = empty(shape, out_dtype)
    if not out.size:
        return out
    if a.shape == b.shape:
        same[k.launch(out.size)](op, flat(a), flat(b), flat(out))
        return out
    padded, a_strides = at_least_1d(shape, broadcast_strides(a.shape, shape))
    b_strides = at_least_1d(shape, broadcast_strides(b.shape, shape))[1]
    broadcast[k.launch(out.size)](op, flat(a), a_strides, flat(b), b_strides, padded, flat(out))
    return out


def gemm_strided(a, a_offset, a_row, a_col, b, b_offset, b_row, b_col, out, out_offset, m, n,
                 inner, accumulate=False, out_row=None):
    """out[m, n] (+)= A[m, inner] @ B[inner, n] on flat arrays, each matrix given by its offset
    and its row and column strides (elements); out's rows out_row apart (n when None)."""
    gemm_into(a, a_offset, a_row, a_col, (0,), b, b_offset, b_row, b_col, (0,), (1,), m, n,
              inner, out, out_offset, accumulate, out_row)


def add_into(out, g):
    """out += g in place (g broadcasts to out's shape)."""
    check_device(out, g)
    g = _operand(g, out.dtype)
    if tuple(g.shape) != tuple(out.shape):
        g = broadcast_to(g, tuple(out.shape))
    if out.size:
        k.binary_same[k.launch(out.size)](k.ADD, flat(out), flat(g), flat(out))


def _arithmetic(op):
    def binary(a, b):
        return _elementwise(op, a, b, k.binary_same, k.binary_scalar, k.binary_broadcast)

    return binary


add, sub, mul, div = _arithmetic(k.ADD), _arithmetic(k.SUB), _arithmetic(k.MUL), _arithmetic(k.DIV)
power, maximum = _arithmetic(k.POW), _arithmetic(k.MAX)

_COMPARE = {"lt": k.LT, "le": k.LE, "gt": k.GT, "ge": k.GE, "eq": k.EQ, "ne": k.NE}
_LOGICAL = {"and": k.AND, "or": k.OR, "xor": k.XOR}


def compare(op, a, b):
    """A bool array of a <op> b, op one of lt le gt ge eq ne."""
    if op not in _COMPARE:
        raise ValueError(f"compare: op must be one of {sorted(_COMPARE)}, got {op!r}")
    return _elementwise(_COMPARE[op], a, b, k.compare_same, k.compare_scalar, k.compare_broadcast,
                        np.dtype(np.bool_))


def logical(op, a, b):
    """A bool array of a <op> b, op one of and, or, xor (nonzero is true)."""
    if op not in _LOGICAL:
        raise ValueError(f"logical: op must be one of {sorted(_LOGICAL)}, got {op!r}")
    return _elementwise(_LOGICAL[op], a, b, k.compare_same, k.compare_scalar, k.compare_broadcast,
                        np.dtype(np.bool_))


def logical_not(a):
    return compare("eq", a if a.dtype == np.bool_ else compare("ne", a, 0), False)


def any(a, axis=None, keepdims=False):  # noqa: A001 - the backend's name for the op
    """A bool array: is any element along axis nonzero (a count of nonzeros above zero)."""
    nonzero = astype(compare("ne", a, 0), np.dtype(np.float32))
    return compare("gt", sum(nonzero, axis=axis, keepdims=keepdims), 0)


def all(a, axis=None, keepdims=False):  # noqa: A001 - the backend's name for the op
    """A bool array: are all elements along axis nonzero."""
    return logical_not(any(logical_not(a), axis=axis, keepdims=keepdims))


def equal(a, b):
    return compare("eq", a, b)


def where(cond, a, b):
    check_device(cond, a, b)
    if is_scalar(a) and is_scalar(b):
        raise ValueError("where: a or b must be a device array")
    dtype = np.result_type(a if is_scalar(a) else a.dtype, b if is_scalar(b) else b.dtype)
    a = full((), a, dtype) if is_scalar(a) else _operand(a, dtype)
    b = full((), b, dtype) if is_scalar(b) else _operand(b, dtype)
    if is_scalar(cond):
        cond = full((), bool(cond), np.bool_)
    shape = np.broadcast_shapes(cond.shape, a.shape, b.shape)
    out = empty(shape, dtype)
    if out.size:
        padded, c_strides = at_least_1d(shape, broadcast_strides(cond.shape, shape))
        a_strides = at_least_1d(shape, broadcast_strides(a.shape, shape))[1]
        b_strides = at_least_1d(shape, broadcast_strides(b.shape, shape))[1]
        k.where[k.launch(out.size)](flat(cond), c_strides, flat(a), a_strides, flat(b), b_strides,
                                    padded, flat(out))
    return out


def _unary(op, x, op_float32=None):
    check_device(x)
    out = empty(x.shape, x.dtype)
    if op_float32 is not None and x.dtype == np.float32:
        op = op_float32
    if out.size:
        k.unary[k.launch(out.size)](op, flat(x), flat(out))
    return out


def neg(a):
    return _unary(k.NEG, a)


def exp(a):
    return _unary(k.EXP, a)


def log(a):
    return _unary(k.LOG, a)


def absolute(a):
    return _unary(k.ABS, a)


def relu(a):
    return _unary(k.RELU, a)


def tanh(x):
    return _unary(k.TANH, x, k.TANH_RATIONAL)


def sigmoid(x):
    return _unary(k.SIGMOID, x, k.SIGMOID_RATIONAL)


def clip(a, lo, hi):
    check_device(a)
    out = empty(a.shape, a.dtype)
    if out.size:
        t = a.dtype.type
        k.clip[k.launch(out.size)](flat(a), t(lo), t(hi), flat(out))
    return out


def _same_shape(saved, g):
    check_device(saved, g)
    g = _operand(g, saved.dtype)
    return g if tuple(g.shape) == tuple(saved.shape) else broadcast_to(g, saved.shape)


def clip_backward(x, lo, hi, g):
    g = _same_shape(x, g)
    out = empty(x.shape, x.dtype)
    if out.size:
        t = x.dtype.type
        k.clip_backward[k.launch(out.size)](flat(x), t(lo), t(hi), flat(g), flat(out))
    return out


# ---- softmax family and losses (over the last axis) --------------------------------------------


def _row_launch(rows):
    return max(1, min(rows, k.MAX_ROW_BLOCKS)), k.THREADS


def _rowwise(x, g, log):
    check_device(x)
    out = empty(x.shape, x.dtype)
    classes = tuple(x.shape)[-1] if x.ndim else 1
    if not out.size:
        return out
    grid = _row_launch(out.size // classes)
    if g is None:
        bk.softmax_rows[x.dtype.name][grid](flat(x), classes, log, flat(out))
    else:
        g = _same_shape(x, g)
        bk.softmax_backward_rows[x.dtype.name][grid](flat(x), flat(g), classes, log, flat(out))
    return out


def softmax(x):
    return _rowwise(x, None, False)


def log_softmax(x):
    return _rowwise(x, None, True)


def softmax_backward(y, g):
    return _rowwise(y, g, False)


def log_softmax_backward(y, g):
    return _rowwise(y, g, True)


def cross_entropy(logits, targets, ignore_index):
    """Returns (mean loss as a 0-d array, log-probabilities, counted rows as a 0-d array).

    The count stays on the device (the CPU backend returns an int): reading it would stall.
    """
    check_device(logits, targets)
    rows, classes = logits.shape
    targets = targets if targets.dtype == np.int64 else astype(targets, np.int64)
    log_probs = empty(logits.shape, logits.dtype)
    row_loss, row_count = zeros((rows,), logits.dtype), zeros((rows,), logits.dtype)
    if rows and classes:
        bk.cross_entropy_rows[logits.dtype.name][_row_launch(rows)](
            flat(logits), flat(targets), ignore_index, classes, flat(log_probs), row_loss,
            row_count)
    count = sum(row_count)
    return div(sum(row_loss), count), log_probs, count


def cross_entropy_backward(log_probs, targets, ignore_index, g, count):
    """d logits of the mean loss, scaled by the upstream 0-d gradient g (read on the device)."""
    check_device(log_probs, targets, g, count)
    g, count = _operand(g, log_probs.dtype), _operand(count, log_probs.dtype)
    out = empty(log_probs.shape, log_probs.dtype)
    if out.size:
        k.cross_entropy_backward[k.launch(out.size)](
            flat(log_probs), flat(targets), ignore_index, flat(g), flat(count),
            tuple(log_probs.shape)[-1], flat(out))
    return out


# ---- random ------------------------------------------------------------------------------------

_generators = {}


def _generator_states():
    """One xoroshiro128+ state per thread of the dropout launch, allocated once per process."""
    blocks, threads = k.launch(1 << 62)
    n = blocks * threads
    if n not in _generators:
        from numba.cuda.random import xoroshiro128p_dtype

        _generators[n] = cuda.device_array(n, dtype=xoroshiro128p_dtype)
    return _generators[n]


def dropout_mask(shape, p, rng, dtype):
    """Inverted-dropout mask from a device RNG seeded by one draw from the numpy Generator `rng`:
    0 with probability p, 1/(1-p) otherwise."""
    dtype = np.dtype(dtype)
    out = empty(shape, dtype)
    if not out.size:
        return out
    states = _generator_states()
    seed = np.uint64(rng.integers(0, np.iinfo(np.int64).max))
    k.seed_generators[k.launch(states.shape[0])](states, seed)
    threshold = np.uint64(min(int(p * 2.0**64), 2**64 - 1))
    k.dropout_mask[k.launch(1 << 62)](states, threshold, dtype.type(1.0 / (1.0 - p)), flat(out))
    return out


# ---- optimizer updates (in place) --------------------------------------------------------------


def _update_operands(param, grad, *state):
    arrays = (param, grad, *state)
    check_device(*arrays)
    for a in arrays:
        if tuple(a.shape) != tuple(param.shape) or not a.is_c_contiguous():
            raise ValueError(f"optimizer update: arrays must be C-contiguous of shape "
                             f"{tuple(param.shape)}, got {tuple(a.shape)}")
    return tuple(flat(a) for a in (param, _operand(grad, param.dtype), *state))


def sgd_update(param, grad, velocity, lr, momentum, weight_decay, dampening, nesterov, first):
    if not param.size:
        return
    hyper = rules.sgd_hyperparameters(param.dtype, lr, momentum, weight_decay, dampening)
    k.sgd_update[k.launch(param.size)](
        *_update_operands(param, grad, velocity), *hyper, bool(nesterov), bool(first))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    if not param.size:
        return
    hyper = rules.adam_hyperparameters(param.dtype, lr, beta1, beta2, eps, weight_decay, step)
    k.adam_update[k.launch(param.size)](*_update_operands(param, grad, m, v), *hyper)


def rmsprop_update(param, grad, square_avg, grad_avg, velocity, lr, alpha, eps, weight_decay,
                   momentum, centered):
    if not param.size:
        return
    hyper = rules.rmsprop_hyperparameters(param.dtype, lr, alpha, eps, weight_decay, momentum)
    k.rmsprop_update[k.launch(param.size)](
        *_update_operands(param, grad, square_avg, grad_avg, velocity), *hyper, bool(centered))


# ---- scans with torch's edges and the integer bitwise ops (issue 20) ----------------------------
from . import cuda_cumulative as _scan  # noqa: E402
from .cuda_cumulative import cumextreme_index, logcumsumexp  # noqa: E402, F401

_BITWISE = {"and": _scan.AND, "or": _scan.OR, "xor": _scan.XOR, "lshift": _scan.LSHIFT,
            "rshift": _scan.RSHIFT}


def bitwise(op, a, b):
    """a <op> b bitwise, op in and or xor lshift rshift (integers; and/or/xor also bools)."""
    if op not in _BITWISE:
        raise ValueError(f"bitwise: op must be one of {sorted(_BITWISE)}, got {op!r}")
    dtype = np.result_type(a if is_scalar(a) else a.dtype, b if is_scalar(b) else b.dtype)
    if dtype == np.bool_:  # and/or/xor of bools are the logical kernels
        return logical(op, a, b)
    code = _BITWISE[op] + 8 * dtype.itemsize * 8
    return _elementwise(code, a, b, _scan.bitwise_same, _scan.bitwise_scalar,
                        _scan.bitwise_broadcast)


def bitwise_not(a):
    """~a bitwise (not for bools)."""
    check_device(a)
    out = empty(tuple(a.shape), a.dtype)
    if out.size:
        _scan.bitwise_invert[k.launch(out.size)](flat(a), flat(out))
    return out
