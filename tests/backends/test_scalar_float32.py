"""The vectorising float32 functions of the scalar rules (scalar_float32): accuracy in float32
ulps against float64 truth, edge values, plain-Python reference == compiled, and that a Numba
loop over them vectorises (their speed against libm: asv, bench/benchmarks_scalar.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from minigrad.backends import scalar_rules

TRUTH = {"exp_f32": np.exp, "expm1_f32": np.expm1, "sin_f32": np.sin, "cos_f32": np.cos,
         "erf_f32": np.vectorize(math.erf), "log_f32": np.log, "log1p_f32": np.log1p}
RANGE = {"exp_f32": (-87, 88), "expm1_f32": (-20, 20), "sin_f32": (-1000, 1000),
         "cos_f32": (-1000, 1000), "erf_f32": (-6, 6), "log_f32": (1e-3, 1e4),
         "log1p_f32": (-0.999, 50)}
ULPS = {"log1p_f32": 3.5}
LIBM = {"exp_f32": math.exp, "expm1_f32": math.expm1, "sin_f32": math.sin, "cos_f32": math.cos,
        "erf_f32": math.erf, "log_f32": math.log, "log1p_f32": math.log1p}


def _loop(fn):
    @njit(error_model="numpy")  # as the kernels: Python's division checks stop vectorisation
    def apply(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    def run(x):
        out = np.empty_like(x)
        apply(x, out)
        return out

    run.kernel = apply
    return run


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_within_two_ulps_and_python_equals_compiled(name):
    fn = _loop(getattr(scalar_rules.compiled("cpu", np.float32), name))
    lo, hi = RANGE[name]
    small = np.geomspace(1e-30, 0.3, 20_001) if name == "log_f32" else np.linspace(-0.3, 0.3,
                                                                                   20_001)
    x = np.concatenate([np.linspace(lo, hi, 400_001), small])
    x = x.astype(np.float32)
    got = fn(x)
    truth = TRUTH[name](x.astype(np.float64))
    ulps = np.abs(got - truth) / np.spacing(np.abs(truth).astype(np.float32))
    assert ulps.max() <= ULPS.get(name, 2.0), (name, x[np.argmax(ulps)], ulps.max())
    reference = getattr(scalar_rules.python(np.float32), name)
    some = x[::997]  # the compiled form may fuse multiply-adds: agree to rounding
    np.testing.assert_allclose(np.array([reference(v) for v in some], np.float32), got[::997],
                               rtol=4e-7, atol=1e-37)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_edges(name):
    fn = _loop(getattr(scalar_rules.compiled("cpu", np.float32), name))
    out = fn(np.array([np.nan, np.inf, -np.inf, 0.0], np.float32))
    assert np.isnan(out[0])
    if name == "log_f32":  # subnormals are scaled up first
        np.testing.assert_allclose(fn(np.array([1e-40, 1e-45], np.float32)),
                                   np.log(np.array([1e-40, 1e-45], np.float32).astype(float)),
                                   rtol=1e-6)
    expected = {"exp_f32": [np.inf, 0.0, 1.0], "expm1_f32": [np.inf, -1.0, 0.0],
                "sin_f32": [np.nan, np.nan, 0.0], "cos_f32": [np.nan, np.nan, 1.0],
                "erf_f32": [1.0, -1.0, 0.0], "log_f32": [np.inf, np.nan, -np.inf],
                "log1p_f32": [np.inf, np.nan, 0.0]}[name]
    np.testing.assert_array_equal(out[1:], np.array(expected, np.float32))


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_the_loop_over_the_polynomial_vectorises(name):
    """What makes them faster than the libm call inside the kernels: a Numba loop over the
    polynomial compiles to SIMD code (LLVM vector types) on any x86-64 or ARM target, where a
    loop over a libm call vectorises only if LLVM has a vector math library for it. Their speed,
    a property of the machine and its libm, is timed by asv (bench/benchmarks_scalar.py)."""
    ours = _loop(getattr(scalar_rules.compiled("cpu", np.float32), name))
    ours(np.zeros(64, np.float32))
    (ir,) = ours.kernel.inspect_llvm().values()
    assert " x float>" in ir, f"{name}: the loop over the polynomial did not vectorise"


@pytest.mark.parametrize("name", ["sin_f32", "cos_f32"])
def test_sin_cos_are_correctly_reduced_over_the_whole_float32_range(name):
    """Payne-Hanek's reduction: float32 bit patterns drawn over every exponent (to 3.4e38) give
    the float64 libm value rounded to float32 (within 0.51 ulp: glibc's sin/cos reduce exactly).
    The two-part Cody-Waite reduction before lost the quadrant past |x| = 7e15."""
    fn = _loop(getattr(scalar_rules.compiled("cpu", np.float32), name))
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 0x7F800000, 60_000, dtype=np.int64).astype(np.uint32)
    x = bits.view(np.float32) * np.where(rng.random(bits.size) < 0.5, -1, 1).astype(np.float32)
    x = np.concatenate([x, np.array([3.4028235e38, -3.4028235e38, 1.5707964, 16777216.0, 1e10,
                                     7.2e15, 1.2199122e20, 4.384829e31], np.float32)])
    truth = np.array([getattr(math, name[:3])(v) for v in x.astype(np.float64)])
    got = fn(x)
    ulps = np.abs(got - truth) / np.spacing(np.abs(truth).astype(np.float32))
    assert ulps.max() <= 0.51, (name, x[np.argmax(ulps)], ulps.max())
    reference = getattr(scalar_rules.python(np.float32), name)
    some = x[::61]
    np.testing.assert_allclose(np.array([reference(v) for v in some], np.float32), got[::61],
                               rtol=4e-7, atol=1e-37)


def test_sin_keeps_the_sign_of_zero():
    fn = _loop(scalar_rules.compiled("cpu", np.float32).sin_f32)
    out = fn(np.array([-0.0, 0.0, -1e-45], np.float32))
    assert np.signbit(out[0]) and not np.signbit(out[1]) and out[2] == np.float32(-1e-45)
