"""hypothesis-drawn shapes and random chains of the ops added for issue 11, all gradchecked in
float64. Shapes stay tiny (sides <= 3); inputs are squashed into (-1.5, 1.5) and kept off kinks,
so every op in a chain sees values in its smooth domain."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
seeds = st.integers(0, 2**32 - 1)

SMOOTH = {
    "sin": mg.sin, "cos": mg.cos, "atan": mg.atan, "sinh": mg.sinh, "asinh": mg.asinh,
    "erf": mg.erf, "expm1": mg.expm1, "exp2": mg.exp2, "square": mg.square,
    "sqrt_of_positive": lambda t: mg.sqrt(t * t + 0.5),
    "log1p_of_positive": lambda t: mg.log1p(t * t), "gelu": mg.gelu,
    "gelu_tanh": lambda t: mg.gelu(t, "tanh"), "silu": mg.silu, "mish": mg.mish,
    "softplus": mg.softplus, "logsigmoid": mg.logsigmoid, "softsign": mg.softsign,
    "cumsum": lambda t: t.cumsum(axis=-1) if t.ndim else t,
    "cumprod": lambda t: t.cumprod(axis=0) if t.ndim else t,
    "logsumexp_keep": lambda t: t.logsumexp(axis=-1, keepdims=True) if t.ndim else t,
    "flip": lambda t: t.flip(), "roll": lambda t: mg.roll(t, 1),
    "tile": lambda t: t.tile(2), "pad_reflect": lambda t: mg.pad(t, 1, mode="replicate"),
    "sort": lambda t: t.sort(axis=-1)[0] if t.ndim else t,
    "unsqueeze_expand": lambda t: t.unsqueeze(0).expand(2, *t.shape),
    "einsum_outer_sum": lambda t: mg.einsum("i,j->ij", t.reshape(-1), t.reshape(-1)),
    "layer_norm": lambda t: mg.functional.layer_norm(t, t.shape[-1:]) * 0.5
    if t.ndim and t.shape[-1] > 1 else t,
}
BINARY = {
    "maximum": mg.maximum, "minimum": mg.minimum, "logaddexp": mg.logaddexp,
    "lerp": lambda a, b: mg.lerp(a, b, 0.3), "huber": lambda a, b: mg.huber_loss(
        a, mg.broadcast_to(b, a.shape) if a.shape == np.broadcast_shapes(a.shape, b.shape)
        else a * 0.0, reduction="none"),
}


def _squash(x):
    return np.tanh(x) * 1.5


@given(shape=small_shapes, names=st.lists(st.sampled_from(sorted(SMOOTH)), min_size=1,
                                          max_size=3), seed=seeds)
def test_random_chains_gradcheck(shape, names, seed):
    x = _squash(np.random.default_rng(seed).standard_normal(shape))

    def chain(t):
        for name in names:
            t = SMOOTH[name](t)
            t = t.tanh() * 1.5  # back into the smooth domain of the next op
        return t

    assert mg.gradcheck(chain, [np.asarray(x)], seed=seed % 1000)


@given(shapes=pair_shapes, name=st.sampled_from(sorted(BINARY)), seed=seeds)
def test_binary_ops_on_drawn_broadcast_shapes(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a, b = (_squash(rng.standard_normal(s)) for s in shapes.input_shapes)
    if name in ("maximum", "minimum"):  # no ties (the gradient is split there): a and b on
        a, b = np.round(a * 5) / 5 + 0.1, np.round(b * 5) / 5  # grids 0.1 apart
    assert mg.gradcheck(BINARY[name], [np.asarray(a), np.asarray(b)], seed=seed % 1000)
