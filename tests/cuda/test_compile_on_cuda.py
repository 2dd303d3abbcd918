"""mg.compile on CUDA arrays (a GPU or the simulator): a training step with Adam and clipping,
compiled, equals the same step eager, and a host read inside is the same named error."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim

pytestmark = pytest.mark.cuda


def _build(device):
    rng = np.random.default_rng(0)
    hidden = nn.Linear(3, 5, rng=rng, dtype=np.float64).to(device)
    out = nn.Linear(5, 2, rng=rng, dtype=np.float64).to(device)
    params = hidden.parameters() + out.parameters()
    opt = optim.Adam(params, lr=0.05)

    def step(x, y):
        loss = mg.mse_loss(out(hidden(x).tanh()), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(params, 0.1)
        opt.step()
        return loss

    return step, params


def _assert_compiled_equals_eager(eager, eager_params, compiled, params, data):
    """Each call of the compiled step on CUDA arrays gives eager's loss and parameters."""
    for x, y in data:
        want = eager(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda")).item()
        got = compiled(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda"))
        assert got.device == "cuda"
        assert abs(got.item() - want) <= 1e-10
        for a, b in zip(eager_params, params):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
    assert compiled.cache_info().traces == 1


def test_compiled_step_on_cuda_equals_eager():
    eager, eager_params = _build("cuda")
    step, params = _build("cuda")
    rng = np.random.default_rng(1)
    data = [(rng.standard_normal((4, 3)), rng.standard_normal((4, 2))) for _ in range(3)]
    _assert_compiled_equals_eager(eager, eager_params, mg.compile(step), params, data)


def test_host_read_on_cuda_is_named():
    def f(x):
        return x * float(x.sum().item())

    with pytest.raises(mg.CompileError, match=r"\.item\(\)"):
        mg.compile(f)(mg.tensor(np.ones(3), device="cuda"))


def _plain_lstm_step(device, fuse_flag=True):
    """A user's LSTM as a Python loop over time (no Cell), a readout, MSE, Adam, in float64."""
    rng = np.random.default_rng(2)
    T, B, I, H = 3, 2, 2, 3
    params = [mg.tensor(rng.standard_normal(s) * 0.5, requires_grad=True, device=device)
              for s in ((I, 4 * H), (H, 4 * H), (4 * H,), (H, 1))]
    w_ih, w_hh, b, w_out = params
    h0 = mg.tensor(np.zeros((B, H)), device=device)
    opt = optim.Adam(params, lr=0.05)

    def step(x, y):
        h = c = h0
        for x_t in x:
            gates = x_t @ w_ih + h @ w_hh + b
            i, f, g, o = gates.split(4, axis=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
        loss = mg.mse_loss(h @ w_out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    data = [(rng.standard_normal((T, B, I)), rng.standard_normal((B, 1))) for _ in range(3)]
    return step, params, data


def test_plain_loop_lstm_with_adam_compiled_on_cuda_fuses_and_equals_eager():
    """The fused elementwise runs of a CUDA program are generated numba.cuda kernels
    (compiler/whole_cuda.py); the compiled step equals eager in float64, call after call."""
    eager, eager_params, data = _plain_lstm_step("cuda")
    step, params, _ = _plain_lstm_step("cuda")
    compiled = mg.compile(step)
    _assert_compiled_equals_eager(eager, eager_params, compiled, params, data)
    program = compiled.programs()[0]
    assert "fused" in program.source and "cuda.sigmoid" not in program.source
    # the gates are read from the (B, 4H) pre-activations in place, their gradients written
    # into the (B, 4H) buffer by the backward's run (whole_cuda.py, as the CPU's _rowwise)
    assert "# cuda.split\n" not in program.source and "# cuda.concat\n" not in program.source
    kernels = [v for v in program.function.__globals__.values()
               if getattr(v, "__name__", "") == "fused"]
    assert kernels and all(k.__module__.startswith("minigrad_cudafused_") for k in kernels)
    unfused = mg.compile(_plain_lstm_step("cuda")[0], fuse=False)
    x, y = data[0]
    unfused(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda"))
    assert program.n_calls < unfused.programs()[0].n_calls * 0.8


def _fused_lstm_step(device):
    """lstm's LSTM layer on its fused path (the cell compiler's kernels: run_cuda on CUDA
    arrays), a readout, MSE, clipping and Adam, in float64."""
    from lstm import LSTM

    model = LSTM(2, 3, num_layers=2, forget_bias=1.0, rng=0, dtype=np.float64).to(device)
    readout = nn.Linear(3, 1, rng=1, dtype=np.float64).to(device)
    params = model.parameters() + readout.parameters()
    opt = optim.Adam(params, lr=0.05)

    def step(x, y):
        out, _ = model(x)
        loss = mg.mse_loss(readout(out[-1]), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(params, 0.5)
        opt.step()
        return loss

    return step, params


def test_fused_recurrence_inside_a_compiled_step_on_cuda_equals_eager():
    """The cell compiler's fused recurrence is one call of the program (run_cuda.forward and
    .backward recorded), not a barrier: the compiled step equals eager to 1e-10, call after
    call."""
    eager, eager_params = _fused_lstm_step("cuda")
    step, params = _fused_lstm_step("cuda")
    rng = np.random.default_rng(3)
    data = [(rng.standard_normal((4, 2, 2)), rng.standard_normal((2, 1))) for _ in range(3)]
    compiled = mg.compile(step)
    _assert_compiled_equals_eager(eager, eager_params, compiled, params, data)
    source = compiled.programs()[0].source
    assert "# run_cuda.forward" in source and "# run_cuda.backward" in source
