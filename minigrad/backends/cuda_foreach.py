"""Multi-tensor kernels of the CUDA backend: clipping by the 2-norm of all gradients and the
optimizers' updates, each over every array of a group in a constant number of launches (per
MAX_ARRAYS arrays; the CPU's are ``minigrad/optim_kernels.py``, which calls these for device
arrays).

The arrays travel as one tuple per role (a Numba UniTuple of flat device arrays, passed by value:
one specialisation per array count, cached on disk); a kernel walks the tuple and, in each array,
its elements with a grid-stride loop, so one launch covers every parameter.

- ``grad_norm``: two launches whatever the number of gradients (up to MAX_ARRAYS: a larger
  group is launched in chunks, as in every kernel here). The first sums the float64
  squares of every element into one partial sum per block (PARTS blocks; a block's threads
  reduce through shared memory in a fixed order, ``cuda_block_kernels.block_reduce``); the
  second, one block, sums the PARTS partials the same way and writes the square root into a 0-d
  float64 device array. The order of the additions depends only on the launch shape, so the
  norm is the same on every call.
- ``clip_scaled``: one launch. Each thread reads that norm on the device and computes torch's
  coefficient ``min(max_norm / (norm + 1e-6), 1)`` in float64 (as the CPU's ``clip_coefficient``),
  then writes each gradient times it, cast to the gradient's dtype: the coefficient never goes
  through the host, so a compiled step with clipping has no host round-trip.
- ``adam_foreach``, ``sgd_foreach``: one launch per group, the per-parameter kernels' scalar rules
  (``optimizer_rules``), so their results are those kernels' bit for bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda

from . import cuda_block_kernels as bk
from . import cuda_kernels as k
from . import optimizer_rules
from .cuda_base import empty, flat

PARTS = bk.THREADS  # partial sums of the norm: one per block of a launch of the first kernel
# arrays per launch: a kernel's parameters must fit in 4 KiB (before CUDA 12.1 and sm_90) and a
# Numba 1-d array argument takes 56 bytes, so a larger group is launched in chunks
MAX_ARRAYS = 64
adam_element = cuda.jit(device=True)(optimizer_rules.adam_element)
sgd_element = cuda.jit(device=True)(optimizer_rules.sgd_element)


@cuda.jit(cache=True)
def sum_squares_parts(grads, parts, offset):
    """parts[offset + b] = the float64 sum of the squares of the elements block b's threads
    visit."""
    shared = cuda.shared.array(PARTS, numba.float64)
    acc = numba.float64(0)
    for j in range(len(grads)):
        g = grads[j]
        for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
            x = numba.float64(g[i])
            acc += x * x
    total = bk.block_reduce(shared, acc, bk.SUM)
    if cuda.threadIdx.x == 0:
        parts[offset + cuda.blockIdx.x] = total


@cuda.jit(cache=True)
def norm_of_parts(parts, out):
    """out[0] = sqrt(sum of parts), one block of PARTS threads: thread t adds parts t, t + PARTS,
    ... in order, then the block reduces."""
    shared = cuda.shared.array(PARTS, numba.float64)
    acc = numba.float64(0)
    for i in range(cuda.threadIdx.x, parts.size, cuda.blockDim.x):
        acc += parts[i]
    total = bk.block_reduce(shared, acc, bk.SUM)
    if cuda.threadIdx.x == 0:
        out[0] = math.sqrt(total)


@cuda.jit(cache=True)
def clip_scale(grads, outs, norm, max_norm):
    """outs[j] = grads[j] * min(max_norm / (norm[0] + 1e-6), 1), the factor in grads' dtype."""
    coef = max_norm / (norm[0] + numba.float64(1e-6))
    if coef > numba.float64(1):
        coef = numba.float64(1)
    for j in range(len(grads)):
        g, o = grads[j], outs[j]
        c = g.dtype.type(coef)
        for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
            o[i] = g[i] * c


@cuda.jit(cache=True)
def adam_foreach_kernel(params, grads, ms, vs, step_size, beta1, beta2, eps, weight_decay,
                        root_bias2):
    """torch.optim.Adam over every (param, grad, m, v) of the tuples, in place."""
    one = params[0].dtype.type(1)
    for j in range(len(params)):
        p, g, m, v = params[j], grads[j], ms[j], vs[j]
        for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
            p[i], m[i], v[i] = adam_element(p[i], g[i], m[i], v[i], step_size, beta1, beta2, eps,
                                            weight_decay, root_bias2, one)


@cuda.jit(cache=True)
def sgd_foreach_kernel(params, grads, velocities, lr, momentum, weight_decay, keep, nesterov,
                       first):
    """torch.optim.SGD over every (param, grad, velocity) of the tuples, in place."""
    zero = params[0].dtype.type(0)
    for j in range(len(params)):
        p, g, u = params[j], grads[j], velocities[j]
        for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
            p[i], u[i] = sgd_element(p[i], g[i], u[i], lr, momentum, weight_decay, keep,
                                     nesterov, first, zero)


def _flats(arrays) -> tuple:
    return tuple(flat(a) for a in arrays)


def _launch(arrays):
    """The grid of a kernel walking every array of the group (sized by the largest)."""
    return k.launch(max(a.size for a in arrays))


def _chunks(roles, *tuples):
    """The tuples cut into chunks of at most MAX_ARRAYS arrays over all roles per launch."""
    size = max(1, MAX_ARRAYS // roles)
    for start in range(0, len(tuples[0]), size):
        yield tuple(tuple(t[start:start + size]) for t in tuples)


def grad_norm(grads) -> object:
    """The 2-norm of all gradients (device arrays of one float dtype) together: a 0-d float64
    device array, in two launches (one more per MAX_ARRAYS gradients)."""
    chunks = list(_chunks(1, _flats(grads)))
    parts = empty((PARTS * len(chunks),), np.float64)
    out = empty((), np.float64)
    for n, (chunk,) in enumerate(chunks):
        sum_squares_parts[PARTS, bk.THREADS](chunk, parts, n * PARTS)
    norm_of_parts[1, PARTS](parts, flat(out))
    return out


def clip_scaled(grads, total, max_norm: float) -> tuple:
    """New device arrays: each gradient times min(max_norm / (total + 1e-6), 1) in its dtype,
    total a 0-d float64 device array (grad_norm's), read on the device: one launch (per
    MAX_ARRAYS / 2 gradients)."""
    outs = tuple(empty(g.shape, g.dtype) for g in grads)
    for chunk, out in _chunks(2, _flats(grads), _flats(outs)):
        clip_scale[_launch(chunk)](chunk, out, flat(total), np.float64(max_norm))
    return outs


def adam_foreach(params, grads, ms, vs, *hyper) -> None:
    """torch.optim.Adam over every parameter of the tuples (flat device arrays of one dtype),
    hyper = optimizer_rules.adam_hyperparameters(...): one launch (per MAX_ARRAYS / 4)."""
    for chunk in _chunks(4, params, grads, ms, vs):
        adam_foreach_kernel[_launch(chunk[0])](*chunk, *hyper)


def sgd_foreach(params, grads, velocities, *hyper, nesterov: bool, first: bool) -> None:
    """torch.optim.SGD over every parameter of the tuples (flat device arrays of one dtype),
    hyper = optimizer_rules.sgd_hyperparameters(...): one launch (per MAX_ARRAYS / 3)."""
    for chunk in _chunks(3, params, grads, velocities):
        sgd_foreach_kernel[_launch(chunk[0])](*chunk, *hyper, nesterov, first)


def ptx_signatures() -> dict:
    """float32 argument types of each kernel above, for tests/cuda/ptx_check.py (three arrays
    per tuple). The norm's kernels compute in float64 by design: FLOAT64_BY_DESIGN."""
    from numba import types

    f32, f64 = types.float32, types.float64
    v32, v64 = types.float32[::1], types.float64[::1]
    three = types.UniTuple(v32, 3)
    return {
        "foreach_sum_squares_parts": (sum_squares_parts, (three, v64, types.int64)),
        "foreach_norm_of_parts": (norm_of_parts, (v64, v64)),
        "foreach_clip_scale": (clip_scale, (three, three, v64, f64)),
        "foreach_adam": (adam_foreach_kernel, (three, three, three, three, *(f32,) * 6)),
        "foreach_sgd": (sgd_foreach_kernel, (three, three, three, *(f32,) * 4, types.boolean,
                                             types.boolean)),
    }


FLOAT64_BY_DESIGN = ("foreach_sum_squares_parts", "foreach_norm_of_parts", "foreach_clip_scale")
