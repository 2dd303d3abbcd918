"""minGRU and minLSTM: the sequential step and the log-space parallel mode against references
written from Feng et al. 2024's equations (float64), each other (1e-10), torch (the paper's own
parallel_scan_log), and through Recurrent, the task models and gradient flow."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import MinGRUCell, MinLSTMCell, Recurrent
from lstm.experiments.gradient_flow import run_gradient_flow
from lstm.models import build_model
from lstm.tasks import get_task

CELLS = {"mingru": MinGRUCell, "minlstm": MinLSTMCell}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def paper_g(x):
    return np.where(x >= 0, x + 0.5, sigmoid(x))


def paper_sequence(name, x, h0, weight, bias):
    """The paper's sequential mode (section 3, appendix A), one step at a time, in numpy."""
    hidden = h0.shape[-1]
    h, out = h0, []
    for x_t in x:
        pre = x_t @ weight.T + bias
        if name == "mingru":
            z, h_tilde = sigmoid(pre[:, :hidden]), paper_g(pre[:, hidden:])
            h = (1 - z) * h + z * h_tilde
        else:
            f, i = sigmoid(pre[:, :hidden]), sigmoid(pre[:, hidden:2 * hidden])
            h_tilde = paper_g(pre[:, 2 * hidden:])
            h = f / (f + i) * h + i / (f + i) * h_tilde
        out.append(h)
    return np.stack(out)


def _cell(name, input_size=3, hidden=5, seed=0):
    cell = CELLS[name](input_size, hidden, rng=seed, dtype=np.float64)
    cell.bias_ih.data[:] = np.random.default_rng(seed + 1).normal(0, 1.0, cell.bias_ih.shape)
    return cell


@pytest.mark.parametrize("name", CELLS)
def test_step_and_parallel_match_the_paper(name):
    rng = np.random.default_rng(0)
    cell = _cell(name)
    x, h0 = rng.normal(0, 2.0, (12, 4, 3)), rng.uniform(-1, 1, (4, 5))
    want = paper_sequence(name, x, h0, cell.weight_ih.numpy(), cell.bias_ih.numpy())
    h, steps = mg.tensor(h0), []
    for x_t in x:
        h = cell(mg.tensor(x_t), h)
        steps.append(h.numpy())
    out, (final,) = cell.parallel_sequence(mg.tensor(x), (mg.tensor(h0),))
    np.testing.assert_allclose(np.stack(steps), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(final.numpy(), want[-1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CELLS)
def test_parallel_mode_matches_the_papers_torch_code(name):
    """Feng et al.'s appendix code (log-space, torch.logcumsumexp), h0 > 0 as it needs."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    cell = _cell(name, seed=3)
    x, h0 = rng.normal(0, 2.0, (10, 2, 3)), rng.uniform(0.1, 1.0, (2, 5))
    pre = torch.tensor(x) @ torch.tensor(cell.weight_ih.numpy()).T + torch.tensor(
        cell.bias_ih.numpy())
    hidden = 5

    def log_g(v):
        return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))

    if name == "mingru":
        k, p = pre[..., :hidden], pre[..., hidden:]
        log_coeffs, log_values = -F.softplus(k), -F.softplus(-k) + log_g(p)
    else:
        f, i, p = pre[..., :hidden], pre[..., hidden:2 * hidden], pre[..., 2 * hidden:]
        diff = F.softplus(-f) - F.softplus(-i)
        log_coeffs, log_values = -F.softplus(diff), -F.softplus(-diff) + log_g(p)
    a_star = F.pad(torch.cumsum(log_coeffs, 0), (0, 0, 0, 0, 1, 0))
    values = torch.cat([torch.log(torch.tensor(h0))[None], log_values], 0)
    theirs = torch.exp(a_star + torch.logcumsumexp(values - a_star, 0))[1:]
    mine, _ = cell.parallel_sequence(mg.tensor(x), (mg.tensor(h0),))
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, np.array([7, 3, 1])])
def test_parallel_equals_sequential_through_recurrent(name, bidirectional, lengths):
    """impl="fused" (the scan) and "composed" (the step), forward and every gradient, 1e-10."""
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(0, 1.5, (7, 3, 4)), rng.uniform(-1, 1, (2 * (1 + bidirectional), 3, 6))
    upstream = rng.standard_normal((7, 3, 6 * (1 + bidirectional)))
    results = []
    for impl in ("fused", "composed"):
        layer = Recurrent(CELLS[name], 4, 6, num_layers=2, bidirectional=bidirectional,
                          impl=impl, rng=5, dtype=np.float64)
        xt, ht = mg.tensor(x, requires_grad=True), mg.tensor(h0, requires_grad=True)
        out, h_n = layer(xt, ht, lengths=lengths)
        ((out * mg.tensor(upstream)).sum() + (h_n * h_n).sum()).backward()
        if lengths is not None:
            assert np.all(out.numpy()[1:][np.arange(1, 7)[:, None] >= lengths[None, :]] == 0)
        results.append([out.numpy(), h_n.numpy(), xt.grad, ht.grad] +
                       [p.grad for _, p in sorted(layer.named_parameters())])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CELLS)
def test_gradcheck_of_the_parallel_mode(name):
    cell = _cell(name, input_size=2, hidden=3, seed=4)
    rng = np.random.default_rng(4)
    x, h0 = rng.normal(0, 1.5, (5, 2, 2)), rng.uniform(-1, 1, (2, 3))

    def run(x, h0, weight, bias):
        cell.weight_ih, cell.bias_ih = weight, bias
        return cell.parallel_sequence(x, (h0,))[0]

    assert mg.gradcheck(run, [x, h0, cell.weight_ih.numpy(), cell.bias_ih.numpy()])


@pytest.mark.parametrize("name", CELLS)
def test_float32_long_sequence_stays_finite_and_close(name):
    rng = np.random.default_rng(5)
    cell64 = _cell(name, hidden=8, seed=6)
    cell32 = CELLS[name](3, 8, rng=6, dtype=np.float32)
    cell32.weight_ih.data[:] = cell64.weight_ih.numpy()
    cell32.bias_ih.data[:] = cell64.bias_ih.numpy()
    x = rng.normal(0, 3.0, (3000, 2, 3))
    h0 = np.zeros((2, 8))
    want, _ = cell64.parallel_sequence(mg.tensor(x), (mg.tensor(h0),))
    got, _ = cell32.parallel_sequence(mg.tensor(x.astype(np.float32)),
                                      (mg.tensor(h0.astype(np.float32)),))
    assert np.isfinite(got.numpy()).all()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", CELLS)
def test_task_models_train_and_carry_state(name):
    """The training path: a loss decreases over a few Adam steps on adding; fused (scan) and
    composed (step) task models agree in float32."""
    task = get_task("adding", 20)
    model = build_model(name, task, 16, rng=0)
    composed = build_model(name, task, 16, rng=0, impl="composed")
    batch = task.make_batch(16, np.random.default_rng(1))
    np.testing.assert_allclose(model(batch.x)[0].numpy(), composed(batch.x)[0].numpy(),
                               rtol=1e-5, atol=1e-6)
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = mg.mse_loss(model(batch.x)[0], mg.tensor(batch.y))
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", CELLS)
def test_gradient_flow_runs_through_the_sequential_step(name):
    records = run_gradient_flow(name, seq_len=8, hidden_size=4, batch_size=2, steps=(0,),
                                progress=False)
    assert records and all(np.isfinite(r["per_step_factor"]) for r in records)


def test_bad_input_names_the_cell():
    cell = MinGRUCell(3, 4)
    with pytest.raises(ValueError, match="MinGRUCell: input must be"):
        cell(mg.tensor(np.ones((2, 5), np.float32)))


@pytest.mark.parametrize("name", CELLS)
def test_scan_false_runs_the_compiled_step_and_agrees(name):
    """scan=False: Recurrent's fused path is the cell compiler's sequential kernel (the faster
    one on a 2-core CPU, docs/performance.md); equal to the scan to 1e-10 in float64."""
    rng = np.random.default_rng(9)
    x, h0 = rng.normal(0, 1.5, (6, 3, 4)), rng.uniform(-1, 1, (2, 3, 5))
    lengths = np.array([6, 2, 4])
    results = []
    for scan in (True, False):
        layer = Recurrent(CELLS[name], 4, 5, bidirectional=True, rng=1, dtype=np.float64,
                          scan=scan)
        xt = mg.tensor(x, requires_grad=True)
        out, h_n = layer(xt, mg.tensor(h0), lengths=lengths)
        (out * out).sum().backward()
        results.append([out.numpy(), h_n.numpy(), xt.grad, layer.weight_ih_l0.grad])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="scan must be a bool"):
        CELLS[name](4, 5, scan="yes")
