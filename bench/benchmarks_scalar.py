"""asv: the float32 polynomials of the scalar rules (minigrad/backends/scalar_float32.py) against
the libm call they replace, each inside the same Numba loop over 65,536 float32 values.

The kernels use the polynomials because a loop over them vectorises where a loop over the libm
call may not (tests/backends/test_scalar_float32.py checks the vectorisation); whether that makes
them faster depends on the machine and its libm, so it is timed here, not asserted in a test.
"""

from __future__ import annotations

import math

import numpy as np

NAMES = ["exp_f32", "expm1_f32", "sin_f32", "cos_f32", "erf_f32", "log_f32", "log1p_f32"]
LIBM = {"exp_f32": math.exp, "expm1_f32": math.expm1, "sin_f32": math.sin, "cos_f32": math.cos,
        "erf_f32": math.erf, "log_f32": math.log, "log1p_f32": math.log1p}
RANGE = {"log_f32": (1e-3, 1e4), "log1p_f32": (-0.999, 50)}


def _loop(fn):
    from numba import njit

    @njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    return apply


class ScalarFloat32:
    """Seconds per 65,536 values: the polynomial (`ours`) and the libm call (`libm`)."""

    params = (NAMES, ["ours", "libm"])
    param_names = ["function", "impl"]
    timeout = 120
    number = 20
    repeat = (3, 10, 5.0)

    def setup(self, name, impl):
        from numba import njit

        from minigrad.backends import scalar_rules

        if impl == "ours":
            fn = getattr(scalar_rules.compiled("cpu", np.float32), name)
        else:
            fn = njit(inline="always")(lambda v, f=LIBM[name]: f(v))
        self.apply = _loop(fn)
        lo, hi = RANGE.get(name, (-5.0, 5.0))
        self.x = np.random.default_rng(0).uniform(lo, hi, 1 << 16).astype(np.float32)
        self.out = np.empty_like(self.x)
        self.apply(self.x, self.out)  # compile outside the timing

    def time_loop(self, name, impl):
        self.apply(self.x, self.out)
