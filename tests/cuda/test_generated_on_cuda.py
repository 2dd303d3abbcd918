"""The CUDA kernels the cell compiler generates equal its CPU kernels for every cell it fuses (the
built-ins and the variants): outputs, final states, the gradients of x, of every initial state
and of every parameter, and the per-step gradient norms, with packed lengths in both directions,
float64 to 1e-10 and float32 to rounding. Small sizes: the simulator runs each thread in Python."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import (
    LSTM,
    CIFGCell,
    GRUCell,
    GRUChoCell,
    IndRNNCell,
    JANETCell,
    LSTMCell,
    MGUCell,
    PeepholeLSTMCell,
    ProjLSTMCell,
    RNNCell,
)
from lstm.fused import compiled_step
from minigrad.backends import get

pytestmark = pytest.mark.cuda
T, B, I, H = 4, 3, 3, 4
LENGTHS = [4, 2, 3]
CELLS = {"lstm": (LSTMCell, {}), "gru": (GRUCell, {}), "rnn-tanh": (RNNCell, {}),
         "rnn-relu": (RNNCell, {"nonlinearity": "relu"}), "lstm-peephole": (PeepholeLSTMCell, {}),
         "lstm-proj": (ProjLSTMCell, {"proj_size": 3}), "cifg": (CIFGCell, {}),
         "janet": (JANETCell, {"chrono_t_max": 8}), "indrnn": (IndRNNCell, {}),
         "mgu": (MGUCell, {}), "gru-cho": (GRUChoCell, {})}


def _arrays(cell, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.standard_normal((T, B, I))}
    for k, name in enumerate(cell.states):
        arrays[f"state{k}"] = 0.5 * rng.standard_normal((B, cell.state_size(name)))
    # perturbed so that no parameter is a special value (zero peepholes, unit gains)
    params = {name: p.numpy() + 0.2 * rng.standard_normal(p.shape)
              for name, p in cell._parameters.items() if p is not None}
    cast = {k: v.astype(dtype) for k, v in arrays.items()}
    return cast, {k: v.astype(dtype) for k, v in params.items()}


def _run(cell, arrays, params, device, lengths, reverse):
    """Forward and backward of the compiled step on `device`: every result on the host."""
    dtype = arrays["x"].dtype
    step = compiled_step(cell, dtype)
    tensors = {k: mg.tensor(v, requires_grad=True, device=device) for k, v in arrays.items()}
    weights = {k: mg.tensor(v, requires_grad=True, device=device) for k, v in params.items()}
    states = [tensors[f"state{k}"] for k in range(len(cell.states))]
    norms = {}
    out, finals = step(tensors["x"], states, weights, lengths=lengths, reverse=reverse,
                       grad_norms=norms, state_names=cell.states)
    rng = np.random.default_rng(11)
    loss = None
    for value in (out, *finals):
        weight = mg.tensor(rng.standard_normal(value.shape).astype(dtype), device=device)
        term = (value * weight).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    be = get(device)
    results = {"out": out.numpy(), **{f"final {n}": f.numpy() for n, f in zip(cell.states,
                                                                                finals)}}
    results.update({f"d{k}": be.to_host(t.grad) for k, t in {**tensors, **weights}.items()})
    results.update({f"norms {k}": v for k, v in norms.items()})
    return results


def _compare(model, dtype, lengths, reverse):
    cls, options = CELLS[model]
    cell = cls(I, H, dtype=dtype, rng=np.random.default_rng(1), **options)
    arrays, params = _arrays(cell, dtype, seed=len(model))
    cpu = _run(cell, arrays, params, "cpu", lengths, reverse)
    cuda = _run(cell, arrays, params, "cuda", lengths, reverse)
    assert sorted(cpu) == sorted(cuda)
    assert len(cpu) == 2 + 3 * len(cell.states) + len(params)  # out, x, finals, states, norms
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for key in cpu:
        assert cuda[key].dtype == cpu[key].dtype, key
        np.testing.assert_allclose(cuda[key], cpu[key], rtol=tol, atol=tol, err_msg=key)
    if lengths is not None:  # padded steps output 0 on both
        assert not np.any(cuda["out"][LENGTHS[1]:, 1])


@pytest.mark.parametrize("model", sorted(CELLS))
@pytest.mark.parametrize("lengths, reverse", [(LENGTHS, False), (LENGTHS, True)])
def test_generated_cuda_equals_cpu_float64(model, lengths, reverse):
    _compare(model, np.float64, lengths, reverse)


@pytest.mark.parametrize("model", sorted(CELLS))
def test_generated_cuda_equals_cpu_float32(model):
    _compare(model, np.float32, None, True)


def test_lstm_layer_on_cuda_runs_generated_kernels_and_equals_cpu():
    """Two bidirectional layers of the built-in LSTM with lengths, fused, on both devices."""
    layer = LSTM(I, H, num_layers=2, bidirectional=True, dtype=np.float64,
                 rng=np.random.default_rng(2))
    x = np.random.default_rng(3).standard_normal((T, B, I))
    results = {}
    for device in ("cpu", "cuda"):
        layer.to(device)
        xt = mg.tensor(x, requires_grad=True, device=device)
        out, (h_n, c_n) = layer(xt, lengths=LENGTHS)
        (out.sum() + (h_n * h_n).sum() + c_n.sum()).backward()
        be = get(device)
        results[device] = [out.numpy(), h_n.numpy(), c_n.numpy(), be.to_host(xt.grad)] + [
            be.to_host(p.grad) for p in layer.parameters()]
        layer.zero_grad()
    for a, b in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)


def test_fused_gradcheck_on_cuda_two_stage_cell():
    """mg.gradcheck of the generated CUDA kernels of a two-stage cell (the projected LSTM)."""
    cell = ProjLSTMCell(2, 2, proj_size=1, dtype=np.float64, rng=np.random.default_rng(4))
    step = compiled_step(cell, np.float64)
    names = list(step.param_names)
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((3, 2, 2)), 0.5 * rng.standard_normal((2, 1)),
              0.5 * rng.standard_normal((2, 2))]
    arrays += [cell._parameters[n].numpy() + 0.2 * rng.standard_normal(cell._parameters[n].shape)
               for n in names]

    def fn(x, h, c, *params):
        on = [t.to("cuda") for t in (x, h, c, *params)]
        out, (h_n, c_n) = step(on[0], on[1:3], dict(zip(names, on[3:])), lengths=[3, 2],
                               reverse=True)
        return mg.concat([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)]).to("cpu")

    assert mg.gradcheck(fn, arrays)


@pytest.mark.parametrize("model", ["lstm", "gru-cho"])
def test_recurrent_dropout_fused_on_cuda_equals_cpu(model):
    """Variational recurrent dropout, fused: the same masks from the same seed on both devices."""
    from lstm import Recurrent

    cls, options = CELLS[model]
    x = np.random.default_rng(6).standard_normal((T, B, I))
    results = []
    for device in ("cpu", "cuda"):
        layer = Recurrent(cls, I, H, recurrent_dropout=0.4, impl="fused", dtype=np.float64,
                          rng=np.random.default_rng(7), **options).to(device)
        xt = mg.tensor(x, requires_grad=True, device=device)
        out, _ = layer(xt, lengths=LENGTHS)
        (out * out).sum().backward()
        be = get(device)
        results.append([out.numpy(), be.to_host(xt.grad)] +
                       [be.to_host(p.grad) for p in layer.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)
