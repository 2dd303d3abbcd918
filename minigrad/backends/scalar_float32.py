"""float32 exp, expm1, sin, cos and erf for the scalar rules that vectorise inside Numba loops
(libm's scalar calls do not, and Numba here has no SVML). Loops must be compiled with
error_model="numpy" (the kernels are): Python's division checks stop vectorisation.

exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two parts so n ln 2 is
exact), exp(r) a degree-7 polynomial (Cephes expf's coefficients), 2^n built from its bits by an
LLVM bit cast. Largest error 1.01 ulp over [-87, 88]; monotone on every grid we tried
(tests/backends/test_sigmoid_monotone.py). 65,536 values take 15 us against 137 us for math.exp
in a Numba loop and 22 us for np.exp (busy 2-core machine, 2026-12-03). Results that would be
denormal are 0; NaN passes through. CUDA keeps libdevice's expf (the hardware's is fast already);
the plain-Python reference casts the bits with numpy.

sin_f32/cos_f32 reduce by pi/2 in float64 (Payne-Hanek: |x| times seven exact 29-bit chunks of
2/pi, each reduced modulo 4, branch-free) and evaluate float64 Taylor polynomials on |r| <= pi/4
(error < 2e-10): the float64 truth rounded to float32 (within 0.51 ulp) over the whole float32
range, to 3.4e38; the quadrant picks by selects on a float. 65,536 sines took 47 us with the
two-part Cody-Waite reduction before (which lost the quadrant past 7e15), against 690 us for
math.sin in a Numba loop and 34 us for np.sin; the exact reduction costs about 3x that
(docs/ops.md). expm1_f32 is a
Taylor polynomial for |x| < 1.1 (no cancellation) and exp_f32(x) - 1 elsewhere. erf_f32 is within
1.97 ulp on [-6, 6], monotone, 69 us per 65,536 values against 750 us for math.erf. log_f32
(2 ulp) and log1p_f32 (3.4 ulp) take 29 and 40 us against 174 for math.log. On CUDA all are
libdevice's.
"""

from __future__ import annotations

import math
import types

import numpy as np

_EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
          5.0000001201e-1)
EXP_OVERFLOW, EXP_UNDERFLOW = 88.72283, -87.33654
# polynomial coefficients, highest degree first (each evaluated by Horner's rule)
_LOG_ODD = (1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3)  # 2 atanh(s) = 2 s + 2 s z (1/3 + z/5 + ...)
_EXPM1_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(11, 1, -1))  # 1/11! .. 1/2!
_ERF_TAYLOR = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1))  # n = 10 .. 1
                    for n in range(10, 0, -1))


def _float32_from_bits_python(bits):
    return np.array(bits, np.int32).view(np.float32)[()]


_float32_from_bits = _float32_from_bits_python  # exp_f32 called as plain Python


def _bits_from_float32_python(value):
    return np.array(value, np.float32).view(np.int32)[()]


_bits_from_float32 = _bits_from_float32_python


def _make_float32_from_bits():
    """An LLVM bitcast int32 -> float32 (Numba has no scalar view): it vectorises."""
    from llvmlite import ir
    from numba import types as numba_types
    from numba.core.extending import intrinsic

    @intrinsic
    def float32_from_bits(typingctx, bits):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())

        return numba_types.float32(numba_types.int32), codegen

    return float32_from_bits


def _make_bits_from_float32():
    """An LLVM bitcast float32 -> int32."""
    from llvmlite import ir
    from numba import types as numba_types
    from numba.core.extending import intrinsic

    @intrinsic
    def bits_from_float32(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(32))

        return numba_types.int32(numba_types.float32), codegen

    return bits_from_float32


def log_f32(x):
    """float32 log: x = 2^e m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1),
    an odd series to s^9 (|s| < 0.172: error < 3e-9); selects for 0, negatives, inf, NaN and
    subnormals (scaled by 2^23 first)."""
    tiny = x < np.float32(1.1754944e-38)
    scaled = x * np.float32(8388608.0) if tiny else x
    bits = _bits_from_float32(scaled)
    e = np.float32((bits >> np.int32(23)) - np.int32(127))
    e = e - np.float32(23.0) if tiny else e
    m = _float32_from_bits((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000))
    big = m > np.float32(1.4142135)
    m = m * np.float32(0.5) if big else m
    e = e + np.float32(1.0) if big else e
    s = (m - np.float32(1.0)) / (m + np.float32(1.0))
    z = s * s
    p = np.float32(_LOG_ODD[0])
    for c in _LOG_ODD[1:]:
        p = p * z + np.float32(c)
    log_m = np.float32(2.0) * s + np.float32(2.0) * s * z * p
    out = e * np.float32(0.693359375) + (log_m + e * np.float32(-2.12194440e-4))
    out = out if x < np.float32(np.inf) else x
    out = out if x > np.float32(0.0) else (np.float32(-np.inf) if x == np.float32(0.0)
                                           else x - x + np.float32(np.nan))
    return out if x == x else x


def log1p_f32(x):
    """float32 log(1 + x): log_f32(1 + x) x / ((1 + x) - 1) (Goldberg's correction of the rounded
    1 + x), x itself where 1 + x rounds to 1."""
    w = np.float32(1.0) + x
    d = w - np.float32(1.0)
    corrected = log_f32(w) * (x / (d if d != np.float32(0.0) else np.float32(1.0)))
    corrected = corrected if x < np.float32(np.inf) else x
    return x if d == np.float32(0.0) else corrected


def exp_f32(x):
    """float32 exp through 2^n exp(r): vectorises, <= 1.01 ulp, inf past 88.72, 0 below -87.34."""
    if x != x:
        return x
    if x > np.float32(EXP_OVERFLOW):
        return np.float32(np.inf)
    if x < np.float32(EXP_UNDERFLOW):
        return np.float32(0.0)
    magic = np.float32(12582912.0)  # 1.5 * 2^23: adding and removing it rounds to an integer
    n = (x * np.float32(1.4426950408889634) + magic) - magic
    r = (x - n * np.float32(0.693359375)) - n * np.float32(-2.12194440e-4)
    p = np.float32(_EXP_P[0])
    for c in _EXP_P[1:]:  # Horner: a loop over constants, unrolled by the compiler
        p = p * r + np.float32(c)
    scale = _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
    return ((p * r * r + r) + np.float32(1.0)) * scale


# 2/pi in 29-bit chunks: chunk i is _TWO_OVER_PI_BITS[i] 2^(-29 (i + 1)), so its product with a
# float32 (a 24-bit significand) has 53 bits and is exact in float64. Seven chunks reach 2^-203:
# for |x| up to 3.4e38 (< 2^128) what is left of x 2/pi is below 2^-75.
_TWO_OVER_PI_BITS = (0x145F306D, 0x19391054, 0x14FE13AB, 0x1D1F534D, 0x1B81B6C5, 0x05664F10,
                     0x1C820FF2)
(_P0, _P1, _P2, _P3, _P4, _P5, _P6) = (  # module floats: Numba freezes them as constants
    math.ldexp(bits, -29 * (i + 1)) for i, bits in enumerate(_TWO_OVER_PI_BITS))


def _quadrant_and_rest(x):
    """(q, r): x = (4 m + q) pi/2 + r, |r| <= pi/4, q in {-2, -1, 0, 1, 2} as a float64 (integer
    operations here stopped the loop from vectorising: 13x slower), for every finite float32 x.

    Payne and Hanek's reduction in float64, branch-free: |x| times each chunk of 2/pi is exact,
    reduced modulo 4 exactly (p - 4 floor(p / 4)); the pieces are added with the nearest integer
    taken out after each addition, so the sum stays in [-1/2, 1/2] and every addition is exact
    while a piece's last bit is at least 2^-50; the first that rounds is followed only by pieces
    below 2^-26, so its error is relative to a sum already that close to the result (a two-part
    Cody-Waite pi/2, before, lost the quadrant past |x| = 7e15 and was 1e-7 off from 1e9)."""
    xd = np.float64(x)
    a = abs(xd)
    acc, k = _chunk_mod4(a * _P0, np.float64(0.0), np.float64(0.0))
    acc, k = _chunk_mod4(a * _P1, acc, k)  # written out: a loop over the tuple
    acc, k = _chunk_mod4(a * _P2, acc, k)  # stopped the loop from vectorising
    acc, k = _chunk_mod4(a * _P3, acc, k)
    acc, k = _chunk_mod4(a * _P4, acc, k)
    acc, k = _chunk_mod4(a * _P5, acc, k)
    acc, k = _chunk_mod4(a * _P6, acc, k)
    q = k - np.float64(4.0) * _round(k * np.float64(0.25))
    sign = math.copysign(1.0, xd)  # -0.0 keeps its sign: sin(-0) = -0
    return q * sign, acc * np.float64(1.5707963267948966) * sign


def _round(v):
    """v rounded to the nearest integer (ties to even), |v| < 2^51: adding and removing
    1.5 * 2^52 rounds in float64's own rounding."""
    magic = np.float64(6755399441055744.0)
    return (v + magic) - magic


def _chunk_mod4(p, acc, k):
    """One exact product p of Payne-Hanek's sum: acc + (p mod 4), its nearest integer moved to k."""
    acc = acc + (p - np.float64(4.0) * np.floor(p * np.float64(0.25)))
    n = _round(acc)
    return acc - n, k + n


def _sin_cos_poly(r):
    """(sin r, cos r) for |r| <= pi/4, float64 Taylor polynomials (error < 2e-10)."""
    z = r * r
    s = r + r * z * (np.float64(-1.0 / 6) + z * (np.float64(1.0 / 120) + z * (
        np.float64(-1.0 / 5040) + z * (np.float64(1.0 / 362880)
                                       + z * np.float64(-1.0 / 39916800)))))
    c = np.float64(1.0) + z * (np.float64(-0.5) + z * (np.float64(1.0 / 24) + z * (
        np.float64(-1.0 / 720) + z * (np.float64(1.0 / 40320) + z * (
            np.float64(-1.0 / 3628800) + z * np.float64(1.0 / 479001600))))))
    return s, c


def sin_f32(x):
    """float32 sin through a float64 reduction by pi/2; NaN for NaN and +-inf, sin(-0) = -0."""
    q, r = _quadrant_and_rest(x)
    s, c = _sin_cos_poly(r)
    v = s if q == 0 else (c if q == 1 else (-c if q == -1 else -s))
    out = np.float32(v) if abs(x) < np.float32(np.inf) else x - x
    return out if x != np.float32(0.0) else x  # the polynomial's r + (+0) lost -0's sign


def cos_f32(x):
    """float32 cos through a float64 reduction by pi/2; NaN for NaN and +-inf."""
    q, r = _quadrant_and_rest(x)
    s, c = _sin_cos_poly(r)
    v = c if q == 0 else (-s if q == 1 else (s if q == -1 else -c))
    return np.float32(v) if abs(x) < np.float32(np.inf) else x - x


def expm1_f32(x):
    """float32 exp(x) - 1: a Taylor polynomial below |x| = 1.1 (no cancellation), exp_f32(x) - 1
    above (where exp(x) - 1 loses under an ulp)."""
    if abs(x) < np.float32(1.1):
        p = np.float32(_EXPM1_TAYLOR[0])
        for c in _EXPM1_TAYLOR[1:]:
            p = p * x + np.float32(c)
        return x + x * x * p
    return exp_f32(x) - np.float32(1.0)


_ERFC = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
         0.37409196, 1.00002368, -1.26551223)


def erf_f32(x):
    """float32 erf: the odd Taylor series below |x| = 0.9, 1 - erfc above, erfc(z) =
    t exp(-z^2 + P(t)), t = 1 / (1 + z / 2) (Numerical Recipes' Chebyshev fit, relative error
    < 1.2e-7); exactly +-1 from |x| = 3.92."""
    z = abs(x)  # both branches computed, one selected: branches stopped the loop vectorising
    s = x * x
    p = np.float32(_ERF_TAYLOR[0])
    for c in _ERF_TAYLOR[1:]:
        p = p * s + np.float32(c)
    taylor = np.float32(1.1283791670955126) * (x + x * s * p)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.5) * z)
    q = np.float32(_ERFC[0])
    for c in _ERFC[1:]:
        q = q * t + np.float32(c)
    erfc = t * exp_f32(q - z * z)
    one = np.float32(1.0)
    tail = one - erfc if x > np.float32(0.0) else erfc - one
    return taylor if z < np.float32(0.9) else tail


def _device(name):
    fn = {"exp_f32": math.exp, "sin_f32": math.sin, "cos_f32": math.cos,
          "expm1_f32": math.expm1, "erf_f32": math.erf, "log_f32": math.log,
          "log1p_f32": math.log1p}[name]
    return lambda x: fn(x)  # CUDA: libdevice's functions, fast on the device already


NAMES = ("exp_f32", "sin_f32", "cos_f32", "expm1_f32", "erf_f32", "log_f32", "log1p_f32")


def float32_function(name, target, jit):
    """One of NAMES as compiled by `jit` for a target, its bit cast and helpers suiting it."""
    if target == "cuda":
        return jit(_device(name))
    cpu = target == "cpu"
    scope = {**globals(),
             "_float32_from_bits": _make_float32_from_bits() if cpu else _float32_from_bits_python,
             "_bits_from_float32": _make_bits_from_float32() if cpu else _bits_from_float32_python}
    for helper in ("exp_f32", "log_f32", "_round", "_chunk_mod4", "_quadrant_and_rest",
                   "_sin_cos_poly"):  # shared (in the order they call each other)
        scope[helper] = jit(types.FunctionType(globals()[helper].__code__, scope, helper))
    if name in ("exp_f32", "log_f32"):
        return scope[name]
    return jit(types.FunctionType(globals()[name].__code__, scope, name))
