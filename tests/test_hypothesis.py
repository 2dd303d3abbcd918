"""hypothesis-drawn shapes, indices and random compositions of primitives, all gradchecked.

Shapes stay tiny (sides <= 3) so a finite-difference check costs little; values come from a
seeded numpy generator the strategy draws the seed for, which keeps them off kinks and ties.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
seeds = st.integers(0, 2**32 - 1)

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
    "pow": lambda a, b: (a * a + 0.5) ** b,
    "where": lambda a, b: mg.where((a.numpy() > b.numpy()), a, b),
    "mse": lambda a, b: mg.mse_loss(a, b) if a.shape == b.shape else a * b,
}

UNARY = {
    "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(),
    "exp_of_tanh": lambda t: t.tanh().exp(),
    "log_of_square_plus_one": lambda t: (t * t + 1.0).log(),
    "square": lambda t: t**2,
    "affine": lambda t: t * 0.7 - 0.2,
    "rdiv": lambda t: 1.0 / (t * t + 1.0),
    "softmax_last": lambda t: t.softmax(-1) if t.ndim else t,
    "log_softmax_first": lambda t: t.log_softmax(0) if t.ndim else t,
    "transpose": lambda t: t.T,
    "flatten": lambda t: t.reshape(-1),
    "reverse_first": lambda t: t[::-1] if t.ndim else t,
    "pick_repeated": lambda t: t[np.array([0, 0, -1])] if t.ndim else t,
    "concat_with_scaled": lambda t: mg.concat([t, t * 2.0], axis=0) if t.ndim else t,
    "stack_with_tanh": lambda t: mg.stack([t, t.tanh()], axis=-1) if t.ndim < 3 else t,
    "split_and_weight": lambda t: (
        mg.concat([p * float(k + 1) for k, p in enumerate(t.split(t.shape[0]))], 0) if t.ndim else t
    ),
    "mean_last": lambda t: t.mean(axis=-1) if t.ndim else t,
    "sum_first_keep": lambda t: t.sum(axis=0, keepdims=True) if t.ndim else t,
    "matmul_self_t": lambda t: t @ t.T if t.ndim == 2 else t,
}


@given(shapes=pair_shapes, name=st.sampled_from(sorted(BINARY)), seed=seeds)
def test_binary_ops_on_drawn_broadcast_shapes(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(s) for s in shapes.input_shapes)
    assert mg.gradcheck(BINARY[name], [np.asarray(a), np.asarray(b)], seed=seed % 1000)


@given(shape=small_shapes, data=st.data(), seed=seeds)
def test_reductions_over_drawn_axes(shape, data, seed):
    ndim = len(shape)
    axes = data.draw(
        st.one_of(
            st.none(),
            st.lists(
                st.integers(-ndim, ndim - 1),
                min_size=1,
                max_size=ndim,
                unique_by=lambda a: a % ndim,
            ).map(tuple)
            if ndim
            else st.none(),
        )
    )
    keepdims = data.draw(st.booleans())
    name = data.draw(st.sampled_from(["sum", "mean", "max"]))
    a = np.asarray(np.random.default_rng(seed).standard_normal(shape))
    assert mg.gradcheck(lambda x: getattr(x, name)(axis=axes, keepdims=keepdims), [a])


@given(shape=small_shapes.filter(lambda s: len(s) > 0), data=st.data(), seed=seeds)
def test_getitem_with_drawn_basic_and_integer_indices(shape, data, seed):
    index = data.draw(
        st.one_of(
            hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True),
            hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_dims=2, max_side=4)),
        )
    )
    a = np.asarray(np.random.default_rng(seed).standard_normal(shape))
    assert mg.gradcheck(lambda x: x[index] * 1.5, [a])


@settings(max_examples=60)
@given(
    shapes=pair_shapes,
    first=st.sampled_from(sorted(BINARY)),
    steps=st.lists(st.sampled_from(sorted(UNARY)), min_size=1, max_size=5),
    seed=seeds,
)
def test_random_compositions_gradcheck_and_keep_float32(shapes, first, steps, seed):
    def program(x, y):
        out = BINARY[first](x, y)
        for name in steps:
            out = UNARY[name](out)
        return out

    rng = np.random.default_rng(seed)
    a, b = (np.asarray(rng.standard_normal(s)) for s in shapes.input_shapes)
    assert mg.gradcheck(program, [a, b], seed=seed % 1000)

    x = mg.tensor(a.astype(np.float32), requires_grad=True)
    y = mg.tensor(b.astype(np.float32), requires_grad=True)
    out = program(x, y)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    for t in (x, y):
        assert t.grad is None or (t.grad.dtype == np.float32 and t.grad.shape == t.shape)
