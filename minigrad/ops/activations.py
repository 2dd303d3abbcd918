"""Activation functions (torch.nn.functional's names, defaults and gradients), each a scalar rule
(``backends/scalar_rules_activations``) and one line here."""

from __future__ import annotations

from ..tensor import Tensor
from .axes import real
from .elementwise import neg
from .loss import softmax
from .rule_ops import unary_rule_function, unary_rule_op

__all__ = [  # torch.nn.functional's names (minigrad.functional and mg.<name>)
    "celu", "elu", "gelu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "logsigmoid",
    "mish", "relu6", "selu", "silu", "softmin", "softplus", "softsign",
]


def gelu(a: Tensor, approximate: str = "none") -> Tensor:
    """a Phi(a) (approximate="tanh": a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3))) / 2)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return unary_rule_op("gelu" if approximate == "none" else "gelu_tanh", a)


silu = unary_rule_function("silu", "a sigmoid(a) (swish); d/da = g s (1 + a (1 - s)).")
mish = unary_rule_function("mish", "a tanh(softplus(a)).")


def leaky_relu(a: Tensor, negative_slope: float = 0.01) -> Tensor:
    """a where a > 0 else negative_slope a."""
    return unary_rule_op("leaky_relu", a, real("leaky_relu", "negative_slope", negative_slope))


def elu(a: Tensor, alpha: float = 1.0) -> Tensor:
    """a where a > 0 else alpha (exp(a) - 1)."""
    return unary_rule_op("elu", a, real("elu", "alpha", alpha))


selu = unary_rule_function("selu", "1.0507 (a where a > 0 else 1.6733 (exp(a) - 1)).")


def softplus(a: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta a)) / beta, a where beta a > threshold."""
    beta = real("softplus", "beta", beta)
    threshold = real("softplus", "threshold", threshold)
    if not beta != 0 or beta != beta:  # negative is torch's too (the rule holds for both signs)
        raise ValueError(f"softplus: beta must be a non-zero number (it divides), got {beta}")
    return unary_rule_op("softplus", a, beta, threshold)


softsign = unary_rule_function("softsign", "a / (1 + |a|).")
logsigmoid = unary_rule_function(
    "logsigmoid", "log(sigmoid(a)) = min(a, 0) - log(1 + exp(-|a|)); d/da = g sigmoid(-a).")


def hardtanh(a: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """a clamped to [min_val, max_val]; gradient 1 strictly inside."""
    min_val = real("hardtanh", "min_val", min_val)
    max_val = real("hardtanh", "max_val", max_val)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val={min_val} is greater than max_val={max_val}")
    return unary_rule_op("hardtanh", a, min_val, max_val)


hardsigmoid = unary_rule_function("hardsigmoid", "a / 6 + 1/2 clamped to [0, 1].")
relu6 = unary_rule_function("relu6", "a clamped to [0, 6].")
hardswish = unary_rule_function(
    "hardswish", "a relu6(a + 3) / 6; d/da = 0 up to -3, a / 3 + 1/2 on (-3, 3), 1 from 3 "
    "(torch's).")


def celu(a: Tensor, alpha: float = 1.0) -> Tensor:
    """max(0, a) + min(0, alpha (exp(a / alpha) - 1)); d/da = 1 above 0, else exp(a / alpha)."""
    alpha = real("celu", "alpha", alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return unary_rule_op("celu", a, alpha)


def softmin(a: Tensor, axis: int = -1) -> Tensor:
    """softmax(-a) along axis (torch's softmin; its gradient is softmax's, negated)."""
    return softmax(neg(a), axis)
