"""Property-based parity with torch for every op of the README's list (issue 20).

hypothesis draws, per op, shapes (0-d, empty, size-1, broadcast), dtypes (bool, int8..int64,
uint8, float32, float64) and values (NaN, +-inf, huge, tiny, -0.0 and ordinary numbers) and
compares with torch: that both refuse or both answer, and then each output's dtype, shape and
values (NaN where torch has NaN, integers exactly, floats to their rounding) and the gradient of
<outputs, u> for a random upstream u. The table SPECS says per op how to call both libraries,
which dtypes and values are valid, and where minigrad follows numpy instead of torch and what is
then compared (``numpy=``: torch is given the same float input minigrad computes in).

Budget: the "ops-ci" profile (the default: derandomized, so every run draws the same examples)
runs 10 examples per op without shrinking: 13 s for the file once the kernels are cached
(docs/ops.md has the measured times).
``HYPOTHESIS_PROFILE=ops-long pytest tests/test_property_ops.py`` draws 300 fresh examples per op
(minutes; a failure prints the example to add to the table or fix).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # both optional: the file skips without either
torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import minigrad as mg  # noqa: E402

F = torch.nn.functional

# ops-ci: the same examples on every run, and no shrinking (an expected failure of a KNOWN entry
# would otherwise spend seconds minimising its example); ops-long shrinks to a minimal example.
settings.register_profile("ops-ci", deadline=None, max_examples=10, derandomize=True,
                          suppress_health_check=list(HealthCheck), database=None,
                          phases=(Phase.explicit, Phase.generate), report_multiple_bugs=False)
settings.register_profile("ops-long", deadline=None, max_examples=300,
                          suppress_health_check=list(HealthCheck))
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ops-ci")
                               if os.environ.get("HYPOTHESIS_PROFILE", "").startswith("ops-")
                               else "ops-ci")

FLOATS = (np.float32, np.float64)
INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8)
ALL = (np.bool_, *INTS, *FLOATS)
NUMERIC = (*INTS, *FLOATS)
SIGNED = (np.int8, np.int16, np.int32, np.int64, *FLOATS)


def floating(dtype):
    """The dtype minigrad's float functions compute in for `dtype` (numpy's rule)."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.promote_types(dtype, np.float32)


# ---- values -----------------------------------------------------------------------------------


def special_floats(dtype):
    info = np.finfo(dtype)
    return [np.nan, np.inf, -np.inf, 0.0, -0.0, float(info.max), -float(info.max),
            float(info.smallest_subnormal), float(info.tiny), 1e-30, 1.0, -1.0, 0.5]


def elements(dtype, domain):
    """A strategy of one element of `dtype` within `domain` ("all", "finite", "smooth")."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if domain == "shift":  # shift amounts, past the width too
            return st.integers(0, min(info.max, info.bits + 2))
        if domain == "nonzero":  # integer divisors: torch refuses 0, and its int_min // -1
            return st.integers(max(info.min, -7), min(info.max, 7)).filter(  # dies of SIGFPE
                lambda v: v not in (0, -1))
        small = st.integers(max(info.min, -5), min(info.max, 5))
        return small if domain == "smooth" else st.one_of(small, st.integers(info.min, info.max))
    width = 32 if dtype == np.float32 else 64
    ordinary = st.floats(-4, 4, width=width, allow_subnormal=domain not in ("normal", "moderate"))
    if domain == "moderate":  # no underflow in x * x either
        ordinary = ordinary.map(lambda v: v if v == 0 or abs(v) > 1e-15 else 0.0)
    if domain == "smooth":
        return ordinary
    domain = "all" if domain in ("nonzero", "shift") else domain
    specials = [v for v in special_floats(dtype)
                if domain in ("all", "normal", "moderate") or np.isfinite(v)]
    if domain == "normal":  # no subnormals
        specials = [v for v in specials if v == 0 or not abs(v) < np.finfo(dtype).tiny]
    if domain == "moderate":  # no overflow or underflow in x * x
        specials = [v for v in specials if v == 0 or 1e-15 < abs(v) < 1e15 or not np.isfinite(v)]
    if domain == "finite":
        specials = [v for v in specials if abs(v) < 1e4]  # no overflow to inf in the op
    return st.one_of(ordinary, st.sampled_from(specials))


def arrays(dtype, shape, domain):
    return hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype, domain))


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
NONEMPTY = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


# ---- the table ----------------------------------------------------------------------------------


@dataclass
class Spec:
    """One op: how to draw its arguments and call both libraries.

    draw(data, dtype) -> (arrays, kwargs): arrays become tensors (floats require gradients).
    numpy: where minigrad follows numpy, what differs; with cast=True torch is given the arrays
    cast to minigrad's float compute dtype (numpy's int32 -> float64 rule; cast=np.float64: to
    float64); dtype_of names minigrad's (numpy's) result dtype where torch's differs, and torch's
    values are compared after the same cast.
    """

    mg: object
    torch: object
    draw: object
    dtypes: tuple = ALL
    grad: bool = True
    cast: bool = False
    numpy: str = ""
    dtype_of: object = None  # input dtype -> minigrad's result dtype where it follows numpy
    nan_slope: bool = True  # False: no gradient comparison where an input is NaN
    inf_slope: bool = True  # False: no gradient comparison of an input holding +-inf
    rtol: dict = field(default_factory=lambda: {np.float32: 2e-5, np.float64: 1e-10})


def in_float64(fn):
    """torch's fn computed in float64 and cast back: the same (exact) value, and a slope from an
    exact quotient where torch's float32 one rounds it first."""
    def call(a, b):
        return fn(a.double(), b.double()).to(a.dtype)
    return call


def unary(domain="all", shapes=SHAPES):
    def draw(data, dtype):
        shape = data.draw(shapes, label="shape")
        return [data.draw(arrays(dtype, shape, domain), label="x")], {}
    return draw


def binary(domain="all", second=None):
    def draw(data, dtype):
        shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0,
                                                             max_dims=3, max_side=3))
        a, b = shapes.input_shapes
        return [data.draw(arrays(dtype, a, domain), label="a"),
                data.draw(arrays(dtype, b, second or domain), label="b")], {}
    return draw


def with_axis(domain="all", shapes=SHAPES, none=True, keepdims=False):
    def draw(data, dtype):
        shape = data.draw(shapes, label="shape")
        choices = list(range(-len(shape), len(shape))) or [0]
        axis = data.draw(st.sampled_from(([None] if none else []) + choices), label="axis")
        kw = {"axis": axis}
        if keepdims:
            kw["keepdims"] = data.draw(st.booleans(), label="keepdims")
        return [data.draw(arrays(dtype, shape, domain), label="x")], kw
    return draw


def dims(kw):
    """torch's dim/keepdim arguments for a minigrad axis/keepdims."""
    out = {} if kw.get("axis") is None else {"dim": kw["axis"]}
    if kw.get("keepdims"):
        out["keepdim"] = True
        out.setdefault("dim", tuple(range(kw["ndim"])))
    return out


def t_reduce(fn):
    return lambda x, axis=None, keepdims=False: fn(x, **dims({"axis": axis, "ndim": x.ndim,
                                                             "keepdims": keepdims}))


ACCUMULATE = "bools and narrow integers accumulate in int64, unsigned ones in uint64 (numpy's; " \
             "torch's int64)"


def numpy_accumulator(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "biu" and dtype.itemsize < 8:
        return np.dtype(np.uint64 if dtype.kind == "u" else np.int64)
    return dtype


def creation(**params):
    """Draw keyword arguments only (no tensor inputs): params maps a name to a strategy."""
    def draw(data, dtype):
        return [], {k: data.draw(v, label=k) for k, v in params.items()}
    return draw


SIZES = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)
NAN_SLOPE = "the slope at NaN is the branch NaN falls to (torch's scalar path); torch's vector " \
            "loops give 0 or NaN by dtype and length: not compared at NaN"
FLOAT_FN = "integers and bools compute in numpy's float dtype (int32 -> float64); torch gets " \
           "that float input"


def float_unary(mg_fn, torch_fn, domain="all", grad=True):
    return Spec(mg_fn, torch_fn, unary(domain), ALL, grad=grad, cast=True, numpy=FLOAT_FN)


def float_only(mg_fn, torch_fn, draw, **kw):
    return Spec(mg_fn, torch_fn, draw, FLOATS, **kw)


SPECS = {
    # elementwise math: float functions of any dtype
    **{name: float_unary(getattr(mg, name), getattr(torch, name)) for name in (
        "exp", "log", "tanh", "sigmoid", "exp2", "expm1", "log2", "log10", "log1p", "sqrt",
        "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
        "atanh", "erf")},
    "abs": Spec(mg.abs, torch.abs, unary(), NUMERIC),
    "neg": Spec(mg.neg, torch.neg, unary(), NUMERIC),
    "relu": Spec(mg.relu, torch.relu, unary(), NUMERIC),
    "square": Spec(mg.square, torch.square, unary(), NUMERIC),
    "sign": Spec(mg.sign, torch.sign, unary(domain="finite"), NUMERIC,
                 numpy="sign(nan) is nan (numpy), torch's 0: compared on non-NaN values"),
    **{name: Spec(getattr(mg, name), getattr(torch, name), unary(), NUMERIC, grad=False)
       for name in ("floor", "ceil", "round", "trunc")},
    # activations
    "gelu": float_only(mg.gelu, F.gelu, unary(domain="finite"),
                       numpy="torch's float32 gelu(inf) is NaN, minigrad's inf: finite x"),
    **{name: float_only(getattr(mg, name), getattr(F, name), unary()) for name in (
        "silu", "mish", "softplus", "logsigmoid", "leaky_relu")},
    **{name: float_only(getattr(mg, name), getattr(F, name), unary(), nan_slope=False,
                        numpy=NAN_SLOPE) for name in ("elu", "selu", "hardtanh", "relu6", "celu")},
    **{name: float_only(getattr(mg, name), getattr(F, name), unary(), nan_slope=False,
                        rtol={np.float32: 2e-5, np.float64: 1e-7},
                        numpy="torch's float64 form rounds 1/6 to float32 (3e-8 off); "
                              + NAN_SLOPE)
       for name in ("hardsigmoid", "hardswish")},
    "softsign": float_only(mg.softsign, F.softsign, unary(domain="finite"),
                           numpy="at +-inf minigrad's slope is the limit 0; torch's composed "
                                 "x / (1 + |x|) gives NaN: compared on finite x"),
    "softmax": float_only(lambda x, axis: mg.softmax(x, axis),
                          lambda x, axis: torch.softmax(x, axis),
                          with_axis(none=False)),
    "log_softmax": float_only(lambda x, axis: mg.log_softmax(x, axis),
                              lambda x, axis: torch.log_softmax(x, axis),
                              with_axis(none=False)),
    "softmin": float_only(lambda x, axis: mg.softmin(x, axis),
                          lambda x, axis: F.softmin(x, axis),
                          with_axis(none=False)),
    # arithmetic (both operands of one dtype; mixed dtypes: tests/test_dtypes.py)
    "add": Spec(mg.add, torch.add, binary(), ALL),
    "sub": Spec(mg.sub, torch.sub, binary(), NUMERIC),
    "mul": Spec(mg.mul, torch.mul, binary(), ALL),
    "div": Spec(mg.div, torch.div, binary(), ALL, cast=np.float64,
                numpy="integers divide to float64 (numpy), torch's float32: torch gets float64"),
    "div_trunc": Spec(lambda a, b: mg.div(a, b, rounding_mode="trunc"),
                      lambda a, b: torch.div(a, b, rounding_mode="trunc"),
                      binary(second="nonzero"), NUMERIC, grad=False),
    "div_floor": Spec(lambda a, b: mg.div(a, b, rounding_mode="floor"),
                      lambda a, b: torch.div(a, b, rounding_mode="floor"),
                      binary(second="nonzero"), NUMERIC, grad=False),
    "pow": float_only(mg.pow, torch.pow, binary()),
    "maximum": Spec(mg.maximum, torch.maximum, binary(), NUMERIC,
                    numpy="a tie splits the gradient in half (torch's too)"),
    "minimum": Spec(mg.minimum, torch.minimum, binary(), NUMERIC),
    "fmod": float_only(mg.fmod, in_float64(torch.fmod), binary(domain="moderate"),
                       numpy="C's fmod is exact (fmod(3e38, 0.5) = 0, fmod(1, 2e-313) = "
                             "4e-314), torch's a - trunc(a / b) b gives NaN: compared on "
                             "1e-15 < |x| < 1e15; the slope in b is the exact -trunc(a / b), "
                             "torch's float32 one truncates the rounded quotient (0.9 / 0.1 "
                             "rounds to 9, true 8.99999994): torch computes in float64"),
    "remainder": float_only(mg.remainder, in_float64(torch.remainder),
                            binary(domain="moderate"),
                            numpy="as fmod: torch's is NaN at subnormal divisors (even only in "
                                  "some lanes); compared on 1e-15 < |x| < 1e15; slope in b "
                                  "from torch in float64, as fmod's"),
    "floor_divide": float_only(mg.floor_divide, torch.floor_divide, binary(domain="moderate"),
                               grad=False, numpy="as remainder"),
    "copysign": float_only(mg.copysign, torch.copysign, binary()),
    "logaddexp": float_only(mg.logaddexp, torch.logaddexp, binary()),
    "lerp": float_only(lambda a, b: mg.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3),
                       binary(domain="finite")),
    "clip": Spec(lambda x, lo, hi: mg.clip(x, lo, hi), lambda x, lo, hi: torch.clamp(x, lo, hi),
                 lambda data, dtype: (unary()(data, dtype)[0], dict(zip(("lo", "hi"), data.draw(
                     st.sampled_from([(-1, 2), (3, 0), (0, 0)]), label="lo, hi")))), SIGNED),
    "where": Spec(lambda a, b: mg.where(a.detach() > 0, a, b),
                  lambda a, b: torch.where(a.detach() > 0, a, b), binary(), SIGNED),
    # bitwise
    **{name: Spec(getattr(mg, name), getattr(torch, name), binary(), (np.bool_, *INTS),
                  grad=False) for name in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    "bitwise_not": Spec(mg.bitwise_not, torch.bitwise_not, unary(), (np.bool_, *INTS)),
    **{name: Spec(getattr(mg, name), getattr(torch, name), binary(second="shift"), INTS,
                  grad=False) for name in ("bitwise_left_shift", "bitwise_right_shift")},
    # comparisons and logic
    **{name: Spec(getattr(mg, name), getattr(torch, theirs), binary(), ALL, grad=False)
       for name, theirs in (("equal", "eq"), ("not_equal", "ne"), ("less", "lt"),
                            ("less_equal", "le"), ("greater", "gt"), ("greater_equal", "ge"),
                            ("logical_and", "logical_and"), ("logical_or", "logical_or"),
                            ("logical_xor", "logical_xor"))},
    "equal_op": Spec(lambda a, b: a == b, lambda a, b: a == b, binary(), ALL, grad=False),
    "isclose": Spec(mg.isclose, torch.isclose, binary(), FLOATS, grad=False),
    "astype": Spec(lambda x: x.astype(np.float64), lambda x: x.to(torch.float64), unary(), ALL),
    "logical_not": Spec(mg.logical_not, torch.logical_not, unary(), ALL, grad=False),
    **{name: Spec(getattr(mg, name), getattr(torch, name), unary(), ALL, grad=False)
       for name in ("isnan", "isinf", "isfinite")},
    "any": Spec(mg.any, t_reduce(torch.any), with_axis(keepdims=True), ALL, grad=False,
                dtype_of=lambda d: np.bool_, numpy="bool for every dtype (torch: uint8 of uint8)"),
    "all": Spec(mg.all, t_reduce(torch.all), with_axis(keepdims=True), ALL, grad=False,
                dtype_of=lambda d: np.bool_, numpy="bool for every dtype (torch: uint8 of uint8)"),
    # reductions and scans
    "sum": Spec(mg.sum, t_reduce(torch.sum), with_axis(keepdims=True), ALL,
                dtype_of=numpy_accumulator, numpy=ACCUMULATE),
    "mean": Spec(mg.mean, t_reduce(torch.mean), with_axis(keepdims=True), ALL, cast=np.float64,
                 numpy="the mean of integers is float64 (numpy); torch refuses: it gets float64"),
    # a NaN's slope is torch.max's (the NaN takes the gradient: tests/ops/test_edge_answers.py
    # compares it); torch.amax, whose ties-share rule we follow, gives NaN everywhere there
    "max": Spec(mg.max, t_reduce(torch.amax), with_axis(keepdims=True), ALL, nan_slope=False,
                numpy="values only, ties share the gradient: torch.amax"),
    "min": Spec(mg.min, t_reduce(torch.amin), with_axis(keepdims=True), ALL, nan_slope=False),
    "prod": Spec(mg.prod, lambda x, axis=None, keepdims=False: torch.prod(x) if axis is None
                 else torch.prod(x, axis, keepdim=keepdims), with_axis(keepdims=True),
                 NUMERIC, dtype_of=numpy_accumulator, numpy=ACCUMULATE),
    "var": float_only(mg.var, lambda x, axis=None, keepdims=False: torch.var(
        x, **dims({"axis": axis, "ndim": x.ndim, "keepdims": keepdims}), correction=0),
        with_axis(keepdims=True), inf_slope=False,
        numpy="correction=0 by default (numpy's ddof=0); the slope where a row holds +-inf: "
              "ours NaN over the row (its variance is NaN), torch's formula NaN/inf per element"),
    "std": float_only(mg.std, lambda x, axis=None, keepdims=False: torch.std(
        x, **dims({"axis": axis, "ndim": x.ndim, "keepdims": keepdims}), correction=0),
        with_axis(keepdims=True), inf_slope=False,
        numpy="correction=0 by default (numpy's ddof=0); the slope at +-inf as var's"),
    "std_mean": float_only(lambda x, axis=None: mg.std_mean(x, axis),
                           lambda x, axis=None: torch.std_mean(x, **dims({"axis": axis}),
                                                               correction=0), with_axis(),
                           inf_slope=False),
    "logsumexp": float_only(mg.logsumexp, lambda x, axis=None, keepdims=False: torch.logsumexp(
        x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims),
        with_axis(keepdims=True, domain="moderate"),
        numpy="torch's slope exp(x - out) rounds out at 3e38 (1 to each of two equal maxima); "
              "minigrad's shares it: compared on 1e-15 < |x| < 1e15"),
    "norm": float_only(lambda x, axis=None: mg.norm(x, axis=axis),
                       lambda x, axis=None: torch.linalg.vector_norm(x, dim=axis),
                       with_axis(domain="moderate"),
                       numpy="scaled by max |x|: right where torch's overflows (float32 3e38: "
                             "inf) or underflows (1e-38: 0); compared on 1e-15 < |x| < 1e15"),
    "argmax": Spec(mg.argmax, lambda x, axis=None, keepdims=False: torch.argmax(
        x, dim=axis, keepdim=keepdims), with_axis(keepdims=True), NUMERIC),
    "argmin": Spec(mg.argmin, lambda x, axis=None, keepdims=False: torch.argmin(
        x, dim=axis, keepdim=keepdims), with_axis(keepdims=True), NUMERIC),
    "cumsum": Spec(lambda x, axis: mg.cumsum(x, axis), lambda x, axis: torch.cumsum(x, axis),
                   with_axis(none=False), NUMERIC, dtype_of=numpy_accumulator,
                   numpy=ACCUMULATE),
    "cumprod": Spec(lambda x, axis: mg.cumprod(x, axis), lambda x, axis: torch.cumprod(x, axis),
                    with_axis(none=False), NUMERIC, dtype_of=numpy_accumulator,
                    numpy=ACCUMULATE),
    "cummax": Spec(mg.cummax, lambda x, axis: tuple(torch.cummax(x, axis)),
                   with_axis(none=False), NUMERIC),
    "cummin": Spec(mg.cummin, lambda x, axis: tuple(torch.cummin(x, axis)),
                   with_axis(none=False), NUMERIC),
    "logcumsumexp": float_only(mg.logcumsumexp, torch.logcumsumexp, with_axis(none=False)),
    # shape
    "reshape": Spec(lambda x: x.reshape(-1), lambda x: x.reshape(-1), unary(), ALL),
    "transpose": Spec(lambda x: x.transpose(), lambda x: x.permute(tuple(reversed(range(x.ndim)))),
                      unary(), ALL, numpy="transpose() reverses all axes (numpy's)"),
    "flip": Spec(lambda x: x.flip(), lambda x: x.flip(list(range(x.ndim))), unary(), ALL),
    "roll": Spec(lambda x: mg.roll(x, 1), lambda x: torch.roll(x, 1), unary(), ALL),
    "squeeze": Spec(lambda x: x.squeeze(0) if x.ndim == 0 or x.shape[0] == 1 else x.squeeze(),
                    lambda x: x.squeeze(0) if x.ndim == 0 or x.shape[0] == 1 else x.squeeze(),
                    unary(), ALL),
    "unsqueeze": Spec(lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0), unary(), ALL),
    "flatten": Spec(lambda x: x.flatten(), lambda x: x.flatten(), unary(), ALL),
    "expand": Spec(lambda x: x.unsqueeze(0).expand(2, *x.shape),
                   lambda x: x.unsqueeze(0).expand(2, *x.shape), unary(), ALL),
    "repeat": Spec(lambda x: mg.repeat(x, 2, axis=0) if x.ndim else mg.repeat(x, 2),
                   lambda x: torch.repeat_interleave(x, 2, dim=0 if x.ndim else None),
                   unary(), ALL, numpy="repeat repeats elements (torch's repeat_interleave)"),
    "tile": Spec(lambda x: mg.tile(x, 2), lambda x: x.repeat(*([1] * (x.ndim - 1)), 2)
                 if x.ndim else x.repeat(2), unary(), ALL, numpy="tile is torch's repeat"),
    "pad": Spec(lambda x, value: mg.pad(x, 1, value=value),
                lambda x, value: F.pad(x, (1, 1) * x.ndim, value=value),
                lambda data, dtype: (unary(shapes=hnp.array_shapes(
                    min_dims=1, max_dims=3, min_side=0, max_side=3))(data, dtype)[0],
                    {"value": data.draw(st.sampled_from(
                        [-2, np.inf, np.nan] if dtype in FLOATS else [-2]), label="value")}),
                SIGNED, numpy="numpy's (before, after) widths, first axis first"),
    "tril": Spec(lambda x: mg.tril(x, 0), lambda x: torch.tril(x, 0),
                 unary(shapes=hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=3)),
                 ALL),
    "triu": Spec(lambda x: mg.triu(x, 1), lambda x: torch.triu(x, 1),
                 unary(shapes=hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=3)),
                 ALL),
    "diagonal": Spec(lambda x: mg.diagonal(x, 1), lambda x: torch.diagonal(x, 1),
                     unary(shapes=hnp.array_shapes(min_dims=2, max_dims=3, min_side=0,
                                                   max_side=3)), ALL),
    "diag": Spec(lambda x: mg.diag(x, -1), lambda x: torch.diag(x, -1),
                 unary(shapes=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3)),
                 ALL),
    "unfold": Spec(lambda x: x.unfold(0, 1, 2), lambda x: x.unfold(0, 1, 2),
                   unary(shapes=NONEMPTY), ALL),
    "concat": Spec(lambda a: mg.concat([a, a * 2], 0), lambda a: torch.cat([a, a * 2], 0),
                   unary(shapes=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0,
                                                 max_side=3)), NUMERIC),
    "stack": Spec(lambda a: mg.stack([a, a * 2], -1), lambda a: torch.stack([a, a * 2], -1),
                  unary(), NUMERIC),
    "split": Spec(lambda a: tuple(mg.split(a, 1, 0)), lambda a: torch.split(a, a.shape[0], 0),
                  unary(shapes=NONEMPTY.filter(lambda s: len(s) > 0)), ALL,
                  numpy="split(x, n) cuts n equal sections (numpy's)"),
    "getitem": Spec(lambda x: x[..., ::-1][..., :2], lambda x: x.flip(-1)[..., :2],
                    unary(shapes=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0,
                                                  max_side=3)), ALL),
    "meshgrid": Spec(lambda a, b: tuple(mg.meshgrid(a.reshape(-1), b.reshape(-1),
                                                    indexing="ij")),
                     lambda a, b: torch.meshgrid(a.reshape(-1), b.reshape(-1), indexing="ij"),
                     binary(), ALL),
    # selection
    "masked_select": Spec(lambda a, b: mg.masked_select(a, b.numpy() > 0),
                          lambda a, b: torch.masked_select(a, b.detach() > 0), binary(),
                          SIGNED),
    "nonzero": Spec(mg.nonzero, torch.nonzero, unary(), ALL, grad=False),
    "sort": Spec(lambda x: x.sort(axis=-1, stable=True),
                 lambda x: tuple(torch.sort(x, dim=-1, stable=True)),
                 unary(shapes=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4)),
                 NUMERIC),
    "sort_descending": Spec(lambda x: x.sort(axis=-1, descending=True)[0],
                            lambda x: torch.sort(x, dim=-1, descending=True).values,
                            unary(shapes=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0,
                                                          max_side=4)), FLOATS),
    "topk": Spec(lambda x: x.topk(min(2, x.shape[-1]), axis=-1),
                 lambda x: tuple(torch.topk(x, min(2, x.shape[-1]), dim=-1)),
                 unary(shapes=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4)),
                 FLOATS),
    "masked_fill": Spec(lambda a: mg.masked_fill(a, a.numpy() > 0, 5),
                        lambda a: a.masked_fill(a.detach() > 0, 5), unary(), SIGNED),
    "index_select": Spec(lambda a: mg.index_select(a, 0, [0, 0]),
                         lambda a: torch.index_select(a, 0, torch.tensor([0, 0])),
                         unary(shapes=NONEMPTY.filter(lambda s: len(s) > 0)), ALL),
    "gather": Spec(lambda a: a.gather(0, np.zeros_like(a.numpy(), np.int64)),
                   lambda a: a.gather(0, torch.zeros_like(a, dtype=torch.int64)),
                   unary(shapes=NONEMPTY.filter(lambda s: len(s) > 0)), NUMERIC),
    # creation (the random draws and empty are checked in tests/ops for shape, dtype and range)
    "arange": Spec(lambda start, stop, step: mg.arange(start, stop, step),
                   lambda start, stop, step: torch.arange(start, stop, step)
                   if (stop - start) * step > 0 else torch.arange(0, 0, 1, dtype=torch.int64
                                                                  if isinstance(step, int)
                                                                  else torch.float32),
                   creation(start=st.integers(-5, 5), stop=st.integers(-5, 9),
                            step=st.sampled_from([1, 2, -1, 3, 0.5, -0.75])), (np.int64,),
                   numpy="a range running the other way than step is empty (numpy's); torch "
                         "refuses it"),
    "linspace": Spec(lambda start, stop, num: mg.linspace(start, stop, num),
                     lambda start, stop, num: torch.linspace(start, stop, num),
                     creation(start=st.floats(-5, 5), stop=st.floats(-5, 5),
                              num=st.integers(0, 7)), (np.float32,)),
    "eye": Spec(lambda n, m: mg.eye(n, m), lambda n, m: torch.eye(n, m),
                creation(n=st.integers(0, 4), m=st.integers(0, 4)), (np.float32,)),
    "full": Spec(lambda shape, value: mg.full(shape, value),
                 lambda shape, value: torch.full(shape, value),
                 creation(shape=SIZES, value=st.sampled_from([0, -3, 2.5, True, np.inf])),
                 (np.float32,)),
    "zeros_like": Spec(mg.zeros_like, torch.zeros_like, unary(), ALL, grad=False),
    "ones_like": Spec(mg.ones_like, torch.ones_like, unary(), ALL, grad=False),
    "full_like": Spec(lambda x: mg.full_like(x, 1), lambda x: torch.full_like(x, 1), unary(),
                      ALL, grad=False),
    # linear algebra
    "matmul": float_only(lambda a: a @ a.transpose(), lambda a: a @ a.T,
                         unary(domain="finite", shapes=hnp.array_shapes(min_dims=2, max_dims=2,
                                                                        min_side=0, max_side=3))),
    "einsum": float_only(lambda a: mg.einsum("ij,kj->ik", a, a * 2),
                         lambda a: torch.einsum("ij,kj->ik", a, a * 2),
                         unary(domain="finite", shapes=hnp.array_shapes(min_dims=2, max_dims=2,
                                                                        min_side=0,
                                                                        max_side=3))),
    "outer": float_only(lambda a, b: mg.outer(a, b), lambda a, b: torch.outer(a.reshape(-1),
                                                                              b.reshape(-1)),
                        binary(domain="finite"),
                        numpy="gradients are sums: at 3e38 they overflow to inf or NaN by "
                              "summation order (as matmul and einsum): finite, moderate x"),
    # losses
    "mse_loss": float_only(lambda a, b: mg.mse_loss(a, mg.broadcast_to(b, a.shape)),
                           lambda a, b: F.mse_loss(a, b.expand(a.shape)),
                           binary(domain="finite")),
    "l1_loss": float_only(lambda a: mg.l1_loss(a, a.detach() * 0 + 1),
                          lambda a: F.l1_loss(a, a.detach() * 0 + 1), unary(domain="finite")),
    "huber_loss": float_only(lambda a: mg.huber_loss(a, a.detach() * 0, reduction="sum"),
                             lambda a: F.huber_loss(a, a.detach() * 0, reduction="sum"),
                             unary(domain="finite")),
    "cross_entropy": float_only(
        lambda a: mg.cross_entropy(a, np.zeros(a.shape[:-1], np.int64), reduction="sum"),
        lambda a: F.cross_entropy(a.reshape(-1, a.shape[-1]),
                                  torch.zeros(a.shape[:-1], dtype=torch.int64).reshape(-1),
                                  reduction="sum"),
        unary(shapes=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)),
        numpy="classes on the last axis (axis=1 takes torch's layout): torch gets rows"),
    "binary_cross_entropy_with_logits": float_only(
        lambda a: mg.binary_cross_entropy_with_logits(a, a.detach() * 0 + 0.25),
        lambda a: F.binary_cross_entropy_with_logits(a, a.detach() * 0 + 0.25),
        unary(domain="finite")),
}


def _to_torch(array, float_grad):
    t = torch.from_numpy(np.array(array, order="C", copy=True))
    return t.requires_grad_(True) if float_grad and array.dtype.kind == "f" else t


def _outputs(value):
    return list(value) if isinstance(value, tuple | list) else [value]


def _torch_dtype(t):
    return np.dtype(str(t.dtype).replace("torch.", "").replace("bool", "bool_"))


def check(name, spec, arrays, kwargs):
    want_grad = spec.grad and any(a.dtype.kind == "f" for a in arrays)
    ours_in = [mg.tensor(a, requires_grad=want_grad and a.dtype.kind == "f") for a in arrays]
    cast = (floating if spec.cast is True else lambda d: np.dtype(spec.cast)) if spec.cast else None
    given_to_torch = [a.astype(cast(a.dtype)) if cast and a.dtype.kind != "f" else a
                      for a in arrays]
    theirs_in = [_to_torch(a, want_grad) for a in given_to_torch]
    with np.errstate(all="ignore"):
        try:
            expected = _outputs(spec.torch(*theirs_in, **kwargs))
        except (RuntimeError, ValueError, TypeError, IndexError) as refusal:
            with pytest.raises(Exception):  # noqa: B017 - any clear error, as torch refuses
                spec.mg(*ours_in, **kwargs)
            return f"both refuse ({type(refusal).__name__})"
        got = _outputs(spec.mg(*ours_in, **kwargs))
    assert len(got) == len(expected), f"{name}: {len(got)} outputs, torch {len(expected)}"
    float_pairs = []
    for i, (o, e) in enumerate(zip(got, expected)):
        what = f"{name} output {i} ({[a.dtype for a in arrays]} {[a.shape for a in arrays]})"
        e_np = e.detach().numpy()
        wanted = _torch_dtype(e)
        if spec.dtype_of is not None and wanted.kind != "f":
            wanted = np.dtype(spec.dtype_of(arrays[0].dtype))
            e_np = e_np.astype(wanted)
        assert o.dtype == wanted, f"{what}: dtype {o.dtype}, expected {wanted} (torch {e.dtype})"
        assert o.shape == tuple(e.shape), f"{what}: shape {o.shape}, torch {tuple(e.shape)}"
        if name == "sign":  # numpy's sign(nan) = nan, torch's 0 (the README's table)
            e_np = np.where(np.isnan(o.numpy()), np.nan, e_np)
        if o.dtype.kind == "f":
            rtol = spec.rtol[o.dtype.type]
            np.testing.assert_allclose(o.numpy(), e_np, rtol=rtol, atol=rtol * 1e-1,
                                       err_msg=what)
            if o.requires_grad and e.requires_grad:
                float_pairs.append((o, e))
        else:
            np.testing.assert_array_equal(o.numpy(), e_np, err_msg=what)
    if not float_pairs:
        return "forward"
    rng = np.random.default_rng(0)
    ours_total = theirs_total = None
    for o, e in float_pairs:
        u = rng.standard_normal(o.shape).astype(o.dtype)
        term = (o * mg.tensor(u)).sum()
        ours_total = term if ours_total is None else ours_total + term
        t_term = (e * torch.from_numpy(u)).sum()
        theirs_total = t_term if theirs_total is None else theirs_total + t_term
    with np.errstate(all="ignore"):
        ours_total.backward()
    theirs_total.backward()
    for i, (x, t) in enumerate(zip(ours_in, theirs_in)):
        if not x.requires_grad:
            continue
        expected_grad = np.zeros(x.shape, x.dtype) if t.grad is None else t.grad.numpy()
        grad = np.zeros(x.shape, x.dtype) if x.grad is None else x.grad
        if not spec.inf_slope and np.isinf(arrays[i]).any():
            continue
        if not spec.nan_slope:
            expected_grad = np.where(np.isnan(arrays[i]), 0, expected_grad)
            grad = np.where(np.isnan(arrays[i]), 0, grad)
        rtol = spec.rtol[x.dtype.type] * 10
        np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=rtol,
                                   err_msg=f"{name}: gradient of input {i} "
                                           f"({arrays[i].dtype} {arrays[i].shape})")
    return "gradient"


# Wrong answers the property test finds in existing ops that issue 20's `fixes` branch fixes:
# expected to fail here until that branch is merged (then these marks come off).
# wrong answers the fixes of issue 20 (merged) had to mend were marked here; none is left
KNOWN: dict[str, str] = {}

# Found by this test and fixed since: float32 sin/cos/tan past |x| = 1e9 (the two-part
# Cody-Waite reduction lost the quadrant past 7e15; Payne-Hanek's now, backends/scalar_float32.py).

PARAMS = [pytest.param(name, marks=pytest.mark.xfail(strict=False, reason=KNOWN[name]))
          if name in KNOWN else name for name in sorted(SPECS)]


@pytest.mark.parametrize("name", PARAMS)
@PROFILE
@given(data=st.data())
def test_op_matches_torch(name, data):
    spec = SPECS[name]
    dtype = data.draw(st.sampled_from(spec.dtypes), label="dtype")
    arrays, kwargs = spec.draw(data, dtype)
    check(name, spec, arrays, kwargs)


def test_the_table_covers_the_readme_op_list():
    """Every op named in the README's op table is in SPECS or is listed below with the reason
    (and the test file) that covers it."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## The ops (minigrad as a general engine)", 1)[1].split("\n## ", 1)[0]
    table = section.split("### Where minigrad follows numpy", 1)[0]
    named = set(re.findall(r"`([a-z_][a-z0-9_]*)`", table))
    elsewhere = {
        # not comparable value by value with torch: random draws or construction only
        "rand", "randn", "randint", "rand_like", "randn_like", "dropout",  # tests/ops/test_random
        "empty",  # its values are unspecified: tests/ops/test_issue20_ops.py checks shape, dtype
        "tensor", "zeros", "ones",  # every spec above builds its inputs with them
        "layer_norm", "normalize", "scaled_dot_product_attention",  # tests/test_functional.py
        "binary_cross_entropy", "nll_loss",  # tests/ops/test_einsum_losses.py, test_issue20_ops
        "take_along_axis", "scatter_add", "one_hot", "argsort", "unflatten", "broadcast_to",
        "unstack", "trunc", "var_mean",  # same kernels as gather / sort / reshape / expand ...
        "linear_scan",  # no torch op: tests/ops/test_linear_scan.py (against a torch loop)
        "gated_scan",  # no torch op: tests/ops/test_gated_scan.py, the paper's torch code in
        # tests/lstm/test_cell_zoo_min.py
        "mg", "reduction", "approximate", "tanh", "stable", "ord", "correction", "indexing",
        "rounding_mode", "weight", "axis", "ignore_index", "label_smoothing", "pos_weight",
        "is_causal", "rng", "as_tuple", "none", "mean", "sum", "functional", "nn", "value",
    }
    missing = sorted(n for n in named if n not in SPECS and n not in elsewhere)
    assert not missing, f"ops of the README's list without a property spec: {missing}"
