"""Variational recurrent dropout (Gal & Ghahramani 2016) for any cell, and the composed path's
per-step gradient norms.

One mask per sequence, layer, direction and state, drawn once before the time loop and reused at
every step: the state is multiplied by it where it enters a matrix product with a weight
(``h @ W.T`` in the step, the recurrent GEMM), never on its elementwise paths (the carried
``z * h`` of a GRU, the LSTM's cell), as Gal & Ghahramani's "tied" weights-dropout does and as
Keras's ``recurrent_dropout``. A product of an intermediate value (``(r * h) @ W.T``) is not
masked. Masks are Bernoulli(1 - p) / (1 - p), drawn from the layer's rng in state order, so the
fused and composed paths see the same masks from the same seed.
"""

from __future__ import annotations

import weakref

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

_MASKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def draw_masks(rng: np.random.Generator, p: float, batch: int, sizes, dtype) -> tuple:
    """One (batch, size) mask per state: 1/(1-p) with probability 1-p, else 0, as numpy arrays."""
    keep = 1.0 - p
    return tuple((rng.random((batch, size)) < keep).astype(dtype) / np.asarray(keep, dtype)
                 for size in sizes)


class _RecurrentInput(Tensor):
    """A state as the step sees it under recurrent dropout: `state @ W` multiplies the state by
    its mask first; every other operation sees the state unchanged."""

    __slots__ = ()

    def __matmul__(self, other):
        return Tensor.__matmul__(self * _MASKS[self], other)


def masked_states(states: tuple, masks: tuple) -> tuple:
    """The states as the step's input: each an identity of the state whose products by weights
    apply its mask (a Tensor of the state's device)."""
    wrapped = []
    for state, mask in zip(states, masks):
        alias = state.reshape(state.shape)  # a new tape node: gradients flow back to `state`
        alias.__class__ = _RecurrentInput
        _MASKS[alias] = mask
        wrapped.append(alias)
    return tuple(wrapped)


def unwrap(new: tuple, wrapped: tuple, states: tuple) -> tuple:
    """A step that returns its input state unchanged gets the plain state back."""
    return tuple(next((s for w, s in zip(wrapped, states) if n is w), n) for n in new)


def mask_tensors(masks, device: str) -> tuple:
    """numpy masks as constant tensors on `device`."""
    return tuple(mg.tensor(m, device=device) for m in masks)


class RetainedNorms:
    """The composed path's per-step gradient norms: reads ||dL/ds_t|| over the state axis of
    the retained step outputs once backward has run; np.asarray gives (T, B) float64."""

    def __init__(self, tensors: list):
        self.tensors = tensors

    def __array__(self, dtype=None, copy=None):
        rows = []
        for t in self.tensors:
            if t is None or t.grad is None:
                rows.append(np.zeros(t.shape[0] if t is not None else 0))
            else:
                g = np.asarray(mg.tensor(t.grad).numpy(), dtype=np.float64)
                rows.append(np.sqrt((g * g).sum(axis=-1)))
        return np.stack(rows).astype(dtype or np.float64)
