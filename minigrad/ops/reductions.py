"""More reductions and scans: min, argmax/argmin, prod, var/std, logsumexp, cumsum, cumprod, norm.

Composites of primitives where that is exact (their gradients come from the parts), primitives
where the composite's gradient would be wrong at an edge (norm at 0, cumprod with zeros).
"""

from __future__ import annotations

import builtins
import warnings

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor
from . import reduce as base
from .axes import reduction_axes
from .elementwise import abs as abs_
from .elementwise import as_floating, exp, log, mul, neg, sub
from .shape import getitem, reshape


def axis_index(name: str, axis, ndim: int) -> int:
    """axis as 0 <= axis < ndim, or ValueError naming the op (never wrapped around)."""
    if not isinstance(axis, int | np.integer):
        raise TypeError(f"{name}: axis must be an int, got {type(axis).__name__}")
    if not -builtins.max(ndim, 1) <= axis < builtins.max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor of {ndim} dims")
    return int(axis) % builtins.max(ndim, 1)


def _flat_or_axis(name, a: Tensor, axis):
    """(tensor, axis): a flattened with axis 0 when axis is None (numpy's convention)."""
    if axis is None:
        return reshape(a, (-1,)), 0
    if a.ndim == 0:
        axis_index(name, axis, 0)
        return reshape(a, (1,)), 0
    return a, axis_index(name, axis, a.ndim)


def accumulator(a: Tensor) -> Tensor:
    """a cast to the dtype numpy's sum, prod, cumsum and cumprod accumulate bools and integers
    narrower than 64 bits in: int64 (uint64 for unsigned), as ``reduce.sum`` does (issue 20: the
    scans and prod kept int8, where numpy and torch give int64)."""
    if a.dtype.kind == "b" or (a.dtype.kind in "iu" and a.dtype.itemsize < 8):
        return a.astype(np.uint64 if a.dtype.kind == "u" else np.int64)
    return a


def min(a: Tensor, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - numpy's name
    """min of a over axis; the gradient is shared equally among tied minima (NaN counts as the
    minimum, as torch and numpy). Integers and bools reduce directly: -x overflows at the most
    negative int and wraps for unsigned ones, and bools have no negation."""
    axes = reduction_axes("min", axis, a.ndim)  # bad axes and empty ones named as min's
    error = base.empty_axes_error("min", a.shape, axes)
    if error is not None:
        raise error
    if a.dtype.kind == "f":
        return neg(base.max(neg(a), axis, keepdims))
    return Tensor._wrap(backend_of(a.data).amin(a.data, axis=axes, keepdims=keepdims))


def _arg(name, a: Tensor, axis, keepdims):
    flat, ax = _flat_or_axis(name, a, axis)
    if flat.shape[ax] == 0:
        raise ValueError(f"{name}: cannot reduce an empty axis of shape {a.shape}")
    out = getattr(backend_of(a.data), name)(flat.data, ax)
    if keepdims:
        kept = (1,) * a.ndim if axis is None else tuple(
            1 if i == ax else n for i, n in enumerate(a.shape))
        out = backend_of(out).reshape(out, kept)
    return Tensor._wrap(out)


def argmax(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """int64 index of the first maximum along axis (of the flattened tensor when axis is None)."""
    return _arg("argmax", a, axis, keepdims)


def argmin(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """int64 index of the first minimum along axis (of the flattened tensor when axis is None)."""
    return _arg("argmin", a, axis, keepdims)


def _scan(name, a: Tensor, axis, forward) -> Tensor:
    """A running scan along axis (flattened when None): ``forward(be, x, ax)`` -> (the scan, its
    backward). A scan of a 0-d tensor is the tensor itself, shape () kept (torch; numpy's
    axis=None flattens to (1,))."""
    a = base.accumulating(a)
    if a.ndim == 0:
        if axis is not None:
            reduction_axes(name, axis, 0)
        return reshape(_scan(name, reshape(a, (1,)), 0, forward), ())
    a, ax = _flat_or_axis(name, a, axis)
    out, backward = forward(backend_of(a.data), a.data, ax)
    return record(name, out, (a,), backward)


def cumsum(a: Tensor, axis=None) -> Tensor:
    """Running sum along axis (flattened when None); d/da = reversed running sum of g."""
    def forward(be, x, ax):
        reverse = (slice(None),) * ax + (slice(None, None, -1),)
        return be.cumsum(x, ax), lambda g: (
            be.getitem(be.cumsum(be.getitem(g, reverse), ax), reverse),)

    return _scan("cumsum", a, axis, forward)


def cumprod(a: Tensor, axis=None) -> Tensor:
    """Running product along axis (flattened when None); gradient exact where a has zeros."""
    return _scan("cumprod", a, axis, lambda be, x, ax: (
        be.cumprod(x, ax), lambda g: (be.cumprod_backward(x, g, ax),)))


def prod(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Product over axis (all when None); d/da_i = g prod_{j != i} a_j, exact at zeros."""
    a = base.accumulating(a)
    if isinstance(axis, tuple | list):
        out = a
        for ax in sorted((axis_index("prod", ax, a.ndim) for ax in axis), reverse=True):
            out = prod(out, ax, keepdims)
        return out
    a = accumulator(a)
    flat, ax = _flat_or_axis("prod", a, axis)
    if flat.shape[ax] == 0:  # the empty product, 1, still in the graph (its gradient is empty)
        be = backend_of(a.data)
        shape = tuple(n for i, n in enumerate(flat.shape) if i != ax)
        if keepdims:
            shape = (1,) * a.ndim if axis is None else tuple(
                1 if i == ax else n for i, n in enumerate(a.shape))
        zeros_shape, dtype = flat.shape, flat.dtype
        return record("prod", be.ones(shape, a.dtype), (flat,),
                      lambda g: (be.zeros(zeros_shape, dtype),))
    last = getitem(cumprod(flat, ax), (slice(None),) * ax + (-1,))
    if keepdims:
        kept = (1,) * a.ndim if axis is None else tuple(
            1 if i == ax else n for i, n in enumerate(a.shape))
        return reshape(last, kept)
    return last


def var(a: Tensor, axis=None, correction: int = 0, keepdims=False) -> Tensor:
    """sum((a - mean)^2) / (n - correction) over axis (numpy's ddof=0 by default)."""
    axes = reduction_axes("var", axis, a.ndim)
    n = int(np.prod([a.shape[i] for i in axes])) if axes else 1
    if n - correction <= 0:  # divided by max(0, n - correction), as numpy and torch: inf where
        # the squares sum above 0, NaN where they are 0 (0 * inf); numpy's warning
        warnings.warn(f"var: degrees of freedom <= 0 ({n} elements, correction={correction})",
                      RuntimeWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # warned once above, not per part
        # the mean held constant: sum(centred) is 0, so its path adds nothing but rounding to
        # the gradient 2 g centred / (n - correction), torch's form, which is +-inf (NaN at the
        # mean) past the degrees of freedom where the mean's path made every element NaN
        centred = sub(a, base.mean(a, axis=axes, keepdims=True).detach())
    return mul(base.sum(mul(centred, centred), axis=axes, keepdims=keepdims),
               1.0 / (n - correction) if n - correction > 0 else np.inf)


def std(a: Tensor, axis=None, correction: int = 0, keepdims=False) -> Tensor:
    """sqrt(var(a, axis, correction)); d/dvar = g / (2 std), 0 where std is 0 (torch's rule: a
    constant vector's std has gradient 0, not 0 * inf)."""
    v = var(a, axis, correction, keepdims)
    be = backend_of(v.data)
    out = be.rule_unary("sqrt", v.data)
    zero, half = out.dtype.type(0), out.dtype.type(0.5)

    def backward(g):
        safe = be.where(be.equal(out, zero), out.dtype.type(1), out)
        return (be.where(be.equal(out, zero), zero, be.div(be.mul(g, half), safe)),)

    return record("std", out, (v,), backward)


def logsumexp(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """log(sum(exp(a))) over axis, shifted by the max; d/da = g softmax(a)."""
    a = as_floating(a)  # a uint8 a - max(a) would wrap
    axes = reduction_axes("logsumexp", axis, a.ndim)
    if not a.size:
        return log(base.sum(exp(a), axis=axes, keepdims=keepdims))
    be = backend_of(a.data)
    m = be.amax(a.data, axis=axes, keepdims=True)
    # shift by the max where it is finite (an inf or NaN max gives the unshifted, right answer)
    m = Tensor._wrap(be.where(be.compare("lt", be.absolute(m), np.inf), m, m.dtype.type(0)))
    out = log(base.sum(exp(sub(a, m)), axis=axes, keepdims=True))
    out = out + m
    return out if keepdims else reshape(out, tuple(
        n for i, n in enumerate(a.shape) if i not in axes))


def _l2(a: Tensor, axes, keepdims):
    """sqrt(sum(x^2)) scaled by the largest |x| (torch's and LAPACK's nrm2 answer: no overflow
    at 3e38, no underflow to 0 at 1e-45 in float32; issue 20)."""
    be = backend_of(a.data)
    x = a.data
    t = x.dtype.type
    biggest = be.amax(be.absolute(x), axis=axes, keepdims=True) if x.size else be.zeros(
        tuple(1 if i in axes else n for i, n in enumerate(x.shape)), x.dtype)
    usable = be.logical("and", be.compare("gt", biggest, t(0)),
                        be.compare("lt", biggest, t(np.inf)))  # not 0, inf or NaN
    scale = be.where(usable, biggest, t(1))
    scaled = be.div(x, scale)
    squares = be.sum(be.mul(scaled, scaled), axis=axes, keepdims=True)
    kept = be.mul(be.rule_unary("sqrt", squares), scale)
    shape = a.shape
    out = kept if keepdims else be.reshape(kept, tuple(
        n for i, n in enumerate(shape) if i not in axes))

    def backward(g):
        g = be.broadcast_to(be.reshape(g, tuple(kept.shape)), shape)
        safe = be.where(be.equal(kept, kept.dtype.type(0)), kept.dtype.type(1), kept)
        return (be.div(be.mul(g, x), safe),)  # 0 at a zero vector (torch's subgradient)

    return record("norm", out, (a,), backward)


def _lp(a: Tensor, p: float, axes, keepdims):
    """(sum |x|^p)^(1/p); its slope sign(x) (|x| / norm)^(p-1), 0 where x or the whole norm is
    0 (torch's subgradient; composed of pow and abs it was NaN there: 0 * inf)."""
    be = backend_of(a.data)
    x = a.data
    t = x.dtype.type
    magnitude = be.absolute(x)
    kept = be.power(be.sum(be.power(magnitude, t(p)), axis=axes, keepdims=True), t(1.0 / p))
    shape = a.shape
    out = kept if keepdims else be.reshape(kept, tuple(
        n for i, n in enumerate(shape) if i not in axes))

    def backward(g):
        g = be.broadcast_to(be.reshape(g, tuple(kept.shape)), shape)
        vanishing = be.broadcast_to(be.equal(kept, t(0)), shape)
        zero = be.logical("or", be.equal(magnitude, t(0)), vanishing)
        ratio = be.div(magnitude, be.where(be.equal(kept, t(0)), t(1), kept))
        slope = be.mul(be.rule_unary("sign", x),
                       be.power(be.where(zero, t(1), ratio), t(p - 1)))
        return (be.where(zero, t(0), be.mul(g, slope)),)

    return record("norm", out, (a,), backward)


def norm(a: Tensor, ord=2, axis=None, keepdims=False) -> Tensor:  # noqa: A002 - numpy's name
    """Vector norm over axis (all elements when None): ord 2 (or 'fro'), 1, inf, -inf, 0 or p."""
    axes = reduction_axes("norm", axis, a.ndim)
    a = as_floating(a)  # numpy's norm of integers is a float too
    if ord in (2, "fro"):
        return _l2(a, axes, keepdims)
    if ord == 1:
        return base.sum(abs_(a), axis=axes, keepdims=keepdims)
    if ord == np.inf:
        return base.max(abs_(a), axis=axes, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs_(a), axis=axes, keepdims=keepdims)
    if ord == 0:  # the count of non-zero elements (NaN counts, torch's); no gradient flows, and
        # backward() through it works (it raised: the count was a tensor off the graph)
        be = backend_of(a.data)
        nonzero = be.astype(be.compare("ne", a.data, 0), a.dtype)
        return record("norm", be.sum(nonzero, axis=axes, keepdims=keepdims), (a,),
                      lambda g: (None,))
    if isinstance(ord, int | float) and ord > 0:
        return _lp(a, float(ord), axes, keepdims)
    raise ValueError(f"norm: ord must be 2, 'fro', 1, inf, -inf, 0 or a positive number, got "
                     f"{ord!r}")
