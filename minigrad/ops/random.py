"""Random primitives: dropout."""

from __future__ import annotations

import numpy as np

from ..autograd import record, state
from ..backends import backend_of
from ..tensor import Tensor


def dropout(a: Tensor, p: float, rng=None, training: bool = True) -> Tensor:
    """a * mask / (1 - p), mask ~ Bernoulli(1 - p) from `rng`; the gradient takes the same mask.

    `rng` is a numpy Generator (or a seed); identity when p == 0 or not training.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return a
    if a.dtype.kind != "f":  # the scale 1 / (1 - p) would be truncated to an integer (torch
        raise TypeError(f"dropout: input must be floating point, got dtype {a.dtype}")  # too)
    be = backend_of(a.data)
    if p == 1.0:
        mask = be.zeros(a.shape, a.dtype)
    else:
        if state.compiling and not isinstance(rng, np.random.Generator):
            raise ValueError(f"dropout inside mg.compile needs rng to be a numpy Generator, got "
                             f"{rng!r}: a seed (or None) draws a new generator on every eager "
                             "call, which a compiled program cannot replay")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        mask = be.dropout_mask(a.shape, p, rng, a.dtype)
    out = be.mul(a.data, mask)
    return record("dropout", out, (a,), lambda g: (be.mul(g, mask),))
