"""Session 12's optimizer options on the CUDA backend (a GPU, or Numba's simulator): maximize,
Adam's amsgrad, AdamW's decoupled decay and clip_grad_norm_ at norm_type -inf give the CPU's
weights and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.backends import get

pytestmark = pytest.mark.cuda
SHAPES = [(3, 4), (), (5,)]
OPTIONS = [("SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
           ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
           ("AdamW", dict(lr=0.05, weight_decay=0.2, maximize=True)),
           ("RMSprop", dict(lr=0.01, maximize=True, centered=True)),
           ("Adagrad", dict(lr=0.05, weight_decay=0.1, initial_accumulator_value=0.2))]


def _train(device, name, kwargs, dtype, norm_type):
    rng = np.random.default_rng(5)
    params = [mg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True, device=device)
              for s in SHAPES]
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(3):
        for p in params:
            p.grad = get(device).from_host(rng.standard_normal(p.shape).astype(dtype))
        optim.clip_grad_norm_(params, 0.8, norm_type)
        opt.step()
    return [p.numpy() for p in params] + [get(device).to_host(p.grad) for p in params]


@pytest.mark.parametrize("norm_type", [-math.inf, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", OPTIONS, ids=str)
def test_options_on_cuda_equal_the_cpu(name, kwargs, dtype, norm_type):
    on_cpu = _train("cpu", name, kwargs, dtype, norm_type)
    on_cuda = _train("cuda", name, kwargs, dtype, norm_type)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    for a, b in zip(on_cuda, on_cpu):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
