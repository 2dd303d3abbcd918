"""Optimizer and clipping arguments a user gets wrong are refused naming the argument (a NaN
learning rate used to fill the weights with NaN silently), and a non-finite gradient norm clips
as torch's clip_grad_norm_ does, eagerly and compiled alike (every gradient times NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim

torch = pytest.importorskip("torch")


def _params():
    return [mg.tensor(np.ones(3), requires_grad=True)]


@pytest.mark.parametrize("cls, name", [(optim.SGD, "lr"), (optim.Adam, "lr"), (optim.RMSprop, "lr"),
                                       (optim.SGD, "momentum"), (optim.SGD, "dampening"),
                                       (optim.SGD, "weight_decay"), (optim.Adam, "eps"),
                                       (optim.RMSprop, "alpha"), (optim.RMSprop, "eps")])
def test_a_nan_hyperparameter_is_refused_by_name(cls, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a number, got nan"):
        cls(_params(), **{name: math.nan})


@pytest.mark.parametrize("value", ["0.1", None, True, [0.1]])
def test_a_learning_rate_that_is_not_a_number_is_refused_by_name(value):
    with pytest.raises(TypeError, match=r"^lr must be a real number, got "):
        optim.Adam(_params(), lr=value)


def test_numpy_numbers_are_numbers():
    opt = optim.SGD(_params(), lr=np.float32(0.5), momentum=np.int64(0))
    assert opt.lr == 0.5


@pytest.mark.parametrize("betas", [0.9, (0.9,), (0.9, 0.99, 0.5), (math.nan, 0.9)])
def test_adam_betas_must_be_a_pair_of_numbers(betas):
    with pytest.raises(ValueError, match=r"^betas"):
        optim.Adam(_params(), betas=betas)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_norm": math.nan}, ValueError, r"^max_norm must be a number, got nan"),
    ({"max_norm": 1.0, "norm_type": 0}, ValueError, r"^norm_type must be non-zero"),
    ({"max_norm": 1.0, "norm_type": math.nan}, ValueError, r"^norm_type must be a number"),
    ({"max_norm": 1.0, "norm_type": "fro"}, TypeError, r"^norm_type must be a real number"),
])
def test_clip_grad_norm_arguments(kwargs, error, message):
    params = _params()
    params[0].grad = np.array([1.0, 2.0, 2.0])
    with pytest.raises(error, match=message):
        optim.clip_grad_norm_(params, **kwargs)


def test_a_nan_clip_value_is_refused():
    with pytest.raises(ValueError, match=r"^clip_value must be a number, got nan"):
        optim.clip_grad_value_(_params(), math.nan)


def _step_with_clip(opt_name, norm_type, compiled, upstream):
    p = mg.tensor(np.ones(3), requires_grad=True)
    q = mg.tensor(np.ones(2), requires_grad=True)
    opt = getattr(optim, opt_name)([p, q], lr=0.1)

    def step(g):
        opt.zero_grad()
        ((p * g).sum() + (q * 3.0).sum()).backward()
        optim.clip_grad_norm_([p, q], 1.0, norm_type=norm_type)
        opt.step()

    run = mg.compile(step) if compiled else step
    for _ in range(3):
        with np.errstate(invalid="ignore"):
            run(mg.tensor(np.array(upstream)))
    return [p.data, q.data, p.grad, q.grad]


def _torch_step_with_clip(opt_name, norm_type, upstream):
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    q = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, opt_name)([p, q], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((p * torch.tensor(upstream)).sum() + (q * 3.0).sum()).backward()
        torch.nn.utils.clip_grad_norm_([p, q], 1.0, norm_type=norm_type)
        opt.step()
    return [p.detach().numpy(), q.detach().numpy(), p.grad.numpy(), q.grad.numpy()]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "RMSprop"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_a_nan_gradient_norm_clips_as_torch_eager_and_compiled(opt_name, norm_type):
    upstream = [math.nan, 1.0, 2.0]
    want = _torch_step_with_clip(opt_name, norm_type, upstream)
    assert np.isnan(want[1]).all()  # torch: the NaN norm reaches every parameter
    for compiled in (False, True):
        got = _step_with_clip(opt_name, norm_type, compiled, upstream)
        for k, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True,
                                       err_msg=f"compiled={compiled}, array {k}")


def test_a_finite_norm_still_clips_as_torch():
    upstream = [3.0, -4.0, 12.0]
    want = _torch_step_with_clip("Adam", 2.0, upstream)
    for compiled in (False, True):
        got = _step_with_clip("Adam", 2.0, compiled, upstream)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
