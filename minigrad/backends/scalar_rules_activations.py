"""Scalar rules of the activation functions (torch.nn.functional's names, defaults and gradients).

Registered into ``scalar_rules.RULES`` when that module is imported. A rule with ``params`` takes
them after its inputs, with torch's defaults: ``forward(x, alpha)``, ``d(x, y, alpha)``. float32
rules reach tanh and sigmoid through ``lib``, so they get the vectorising float32 forms.
"""

from __future__ import annotations

import math

from .scalar_rules import unary, vectorising


@unary("gelu", uses=("x",))
def _gelu(ft, lib):
    """x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; d/dx = Phi(x) + x phi(x)."""
    half, inv_sqrt2 = ft(0.5), ft(1.0 / math.sqrt(2.0))
    inv_sqrt_2pi, one = ft(1.0 / math.sqrt(2.0 * math.pi)), ft(1.0)
    exp, erf = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "erf", math.erf)

    def forward(x):
        return half * x * (one + erf(x * inv_sqrt2))

    def d(x, y):
        cdf = half * (one + erf(x * inv_sqrt2))
        return cdf + x * inv_sqrt_2pi * exp(-half * x * x)

    return forward, d


@unary("gelu_tanh", uses=("x",))
def _gelu_tanh(ft, lib):
    """x (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3) (torch approximate="tanh");
    d/dx = (1 + t) / 2 + x (1 - t^2) u'(x) / 2."""
    half, one = ft(0.5), ft(1.0)
    k, c, c3 = ft(math.sqrt(2.0 / math.pi)), ft(0.044715), ft(3.0 * 0.044715)
    tanh = lib.tanh

    def forward(x):
        return half * x * (one + tanh(k * (x + c * x * x * x)))

    def d(x, y):
        t = tanh(k * (x + c * x * x * x))
        return half * (one + t) + half * x * (one - t * t) * k * (one + c3 * x * x)

    return forward, d


@unary("silu", uses=("x",))
def _silu(ft, lib):
    """x sigmoid(x); d/dx = s (1 + x (1 - s))."""
    one = ft(1.0)
    sigmoid = lib.sigmoid

    def forward(x):
        return x * sigmoid(x)

    def d(x, y):
        s = sigmoid(x)
        return s * (one + x * (one - s))

    return forward, d


@unary("mish", uses=("x",))
def _mish(ft, lib):
    """x tanh(softplus(x)); d/dx = t + x sigmoid(x) (1 - t^2)."""
    one = ft(1.0)
    tanh, softplus, sigmoid = lib.tanh, lib.softplus, lib.sigmoid

    def forward(x):
        return x * tanh(softplus(x))

    def d(x, y):
        t = tanh(softplus(x))
        return t + x * sigmoid(x) * (one - t * t)

    return forward, d


@unary("leaky_relu", uses=("x",), params=("negative_slope",))
def _leaky_relu(ft, lib):
    """x if x > 0 else negative_slope x (default 0.01); d/dx = 1 or negative_slope (at 0)."""
    zero, one, default = ft(0.0), ft(1.0), ft(0.01)

    def forward(x, negative_slope=default):
        return x if x > zero else x * negative_slope

    def d(x, y, negative_slope=default):
        return one if x > zero else negative_slope

    return forward, d


@unary("elu", uses=("x",), params=("alpha",))
def _elu(ft, lib):
    """x if x > 0 else alpha (exp(x) - 1) (default alpha 1); d/dx = 1 or alpha exp(x) (from x,
    not y + alpha: that cancels for x << 0, 2e-8 off in float64 at x = -20, 0 in float32)."""
    zero, one, default = ft(0.0), ft(1.0), ft(1.0)
    exp, expm1 = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "expm1", math.expm1)

    def forward(x, alpha=default):
        return x if x > zero else alpha * expm1(x)

    def d(x, y, alpha=default):
        return alpha * exp(x) if x <= zero else one  # 1 at NaN, as torch

    return forward, d


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@unary("selu", uses=("x",))
def _selu(ft, lib):
    """scale (x if x > 0 else alpha (exp(x) - 1)), scale 1.0507, alpha 1.6733; d/dx = scale or
    scale alpha exp(x) (from x, as elu's)."""
    zero = ft(0.0)
    alpha, scale, scaled_alpha = ft(_SELU_ALPHA), ft(_SELU_SCALE), ft(_SELU_SCALE * _SELU_ALPHA)
    exp, expm1 = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "expm1", math.expm1)

    def forward(x):
        return scale * x if x > zero else scale * (alpha * expm1(x))

    def d(x, y):
        return scaled_alpha * exp(x) if x <= zero else scale  # scale at NaN, as torch

    return forward, d


@unary("softplus", uses=("x",), params=("beta", "threshold"))
def _softplus(ft, lib):
    """log(1 + exp(beta x)) / beta, x where beta x > threshold (defaults 1, 20);
    d/dx = sigmoid(beta x) (1 past the threshold)."""
    zero, one = ft(0.0), ft(1.0)
    default_beta, default_threshold = ft(1.0), ft(20.0)
    sigmoid = lib.sigmoid
    exp, log1p = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "log1p", math.log1p)

    def forward(x, beta=default_beta, threshold=default_threshold):
        z = beta * x
        # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow, no cancellation
        soft = ((z if z > zero else zero) + log1p(exp(-abs(z)))) / beta
        return x if z > threshold else soft

    def d(x, y, beta=default_beta, threshold=default_threshold):
        z = beta * x
        return one if z > threshold else sigmoid(z)

    return forward, d


@unary("softsign", uses=("x",))
def _softsign(ft, lib):
    """x / (1 + |x|); d/dx = 1 / (1 + |x|)^2."""
    one = ft(1.0)

    def forward(x):
        return x / (one + abs(x))

    def d(x, y):
        s = one + abs(x)
        return one / (s * s)

    return forward, d


@unary("logsigmoid", uses=("x",))
def _logsigmoid(ft, lib):
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)); d/dx = sigmoid(-x)."""
    zero = ft(0.0)
    sigmoid = lib.sigmoid
    exp, log1p = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "log1p", math.log1p)

    def forward(x):
        return (x if x < zero else zero) - log1p(exp(-abs(x)))

    def d(x, y):
        return sigmoid(-x)

    return forward, d


@unary("hardtanh", uses=("x",), params=("min_val", "max_val"))
def _hardtanh(ft, lib):
    """min(max(x, min_val), max_val) (defaults -1, 1); d/dx = 1 strictly inside, else 0."""
    zero, one = ft(0.0), ft(1.0)

    def forward(x, min_val=-one, max_val=one):
        if x != x:
            return x
        return min_val if x < min_val else (max_val if x > max_val else x)

    def d(x, y, min_val=-one, max_val=one):
        return zero if (x <= min_val or x >= max_val) else one  # 1 at NaN, as torch

    return forward, d


@unary("hardsigmoid", uses=("x",))
def _hardsigmoid(ft, lib):
    """min(max(x / 6 + 1 / 2, 0), 1); d/dx = 1/6 for -3 < x < 3, else 0."""
    zero, one, three, sixth, half = ft(0.0), ft(1.0), ft(3.0), ft(1.0 / 6.0), ft(0.5)

    def forward(x):
        if x != x:
            return x
        if x <= -three:
            return zero
        if x >= three:
            return one
        return x * sixth + half

    def d(x, y):
        return sixth if (x > -three and x < three) else zero

    return forward, d


@unary("relu6", uses=("x",))
def _relu6(ft, lib):
    """min(max(x, 0), 6); d/dx = 1 for 0 < x < 6, else 0."""
    zero, one, six = ft(0.0), ft(1.0), ft(6.0)

    def forward(x):
        if x != x:
            return x
        return zero if x < zero else (six if x > six else x)

    def d(x, y):
        return zero if (x <= zero or x >= six) else one  # 1 at NaN, as torch

    return forward, d


@unary("hardswish", uses=("x",))
def _hardswish(ft, lib):
    """x min(max(x + 3, 0), 6) / 6 (torch's form: -0.0 below -3, NaN at -inf); d/dx = 0 up to -3,
    x / 3 + 1/2 on (-3, 3), 1 from 3 on and at NaN (torch's)."""
    zero, one, three, six = ft(0.0), ft(1.0), ft(3.0), ft(6.0)
    sixth, third, half = ft(1.0 / 6.0), ft(1.0 / 3.0), ft(0.5)

    def forward(x):
        if x != x:
            return x
        return x * min(max(x + three, zero), six) * sixth

    def d(x, y):
        if x <= -three:
            return zero
        if x < three:
            return x * third + half
        return one  # also at NaN, as torch

    return forward, d


@unary("celu", uses=("x",), params=("alpha",))
def _celu(ft, lib):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1)) (default alpha 1); d/dx = 1 above 0, else
    exp(x / alpha)."""
    zero, one, default = ft(0.0), ft(1.0), ft(1.0)
    exp, expm1 = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "expm1", math.expm1)

    def forward(x, alpha=default):
        return x if x > zero else alpha * expm1(x / alpha)

    def d(x, y, alpha=default):
        return exp(x / alpha) if x <= zero else one  # 1 at NaN, as torch

    return forward, d
