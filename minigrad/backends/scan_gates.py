"""The gate maps of mg.gated_scan: a step's pre-activations -> the coefficients (a_t, b_t) of the
linear recurrence h_t = a_t h_{t-1} + b_t, and their vector-Jacobian product, written once.

A gate map is a factory ``gate(ft, lib)`` of the float type (as the scalar rules,
``scalar_rules``) returning two scalar functions of one column's G pre-activations x_1..x_G:
``coefficients(x_1, ..., x_G) -> (a, b)`` and ``vjp(x_1, ..., x_G, h_prev, gh) -> (a, d_1, ...,
d_G)``, the gradients d_j = dL/dx_j for gh = dL/dh_t (the total, through every later step), with
dL/da_t = gh h_{t-1} and dL/db_t = gh, and a_t (the reverse scan's next factor). Both are
compiled for the CPU (``njit(inline="always")``, inlined into the generated scan kernels) and
for CUDA (device functions) by ``compiled(target, dtype)``: one derivative source for both.

The maps are the direct forms of Feng et al. 2024's log-space ones: every coefficient is a
sigmoid of its own argument (sigmoid(-k), never 1 - sigmoid(k), which rounds to 0 for k > 17 in
float32), a_t in [0, 1] and b_t of the sign of g, so the scan has no cancellation and gives the
log-space values to float rounding (tests/ops/test_gated_scan.py, T = 4000 with extreme gates).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import scalar_rules


@dataclass(frozen=True)
class Gate:
    """One gate map: `factory(ft, lib)` -> (coefficients, vjp) over `blocks` blocks of H."""

    name: str
    blocks: int
    factory: object
    doc: str


GATES: dict[str, Gate] = {}


def gate(name: str, blocks: int):
    """Register a gate map of `blocks` pre-activation blocks."""
    def register(factory):
        GATES[name] = Gate(name, blocks, factory, (factory.__doc__ or "").strip())
        return factory
    return register


def _helpers(ft, lib):
    """g (the paper's positive activation g(x) = x + 1/2 for x >= 0, sigmoid(x) below), the pairs
    (g, g'), (sigmoid(x), sigmoid(-x)) and (log sigmoid(x), sigmoid(-x)), each pair from one exp
    of -|x| (no overflow, relative accuracy in both tails; the vectorised loops evaluate both
    sides of a branch, so every exp saved is one per element)."""
    zero, one, half = ft(0.0), ft(1.0), ft(0.5)
    exp, log1p = lib.exp, lib.log1p

    def sigmoid_pair(x):
        e = exp(-abs(x))
        r = one / (one + e)
        return (r, e * r) if x >= zero else (e * r, r)

    def logsigmoid_slope(x):
        e = exp(-abs(x))
        r = one / (one + e)
        return (x if x < zero else zero) - log1p(e), (e * r if x >= zero else r)

    sigmoid_pair, logsigmoid_slope = lib.compile(sigmoid_pair), lib.compile(logsigmoid_slope)

    def g(x):
        return x + half if x >= zero else sigmoid_pair(x)[0]

    def g_pair(x):  # (g(x), g'(x)) from one exp: the VJPs need both
        s, c = sigmoid_pair(x)
        return (x + half, one) if x >= zero else (s, s * c)

    return lib.compile(g), lib.compile(g_pair), sigmoid_pair, logsigmoid_slope


@gate("mingru", 2)
def _mingru(ft, lib):
    """minGRU, blocks [k | p]: a = 1 - sigmoid(k) = sigmoid(-k), b = sigmoid(k) g(p) (Feng et
    al. 2024, log-space: log a = -softplus(k), log b = -softplus(-k) + log g(p))."""
    g, g_pair, sigmoid_pair, _ = _helpers(ft, lib)

    def coefficients(k, p):
        z, a = sigmoid_pair(k)
        return a, z * g(p)

    def vjp(k, p, h_prev, gh):
        z, a = sigmoid_pair(k)
        g_p, g_d = g_pair(p)
        # dz/dk = z a, da/dk = -z a: dL/dk = gh z a (g(p) - h_prev)
        return a, gh * z * a * (g_p - h_prev), gh * z * g_d

    return coefficients, vjp


@gate("minlstm", 3)
def _minlstm(ft, lib):
    """minLSTM, blocks [f | i | p]: with d = log sigmoid(i) - log sigmoid(f) (the paper's
    softplus(-f) - softplus(-i)), a = f' = f / (f + i) = sigmoid(-d), b = i' g(p) = sigmoid(d)
    g(p); no 0/0 where both gates underflow."""
    g, g_pair, sigmoid_pair, logsigmoid_slope = _helpers(ft, lib)

    def coefficients(f, i, p):
        d = logsigmoid_slope(i)[0] - logsigmoid_slope(f)[0]
        s, a = sigmoid_pair(d)
        return a, s * g(p)

    def vjp(f, i, p, h_prev, gh):
        log_f, slope_f = logsigmoid_slope(f)
        log_i, slope_i = logsigmoid_slope(i)
        s, a = sigmoid_pair(log_i - log_f)
        g_p, g_d = g_pair(p)
        # da/dd = -a s, db/dd = a s g(p); dd/di = sigmoid(-i), dd/df = -sigmoid(-f)
        grad_d = gh * a * s * (g_p - h_prev)
        return a, -grad_d * slope_f, grad_d * slope_i, gh * s * g_d

    return coefficients, vjp


# ---- compilation --------------------------------------------------------------------------------


def _compiler(target: str):
    """How a gate function is compiled: inlined into the CPU kernels, a CUDA device function."""
    if target == "cpu":
        from numba import njit

        return njit(inline="always", error_model="numpy", fastmath={"contract"},
                    boundscheck=False)
    if target == "cuda":
        from numba import cuda

        return cuda.jit(device=True)
    raise ValueError(f"gated_scan: target must be 'cpu' or 'cuda', got {target!r}")


class _Gates(SimpleNamespace):
    """The gate maps of one target and dtype, compiled on first access: `<name>` (the
    coefficients) and `<name>_vjp`."""

    def __init__(self, target: str, dtype):
        super().__init__()
        ft = np.dtype(dtype).type
        rules = scalar_rules.compiled(target, dtype)
        exp, log1p = ((rules.exp_f32, rules.log1p_f32) if ft is np.float32 and target == "cpu"
                      else (math.exp, math.log1p))  # CUDA: libdevice's, fast already
        object.__setattr__(self, "_lib", SimpleNamespace(exp=exp, log1p=log1p,
                                                         compile=_compiler(target)))
        object.__setattr__(self, "_ft", np.dtype(dtype).type)

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        name = attr.removesuffix("_vjp")
        found = GATES.get(name)
        if found is None:
            raise AttributeError(f"scan_gates: no gate map named {name!r}; choose from "
                                 f"{sorted(GATES)}")
        coefficients, vjp = found.factory(self._ft, self._lib)
        setattr(self, name, self._lib.compile(coefficients))
        setattr(self, f"{name}_vjp", self._lib.compile(vjp))
        return getattr(self, attr)


_COMPILED: dict = {}


def compiled(target: str, dtype) -> _Gates:
    """The gate maps compiled for `target` ("cpu" or "cuda") and a float dtype."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"gated_scan: dtype must be float32 or float64, got {dtype}")
    key = (target, dtype)
    if key not in _COMPILED:
        _COMPILED[key] = _Gates(target, dtype)
    return _COMPILED[key]


def digest(*also: str) -> str:
    """A hash of this file and of the backend files named in `also` (what a generated scan
    kernel inlines): kernels carry it, so editing a gate map gives them a new file (and a fresh
    Numba cache) instead of a stale inlined copy."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for name in also:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]
