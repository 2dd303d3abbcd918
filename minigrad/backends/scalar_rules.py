"""The scalar math of the elementwise primitives, written once in plain Python.

A rule is a factory ``rule(ft, lib)`` of the float type ``ft`` (``np.float32`` or ``np.float64``).
It returns the forward function and one derivative per input. Constants are made from ``ft`` before
the inner functions are defined, so Numba freezes them with their type and float32 data stays
float32 when compiled. ``lib`` is the set of compiled rules of the same target and dtype, so a rule
may call another (sigmoid calls tanh); take what you need from it before defining the inner
functions (``tanh = lib.tanh``), Numba resolves closure variables, not attributes.

A unary rule whose forward is a function of the math module (sqrt, sin, log, ...) is registered
with ``elementary``: its factory returns only the derivative (the forward is ``math.<name>``, or in
float32 the vectorising form where ``vectorised=True``).

Derivatives are local partials: the input gradient is ``g * d(...)``. A unary rule's derivative
takes ``(x, y)`` (the input and the output), a binary rule's take ``(a, b, y)``. ``uses`` names
what the derivatives read, so callers keep only that for backward: "x" (unary input), "a", "b"
(binary inputs), "y" (the output).

``compiled(target, dtype)`` returns the rules compiled for a target: ``"cpu"`` as ordinary
``njit`` functions (LLVM inlines them into the calling kernel, which is the one cached on disk),
``"cuda"`` as ``cuda.jit(device=True)`` functions. Attribute names: ``<name>`` for the
forward, ``<name>_d`` for a unary derivative, ``<name>_da`` / ``<name>_db`` for a binary one.

Optional fields of a rule: ``ufunc`` names a numpy ufunc with the same forward (the CPU backend
may call it: numpy's SIMD loops beat a scalar libm call); ``differentiable=False`` marks a
piecewise-constant op (floor, sign) whose gradient is 0; ``params`` names scalar parameters that
follow the inputs, with defaults (``leaky_relu(x, negative_slope=0.01)``). The generic elementwise
kernels of both backends (``cpu_elementwise``, ``cuda_elementwise``) are generated from the rules,
so a new elementwise op is its rule and its op function. The other rules live in
``scalar_rules_math``, ``scalar_rules_piecewise`` and ``scalar_rules_activations``.

Numba's disk cache keys a kernel on its own source file only: a kernel elsewhere that inlines a
rule is not recompiled when this file changes. Delete the ``__pycache__`` folders after editing a
rule (a fresh install or clone has none). The CPU rules are cached too, keyed on their bytecode
but not on their compile options: delete them as well after changing ``_CPU_OPTIONS``.

The float32 tanh (and sigmoid through it) is a clamped rational approximation that vectorises where
libm's tanhf does not (docs/fused_kernels.md); float64 keeps libm's, so gradient checks in float64
see the true function.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from . import scalar_float32


@dataclass(frozen=True)
class Rule:
    """One elementwise primitive's scalar math: `factory(ft, lib)` -> (forward, *derivatives)."""

    name: str
    arity: int
    factory: object
    uses: tuple
    doc: str
    ufunc: str | None = None  # a numpy ufunc with the same forward (the CPU backend may call it)
    differentiable: bool = True  # False: piecewise constant (floor, sign): the gradient is 0
    params: tuple = ()  # names of scalar parameters passed after the inputs (with defaults)


RULES: dict[str, Rule] = {}
# rules that are a variant of another op, not an op of their own (gelu(approximate="tanh"))
INTERNAL_RULES = frozenset({"gelu_tanh"})


def unary(name: str, uses: tuple = ("x",), ufunc=None, differentiable=True, params=()):
    """Register a one-input rule; `uses` is what its derivative reads: "x", "y" or both."""
    def register(factory):
        RULES[name] = Rule(name, 1, factory, tuple(uses), (factory.__doc__ or "").strip(),
                           ufunc, differentiable, tuple(params))
        return factory
    return register


def binary(name: str, uses: tuple = ("a", "b"), ufunc=None, differentiable=True, params=()):
    """Register a two-input rule; `uses` is what its derivatives read: "a", "b", "y"."""
    def register(factory):
        RULES[name] = Rule(name, 2, factory, tuple(uses), (factory.__doc__ or "").strip(),
                           ufunc, differentiable, tuple(params))
        return factory
    return register


def vectorising(lib, ft, name, fallback):
    """The float32 vectorising form of a function (scalar_float32, or the rational tanh) for
    float32 rules, `fallback` (a math function) for float64: take it before defining the inner
    functions."""
    return getattr(lib, f"{name}_f32") if ft is np.float32 else fallback


def elementary(name: str, uses: tuple = ("x",), ufunc=None, vectorised: bool = False):
    """Register a unary rule whose forward is the math module's function `name` (in float32 its
    vectorising form when `vectorised`): the decorated factory returns only the derivative
    ``d(x, y)``. The kernel caches hash the decorated source, decorator line included."""
    fallback = getattr(math, name)

    def register(derivative):
        @functools.wraps(derivative)
        def factory(ft, lib):
            function = vectorising(lib, ft, name, fallback) if vectorised else fallback

            def forward(x):
                return function(x)

            return forward, derivative(ft, lib)

        return unary(name, uses, ufunc)(factory)

    return register


# ---- the float32 rational tanh ------------------------------------------------------------------
# tanh(x) = x * P(x^2) / Q(x^2), fitted by iterated weighted least squares in float64: largest error
# in float32 3.3e-7 (about 2 ulp near 1). Past TANH_SATURATION, the first float32 at which the
# rational reaches 1, the result is exactly +-1, so tanh and sigmoid saturate once and stay there
# (the clamp at 9 alone left tanh(9) = 0.99999994 below tanh(8.5) = 1).
_P = (1.0, 0.13106046617031097, 0.0031285721343010664, 1.1411441846576054e-05,
      -2.1262909655206386e-08, 5.772186895125486e-11, -9.737232585993114e-14)
_Q = (1.0, 0.4643937647342682, 0.024593209847807884, 0.00025819792062975466)
TANH_SATURATION = 8.07216


def tanh_f32(x):
    """Rational float32 tanh, exactly +-1 past TANH_SATURATION; NaN passes through."""
    lim = np.float32(TANH_SATURATION)
    one = np.float32(1.0)
    if x >= lim:
        return one
    if x <= -lim:
        return -one
    s = x * x
    p = np.float32(_P[6])
    for c in _P[5::-1]:  # Horner from the top: a loop over constants, unrolled by the compiler
        p = p * s + np.float32(c)
    q = np.float32(_Q[3])
    for c in _Q[2::-1]:
        q = q * s + np.float32(c)
    y = x * p / q
    return min(max(y, -one), one)


# ---- rules --------------------------------------------------------------------------------------


@unary("neg", uses=())
def _neg(ft, lib):
    """-x; d/dx = -1."""
    minus_one = ft(-1.0)

    def forward(x):
        return -x

    def d(x, y):
        return minus_one

    return forward, d


@elementary("exp", uses=("y",), ufunc="exp", vectorised=True)
def _exp(ft, lib):
    """exp(x) (float32: exp_f32, which vectorises); d/dx = y."""
    return lambda x, y: y


@elementary("log")
def _log(ft, lib):
    """log(x); d/dx = 1 / x."""
    one = ft(1.0)
    return lambda x, y: one / x


@elementary("tanh", uses=("y",), vectorised=True)
def _tanh(ft, lib):
    """tanh(x) (float32: the rational form); d/dx = 1 - y^2."""
    one = ft(1.0)
    return lambda x, y: one - y * y


@unary("sigmoid", uses=("y",))
def _sigmoid(ft, lib):
    """1 / (1 + exp(-x)) (float32 through exp_f32): monotone, exactly 1 from 16.64 on in float32,
    relative accuracy kept in the negative tail (tanh(x/2)/2 + 1/2 lost it: 0 for x < -17 in
    float32, 2.6e-4 relative error at -30 in float64); d/dx = y (1 - y)."""
    zero, one, limit = ft(0.0), ft(1.0), ft(709.0)  # float64 exp overflows past 709.78
    exp = lib.exp_f32 if ft is np.float32 else math.exp

    def forward(x):
        z = -x
        if z > limit:  # sigmoid < 1e-308: 0 (also spares Python's exp an OverflowError)
            return zero
        return one / (one + exp(z))

    def d(x, y):
        return y * (one - y)

    return forward, d


@unary("relu", uses=("y",))
def _relu(ft, lib):
    """max(x, 0); d/dx = 1 where y > 0 (0 at 0, as torch). NaN passes through, and its
    derivative is 1 (torch's threshold_backward: 0 only where y <= 0)."""
    zero, one = ft(0.0), ft(1.0)

    def forward(x):
        return zero if x <= zero else x

    def d(x, y):
        return zero if y <= zero else one

    return forward, d


@unary("abs")
def _abs(ft, lib):
    """|x|; d/dx = sign(x) (0 at 0, as torch)."""
    zero, one = ft(0.0), ft(1.0)

    def forward(x):
        return abs(x)

    def d(x, y):
        return one if x > zero else (-one if x < zero else zero)

    return forward, d


@binary("add", uses=())
def _add(ft, lib):
    """a + b; d/da = d/db = 1."""
    one = ft(1.0)

    def forward(a, b):
        return a + b

    def da(a, b, y):
        return one

    return forward, da, da


@binary("sub", uses=())
def _sub(ft, lib):
    """a - b; d/da = 1, d/db = -1."""
    one = ft(1.0)

    def forward(a, b):
        return a - b

    def da(a, b, y):
        return one

    def db(a, b, y):
        return -one

    return forward, da, db


@binary("mul")
def _mul(ft, lib):
    """a * b; d/da = b, d/db = a."""
    def forward(a, b):
        return a * b

    def da(a, b, y):
        return b

    def db(a, b, y):
        return a

    return forward, da, db


@binary("div", uses=("b", "y"))
def _div(ft, lib):
    """a / b; d/da = 1 / b, d/db = -y / b."""
    one = ft(1.0)

    def forward(a, b):
        return a / b

    def da(a, b, y):
        return one / b

    def db(a, b, y):
        return -y / b

    return forward, da, db


@binary("pow", uses=("a", "b", "y"))
def _pow(ft, lib):
    """a ** b; d/da = b a^(b-1), d/db = y log(a), torch's forms and limits: no slope in a where
    b = 0 (so x ** 0 has none even at a = 0 or +-inf), none in b where a = 0 and b >= 0.
    (b y / a would save a power but loses the slope where y under- or overflows: a = 1e-30,
    b = 2 in float32.)"""
    zero, one = ft(0.0), ft(1.0)

    def forward(a, b):
        return a ** b

    def da(a, b, y):
        return zero if b == zero else b * a ** (b - one)

    def db(a, b, y):
        if a == zero and b >= zero:
            return zero
        return y * math.log(a)

    return forward, da, db


# ---- compilation --------------------------------------------------------------------------------

_FLOATS = {np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}
# Ordinary Numba functions, not ``inline="always"``: Numba's IR-level inlining types a rule's body
# again at every call site (about 2.5 s of a compiled LSTM step's cold compile), while LLVM still
# inlines the compiled rule into the loop that calls it (same machine code, same speed: docs/
# compiler.md, "The scalar rules are called, not inlined by Numba").
_CPU_OPTIONS = {"forceinline": True, "error_model": "numpy", "fastmath": {"contract"},
                "boundscheck": False}


def _cpu_jit(fn):
    """fn compiled by Numba for the CPU, cached on disk unless it closes over a compiled function
    (a dispatcher pickles with a per-process id into the cache key, so it would miss every
    process and leave a new entry each time)."""
    from numba import njit
    from numba.core.dispatcher import Dispatcher

    closure = fn.__closure__ or ()
    cache = not any(isinstance(cell.cell_contents, Dispatcher) for cell in closure)
    return njit(cache=cache, **_CPU_OPTIONS)(fn)


def _compiler(target: str):
    if target == "cpu":
        return _cpu_jit
    if target == "cuda":
        from numba import cuda

        return lambda fn: cuda.jit(device=True)(fn)
    if target == "python":
        return lambda fn: fn
    raise ValueError(f"scalar_rules: target must be 'cpu' or 'cuda', got {target!r}")


class _Library(SimpleNamespace):
    """The rules of one target and dtype, compiled on first access."""

    def __init__(self, target: str, ft):
        super().__init__()
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_ft", ft)
        object.__setattr__(self, "_jit", _compiler(target))

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr == "tanh_f32" or attr in scalar_float32.NAMES:
            fn = (self._jit(tanh_f32) if attr == "tanh_f32" else
                  scalar_float32.float32_function(attr, self._target, self._jit))
            setattr(self, attr, fn)
            return fn
        name = attr
        for suffix in ("_da", "_db", "_d"):
            if attr.endswith(suffix) and attr[: -len(suffix)] in RULES:
                name = attr[: -len(suffix)]
                break
        rule = RULES.get(name)
        if rule is None:
            raise AttributeError(f"scalar_rules: no rule named {name!r}")
        functions = rule.factory(self._ft, self)
        names = [name] + ([f"{name}_d"] if rule.arity == 1 else [f"{name}_da", f"{name}_db"])
        if len(functions) != len(names):
            raise TypeError(f"scalar_rules: rule {name!r} returned {len(functions)} functions, "
                            f"expected {len(names)} (forward and one derivative per input)")
        for key, fn in zip(names, functions):
            setattr(self, key, self._jit(fn))
        return getattr(self, attr)


_LIBRARIES: dict = {}


def compiled(target: str, dtype) -> _Library:
    """The rules compiled for `target` ("cpu" or "cuda") and a float dtype, each on first use."""
    ft = _FLOATS.get(np.dtype(dtype))
    if ft is None:
        raise ValueError(f"scalar_rules: dtype must be float32 or float64, got {np.dtype(dtype)}")
    key = (target, ft)
    if key not in _LIBRARIES:
        _LIBRARIES[key] = _Library(target, ft)
    return _LIBRARIES[key]


def python(dtype) -> SimpleNamespace:
    """The rules as plain Python functions (no Numba): the reference the compiled ones are tested
    against, and what a code generator can read."""
    ft = _FLOATS[np.dtype(dtype)]
    key = ("python", ft)
    if key not in _LIBRARIES:
        _LIBRARIES[key] = _Library("python", ft)
    return _LIBRARIES[key]


# The other families register their rules into RULES on import.
from . import scalar_rules_activations, scalar_rules_math, scalar_rules_piecewise  # noqa: E402, F401
