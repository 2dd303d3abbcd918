"""The ops added for issues 11 and 20, as `minigrad.<name>` (re-exported by the package's
__init__; `div` here, with rounding_mode=, replaces the plain true division imported there)."""

from __future__ import annotations

from . import activations, losses
from .activations import *  # noqa: F403 - activations.__all__
from .bitwise import (
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
)
from .creation import (
    arange,
    empty,
    eye,
    full,
    full_like,
    linspace,
    ones_like,
    rand,
    rand_like,
    randint,
    randn_like,
    zeros_like,
)
from .cumulative import cummax, cummin, logcumsumexp, std_mean, var_mean
from .einsum import einsum, outer
from .grids import diag, masked_select, meshgrid, nonzero, unfold
from .losses import *  # noqa: F403 - cross_entropy and mse_loss gain reduction= (fused by default)
from .math import (
    acos,
    acosh,
    asin,
    asinh,
    atan,
    atanh,
    ceil,
    copysign,
    cos,
    cosh,
    div,
    erf,
    exp2,
    expm1,
    floor,
    floor_divide,
    fmod,
    lerp,
    log1p,
    log2,
    log10,
    logaddexp,
    maximum,
    minimum,
    remainder,
    round,
    rsqrt,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    tan,
    trunc,
)
from .reductions import (
    argmax,
    argmin,
    cumprod,
    cumsum,
    logsumexp,
    min,
    norm,
    prod,
    std,
    var,
)
from .scan import gated_scan, linear_scan
from .selection import (
    argsort,
    gather,
    index_select,
    masked_fill,
    one_hot,
    scatter_add,
    sort,
    take_along_axis,
    topk,
)
from .shape_more import (
    broadcast_to,
    diagonal,
    expand,
    flatten,
    flip,
    pad,
    repeat,
    roll,
    squeeze,
    tile,
    tril,
    triu,
    unflatten,
    unsqueeze,
)

__all__ = [
    *activations.__all__, *losses.__all__,
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh", "erf", "exp2",
    "expm1", "floor", "floor_divide", "fmod", "lerp", "log1p", "log2", "log10", "logaddexp",
    "maximum", "minimum", "remainder", "round", "rsqrt", "sign", "sin", "sinh", "sqrt", "square",
    "tan", "trunc",
    "arange", "eye", "full", "full_like", "linspace", "ones_like", "rand", "rand_like", "randint",
    "randn_like", "zeros_like", "einsum", "outer",
    "argmax", "argmin", "cumprod", "cumsum", "logsumexp", "min", "norm", "prod", "std", "var",
    "argsort", "gather", "index_select", "masked_fill", "one_hot", "scatter_add", "sort",
    "take_along_axis", "topk",
    "broadcast_to", "diagonal", "expand", "flatten", "flip", "pad", "repeat", "roll", "squeeze",
    "tile", "tril", "triu", "unflatten", "unsqueeze",
    "linear_scan", "gated_scan",
    # issue 20
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
    "bitwise_right_shift", "div", "copysign", "cummax", "cummin", "logcumsumexp", "std_mean",
    "var_mean", "masked_select", "nonzero", "diag", "meshgrid", "unfold", "empty",
]
