"""mg.compile and the Python state a user's function reads or writes: a global constant it
reads is part of the signature (as a closure's is), and an array written to .data or .grad that
the program could not compute again (numpy on a tensor's array, an in-place augmented
assignment) is a CompileError naming the line, never a frozen or lost update."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import minigrad as mg

SCALE = 2.0
WEIGHT = mg.tensor(np.array([1.0, 2.0]))


def _scaled(x):
    return x * SCALE


def _weighted(x):
    return (x * WEIGHT).sum()


def _nested(x):
    return sum((x * k for k in [SCALE]), mg.zeros(2, dtype=np.float64))


@pytest.fixture
def restore_globals():
    yield
    global SCALE, WEIGHT
    SCALE, WEIGHT = 2.0, mg.tensor(np.array([1.0, 2.0]))


def test_a_changed_global_number_traces_again(restore_globals):
    global SCALE
    step = mg.compile(_scaled)
    x = mg.tensor(np.array([1.0, 3.0]))
    assert np.array_equal(step(x).numpy(), [2.0, 6.0])
    assert np.array_equal(step(x).numpy(), [2.0, 6.0])
    SCALE = 3.0
    assert np.array_equal(step(x).numpy(), [3.0, 9.0])  # was the frozen 2.0
    assert np.array_equal(step(x).numpy(), [3.0, 9.0])
    assert step.cache_info()[:3] == (2, 2, 2)
    SCALE = 2.0
    assert np.array_equal(step(x).numpy(), [2.0, 6.0])  # the first program again
    assert step.cache_info()[:3] == (2, 3, 2)


def test_a_global_read_inside_a_generator_is_guarded(restore_globals):
    global SCALE
    step = mg.compile(_nested)
    x = mg.tensor(np.array([1.0, 3.0]))
    step(x), step(x)
    SCALE = 10.0
    assert np.array_equal(step(x).numpy(), [10.0, 30.0])


def _times(x, k):
    return x * k * SCALE


class _Scaler:
    def __call__(self, x):
        return x * SCALE


@pytest.mark.parametrize("make", [lambda: functools.partial(_times, k=3.0), _Scaler],
                         ids=["partial", "callable object"])
def test_the_globals_behind_a_partial_or_a_callable_object_are_guarded(restore_globals, make):
    global SCALE
    step = mg.compile(make())
    x = mg.tensor(np.array([1.0, 3.0]))
    first = step(x).numpy()
    assert np.array_equal(step(x).numpy(), first)
    SCALE = 4.0
    assert np.array_equal(step(x).numpy(), 2 * first)


def test_a_rebound_global_tensor_traces_again(restore_globals):
    global WEIGHT
    step = mg.compile(_weighted)
    x = mg.tensor(np.array([1.0, 1.0]))
    assert step(x).numpy() == 3.0 and step(x).numpy() == 3.0
    WEIGHT = mg.tensor(np.array([5.0, 5.0]))
    assert step(x).numpy() == 10.0


exp = 0  # a global that shares its name with an attribute the function reads (x.exp)


def _exp(x):
    return x.exp() * SCALE


def test_a_global_named_like_an_attribute_is_not_guarded(restore_globals):
    """Only the names the code loads as globals are guarded: x.exp's "exp" is an attribute, so
    a global counter of that name (a training loop's `step` beside opt.step()) changing on
    every call must not trace again."""
    global exp
    step = mg.compile(_exp)
    x = mg.tensor(np.array([0.0, 1.0]))
    for n in range(4):
        exp = n
        assert np.allclose(step(x).numpy(), 2.0 * np.exp([0.0, 1.0]))
    assert step.cache_info().traces == 1


def _grad_from_numpy(p, x):
    p.grad = x.data * 2


def _data_from_numpy(p, x):
    p.data = p.data - x.data


def _data_in_place(p, x):
    p.data -= x.data


def _grad_in_place(p, x):
    (p * x).sum().backward()
    p.grad *= 0.5


@pytest.mark.parametrize(("write", "message"), [
    (_grad_from_numpy, r"an array assigned to \.grad in .*test_compile_user_state\.py.*"
                       r"p\.grad = x\.data \* 2.*computed outside minigrad's ops"),
    (_data_from_numpy, r"an array assigned to \.data .*p\.data = p\.data - x\.data"),
    (_data_in_place, r"an in-place update of \.data .*p\.data -= x\.data.*would be lost"),
    (_grad_in_place, r"an in-place update of \.grad .*p\.grad \*= 0\.5"),
])
def test_a_write_the_program_cannot_replay_is_named(write, message):
    p = mg.tensor(np.ones(2), requires_grad=True)

    @mg.compile
    def step(x):
        write(p, x)
        return x

    with pytest.raises(mg.CompileError, match=message + r".*without mg\.compile"):
        step(mg.tensor(np.ones(2)))
    if write is not _data_in_place:  # numpy's -= ran before the assignment was refused
        assert np.array_equal(p.data, [1.0, 1.0])  # the refused write did not happen


def test_an_update_through_tensor_ops_compiles_and_runs_every_call():
    p = mg.tensor(np.ones(2), requires_grad=True)

    @mg.compile
    def step(x):
        (p * x).sum().backward()
        with mg.no_grad():
            p.data = (p - 0.5 * mg.Tensor(p.grad)).data
        p.grad = None
        return x

    for k in range(4):
        step(mg.tensor(np.array([1.0, 2.0])))
        assert np.allclose(p.data, [1.0 - 0.5 * (k + 1), 1.0 - (k + 1)])
    assert step.cache_info().hits == 3


def _assign_data(p, step):
    p.data = (p - step).data


def _subtract(p, step):
    p -= step


@pytest.mark.parametrize("update", [_assign_data, _subtract])
@pytest.mark.parametrize("make", [mg.tensor, mg.Tensor, lambda a: mg.tensor(a, dtype=np.float32)])
def test_a_tensor_made_of_a_program_array_is_made_again_every_call(make, update):
    """mg.tensor(p.grad) inside a compiled function copied the traced call's gradient into a
    constant (np.array): every later call stepped with the first call's gradient. The copy is
    now a backend op of the program; `p -= ...` under no_grad (a leaf's in-place update)
    replays its version bump too, so a graph recorded before a call refuses its backward."""
    def fresh():
        return mg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)

    def step(p, x):
        loss = (p * p * x).sum()
        loss.backward()
        with mg.no_grad():
            update(p, make(p.grad).astype(p.dtype) * 0.1)
        p.grad = None
        return loss

    eager, traced = fresh(), fresh()
    compiled = mg.compile(lambda x: step(traced, x))
    x = mg.tensor(np.array([1.0, 2.0, 3.0]))
    for _ in range(4):  # equal to float rounding (the fused kernels may round differently)
        np.testing.assert_allclose(float(compiled(x).data), float(step(eager, x).data),
                                   rtol=1e-14)
        np.testing.assert_allclose(traced.data, eager.data, rtol=1e-13, atol=1e-16)
        assert traced.version == eager.version
    if update is _subtract:
        y = (traced * 2.0).sum()
        compiled(x)
        with pytest.raises(RuntimeError, match=r"inplace operation \(-=\)"):
            y.backward()


SETTINGS = {"scale": 2.0, "shifts": [0.0, 1.0]}


def _configured(x):
    return x * SETTINGS["scale"] + SETTINGS["shifts"][1]


def test_a_changed_item_of_a_global_dict_traces_again():
    step = mg.compile(_configured)
    x = mg.tensor(np.array([1.0, 3.0]))
    step(x), step(x)
    try:
        SETTINGS["scale"] = 3.0
        assert np.array_equal(step(x).numpy(), [4.0, 10.0])  # was the frozen 2.0
        SETTINGS["shifts"][1] = -1.0  # a list inside the dict
        assert np.array_equal(step(x).numpy(), [2.0, 8.0])
    finally:
        SETTINGS.update(scale=2.0, shifts=[0.0, 1.0])
    assert step.cache_info()[:3] == (3, 1, 3)


def test_a_changed_item_of_a_closed_over_list_traces_again():
    factors = [2.0]
    step = mg.compile(lambda x: x * factors[0])
    x = mg.tensor(np.array([1.0, 3.0]))
    step(x), step(x)
    factors[0] = 5.0
    assert np.array_equal(step(x).numpy(), [5.0, 15.0])
    factors.append(1.0)  # the list's items changed, factors[0] did not: a trace, same value
    assert np.array_equal(step(x).numpy(), [5.0, 15.0])
    assert step.cache_info()[:3] == (3, 1, 3)


def test_a_numpy_number_argument_is_a_constant_as_a_python_one():
    step = mg.compile(lambda x, a: x * a)
    x = mg.tensor(np.array([1.0, 3.0]))
    assert np.array_equal(step(x, np.float64(2.0)).numpy(), [2.0, 6.0])
    assert np.array_equal(step(x, np.float64(2.0)).numpy(), [2.0, 6.0])
    assert np.array_equal(step(x, np.float64(3.0)).numpy(), [3.0, 9.0])
    assert step(x, np.float32(3.0)).dtype == np.float64
    assert step.cache_info()[:3] == (3, 1, 3)
    with pytest.raises(mg.CompileError, match="numpy ndarray; pass a Tensor"):
        step(x, np.array([1.0, 2.0]))
