"""Shape primitives: reshape, transpose, indexing, concat/stack/split; gradcheck, torch, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

# ---- reshape / transpose ---------------------------------------------------------------------

RESHAPES = [
    ((3, 4), (2, 6)),
    ((3, 4), (-1,)),
    ((3, 4), (12, 1)),
    ((), (1, 1)),
    ((2, 3, 2), (6, -1)),
    ((1,), ()),
]


@pytest.mark.parametrize("shape, new_shape", RESHAPES, ids=str)
def test_reshape_gradcheck_and_torch(shape, new_shape, rng, compare_with_torch):
    a = rng.standard_normal(shape)
    # multiplied by a broadcast row so the upstream of reshape is not a plain copy of u
    assert mg.gradcheck(lambda x: x.reshape(new_shape) * 1.5, [a])
    for dtype in (np.float32, np.float64):
        out = compare_with_torch(
            lambda x: x.reshape(new_shape), lambda t: t.reshape(new_shape), [a], dtype
        )
        assert out.shape == np.reshape(a, new_shape).shape


def test_reshape_takes_varargs_and_tuples(rng):
    x = mg.tensor(rng.standard_normal((2, 6)))
    assert x.reshape(3, 4).shape == (3, 4) == x.reshape((3, 4)).shape == mg.reshape(x, [3, 4]).shape


TRANSPOSES = [
    ((3, 4), None),
    ((2, 3, 4), (1, 0, 2)),
    ((2, 3, 4), (-1, 0, 1)),
    ((5,), None),
    ((2, 3, 4), None),
]


@pytest.mark.parametrize("shape, axes", TRANSPOSES, ids=str)
def test_transpose_gradcheck_and_torch(shape, axes, rng, compare_with_torch):
    a = rng.standard_normal(shape)
    perm = tuple(range(len(shape)))[::-1] if axes is None else tuple(ax % len(shape) for ax in axes)
    assert mg.gradcheck(lambda x: mg.transpose(x, axes), [a])
    for dtype in (np.float32, np.float64):
        compare_with_torch(lambda x: mg.transpose(x, axes), lambda t: t.permute(*perm), [a], dtype)


def test_T_and_transpose_varargs(rng):
    a = rng.standard_normal((2, 3, 4))
    x = mg.tensor(a)
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    np.testing.assert_array_equal(x.transpose(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose().numpy(), a.transpose())


# ---- indexing --------------------------------------------------------------------------------

INDICES = {
    "slice": np.s_[1:3],
    "slice_step": np.s_[::2, 1:],
    "int": np.s_[1],
    "int_negative": np.s_[-1, 2],
    "none": np.s_[None],
    "none_middle": np.s_[:, None, 1:],
    "ellipsis": np.s_[..., 1],
    "ellipsis_none": np.s_[..., None, 0],
    "int_array_repeats": np.array([0, 0, 2, 0]),
    "int_list_repeats": [2, 2, 1],
    "int_arrays_pairs": (np.array([0, 2, 0, 0]), np.array([1, 1, 3, 1])),
    "int_array_2d": np.array([[0, 1], [1, 0], [2, 2]]),
    "mixed_slice_array": np.s_[1:, np.array([0, 0, 3])],
    "bool_mask": "mask2d",
    "bool_rows": np.array([True, False, True]),
    "bool_columns": np.s_[:, np.array([True, False, False, True])],
}


def _index(name, a_shape, rng):
    index = INDICES[name]
    if isinstance(index, str):
        return rng.random(a_shape) > 0.4
    return index


def _torch_index(torch, index):
    def convert(p):
        if isinstance(p, np.ndarray):
            return torch.from_numpy(p)
        if isinstance(p, list):
            return torch.tensor(p)
        return p

    return tuple(convert(p) for p in index) if isinstance(index, tuple) else convert(index)


@pytest.mark.parametrize("name", INDICES)
def test_getitem_gradcheck(name, rng):
    a = rng.standard_normal((3, 4))
    index = _index(name, a.shape, rng)
    assert mg.gradcheck(lambda x: x[index], [a])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", INDICES)
def test_getitem_matches_torch(name, dtype, rng, torch, compare_with_torch):
    a = rng.standard_normal((3, 4))
    index = _index(name, a.shape, rng)
    out = compare_with_torch(
        lambda x: x[index], lambda t: t[_torch_index(torch, index)], [a], dtype
    )
    np.testing.assert_array_equal(out.numpy(), a.astype(dtype)[index])


def test_getitem_negative_step_and_repeats_accumulate(rng):
    """torch has no negative steps: check against numpy's scatter-add directly."""
    a = rng.standard_normal((3, 4))
    assert mg.gradcheck(lambda x: x[::-1, ::-2], [a])
    x = mg.tensor(a, requires_grad=True)
    index = np.array([1, 1, 1, 0])
    u = rng.standard_normal((4, 4))
    x[index].backward(u)
    expected = np.zeros_like(a)
    np.add.at(expected, index, u)
    np.testing.assert_allclose(x.grad, expected)
    np.testing.assert_allclose(x.grad[1], u[:3].sum(axis=0))


def test_getitem_with_an_integer_tensor_index(rng):
    a = rng.standard_normal((5, 2))
    x = mg.tensor(a, requires_grad=True)
    idx = mg.tensor(np.array([4, 0, 4]))
    x[idx].sum().backward()
    np.testing.assert_array_equal(x.grad[:, 0], [1, 0, 0, 0, 2])


def test_getitem_out_of_range_names_op_and_shape():
    with pytest.raises(IndexError, match=r"getitem: index .* does not fit shape \(3, 4\)"):
        mg.ones(3, 4)[5]
    with pytest.raises(IndexError, match="getitem"):
        mg.ones(3, 4)[np.array([0, 7])]


# ---- concat / stack / split ------------------------------------------------------------------

CONCATS = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3, 1), (2, 3, 2)], -1),
    ([(3,)], 0),
]


@pytest.mark.parametrize("shapes, axis", CONCATS, ids=str)
def test_concat_gradcheck_and_torch(shapes, axis, rng, torch, compare_with_torch):
    arrays = [rng.standard_normal(s) for s in shapes]
    assert mg.gradcheck(lambda *xs: mg.concat(xs, axis), arrays)
    for dtype in (np.float32, np.float64):
        compare_with_torch(
            lambda *xs: mg.concat(xs, axis), lambda *ts: torch.cat(ts, axis), arrays, dtype
        )


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_stack_gradcheck_and_torch(axis, rng, torch, compare_with_torch):
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    assert mg.gradcheck(lambda *xs: mg.stack(xs, axis), arrays)
    for dtype in (np.float32, np.float64):
        compare_with_torch(
            lambda *xs: mg.stack(xs, axis), lambda *ts: torch.stack(ts, axis), arrays, dtype
        )


@pytest.mark.parametrize("sections, axis", [(3, 0), ([1, 3, 2], 1), ([2, 2], -1), (1, 0)], ids=str)
def test_split_gradcheck_and_torch(sections, axis, rng, torch, compare_with_torch):
    a = rng.standard_normal((6, 6, 4)[:3] if axis != -1 else (3, 4))
    weights = [1.0, -2.0, 0.5]

    def combine(parts):  # every part reaches the output with a distinct weight
        return mg.concat([p * w for p, w in zip(parts, weights)], axis)

    assert mg.gradcheck(lambda x: combine(x.split(sections, axis)), [a])
    size = a.shape[axis]
    sizes = [size // sections] * sections if isinstance(sections, int) else sections
    for dtype in (np.float32, np.float64):
        compare_with_torch(
            lambda x: combine(mg.split(x, sections, axis)),
            lambda t: torch.cat(
                [p * w for p, w in zip(torch.split(t, sizes, axis), weights)], axis
            ),
            [a],
            dtype,
        )


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unstack_gradcheck_and_torch(axis, rng, torch, compare_with_torch):
    a = rng.standard_normal((2, 3, 4))
    n = a.shape[axis]
    weights = np.arange(1.0, n + 1)

    def combine(parts, stack):
        return stack([p * w for p, w in zip(parts, weights)], axis)

    assert mg.gradcheck(lambda x: combine(x.unstack(axis), mg.stack), [a])
    for dtype in (np.float32, np.float64):
        compare_with_torch(
            lambda x: combine(mg.unstack(x, axis), mg.stack),
            lambda t: combine(torch.unbind(t, axis), torch.stack),
            [a],
            dtype,
        )


def test_unstack_only_some_parts_used(rng):
    x = mg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    parts = x.unstack(0)
    (parts[2] * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0], [0, 0], [3, 3]])


def test_split_part_unused_gets_zero_gradient(rng):
    x = mg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    first, _ = x.split(2)
    first.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 1], [1, 1], [0, 0], [0, 0]])


def test_concat_stack_split_errors():
    with pytest.raises(ValueError, match=r"concat: cannot join shapes \[\(2, 3\), \(2, 4\)\]"):
        mg.concat([mg.ones(2, 3), mg.ones(2, 4)], axis=0)
    with pytest.raises(ValueError, match="concat: tensor 0 is float32 .* tensor 1 is float64"):
        mg.concat([mg.ones(2), mg.ones(2, dtype=np.float64)])
    with pytest.raises(ValueError, match="concat: needs at least one tensor"):
        mg.concat([])
    with pytest.raises(ValueError, match=r"stack: cannot stack shapes \[\(2,\), \(3,\)\]"):
        mg.stack([mg.ones(2), mg.ones(3)])
    with pytest.raises(ValueError, match="split: axis 0 of size 5 does not divide into 2"):
        mg.ones(5).split(2)
    with pytest.raises(ValueError, match=r"split: sizes \[1, 2\] .* add up to 3"):
        mg.ones(5).split([1, 2])
    with pytest.raises(ValueError, match=r"reshape: cannot reshape \(2, 3\)"):
        mg.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="transpose: axes"):
        mg.ones(2, 3).transpose(0, 0)
