"""Fused recurrent primitives: gradcheck, a step-by-step reference built from minigrad ops, torch's
packed (bidirectional) layers, gradient norms, retain_graph and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops.recurrent import gru_sequence, lstm_sequence, rnn_sequence

# (model, nonlinearity): the RNN runs with both activations
MODELS = [("lstm", None), ("gru", None), ("rnn", "tanh"), ("rnn", "relu")]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
NAMES = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def make_arrays(model, T, B, I, H, rng, dtype=np.float64, bias=True):
    """x, h0, c0 (None but for the LSTM), weights and biases (None if not bias) as arrays."""
    G = GATES[model] * H
    scale = 1.0 / np.sqrt(H)
    arrays = {
        "x": rng.standard_normal((T, B, I)),
        "h0": 0.5 * rng.standard_normal((B, H)),
        "c0": 0.5 * rng.standard_normal((B, H)) if model == "lstm" else None,
        "weight_ih": rng.uniform(-scale, scale, (G, I)) * 2,
        "weight_hh": rng.uniform(-scale, scale, (G, H)) * 2,
        "bias_ih": rng.uniform(-scale, scale, G) if bias else None,
        "bias_hh": rng.uniform(-scale, scale, G) if bias else None,
    }
    return {k: None if v is None else v.astype(dtype) for k, v in arrays.items()}


def fused(model, nonlinearity, t, lengths=None, reverse=False, grad_norms=None):
    """Run the fused primitive on a dict of Tensors; returns (out, h_n, c_n or None)."""
    common = dict(bias_ih=t["bias_ih"], bias_hh=t["bias_hh"], lengths=lengths, reverse=reverse,
                  grad_norms=grad_norms)
    if model == "lstm":
        return lstm_sequence(t["x"], t["h0"], t["c0"], t["weight_ih"], t["weight_hh"], **common)
    if model == "gru":
        return (*gru_sequence(t["x"], t["h0"], t["weight_ih"], t["weight_hh"], **common), None)
    return (*rnn_sequence(t["x"], t["h0"], t["weight_ih"], t["weight_hh"],
                          nonlinearity=nonlinearity, **common), None)


def reference(model, nonlinearity, t, lengths=None, reverse=False):
    """The same recurrence step by step from minigrad primitives; returns (out, h_n, c_n, states)
    where states[t] = (h_t, c_t) are the per-step state tensors with retain_grad() set."""
    x, h, c = t["x"], t["h0"], t["c0"]
    T, B, _ = x.shape
    H = t["weight_hh"].shape[1]
    dtype = x.dtype
    steps = np.full(B, T) if lengths is None else np.asarray(lengths)
    outs, states = [None] * T, [None] * T
    for step in reversed(range(T)) if reverse else range(T):
        gi = x[step] @ t["weight_ih"].T
        gh = h @ t["weight_hh"].T
        if t["bias_ih"] is not None:
            gi, gh = gi + t["bias_ih"], gh + t["bias_hh"]
        if model == "lstm":
            a = gi + gh
            i, f = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid()
            g, o = a[:, 2 * H:3 * H].tanh(), a[:, 3 * H:].sigmoid()
            c_new = f * c + i * g
        elif model == "gru":
            r = (gi[:, :H] + gh[:, :H]).sigmoid()
            z = (gi[:, H:2 * H] + gh[:, H:2 * H]).sigmoid()
            n = (gi[:, 2 * H:] + r * gh[:, 2 * H:]).tanh()
            h_new = (1 - z) * n + z * h
        else:
            a = gi + gh
            h_new = a.relu() if nonlinearity == "relu" else a.tanh()
        keep = mg.tensor((step < steps)[:, None].astype(dtype))
        if model == "lstm":  # h_t from the state c_t, so dL/dc_t includes the path through h_t
            c = c_new * keep + c * (1 - keep)
            c.retain_grad()
            h_new = o * c.tanh()
        h = h_new * keep + h * (1 - keep)
        h.retain_grad()
        outs[step] = h * keep  # from the state, so dL/dh_t sums out[t]'s and the recurrence's
        states[step] = (h, c)
    return mg.stack(outs, axis=0), h, c, states


def tensors(arrays, requires_grad=True):
    return {k: None if v is None else mg.tensor(v, requires_grad=requires_grad)
            for k, v in arrays.items()}


def weighted_loss(out, h_n, c_n, upstream, use):
    """<out, u0> + <h_n, u1> + <c_n, u2> over the outputs named in use."""
    parts = {"out": out, "h_n": h_n, "c_n": c_n}
    loss = None
    for k, u in zip(parts, upstream):
        if k in use and parts[k] is not None:
            term = (parts[k] * mg.tensor(u.astype(out.dtype))).sum()
            loss = term if loss is None else loss + term
    return loss


def assert_same_gradients(ours, theirs, outputs, ref, upstream, label=""):
    """The backward of the same weighted loss of every output (out, h_n, c_n) through the fused
    outputs (of the tensors `ours`) and the reference's (of `theirs`): every input's gradient
    equal to rtol 1e-10."""
    weighted_loss(*outputs, upstream, ("out", "h_n", "c_n")).backward()
    weighted_loss(*ref[:3], upstream, ("out", "h_n", "c_n")).backward()
    for k, t in ours.items():
        if t is not None:
            np.testing.assert_allclose(t.grad, theirs[k].grad, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{label}gradient of {k}")


CASES = [(lengths, reverse) for lengths in (None, [4, 1, 3]) for reverse in (False, True)]


@pytest.mark.parametrize("lengths,reverse", CASES)
@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_gradcheck(model, nonlinearity, lengths, reverse, rng):
    arrays = make_arrays(model, 4, 3, 2, 3, rng)
    names = [k for k in NAMES if arrays[k] is not None]

    def fn(*inputs):
        out, h_n, c_n = fused(model, nonlinearity, dict(zip(NAMES, _fill(names, inputs))),
                              lengths, reverse)
        parts = [out.reshape(-1), h_n.reshape(-1)] + ([] if c_n is None else [c_n.reshape(-1)])
        return mg.concat(parts, axis=0)

    assert mg.gradcheck(fn, [arrays[k] for k in names], atol=1e-6, rtol=1e-5)


def _fill(names, inputs):
    given = dict(zip(names, inputs))
    return [given.get(k) for k in NAMES]


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("use", [("out", "h_n", "c_n"), ("h_n",), ("out",)])
@pytest.mark.parametrize("lengths,reverse", [(None, False), ([7, 3, 5, 1], True),
                                             ([2, 7, 7, 4], False), (None, True)])
@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_fused_matches_step_by_step_reference(model, nonlinearity, lengths, reverse, use, dtype,
                                              rtol, rng):
    arrays = make_arrays(model, 7, 4, 5, 6, rng, dtype, bias=lengths is None or reverse)
    upstream = [rng.standard_normal(s) for s in [(7, 4, 6), (4, 6), (4, 6)]]
    ours, theirs = tensors(arrays), tensors(arrays)
    norms = {}
    out, h_n, c_n = fused(model, nonlinearity, ours, lengths, reverse, grad_norms=norms)
    ref_out, ref_h, ref_c, states = reference(model, nonlinearity, theirs, lengths, reverse)
    assert out.dtype == dtype and h_n.dtype == dtype
    atol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out.numpy(), ref_out.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(h_n.numpy(), ref_h.numpy(), rtol=rtol, atol=atol)
    if c_n is not None:
        np.testing.assert_allclose(c_n.numpy(), ref_c.numpy(), rtol=rtol, atol=atol)

    weighted_loss(out, h_n, c_n, upstream, use).backward()
    weighted_loss(ref_out, ref_h, ref_c, upstream, use).backward()
    for k, t in ours.items():
        if t is None:
            continue
        assert t.grad is not None and t.grad.dtype == dtype, k
        scale = np.abs(theirs[k].grad).max()
        np.testing.assert_allclose(t.grad, theirs[k].grad, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"gradient of {k}")
    for key, which in (("h", 0), ("c", 1)):
        if key == "c" and model != "lstm":
            assert "c" not in norms
            continue
        expected = np.stack([np.linalg.norm(s[which].grad.astype(np.float64), axis=1)
                             for s in states])
        assert norms[key].dtype == np.float64 and norms[key].shape == (7, 4)
        np.testing.assert_allclose(norms[key], expected, rtol=rtol * 10,
                                   atol=rtol * expected.max(), err_msg=f"norms of dL/d{key}_t")


TORCH_LAYERS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4, 1]])
@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_matches_torch_bidirectional(model, nonlinearity, lengths, dtype, rtol, rng, torch):
    """Our forward and reverse passes equal the two halves of torch's bidirectional layer
    (packed when lengths are given), outputs, final states and every gradient."""
    T, B, I, H = 5, 4, 3, 6
    kwargs = {"nonlinearity": nonlinearity} if model == "rnn" else {}
    layer = getattr(torch.nn, TORCH_LAYERS[model])(I, H, bidirectional=True, **kwargs)
    layer = layer.to(torch.float64 if dtype == np.float64 else torch.float32)
    params = dict(layer.named_parameters())
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((2, B, H))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((2, B, H))).astype(dtype)
    upstream = [rng.standard_normal(s).astype(dtype) for s in [(T, B, 2 * H), (2, B, H), (2, B, H)]]

    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    state = (th0, tc0) if model == "lstm" else th0
    if lengths is None:
        t_out, t_state = layer(tx, state)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths),
                                                         enforce_sorted=False)
        t_out, t_state = layer(packed, state)
        t_out = torch.nn.utils.rnn.pad_packed_sequence(t_out, total_length=T)[0]
    t_h, t_c = t_state if model == "lstm" else (t_state, None)
    t_loss = (t_out * torch.tensor(upstream[0])).sum() + (t_h * torch.tensor(upstream[1])).sum()
    if t_c is not None:
        t_loss = t_loss + (t_c * torch.tensor(upstream[2])).sum()
    t_loss.backward()

    xs = mg.tensor(x, requires_grad=True)
    atol = 1e-12 if dtype == np.float64 else 2e-6
    for d, suffix in enumerate(["", "_reverse"]):
        ours = {k: mg.tensor(params[f"{k}_l0{suffix}"].detach().numpy(), requires_grad=True)
                for k in NAMES[3:]}
        ours.update(x=xs, h0=mg.tensor(h0[d], requires_grad=True),
                    c0=mg.tensor(c0[d], requires_grad=True) if model == "lstm" else None)
        out, h_n, c_n = fused(model, nonlinearity, ours, lengths, reverse=d == 1)
        half = slice(d * H, (d + 1) * H)
        np.testing.assert_allclose(out.numpy(), t_out[:, :, half].detach().numpy(), rtol=rtol,
                                   atol=atol)
        np.testing.assert_allclose(h_n.numpy(), t_h[d].detach().numpy(), rtol=rtol, atol=atol)
        u_out = upstream[0][:, :, half]
        weighted_loss(out, h_n, c_n, [u_out, upstream[1][d], upstream[2][d]],
                      ("out", "h_n", "c_n")).backward()
        for k in NAMES[3:]:
            expected = params[f"{k}_l0{suffix}"].grad.numpy()
            np.testing.assert_allclose(ours[k].grad, expected, rtol=rtol * 10,
                                       atol=atol * 10 * np.abs(expected).max(),
                                       err_msg=f"gradient of {k}{suffix}")
        np.testing.assert_allclose(ours["h0"].grad, th0.grad[d].numpy(), rtol=rtol, atol=atol)
        if c_n is not None:
            np.testing.assert_allclose(c_n.numpy(), t_c[d].detach().numpy(), rtol=rtol,
                                       atol=atol)
            np.testing.assert_allclose(ours["c0"].grad, tc0.grad[d].numpy(), rtol=rtol,
                                       atol=atol)
    np.testing.assert_allclose(xs.grad, tx.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_threads_and_wide_inputs_match_reference(model, nonlinearity, threads, rng, monkeypatch):
    """Batch rows split over threads (uneven parts) and an input wider than the in-loop dx path
    (one dx GEMM after the loop) give the step-by-step reference's values."""
    from minigrad.compiler import cpu_runtime

    monkeypatch.setattr(cpu_runtime, "_threads", threads)
    I = cpu_runtime.FUSED_DX_MAX_INPUT + 3
    arrays = make_arrays(model, 10, 14, I, 6, rng)
    lengths = [10, 1, 3, 5, 2, 4, 10, 5, 1, 2, 3, 9, 5, 3]
    upstream = [rng.standard_normal(s) for s in [(10, 14, 6), (14, 6), (14, 6)]]
    ours, theirs = tensors(arrays), tensors(arrays)
    out, h_n, c_n = fused(model, nonlinearity, ours, lengths, reverse=threads == 3)
    ref = reference(model, nonlinearity, theirs, lengths, reverse=threads == 3)
    np.testing.assert_allclose(out.numpy(), ref[0].numpy(), rtol=1e-10, atol=1e-12)
    assert_same_gradients(ours, theirs, (out, h_n, c_n), ref, upstream)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_data_without_grad_skips_dx(model, nonlinearity, wide, rng, monkeypatch):
    """x that needs no gradient (a task's data): the runner computes no dx (neither the in-loop
    one nor the GEMM over all steps for a wide input: it returns None), x.grad stays None and
    every other gradient equals the step-by-step reference's."""
    from minigrad.compiler import cpu_runtime, run_cpu

    I = cpu_runtime.FUSED_DX_MAX_INPUT + 3 if wide else 2
    arrays = make_arrays(model, 6, 5, I, 4, rng)
    upstream = [rng.standard_normal(s) for s in [(6, 5, 4), (5, 4), (5, 4)]]
    ours, theirs = tensors(arrays), tensors(arrays)
    ours["x"], theirs["x"] = mg.tensor(arrays["x"]), mg.tensor(arrays["x"])
    returned = []
    runner = run_cpu.backward

    def recorded(*args, **kwargs):
        returned.append(runner(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(run_cpu, "backward", recorded)
    outputs = fused(model, nonlinearity, ours, [6, 2, 5, 1, 6], reverse=wide)
    ref = reference(model, nonlinearity, theirs, [6, 2, 5, 1, 6], reverse=wide)
    products = []  # the backward's GEMMs over all steps split by rows: dx's only
    monkeypatch.setattr(cpu_runtime, "split_gemm", lambda *args: products.append(args))
    assert_same_gradients({k: t for k, t in ours.items() if k != "x"}, theirs, outputs, ref,
                          upstream)
    assert len(returned) == 1 and returned[0][0] is None and not products
    assert ours["x"].grad is None


@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_gemm_and_packed_step_gemm_equal_numpy(transpose_a, transpose_b, dtype, rng,
                                                     monkeypatch):
    """The building blocks: a GEMM split by rows over threads, on strided views, accumulating
    (beta = 1); the weight-gradient GEMM summed from per-thread partials; the per-step GEMM on
    column tiles with a zero-padded last tile."""
    from minigrad.backends import cpu_blas
    from minigrad.compiler import cpu_runtime

    monkeypatch.setattr(cpu_runtime, "_threads", 3)
    M, K, N = 300, 7, 5
    a = rng.standard_normal((K, M + 2) if transpose_a else (M, K + 3)).astype(dtype)
    a = a[:, 1:M + 1] if transpose_a else a[:, 2:K + 2]
    b = rng.standard_normal((N, K) if transpose_b else (K, N)).astype(dtype)
    c = rng.standard_normal((M, N)).astype(dtype)
    expected = (a.T if transpose_a else a) @ (b.T if transpose_b else b) + c
    cpu_runtime.split_gemm(a, b, c, transpose_a, transpose_b, 1.0)
    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)

    d = rng.standard_normal((600, 7)).astype(dtype)
    inputs = rng.standard_normal((600, 4)).astype(dtype)
    out = np.empty((7, 4), dtype)
    cpu_runtime.weight_gemm(d, inputs, out)  # rows split into partial products
    np.testing.assert_allclose(out, d.T @ inputs, rtol=1e-4 if dtype == np.float32 else 1e-12)

    rows, inner, columns = 11, 9, 70
    a = rng.standard_normal((rows, inner)).astype(dtype)
    b = rng.standard_normal((inner, columns)).astype(dtype)
    packed = cpu_blas.pack_column_tiles(b, 32)
    assert packed.shape == (3, inner, 32) and not packed[2, :, 6:].any()
    c = np.zeros((rows, columns), dtype)
    cpu_blas.gemm_packed(a, packed, c, 0.0, 4)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_single_step_single_row_and_strided_inputs(model, nonlinearity, rng):
    """T = B = I = H = 1, and inputs that are transposed or sliced views, match the reference."""
    for T, B, I, H in [(1, 1, 1, 1), (3, 2, 4, 5)]:
        arrays = make_arrays(model, T, B, I, H, rng)
        arrays["x"] = np.ascontiguousarray(arrays["x"].transpose(1, 0, 2)).transpose(1, 0, 2)
        arrays["weight_hh"] = np.asfortranarray(arrays["weight_hh"])
        arrays["weight_ih"] = np.asfortranarray(arrays["weight_ih"])
        ours, theirs = tensors(arrays), tensors(arrays)
        out, h_n, c_n = fused(model, nonlinearity, ours, reverse=True)
        ref = reference(model, nonlinearity, theirs, reverse=True)
        np.testing.assert_allclose(out.numpy(), ref[0].numpy(), rtol=1e-12, atol=1e-14)
        upstream = [rng.standard_normal(s) for s in [(T, B, H), (B, H), (B, H)]]
        assert_same_gradients(ours, theirs, (out, h_n, c_n), ref, upstream,
                              f"{(T, B, I, H)}: ")


@pytest.mark.parametrize("missing", ["bias_ih", "bias_hh"])
@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_one_bias_only(model, nonlinearity, missing, rng):
    arrays = make_arrays(model, 4, 3, 2, 5, rng)
    arrays[missing] = None
    ours, theirs = tensors(arrays), tensors(arrays)
    theirs[missing] = mg.tensor(np.zeros_like(arrays["bias_ih" if missing == "bias_hh"
                                                       else "bias_hh"]))
    out, h_n, c_n = fused(model, nonlinearity, ours, lengths=[4, 2, 3])
    ref = reference(model, nonlinearity, theirs, lengths=[4, 2, 3])
    np.testing.assert_allclose(out.numpy(), ref[0].numpy(), rtol=1e-12, atol=1e-14)
    upstream = [rng.standard_normal(s) for s in [(4, 3, 5), (3, 5), (3, 5)]]
    assert_same_gradients(ours, theirs, (out, h_n, c_n), ref, upstream)


@pytest.mark.parametrize("model,nonlinearity", MODELS)
def test_second_backward_with_retain_graph_doubles_gradients(model, nonlinearity, rng):
    t = tensors(make_arrays(model, 6, 2, 3, 4, rng))
    out, h_n, _ = fused(model, nonlinearity, t, lengths=[6, 3])
    loss = (out * out).sum() + h_n.sum()
    loss.backward(retain_graph=True)
    first = {k: v.grad.copy() for k, v in t.items() if v is not None}
    loss.backward()
    for k, g in first.items():
        np.testing.assert_allclose(t[k].grad, 2 * g, rtol=1e-12, err_msg=k)


def test_denormals_flushed_inside_and_restored_after(rng):
    """The loops run with flush-to-zero (vanishing float32 gradients would otherwise hit slow
    denormal arithmetic) and leave the caller's floating-point state as it was."""
    from minigrad.backends.cpu_blas import denormals_off, restore_denormals

    tiny = np.array([1e-30], np.float32)
    previous = denormals_off()
    flushed = (tiny * np.float32(1e-10))[0]
    restore_denormals(previous)
    assert flushed == 0 or not _x86()
    t = tensors(make_arrays("lstm", 50, 2, 2, 3, rng, np.float32))
    out, h_n, _ = fused("lstm", None, t)
    (h_n * 1e-30).sum().backward()  # dL/dh_t decays into the denormal range
    assert np.isfinite(t["x"].grad).all()
    assert (tiny * np.float32(1e-10))[0] > 0  # IEEE gradual underflow is back outside


def _x86():
    import platform

    return platform.machine().lower() in ("x86_64", "amd64")


def test_no_grad_inputs_record_nothing(rng):
    t = tensors(make_arrays("lstm", 3, 2, 2, 3, rng, np.float32), requires_grad=False)
    out, h_n, c_n = fused("lstm", None, t)
    assert not (out.requires_grad or h_n.requires_grad or c_n.requires_grad)
    assert out.dtype == np.float32 and out.shape == (3, 2, 3)


def _bad(model="lstm", **changes):
    arrays = make_arrays(model, 4, 3, 2, 5, np.random.default_rng(0), np.float32)
    t = tensors(arrays)
    kwargs = {"lengths": changes.pop("lengths", None)}
    for k, v in changes.items():
        t[k] = v if v is None or isinstance(v, mg.Tensor) else mg.tensor(v)
    return lambda: fused(model, "tanh", t, **kwargs)


@pytest.mark.parametrize("call,match", [
    (_bad(x=np.zeros((4, 3), np.float32)), r"x must have shape \(T, B, input_size\).*\(4, 3\)"),
    (_bad(x=np.zeros((0, 3, 2), np.float32)), r"x must have shape.*\(0, 3, 2\)"),
    (_bad(x=np.zeros((4, 3, 2), np.int64)), "x must be float32 or float64, got int64"),
    (_bad(weight_ih=np.zeros((20, 3), np.float32)), r"weight_ih must have shape \(20, 2\), got "
                                                    r"shape \(20, 3\)"),
    (_bad(weight_hh=np.zeros((19, 5), np.float32)), r"weight_hh must have shape \(20, 5\)"),
    (_bad("gru", weight_hh=np.zeros((20, 5), np.float32)), r"weight_hh must have shape \(15, 5\)"),
    (_bad(h0=np.zeros((3, 4), np.float32)), r"h0 must have shape \(3, 5\), got shape \(3, 4\)"),
    (_bad(c0=np.zeros((2, 5), np.float32)), r"c0 must have shape \(3, 5\)"),
    (_bad(c0=None), "c0 must be a Tensor, got NoneType"),
    (_bad(bias_hh=np.zeros(19, np.float32)), r"bias_hh must have shape \(20,\)"),
    (_bad(h0=np.zeros((3, 5), np.float64)), "h0 must be float32 on cpu like x, got float64"),
    (_bad(lengths=[4, 0, 2]), r"lengths must lie in 1..4.*lengths\[1\] = 0"),
    (_bad(lengths=[4, 5, 2]), r"lengths must lie in 1..4.*lengths\[1\] = 5"),
    (_bad(lengths=[4, 2]), r"lengths must be integers of shape \(3,\).*shape \(2,\)"),
    (_bad(lengths=[4.0, 2.0, 1.0]), r"lengths must be integers.*float64"),
])
def test_bad_input_raises_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_nonlinearity_and_grad_norms(rng):
    t = tensors(make_arrays("rnn", 3, 2, 2, 3, rng))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        rnn_sequence(t["x"], t["h0"], t["weight_ih"], t["weight_hh"], nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="grad_norms must be None or a dict, got list"):
        rnn_sequence(t["x"], t["h0"], t["weight_ih"], t["weight_hh"], grad_norms=[])


@pytest.mark.parametrize(("env", "expected"), [
    ({"MINIGRAD_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}, "1"),
    ({"NUMBA_NUM_THREADS": "1"}, "1"),
    ({"MINIGRAD_NUM_THREADS": "3"}, "3"),
])
def test_thread_count_follows_the_environment(env, expected):
    """A sweep's worker processes are told their share of the cores through the environment; the
    fused loops must follow it or two workers on two cores run four threads."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items()
             if k not in ("MINIGRAD_NUM_THREADS", "NUMBA_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", "from minigrad.compiler import cpu_runtime as c; "
                               "print(c.get_num_threads())"],
        env={**clean, **env}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_bad_thread_count_in_the_environment_is_named():
    import os
    import subprocess
    import sys

    program = ("import minigrad as mg\n"  # importing is fine; the first use names the variable
               "try:\n    mg.get_num_threads()\nexcept ValueError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", program],
                         env={**os.environ, "MINIGRAD_NUM_THREADS": "two"}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MINIGRAD_NUM_THREADS must be a positive integer, got 'two'"
