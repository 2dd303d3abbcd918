"""torch's unbatched sequence input: RNN/GRU/LSTM take x (T, I) with states (L*D, size) and give
out (T, D*H_out) and states (L*D, size), equal to torch.nn's (they refused a 2-d input)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402
from lstm import GRU, LSTM, RNN  # noqa: E402

LAYERS = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}


@pytest.mark.parametrize("impl", ["fused", "composed"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("options", [{}, {"num_layers": 2, "bidirectional": True},
                                     {"batch_first": True}], ids=str)
def test_unbatched_equals_torch(kind, impl, options):
    rng = np.random.default_rng(12)
    ref = getattr(torch.nn, kind)(3, 4, dtype=torch.float64, **options)
    ours = LAYERS[kind](3, 4, dtype=np.float64, impl=impl, **options)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    n = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
    x, h0, c0 = (rng.standard_normal(shape) for shape in ((5, 3), (n, 4), (n, 4)))
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if kind == "LSTM":
        out, (h, c) = ours(xm, (mg.tensor(h0), mg.tensor(c0)))
        out_t, (h_t, c_t) = ref(xt, (torch.tensor(h0), torch.tensor(c0)))
        finals, finals_t = [h, c], [h_t, c_t]
    else:
        out, h = ours(xm, mg.tensor(h0))
        out_t, h_t = ref(xt, torch.tensor(h0))
        finals, finals_t = [h], [h_t]
    assert out.shape == tuple(out_t.shape) == (5, 4 * (2 if options.get("bidirectional") else 1))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for f, f_t in zip(finals, finals_t):
        assert f.shape == tuple(f_t.shape) == (n, 4)
        np.testing.assert_allclose(f.numpy(), f_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = rng.standard_normal(out.shape)
    loss = (out * mg.tensor(u)).sum() + sum((f * f).sum() for f in finals)
    loss_t = (out_t * torch.tensor(u)).sum() + sum((f * f).sum() for f in finals_t)
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    grads = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(grads[name].grad, p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_unbatched_input_refuses_batched_states_and_lengths():
    m = LSTM(3, 4)
    x = mg.tensor(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"unbatched 2-d input .*h0 must be 2-d.*\(1, 1, 4\)"):
        m(x, (mg.zeros(1, 1, 4), mg.zeros(1, 1, 4)))
    with pytest.raises(ValueError, match="lengths needs a batch"):
        m(x, lengths=[5])
