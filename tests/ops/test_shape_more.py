"""Shape ops: float64 gradcheck with a random upstream, values against numpy/torch, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

X = np.arange(12.0).reshape(3, 4)

# name -> (minigrad op, numpy reference)
CASES = {
    "squeeze": (lambda t: mg.squeeze(t.reshape(3, 1, 4), 1), lambda x: x),
    "unsqueeze": (lambda t: t.unsqueeze(-1), lambda x: x[..., None]),
    "flatten": (lambda t: t.reshape(3, 2, 2).flatten(1), lambda x: x),
    "unflatten": (lambda t: mg.unflatten(t, 1, (2, -1)), lambda x: x.reshape(3, 2, 2)),
    "expand": (lambda t: t[:, :1].expand(-1, 5), lambda x: np.broadcast_to(x[:, :1], (3, 5))),
    "broadcast_to": (lambda t: t.broadcast_to((2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4))),
    "repeat": (lambda t: t.repeat([1, 0, 2], axis=0), lambda x: np.repeat(x, [1, 0, 2], axis=0)),
    "tile": (lambda t: t.tile((2, 1, 2)), lambda x: np.tile(x, (2, 1, 2))),
    "flip": (lambda t: t.flip((0, 1)), lambda x: np.flip(x, (0, 1))),
    "roll": (lambda t: mg.roll(t, (1, -1), (0, 1)), lambda x: np.roll(x, (1, -1), (0, 1))),
    "roll_flat": (lambda t: mg.roll(t, 5), lambda x: np.roll(x, 5)),
    "pad_constant": (lambda t: mg.pad(t, ((1, 0), (2, 1)), value=-1.0),
                     lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=-1.0)),
    "pad_reflect": (lambda t: mg.pad(t, ((2, 1), (1, 3)), mode="reflect"),
                    lambda x: np.pad(x, ((2, 1), (1, 3)), mode="reflect")),
    "pad_replicate": (lambda t: mg.pad(t, 2, mode="replicate"),
                      lambda x: np.pad(x, 2, mode="edge")),
    "tril": (lambda t: mg.tril(t, -1), lambda x: np.tril(x, -1)),
    "triu": (lambda t: mg.triu(t, 1), lambda x: np.triu(x, 1)),
    "diagonal": (lambda t: mg.diagonal(t, 1), lambda x: np.diagonal(x, 1)),
    "diagonal_3d": (lambda t: mg.diagonal(t.reshape(3, 2, 2), 0, 1, 2),
                    lambda x: np.diagonal(x.reshape(3, 2, 2), 0, 1, 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy(name):
    ours, reference = CASES[name]
    np.testing.assert_array_equal(ours(mg.tensor(X)).numpy(), reference(X.astype(np.float32)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_float64(name, rng):
    assert mg.gradcheck(CASES[name][0], [rng.standard_normal((3, 4))])


def test_tile_and_repeat_match_torch(torch):
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(mg.tensor(x).tile((2, 3)).numpy(), torch.tensor(x).repeat(2, 3))
    assert np.array_equal(mg.tensor(x).repeat(2, axis=1).numpy(),
                          torch.tensor(x).repeat_interleave(2, dim=1))


def test_errors_name_the_op():
    t = mg.ones(3, 4)
    with pytest.raises(ValueError, match=r"squeeze: axis 0 has size 3, expected 1"):
        t.squeeze(0)
    with pytest.raises(ValueError, match=r"broadcast_to: shape \(3, 4\) does not broadcast to"):
        t.broadcast_to((2, 4))
    with pytest.raises(ValueError, match="pad: reflect needs widths < the axis size"):
        mg.pad(t, ((3, 0), (0, 0)), mode="reflect")
    with pytest.raises(ValueError, match="pad: mode must be"):
        mg.pad(t, 1, mode="wrap")
    with pytest.raises(ValueError, match="unflatten: sizes"):
        mg.unflatten(t, 1, (3, -1))
    with pytest.raises(ValueError, match="flip: axis 5 is out of range"):
        t.flip(5)
