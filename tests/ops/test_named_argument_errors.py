"""Bad arguments are refused naming the op, the argument and what was passed (never a bare
numpy message, a silent wrong value or a crash deep inside): the held-out audit's list."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

A = mg.tensor(np.ones((3, 4)))
B = mg.tensor(np.ones((2, 4)))


@pytest.mark.parametrize("call,words", [
    (lambda: A + B, ["add", "(3, 4)", "(2, 4)"]),
    (lambda: A @ B, ["matmul", "4 != 2"]),
    (lambda: mg.stack([A, B]), ["stack", "(3, 4)", "(2, 4)"]),
    (lambda: mg.where(np.ones((2, 2), bool), A, B), ["where", "(2, 2)"]),
    (lambda: mg.mse_loss(A, B), ["mse_loss", "prediction", "target", "(2, 4)"]),
    (lambda: mg.cross_entropy(A, np.arange(2)), ["cross_entropy", "targets", "(2,)", "(3,)"]),
    (lambda: mg.cross_entropy(A, np.array([0, 1, 4])), ["cross_entropy", "4"]),
    (lambda: mg.nll_loss(A, np.arange(3), weight=np.ones(3)), ["nll_loss", "weight", "(3,)"]),
    (lambda: mg.gather(A, 1, np.array([[5]])), ["gather", "5", "axis 1"]),
    (lambda: A.sum(axis=-3), ["sum", "axis -3"]),
    (lambda: mg.softmax(A, axis=2), ["softmax", "axis 2"]),
    (lambda: mg.broadcast_to(A, (3, 5)), ["broadcast_to", "(3, 5)"]),
    (lambda: mg.functional.layer_norm(A, (3,)), ["layer_norm", "(3,)", "(3, 4)"]),
    (lambda: mg.nn.Linear(5, 2)(A), ["Linear", "5", "4"]),
    (lambda: mg.topk(A, 5), ["topk", "k=5"]),
])
def test_mismatched_shapes_name_the_op_and_both_shapes(call, words):
    with pytest.raises((ValueError, IndexError)) as caught:
        call()
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


@pytest.mark.parametrize("name,argument", [
    ("leaky_relu", "negative_slope"), ("elu", "alpha"), ("celu", "alpha"),
    ("softplus", "beta"), ("hardtanh", "min_val"),
])
@pytest.mark.parametrize("value", ["x", None, True])
def test_activation_parameters_must_be_numbers(name, argument, value):
    """A string, None or a bool as an activation's parameter named (was numpy's "could not
    convert string to float" or a comparison's TypeError, neither naming the op)."""
    with pytest.raises(TypeError, match=f"{name}: {argument} must be a real number"):
        getattr(mg, name)(A, value)


def test_activation_parameters_take_numpy_numbers():
    x = mg.tensor(np.array([-1.0, 2.0]))
    np.testing.assert_allclose(mg.leaky_relu(x, np.float32(0.5)).data, [-0.5, 2.0])
    np.testing.assert_allclose(mg.hardtanh(x, np.int64(-1), 1).data, [-1.0, 1.0])


def test_softplus_refuses_a_nan_beta():
    with pytest.raises(ValueError, match="softplus: beta must be a non-zero number .*, got nan"):
        mg.softplus(A, float("nan"))


@pytest.mark.parametrize("call,name", [
    (lambda: mg.zeros(-1), "zeros"), (lambda: mg.ones(2, -3), "ones"),
    (lambda: mg.randn(-1), "randn"), (lambda: mg.rand(4, -1), "rand"),
    (lambda: mg.empty(-2), "empty"), (lambda: mg.full((2, -1), 1.0), "full"),
    (lambda: mg.eye(-1), "eye"), (lambda: mg.eye(2, -2), "eye"),
])
def test_negative_sizes_name_the_creation_function(call, name):
    """numpy's "negative dimensions are not allowed" named no function."""
    with pytest.raises(ValueError, match=f"{name}: shape must be non-negative integers"):
        call()


def test_a_float_size_names_the_creation_function():
    with pytest.raises(TypeError, match="zeros: shape must be integers"):
        mg.zeros(2.5)


def test_creation_takes_numpy_integers_and_one_sequence():
    assert mg.zeros(np.int64(2), 3).shape == (2, 3)
    assert mg.ones((np.int32(2),)).shape == (2,)
    assert mg.randn([2, 1], rng=0).shape == (2, 1)
    assert mg.zeros().shape == ()


@pytest.mark.parametrize("values", [[1.5, 0.5], [-0.25, 0.5], [0.5, np.inf]])
def test_binary_cross_entropy_refuses_probabilities_outside_0_1(values):
    """torch refuses them; minigrad returned a finite loss (p = 1.5 with target 0 gave 100,
    log(1 - p) clamped)."""
    p = mg.tensor(np.array(values), requires_grad=True)
    with pytest.raises(ValueError, match=r"probabilities must be in \[0, 1\]"):
        mg.binary_cross_entropy(p, np.array([0.0, 1.0]))


def test_binary_cross_entropy_lets_nan_through_and_takes_the_ends():
    p = mg.tensor(np.array([np.nan, 0.0, 1.0]))
    loss = mg.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]), reduction="none")
    assert np.isnan(loss.data[0]) and loss.data[1] == 0 and loss.data[2] == 0


def test_binary_cross_entropy_is_checked_on_every_compiled_call():
    @mg.compile
    def step(x, scale):
        loss = mg.binary_cross_entropy(mg.sigmoid(x) * scale, np.full(2, 0.5))
        loss.backward()
        return loss

    x = mg.tensor(np.array([0.2, 0.5]), requires_grad=True)
    step(x, mg.tensor(np.ones(2)))
    step(x, mg.tensor(np.array([1.0, 0.5])))
    with pytest.raises(ValueError, match="binary_cross_entropy: probabilities"):
        step(x, mg.tensor(np.array([3.0, 1.0])))


T = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)


@pytest.mark.parametrize("call,message", [
    (lambda: mg.repeat(T, 1.5), "repeat: repeats must be integers, got 1.5"),
    (lambda: mg.repeat(T, np.array([1.0, 2.0, 0.5]), axis=1), "repeat: repeats must be integers"),
    (lambda: mg.tile(T, (1.5,)), "tile: reps must be an integer, got 1.5"),
    (lambda: mg.roll(T, 1.5, 0), "roll: shift must be an integer, got 1.5"),
    (lambda: mg.tril(T, 0.5), "tril: k must be an integer, got 0.5"),
    (lambda: mg.triu(T, "1"), "triu: k must be an integer, got '1'"),
    (lambda: T.sum(axis=0.5), "sum: axis must be an integer, got 0.5"),
    (lambda: mg.mean(T, axis=(0, 1.0)), "mean: axis must be an integer, got 1.0"),
    (lambda: mg.set_num_threads("2"), "set_num_threads: n must be an integer, got '2'"),
    (lambda: mg.linspace(0, 1, 2.5), "linspace: num must be an integer, got 2.5"),
    (lambda: mg.clip(T, mg.tensor(np.zeros(3)), 1.0), "clip: lo must be a number"),
    (lambda: mg.clip(T, 0.0, np.ones(3)), "clip: hi must be a number"),
])
def test_non_integer_arguments_are_refused_not_truncated(call, message):
    """A float where a count or an index belongs was truncated (repeat(x, 1.5) repeated once,
    tril(x, 0.5)), or failed inside numpy ("'float' object is not iterable"); a Tensor bound
    of clip made an object-dtype tensor."""
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_integer_arguments_take_numpy_integers():
    assert mg.repeat(T, np.array([1, 2, 0]), axis=1).shape == (2, 3)
    assert mg.tile(T, (2, np.int64(1))).shape == (4, 3)
    assert mg.roll(T, (1, -1), (0, 1)).shape == (2, 3)
    assert mg.tril(T, np.int64(1)).shape == (2, 3)
    assert T.sum(axis=np.int64(1)).shape == (2,)
    assert mg.linspace(0, 1, np.int64(3)).shape == (3,)
    np.testing.assert_array_equal(mg.clip(T, np.float64(1), np.array(3.0)).data,
                                  [[1, 1, 2], [3, 3, 3]])
    assert mg.randint(0, 5, (np.int64(2),), rng=0).shape == (2,)
    with pytest.raises(ValueError, match="randint: shape must be non-negative"):
        mg.randint(0, 5, (-1,))


def test_a_ragged_list_names_tensor():
    with pytest.raises(ValueError, match="tensor: data is not a rectangular array"):
        mg.tensor([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("bad", [[1, -1], [1, 5]], ids=["negative", "past_the_end"])
def test_embedding_indices_are_checked_on_every_compiled_call(bad):
    """Eager refused an index outside the table; a compiled program let numpy's indexing wrap
    a negative one to the last row (and named no argument past the end)."""
    emb = mg.nn.Embedding(5, 2, rng=0)

    @mg.compile
    def step(indices):
        loss = emb(indices).sum()
        loss.backward()
        return loss

    step(mg.tensor(np.array([0, 4])))
    step(mg.tensor(np.array([1, 2])))
    with pytest.raises(ValueError, match=r"Embedding: indices must be in \[0, 5\)"):
        step(mg.tensor(np.array(bad)))
    with pytest.raises(ValueError, match=r"Embedding: indices must be in \[0, 5\)"):
        emb(np.array(bad))


@pytest.mark.parametrize("sizes", [(-1, 3), (3, 0), (2.5, 3), (True, 3)])
def test_embedding_sizes_are_checked(sizes):
    with pytest.raises(ValueError, match="Embedding: (num_embeddings|embedding_dim) must be"):
        mg.nn.Embedding(*sizes)
