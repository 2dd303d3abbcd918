"""Multi-tensor optimizer kernels: one compiled call updates every parameter of a group.

``adam_foreach(params, grads, ms, vs, *hyper)`` takes tuples of flat C arrays of one dtype (a
Numba UniTuple: one specialisation per count, cached on disk) and runs torch.optim.Adam's update
element by element with the scalar rule of the per-parameter kernel
(``backends.optimizer_rules.adam_element``, the same compile flags), so its results are the
per-parameter kernel's bit for bit; what it removes is the Python and the dispatch of one kernel
call per parameter.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .backends import optimizer_rules

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False}
_adam = njit(inline="always", **_JIT)(optimizer_rules.adam_element)


@njit(**_JIT)
def adam_foreach(params, grads, ms, vs, step_size, beta1, beta2, eps, weight_decay, root_bias2):
    """torch.optim.Adam over every (param, grad, m, v) of the tuples, in place."""
    one = params[0].dtype.type(1)
    for k in range(len(params)):
        p, g, m, v = params[k], grads[k], ms[k], vs[k]
        for i in range(p.size):
            p[i], m[i], v[i] = _adam(p[i], g[i], m[i], v[i], step_size, beta1, beta2, eps,
                                     weight_decay, root_bias2, one)


def flat(a: np.ndarray) -> np.ndarray | None:
    """a as a flat view, or None when a is not C-contiguous (it takes the per-parameter path)."""
    return a.reshape(-1) if a.flags.c_contiguous else None


def group_key(param, grad, step):
    """Parameters that can share one foreach call: numpy arrays of one float dtype, a gradient
    of that dtype, C-contiguous state, the same step count (bias correction)."""
    data = param.data
    if type(data) is not np.ndarray or type(grad) is not np.ndarray or \
            grad.dtype != data.dtype or data.dtype not in (np.float32, np.float64):
        return None
    return data.dtype.str, step
