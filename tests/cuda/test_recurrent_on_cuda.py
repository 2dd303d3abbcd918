"""The fused recurrent sequences on CUDA equal the CPU ones, forward and backward (all outputs,
all inputs' gradients, the per-step gradient norms), with and without lengths, in both directions;
the time loop keeps everything on the device."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get
from minigrad.ops import recurrent

pytestmark = pytest.mark.cuda
T, B, I, H = 7, 3, 4, 8
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def make_inputs(model, seed, bias=True):
    rng = np.random.default_rng(seed)
    G = GATES[model] * H
    arrays = {"x": rng.standard_normal((T, B, I)), "h0": rng.standard_normal((B, H)) * 0.5}
    if model == "lstm":
        arrays["c0"] = rng.standard_normal((B, H)) * 0.5
    arrays["weight_ih"] = rng.standard_normal((G, I)) * 0.4
    arrays["weight_hh"] = rng.standard_normal((G, H)) * 0.3
    if bias:
        arrays["bias_ih"] = rng.standard_normal(G) * 0.1
        arrays["bias_hh"] = rng.standard_normal(G) * 0.1
    return {k: v.astype(np.float32) for k, v in arrays.items()}


def run(model, arrays, device, lengths, reverse, upstream_seed=5):
    tensors = {k: mg.tensor(v, requires_grad=True, device=device) for k, v in arrays.items()}
    norms = {}
    kwargs = dict(lengths=lengths, reverse=reverse, grad_norms=norms)
    if model == "lstm":
        outs = recurrent.lstm_sequence(**tensors, **kwargs)
    elif model == "gru":
        outs = recurrent.gru_sequence(**tensors, **kwargs)
    else:
        outs = recurrent.rnn_sequence(**tensors, nonlinearity=model[4:], **kwargs)
    rng = np.random.default_rng(upstream_seed)
    loss = None
    for out in outs:
        u = mg.tensor(rng.standard_normal(out.shape).astype(np.float32), device=device)
        term = (out * u).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    be = get(device)
    grads = {k: be.to_host(t.grad) for k, t in tensors.items()}
    return [o.numpy() for o in outs], grads, norms


@pytest.mark.parametrize("model", sorted(GATES))
@pytest.mark.parametrize("lengths, reverse", [(None, False), ([7, 3, 5], False),
                                              ([2, 7, 4], True)])
def test_fused_sequence_on_cuda_equals_cpu(model, lengths, reverse):
    arrays = make_inputs(model, seed=len(model) + (lengths is None))
    outs_cpu, grads_cpu, norms_cpu = run(model, arrays, "cpu", lengths, reverse)
    outs_cuda, grads_cuda, norms_cuda = run(model, arrays, "cuda", lengths, reverse)
    for k, (a, b) in enumerate(zip(outs_cuda, outs_cpu)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"output {k}")
    if lengths is not None:
        assert not outs_cuda[0][6, 1 if reverse else 1].any() or lengths[1] == 7
    for name in grads_cpu:
        np.testing.assert_allclose(grads_cuda[name], grads_cpu[name], rtol=1e-4, atol=1e-5,
                                   err_msg=f"gradient of {name}")
    assert sorted(norms_cuda) == sorted(norms_cpu)
    for name in norms_cpu:
        assert norms_cuda[name].dtype == np.float64 and norms_cuda[name].shape == (T, B)
        np.testing.assert_allclose(norms_cuda[name], norms_cpu[name], rtol=1e-4, atol=1e-6)


def test_fused_sequence_without_biases_and_only_h_n_used():
    arrays = make_inputs("gru", seed=3, bias=False)
    results = []
    for device in ("cpu", "cuda"):
        ts = {k: mg.tensor(v, requires_grad=True, device=device) for k, v in arrays.items()}
        _, h_n = recurrent.gru_sequence(**ts)
        h_n.sum().backward()
        results.append({k: get(device).to_host(t.grad) for k, t in ts.items()})
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_gradcheck_lstm_sequence_float64_on_cuda():
    """float64 kernels (libm tanh) against central differences; tiny, the simulator is slow."""
    rng = np.random.default_rng(0)
    t, b, i, h = 3, 2, 1, 2
    arrays = [rng.standard_normal(s) * 0.5 for s in
              [(t, b, i), (b, h), (b, h), (4 * h, i), (4 * h, h)]]

    def fn(*xs):
        xs = [x.to("cuda") for x in xs]
        out, h_n, c_n = recurrent.lstm_sequence(*xs, lengths=[3, 2])
        return mg.concat([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)]).to("cpu")

    assert mg.gradcheck(fn, arrays)


def test_the_time_loop_makes_no_host_copies(monkeypatch):
    cuda = get("cuda")
    arrays = make_inputs("lstm", seed=1)
    tensors = [mg.tensor(v, requires_grad=True, device="cuda") for v in arrays.values()]
    copies = []
    monkeypatch.setattr(cuda.ndarray, "copy_to_host", lambda *a, **k: copies.append("to_host"))
    from numba import cuda as numba_cuda

    monkeypatch.setattr(numba_cuda, "to_device", lambda *a, **k: copies.append("to_device"))
    out, h_n, c_n = recurrent.lstm_sequence(*tensors)
    (out.sum() + h_n.sum() + c_n.sum()).backward()
    assert copies == []
    assert all(cuda.is_device_array(t.grad) for t in tensors)
