"""numba.cuda kernels of the CUDA backend that need no cooperation between threads.

Every kernel walks its elements with a grid-stride loop, so any launch size is correct and the
host caps the grid. Arrays arrive flat and C-contiguous; shapes and strides arrive as integer
tuples (by value, no copy) and ``strided_offset`` (written once in ``indexing``) turns a position
into an offset. Float kernels are dtype-generic (float32, and float64 for gradient checks) with
constants typed from the data (``x.dtype.type(1)``) so float32 never promotes to float64.
Operation codes select the arithmetic: the branch is uniform across a launch, so it costs nothing.

The float32 tanh and sigmoid are the CPU backend's rational approximation (``cpu_kernels``)
compiled for the device, so both backends round the same way.
"""

from __future__ import annotations

import math

import numba
from numba import cuda
from numba.cuda.random import init_xoroshiro128p_state, xoroshiro128p_next

from . import cpu_kernels, indexing, optimizer_rules

SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
# Launch shape: the simulator runs each thread as a Python thread, so it gets small blocks.
THREADS = 8 if SIMULATOR else 256
MAX_BLOCKS = 2 if SIMULATOR else 4096
MAX_ROW_BLOCKS = 2 if SIMULATOR else 32768  # kernels with one block per row

strided_offset = cuda.jit(device=True)(indexing.strided_offset)
tanh_f32 = cuda.jit(device=True)(cpu_kernels.tanh_f32.py_func)

ADD, SUB, MUL, DIV, POW, MAX = 0, 1, 2, 3, 4, 5
LT, LE, GT, GE, EQ, NE = 0, 1, 2, 3, 4, 5
AND, OR, XOR = 6, 7, 8  # logical: nonzero is true
NEG, EXP, LOG, ABS, RELU, TANH, SIGMOID = 0, 1, 2, 3, 4, 5, 6
TANH_RATIONAL, SIGMOID_RATIONAL = 7, 8  # the float32 forms: the host picks them by dtype


def launch(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n elements."""
    return max(1, min((n + THREADS - 1) // THREADS, MAX_BLOCKS)), THREADS


# ---- scalar rules (device functions) -----------------------------------------------------------


@cuda.jit(device=True)
def arithmetic(op, x, y):
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    if op == POW:
        return x**y
    return x if (x > y or x != x) else y  # MAX propagates NaN, as np.maximum


@cuda.jit(device=True)
def comparison(op, x, y):
    if op == LT:
        return x < y
    if op == LE:
        return x <= y
    if op == GT:
        return x > y
    if op == GE:
        return x >= y
    if op == EQ:
        return x == y
    if op == NE:
        return x != y
    x_true, y_true = x != 0, y != 0
    if op == AND:
        return x_true and y_true
    if op == OR:
        return x_true or y_true
    return x_true != y_true  # XOR


@cuda.jit(device=True)
def unary_rule(op, x, zero, half):
    if op == NEG:
        return -x
    if op == EXP:
        return math.exp(x)
    if op == LOG:
        return math.log(x)
    if op == ABS:
        return abs(x)
    if op == RELU:
        return zero if x <= zero else x  # NaN passes through, as np.maximum and torch
    if op == TANH:
        return math.tanh(x)
    if op == TANH_RATIONAL:
        return tanh_f32(x)
    one = half + half  # SIGMOID and SIGMOID_RATIONAL: the scalar rule's 1 / (1 + exp(-x))
    return one / (one + math.exp(-x))


# ---- creation, casts, gathers and scatters -----------------------------------------------------


@cuda.jit(cache=True)
def fill(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


@cuda.jit(cache=True)
def cast(src, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = src[i]


@cuda.jit(cache=True)
def gather(src, offset, shape, strides, out):
    """out[i] = src[offset + strided_offset(i)]: transpose, broadcast, slices."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = src[offset + strided_offset(i, shape, strides)]


@cuda.jit(cache=True)
def scatter(src, offset, shape, strides, out):
    """out[offset + strided_offset(i)] = src[i]: slice assignment, concat."""
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        out[offset + strided_offset(i, shape, strides)] = src[i]


@cuda.jit(cache=True)
def gather_rows(src, rows, row_size, out):
    """out[r, j] = src[rows[r], j]: integer-array indexing of the first axis."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = src[rows[i // row_size] * row_size + i % row_size]


@cuda.jit(cache=True)
def scatter_add_rows(src, rows, row_size, out):
    """out[rows[r], j] += src[r, j]; repeated rows accumulate (atomically)."""
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        cuda.atomic.add(out, rows[i // row_size] * row_size + i % row_size, src[i])


@cuda.jit(cache=True)
def gather_map(src, positions, out):
    """out[i] = src[positions[i]]: general integer-array indexing."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = src[positions[i]]


@cuda.jit(cache=True)
def scatter_add_map(src, positions, out):
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        cuda.atomic.add(out, positions[i], src[i])


# ---- elementwise -------------------------------------------------------------------------------


@cuda.jit(cache=True)
def unary(op, x, out):
    zero, half = out.dtype.type(0), out.dtype.type(0.5)
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = unary_rule(op, x[i], zero, half)


@cuda.jit(cache=True)
def clip(x, lo, hi, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        v = x[i]
        out[i] = v if v != v else min(max(v, lo), hi)


@cuda.jit(cache=True)
def clip_backward(x, lo, hi, g, out):
    """dx = g where lo <= x <= hi (torch's convention at the bounds)."""
    zero = g.dtype.type(0)
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        v = x[i]
        out[i] = g[i] if (v >= lo and v <= hi) else zero


@cuda.jit(cache=True)
def binary_same(op, a, b, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = arithmetic(op, a[i], b[i])


@cuda.jit(cache=True)
def binary_scalar(op, a, s, scalar_first, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = arithmetic(op, s, a[i]) if scalar_first else arithmetic(op, a[i], s)


@cuda.jit(cache=True)
def binary_broadcast(op, a, a_strides, b, b_strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x = a[strided_offset(i, shape, a_strides)]
        out[i] = arithmetic(op, x, b[strided_offset(i, shape, b_strides)])


@cuda.jit(cache=True)
def compare_same(op, a, b, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = comparison(op, a[i], b[i])


@cuda.jit(cache=True)
def compare_scalar(op, a, s, scalar_first, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = comparison(op, s, a[i]) if scalar_first else comparison(op, a[i], s)


@cuda.jit(cache=True)
def compare_broadcast(op, a, a_strides, b, b_strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x = a[strided_offset(i, shape, a_strides)]
        out[i] = comparison(op, x, b[strided_offset(i, shape, b_strides)])


@cuda.jit(cache=True)
def where(cond, c_strides, a, a_strides, b, b_strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        if cond[strided_offset(i, shape, c_strides)]:
            out[i] = a[strided_offset(i, shape, a_strides)]
        else:
            out[i] = b[strided_offset(i, shape, b_strides)]


# ---- cross-entropy backward (elementwise given the saved log-probabilities) -------------------


@cuda.jit(cache=True)
def cross_entropy_backward(log_probs, targets, ignore_index, g, count, classes, out):
    """d logits = g / count * (softmax - onehot(target)); 0 on ignored rows. g, count: 1 element."""
    zero = out.dtype.type(0)
    scale = g[0] / count[0] if count[0] > zero else zero
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        t = targets[i // classes]
        if t == ignore_index:
            out[i] = zero
        else:
            hit = scale if i % classes == t else zero
            out[i] = scale * math.exp(log_probs[i]) - hit


# ---- dropout -----------------------------------------------------------------------------------


@cuda.jit(cache=True)
def seed_generators(states, seed):
    """One xoroshiro128+ generator per thread, each seeded by SplitMix64 of seed + its index."""
    i = cuda.grid(1)
    if i < states.shape[0]:
        init_xoroshiro128p_state(states, i, numba.uint64(seed) + numba.uint64(i))


@cuda.jit(cache=True)
def dropout_mask(states, threshold, scale, out):
    """out = scale with probability 1 - p, else 0; thread t draws from generator t.

    A draw is kept when its 64 random bits are >= threshold = p * 2^64: an integer comparison
    (numba's uniform float32 goes through float64)."""
    zero = out.dtype.type(0)
    start = cuda.grid(1)
    for i in range(start, out.size, cuda.gridsize(1)):
        out[i] = scale if xoroshiro128p_next(states, start) >= threshold else zero


# ---- optimizer updates (in place; hyperparameters arrive already cast to the parameter dtype) --


_sgd = cuda.jit(device=True)(optimizer_rules.sgd_element)
_adam = cuda.jit(device=True)(optimizer_rules.adam_element)
_rmsprop = cuda.jit(device=True)(optimizer_rules.rmsprop_element)


@cuda.jit(cache=True)
def sgd_update(param, grad, velocity, lr, momentum, weight_decay, keep, nesterov, first):
    """torch.optim.SGD per element (optimizer_rules); keep = 1 - dampening."""
    zero = param.dtype.type(0)
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], velocity[i] = _sgd(param[i], grad[i], velocity[i], lr, momentum, weight_decay,
                                     keep, nesterov, first, zero)


@cuda.jit(cache=True)
def adam_update(param, grad, m, v, step_size, beta1, beta2, eps, weight_decay, root_bias2):
    """torch.optim.Adam per element (optimizer_rules)."""
    one = param.dtype.type(1)
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], m[i], v[i] = _adam(param[i], grad[i], m[i], v[i], step_size, beta1, beta2, eps,
                                     weight_decay, root_bias2, one)


@cuda.jit(cache=True)
def rmsprop_update(param, grad, square_avg, grad_avg, velocity, lr, alpha, eps, weight_decay,
                   momentum, centered):
    """torch.optim.RMSprop per element (optimizer_rules)."""
    zero, one = param.dtype.type(0), param.dtype.type(1)
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], square_avg[i], grad_avg[i], velocity[i] = _rmsprop(
            param[i], grad[i], square_avg[i], grad_avg[i], velocity[i], lr, alpha, eps,
            weight_decay, momentum, centered, zero, one)
