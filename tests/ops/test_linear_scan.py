"""mg.linear_scan: against the sequential definition, its VJP (gradcheck), torch, bad input."""

import numpy as np
import pytest

import minigrad as mg


def reference(a, b, h0, axis):
    """The definition, one step at a time: h_t = a_t h_{t-1} + b_t."""
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    h = np.broadcast_to(h0, a.shape[1:]).copy()
    out = []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return np.moveaxis(np.stack(out), 0, axis)


CASES = [((6, 3, 4), 0, (3, 4)), ((3, 6, 4), 1, (3, 4)), ((3, 4, 6), 2, (3, 4)),
         ((3, 4, 6), -1, (4,)), ((5, 2, 70), 0, (1, 70)), ((8,), 0, ()),
         ((2, 3, 5, 4), 2, (1, 3, 1)), ((1, 3), 0, (3,))]


@pytest.mark.parametrize("shape,axis,h0_shape", CASES)
@pytest.mark.parametrize("log_space", [False, True])
def test_matches_the_sequential_definition(shape, axis, h0_shape, log_space):
    rng = np.random.default_rng(1)
    a = rng.uniform(0.1, 1.2, shape)
    b = rng.uniform(0.0, 2.0, shape) if log_space else rng.standard_normal(shape)
    h0 = rng.standard_normal(h0_shape)
    want = reference(a, b, h0, axis)
    args = (np.log(a), np.log(b)) if log_space else (a, b)
    got = mg.linear_scan(mg.tensor(args[0]), mg.tensor(args[1]), mg.tensor(h0), axis=axis,
                         log_space=log_space)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    assert got.shape == shape and got.dtype == np.float64


def test_h0_none_is_zeros_and_float32_stays_float32():
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 1, (50, 4, 33)).astype(np.float32)
    b = rng.standard_normal((50, 4, 33)).astype(np.float32)
    got = mg.linear_scan(mg.tensor(a), mg.tensor(b))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), reference(a, b, np.zeros((4, 33)), 0), rtol=1e-5,
                               atol=1e-5)


def test_log_space_handles_zero_b_and_long_decay():
    """log b = -inf is b = 0; a product of a far below float32's range is no NaN."""
    steps = 3000
    log_a = np.full((steps, 2), -0.05, np.float32)  # prod a = exp(-150): under float32's tiny
    log_b = np.full((steps, 2), -np.inf, np.float32)
    log_b[::7] = 0.0
    h0 = np.array([5.0, -5.0], np.float32)
    got = mg.linear_scan(mg.tensor(log_a), mg.tensor(log_b), mg.tensor(h0),
                         log_space=True).numpy()
    want = reference(np.exp(log_a.astype(np.float64)), np.exp(log_b.astype(np.float64)),
                     h0.astype(np.float64), 0)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("shape,axis,h0_shape", CASES)
def test_gradcheck(shape, axis, h0_shape):
    rng = np.random.default_rng(3)
    a = rng.uniform(0.2, 1.1, shape)
    b = rng.standard_normal(shape)
    h0 = rng.standard_normal(h0_shape)
    assert mg.gradcheck(lambda a, b, h0: mg.linear_scan(a, b, h0, axis=axis), [a, b, h0])
    assert mg.gradcheck(lambda a, b: mg.linear_scan(a, b, axis=axis), [a, b])


@pytest.mark.parametrize("shape,axis,h0_shape", CASES[:4])
def test_gradcheck_log_space(shape, axis, h0_shape):
    rng = np.random.default_rng(4)
    log_a = np.log(rng.uniform(0.2, 1.1, shape))
    log_b = rng.standard_normal(shape)
    h0 = rng.standard_normal(h0_shape)
    assert mg.gradcheck(lambda la, lb, h0: mg.linear_scan(la, lb, h0, axis=axis, log_space=True),
                        [log_a, log_b, h0])


def test_grad_b_is_every_steps_total_dl_dh():
    """d b_t of the scan is the total dL/dh_t (what gradient flow measures)."""
    rng = np.random.default_rng(5)
    a = mg.tensor(rng.uniform(0.5, 1.0, (9, 3)), requires_grad=True)
    b = mg.tensor(rng.standard_normal((9, 3)), requires_grad=True)
    h = mg.linear_scan(a, b)
    h.retain_grad()
    (h * mg.tensor(rng.standard_normal((9, 3)))).sum().backward()
    # dL/dh_t as the definition's chain: the direct term plus what flows back through h_{t+1}
    total = h.grad.copy()
    for t in range(7, -1, -1):
        total[t] += a.numpy()[t + 1] * total[t + 1]
    np.testing.assert_allclose(b.grad, total, rtol=1e-12)


def test_matches_torch_reference_loop():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a, b, h0 = (rng.uniform(0.3, 1.0, (12, 4, 5)), rng.standard_normal((12, 4, 5)),
                rng.standard_normal((4, 5)))
    g = rng.standard_normal((12, 4, 5))
    ta, tb, th = (torch.tensor(v, requires_grad=True) for v in (a, b, h0))
    h, hs = th, []
    for t in range(12):
        h = ta[t] * h + tb[t]
        hs.append(h)
    torch_h = torch.stack(hs)
    (torch_h * torch.tensor(g)).sum().backward()
    ma, mb, mh = (mg.tensor(v, requires_grad=True) for v in (a, b, h0))
    out = mg.linear_scan(ma, mb, mh)
    (out * mg.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.numpy(), torch_h.detach().numpy(), rtol=1e-12)
    for mine, theirs in ((ma, ta), (mb, tb), (mh, th)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_log_space_matches_torch_logcumsumexp_form():
    """Feng et al.'s parallel_scan_log (torch.logcumsumexp) gives the same h."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    log_a = -np.log1p(np.exp(rng.standard_normal((2, 30, 4))))  # -softplus
    log_b = rng.standard_normal((2, 30, 4))
    h0 = rng.uniform(0.1, 1.0, (2, 4))
    a_star = torch.nn.functional.pad(torch.cumsum(torch.tensor(log_a), 1), (0, 0, 1, 0))
    values = torch.cat([torch.log(torch.tensor(h0))[:, None], torch.tensor(log_b)], 1)
    theirs = torch.exp(a_star + torch.logcumsumexp(values - a_star, 1))[:, 1:]
    mine = mg.linear_scan(mg.tensor(log_a), mg.tensor(log_b), mg.tensor(h0), axis=1,
                          log_space=True)
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-10)


def test_bad_input_errors():
    a = mg.tensor(np.ones((5, 3, 4)))
    with pytest.raises(ValueError, match=r"a \(5, 3, 4\) and b \(5, 3\)"):
        mg.linear_scan(a, mg.tensor(np.ones((5, 3))))
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        mg.linear_scan(a, a, axis=3)
    with pytest.raises(ValueError, match=r"h0 of shape \(5, 4\) does not broadcast.*\(3, 4\)"):
        mg.linear_scan(a, a, mg.tensor(np.ones((5, 4))))
    with pytest.raises(ValueError, match="float32"):
        mg.linear_scan(a, mg.tensor(np.ones((5, 3, 4), np.float32)))
    with pytest.raises(ValueError, match="0-d"):
        mg.linear_scan(mg.tensor(1.0), mg.tensor(1.0))
    with pytest.raises(TypeError, match="b must be a Tensor"):
        mg.linear_scan(a, np.ones((5, 3, 4)))


def test_empty_scan_axis():
    a = mg.tensor(np.ones((0, 3)), requires_grad=True)
    out = mg.linear_scan(a, mg.tensor(np.ones((0, 3))))
    assert out.shape == (0, 3)
    out.sum().backward()
    assert a.grad.shape == (0, 3)


@pytest.mark.parametrize("shape,axis", [((7, 3, 131), 0), ((3, 9, 70), 1), ((2, 5, 3), 2),
                                        ((301, 4096), 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_and_serial_kernels_agree_bit_for_bit(shape, axis, dtype, monkeypatch):
    """Small scans run on the calling thread (cpu_scan.SERIAL_MAX_ELEMENTS), large ones on the
    parallel kernels: both give the same bits, forward and backward, whichever size picks."""
    from minigrad.backends import cpu_scan

    rng = np.random.default_rng(4)
    a = rng.uniform(0.2, 1.1, shape).astype(dtype)
    b, g = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    h0 = rng.standard_normal(shape[:axis] + shape[axis + 1:]).astype(dtype)
    found = []
    for limit in (0, a.size):  # every size parallel, then this one serial
        monkeypatch.setattr(cpu_scan, "SERIAL_MAX_ELEMENTS", limit)
        h = cpu_scan.linear_scan(a, b, h0, axis)
        found.append([h, *cpu_scan.linear_scan_backward(a, b, h, h0, g, axis)])
    for parallel, serial in zip(*found):
        assert np.array_equal(parallel, serial)
    np.testing.assert_allclose(found[0][0], reference(a, b, h0, axis), rtol=1e-4 if
                               dtype == np.float32 else 1e-12, atol=1e-4 if dtype == np.float32
                               else 1e-12)
