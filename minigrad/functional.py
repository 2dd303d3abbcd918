"""torch.nn.functional-style layers composed of primitives: layer_norm, normalize and
scaled_dot_product_attention (also reachable as ``minigrad.nn.functional``), plus the activations
and losses under their torch names."""

from __future__ import annotations

import math

import numpy as np

from .ops.activations import *  # noqa: F403 - torch.nn.functional's names
from .ops.elementwise import relu, sigmoid, tanh, where  # noqa: F401
from .ops.linalg import matmul
from .ops.logic import all as all_
from .ops.logic import equal
from .ops.loss import log_softmax, softmax  # noqa: F401
from .ops.losses import *  # noqa: F403
from .ops.math import maximum, sqrt
from .ops.reduce import mean
from .ops.reductions import norm
from .ops.selection import one_hot  # noqa: F401
from .ops.shape import transpose
from .ops.shape_more import pad  # noqa: F401
from .tensor import Tensor


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing normalized_shape axes
    (biased variance, as torch)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the trailing axes "
                         f"of input shape {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - mean(x, axis=axes, keepdims=True)
    variance = mean(centred * centred, axis=axes, keepdims=True)
    out = centred / sqrt(variance + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def normalize(x: Tensor, p: float = 2.0, axis: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p, eps) along axis (torch's default axis 1)."""
    return x / maximum(norm(x, ord=p, axis=axis, keepdims=True), eps)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 is_causal: bool = False, scale=None) -> Tensor:
    """softmax(q k^T * scale + mask) v over the last two axes; a bool mask keeps True places
    (torch's convention), a float mask is added; is_causal keeps j <= i. A query whose every key
    is masked (padding) gets 0 and a zero gradient, as torch's safe softmax, not NaN."""
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not "
                         "both (as torch; fold the causal mask into attn_mask)")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query {query.shape}, key {key.shape} "
                         f"and value {value.shape} do not fit (q and k share the last axis, k "
                         "and v the second last)")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    axes = tuple(range(key.ndim - 2)) + (key.ndim - 1, key.ndim - 2)
    scores = matmul(query, transpose(key, axes)) * scale
    length_q, length_k = query.shape[-2], key.shape[-2]
    if is_causal:
        causal = np.tril(np.ones((length_q, length_k), dtype=bool))
        scores = where(causal, scores, -np.inf)
    if attn_mask is not None:
        mask = attn_mask
        if not isinstance(mask, Tensor):
            array = np.asarray(mask)
            mask = Tensor(array if array.dtype == np.bool_ else array.astype(scores.dtype))
        if mask.dtype == np.bool_:
            scores = where(mask, scores, -np.inf)
        else:
            scores = scores + mask
    if not (is_causal or attn_mask is not None):
        return matmul(softmax(scores, -1), value)
    masked_row = all_(equal(scores, -np.inf), axis=-1, keepdims=True)
    # a fully masked row softmaxes zeros instead (finite gradients) and is then set to 0
    probs = softmax(where(masked_row, 0.0, scores), -1)
    return matmul(where(masked_row, 0.0, probs), value)
