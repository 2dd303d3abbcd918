"""Variational recurrent dropout (Gal & Ghahramani 2016) for any cell, and the composed path's
per-step gradient norms.

One mask per sequence, layer, direction and state, drawn once before the time loop and reused at
every step: the state is multiplied by it where it enters a matrix product with a weight
(``h @ W.T`` in the step, the recurrent GEMM), never on its elementwise paths (the carried
``z * h`` of a GRU, the LSTM's cell), as Gal & Ghahramani's "tied" weights-dropout does and as
Keras's ``recurrent_dropout``. A product of an intermediate value (``(r * h) @ W.T``) is not
masked. Masks are Bernoulli(1 - p) / (1 - p), drawn from the layer's rng in state order, so the
fused and composed paths see the same masks from the same seed, by the backend's dropout_mask
(mg.compile records the draw: a compiled training step draws new masks on every call).
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from .cells import Cell

_MASKS: dict = {}  # id(state alias) -> mask, while its step runs (tensors compare elementwise)


def draw_masks(rng: np.random.Generator, p: float, batch: int, sizes, dtype,
               device: str = "cpu") -> tuple:
    """One (batch, size) mask tensor per state on `device`: 1/(1-p) with probability 1-p, else
    0. Drawn on the host by the CPU backend's dropout_mask (mg.dropout of ones; the same masks
    from the same seed on every device), which mg.compile records: a compiled step draws new
    masks from `rng` on every call, as eager does."""
    return tuple(mg.dropout(mg.ones(batch, size, dtype=dtype), p, rng).to(device)
                 for size in sizes)


class _RecurrentInput(Tensor):
    """A state as the step sees it under recurrent dropout: `state @ W` multiplies the state by
    its mask first; every other operation sees the state unchanged."""

    __slots__ = ()

    def __matmul__(self, other):
        mask = _MASKS.get(id(self))
        return Tensor.__matmul__(self if mask is None else self * mask, other)


def masked_states(states: tuple, masks: tuple) -> tuple:
    """The states as the step's input: each an identity of the state whose products by weights
    apply its mask (a Tensor of the state's device)."""
    wrapped = []
    for state, mask in zip(states, masks):
        alias = state.reshape(state.shape)  # a new tape node: gradients flow back to `state`
        alias.__class__ = _RecurrentInput
        _MASKS[id(alias)] = mask
        wrapped.append(alias)
    return tuple(wrapped)


def unwrap(new: tuple, wrapped: tuple, states: tuple) -> tuple:
    """After the step: forget the aliases' masks; a step that returned its input state unchanged
    gets the plain state back."""
    for w in wrapped:
        _MASKS.pop(id(w), None)
    return tuple(next((s for w, s in zip(wrapped, states) if n is w), n) for n in new)


# ---- the fused path: masks as carried states ---------------------------------------------------
_PROXIES: dict = {}


def _product_proxy(value, masked):
    """`value` (a tensor or a tracer symbol) except that `value @ W` computes `masked @ W`."""
    base = type(value)
    cls = _PROXIES.get(base)
    if cls is None:
        cls = type("Masked" + base.__name__, (base,),
                   {"__slots__": ("_masked",), "__matmul__": lambda self, w: self._masked @ w})
        _PROXIES[base] = cls
    proxy = object.__new__(cls)
    for slot in base.__slots__:
        if slot != "__weakref__" and hasattr(value, slot):
            object.__setattr__(proxy, slot, getattr(value, slot))
    proxy._masked = masked
    return proxy


class MaskedCell(Cell):
    """`inner` with recurrent dropout as a plain step the cell compiler fuses: per state s, its
    mask m and m * s are carried as extra states (m' = m, (m s)' = m s'), and the inner step's
    products `s @ W` read the carried m * s: one recurrent GEMM still, of a state."""

    def __init__(self, inner: Cell):
        super().__init__(inner.input_size, inner.hidden_size, inner.bias, 0, inner.dtype)
        object.__setattr__(self, "inner", inner)  # not a submodule: its parameters are ours
        plain = (str, int, float, bool, type(None))
        for key, value in vars(inner).items():  # the inner cell's settings key the compile cache
            if isinstance(value, plain) and not key.startswith("_") and key != "bias":
                object.__setattr__(self, "inner_" + key, value)
        names = inner.states
        self.states = names + tuple("mask_" + n for n in names) + \
            tuple("masked_" + n for n in names)
        self.refresh()

    def refresh(self) -> None:
        """Take the inner cell's current parameter objects."""
        for name in self.inner._parameters:
            value = getattr(self.inner, name)
            object.__setattr__(self, name, value)
            self._parameters[name] = value

    def state_size(self, name):
        """Each mask and masked state has its state's width."""
        return self.inner.state_size(name.removeprefix("mask_").removeprefix("masked_"))

    def step(self, x, state):
        n = len(self.inner.states)
        states, masks, masked = state[:n], state[n:2 * n], state[2 * n:]
        saved = {name: getattr(self.inner, name) for name in self._parameters}
        for name in self._parameters:
            object.__setattr__(self.inner, name, getattr(self, name))
        try:
            proxies = tuple(_product_proxy(s, m) for s, m in zip(states, masked))
            new = unwrap(tuple(self.inner.step(x, proxies)), proxies, states)
        finally:
            for name, value in saved.items():
                object.__setattr__(self.inner, name, value)
        return new + tuple(masks) + tuple(s * m for s, m in zip(new, masks))


def masked_cell(cell: Cell) -> MaskedCell:
    """The MaskedCell of `cell` (one per cell, so its compiled kernels are reused)."""
    wrapper = cell.__dict__.get("_recurrent_dropout_cell")
    if wrapper is None:
        wrapper = MaskedCell(cell)
        object.__setattr__(cell, "_recurrent_dropout_cell", wrapper)
    wrapper.refresh()
    return wrapper


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
