"""Pooling a recurrent layer's outputs over time into one vector per sequence, masked by length.

`AdditiveAttention` is Bahdanau et al. (2015)'s additive score used for pooling (as in Yang et
al. 2016's attention over a bidirectional encoder): u_t = tanh(W h_t + b), e_t = v . u_t,
alpha = softmax over the valid steps of e, context = sum_t alpha_t h_t. Steps past a sequence's
length get the score -1e9 before the softmax, so their weight is exactly 0 in float32 and float64
and no gradient reaches them. `mean_pool` and `last_pool` are the two baselines it is compared
with. `lengths` is a (B,) array, or an int64 Tensor (a compiled step's: the masks are computed
in the program).
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.nn import Linear, Module

from ..common.padding import valid_mask

MASKED_SCORE = -1e9


def _check_outputs(outputs, lengths):
    if outputs.ndim != 3:
        raise ValueError(f"outputs must be (T, B, features), got shape {outputs.shape}")
    mask = valid_mask(lengths, outputs.shape[0])
    if mask.shape[1] != outputs.shape[1]:
        raise ValueError(f"lengths has {mask.shape[1]} entries for a batch of {outputs.shape[1]}")
    return mask


class AdditiveAttention(Module):
    """context (B, F), weights (T, B) = attention(outputs (T, B, F), lengths (B,))."""

    def __init__(self, input_size: int, attention_size: int, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.project = Linear(input_size, attention_size, rng=rng, dtype=dtype)
        self.score = Linear(attention_size, 1, bias=False, rng=rng, dtype=dtype)

    def forward(self, outputs, lengths):
        mask = _check_outputs(outputs, lengths)
        steps, batch = outputs.shape[0], outputs.shape[1]
        scores = self.score(self.project(outputs).tanh()).reshape(steps, batch)
        weights = mg.softmax(mg.where(mask, scores, MASKED_SCORE), axis=0)
        context = (outputs * weights.reshape(steps, batch, 1)).sum(axis=0)
        return context, weights

    def extra_repr(self):
        return f"{self.project.in_features}, {self.project.out_features}"


def mean_pool(outputs, lengths):
    """The mean of outputs (T, B, F) over each sequence's valid steps: (B, F)."""
    mask = _check_outputs(outputs, lengths)
    steps, batch = mask.shape
    summed = mg.where(mask.reshape(steps, batch, 1), outputs, 0.0).sum(axis=0)
    if isinstance(lengths, mg.Tensor):  # the lengths a compiled step reads
        return summed / lengths.astype(outputs.dtype).reshape(batch, 1)
    return summed / np.asarray(lengths, outputs.dtype)[:, None]


def last_pool(h_n, num_directions: int):
    """The top layer's final states (B, D*H) from h_n (L*D, B, H): the forward direction's at
    each sequence's last valid step and, when bidirectional, the backward one's at step 0."""
    if num_directions == 1:
        return h_n[-1]
    return mg.concat([h_n[-2], h_n[-1]], axis=-1)
