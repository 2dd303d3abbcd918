"""Every scalar rule compiled as a CUDA device function gives the CPU-compiled rule's values, for
the forward and each derivative, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda  # the simulator swaps a module-level `cuda` inside kernels

from minigrad.backends import scalar_rules

pytestmark = pytest.mark.cuda

# rules defined on part of the real line only: covered by tests/cuda/test_engine_ops_on_cuda.py
LIMITED_DOMAIN = {"acos", "asin", "atanh", "acosh", "sqrt", "rsqrt", "log1p", "log2", "log10"}


def _kernel(fn, arity, n_extra):
    """A kernel applying `fn` elementwise to arity inputs plus n_extra trailing arguments."""
    if arity + n_extra == 1:
        @cuda.jit
        def k1(a, out):
            i = cuda.grid(1)
            if i < out.size:
                out[i] = fn(a[i])
        return lambda args, out: k1[1, out.size](args[0], out)
    if arity + n_extra == 2:
        @cuda.jit
        def k2(a, b, out):
            i = cuda.grid(1)
            if i < out.size:
                out[i] = fn(a[i], b[i])
        return lambda args, out: k2[1, out.size](args[0], args[1], out)

    @cuda.jit
    def k3(a, b, c, out):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = fn(a[i], b[i], c[i])
    return lambda args, out: k3[1, out.size](args[0], args[1], args[2], out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(set(scalar_rules.RULES) - LIMITED_DOMAIN))
def test_cuda_rule_equals_cpu_rule(name, dtype):
    rule = scalar_rules.RULES[name]
    rng = np.random.default_rng(7)
    a = rng.uniform(0.2, 3, 8).astype(dtype) * np.where(np.arange(8) % 2, 1, -1).astype(dtype)
    if name in ("log", "pow"):
        a = np.abs(a)
    b = rng.uniform(0.5, 2, 8).astype(dtype)
    inputs = [a] if rule.arity == 1 else [a, b]
    cpu = scalar_rules.compiled("cpu", dtype)
    gpu = scalar_rules.compiled("cuda", dtype)
    y = np.array([getattr(cpu, name)(*v) for v in zip(*inputs)], dtype)
    suffixes = ["_d"] if rule.arity == 1 else ["_da", "_db"]
    for attr, extra in [(name, [])] + [(name + s, [y]) for s in suffixes]:
        want = np.array([getattr(cpu, attr)(*v) for v in zip(*inputs, *extra)], dtype)
        out = np.zeros_like(want)
        _kernel(getattr(gpu, attr), rule.arity, len(extra))(inputs + extra, out)
        tol = 2e-7 if dtype == np.float32 else 1e-15  # fused multiply-add on the CPU only
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol,
                                   err_msg=attr)
