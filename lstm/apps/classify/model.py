"""A bidirectional LSTM over packed variable lengths, pooled over time, then a linear readout."""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.nn import Linear, Module

from ...layers import LSTM
from .attention import AdditiveAttention, last_pool, mean_pool

POOLINGS = ("attention", "last", "mean")


class SequenceClassifier(Module):
    """logits (B, n_classes), attention weights (T, B) or None = model(x (T, B, I), lengths)."""

    def __init__(self, input_size: int, hidden_size: int, n_classes: int,
                 pooling: str = "attention", attention_size: int | None = None,
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0,
                 impl: str = "fused", rng=None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        rng = np.random.default_rng(rng)
        self.pooling, self.dropout, self.rng = pooling, dropout, rng
        self.encoder = LSTM(input_size, hidden_size, num_layers=num_layers,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
                            impl=impl, rng=rng)
        features = hidden_size * self.encoder.num_directions
        if pooling == "attention":
            self.attention = AdditiveAttention(features, attention_size or hidden_size, rng=rng)
        self.readout = Linear(features, n_classes, rng=rng)

    def forward(self, x, lengths):
        outputs, (h_n, _) = self.encoder(x, lengths=lengths)
        weights = None
        if self.pooling == "attention":
            pooled, weights = self.attention(outputs, lengths)
        elif self.pooling == "mean":
            pooled = mean_pool(outputs, lengths)
        else:
            pooled = last_pool(h_n, self.encoder.num_directions)
        if self.dropout and self.training:
            pooled = mg.dropout(pooled, self.dropout, self.rng)
        return self.readout(pooled), weights

    def extra_repr(self):
        return f"pooling={self.pooling!r}"
