"""Gradient flow: the known-answer factor, the fit, and the records' shape."""

from __future__ import annotations

import numpy as np
import pytest

from lstm.experiments.gradient_flow import (
    fit_factor,
    geometric_mean,
    gradient_norms,
    measure,
    run_gradient_flow,
)
from lstm.models import build_model
from lstm.tasks import get_task, seed_stream


def _relu_rnn_with_known_factor(factor, hidden=6, seq_len=40):
    """ReLU RNN, W_hh = factor * I, positive input weights and biases: adding inputs are >= 0,
    so every pre-activation is > 0, relu' = 1, and dL/dh_{t-1} = factor * dL/dh_t exactly."""
    task = get_task("adding", seq_len)
    model = build_model("irnn", task, hidden, rng=0, dtype=np.float64)
    layer = model.recurrent
    layer.weight_hh_l0.data[:] = factor * np.eye(hidden)
    layer.weight_ih_l0.data[:] = np.abs(layer.weight_ih_l0.data) + 0.1
    layer.bias_ih_l0.data[:] = 0.1
    layer.bias_hh_l0.data[:] = 0.1
    return model, task


def test_relu_rnn_factor_is_exactly_the_recurrent_scale():
    model, task = _relu_rnn_with_known_factor(0.9)
    batch = task.make_batch(8, seed_stream(0, 3))
    record = measure(model, task, batch, step=0, model_name="irnn")
    assert record["per_step_factor"] == pytest.approx(0.9, rel=1e-10)
    curve = np.array(record["curve_h"])
    np.testing.assert_allclose(curve[:-1] / curve[1:], 0.9, rtol=1e-10)
    assert record["fit_lags"] == task.seq_len


def test_float32_model_is_measured_in_float64_without_underflow():
    model, task = _relu_rnn_with_known_factor(0.05, seq_len=60)
    model.float()
    batch = task.make_batch(4, seed_stream(1, 3))
    curves = gradient_norms(model, batch)
    # 0.05^59 ~ 1e-77: far below float32's range, fine in float64
    assert curves["h"][0] > 0 and curves["h"][0] < 1e-70
    assert fit_factor(curves["h"])["rho"] == pytest.approx(0.05, rel=1e-6)


def test_fit_factor_stops_at_underflow():
    lags = np.arange(50)
    by_lag = 0.5 ** lags
    by_lag[30:] = 0.0  # underflowed
    fit = fit_factor(by_lag[::-1])
    assert fit["fit_lags"] == 30
    assert fit["rho"] == pytest.approx(0.5, rel=1e-12)
    assert fit_factor(np.array([0.0, 0.0, 1.0]))["rho"] is None


def test_geometric_mean_over_the_batch():
    norms = np.array([[1.0, 100.0], [2.0, 8.0]])
    np.testing.assert_allclose(geometric_mean(norms), [10.0, 4.0])


def test_lstm_records_cell_norms_and_forget_bias_slows_the_decay():
    common = dict(task="adding", seq_len=60, hidden_size=16, batch_size=8, steps=[0],
                  progress=False)
    fb0 = run_gradient_flow("lstm", **common)[0]
    fb1 = run_gradient_flow("lstm-fb1", **common)[0]
    for record in (fb0, fb1):
        assert len(record["curve_h"]) == 60 and len(record["curve_c"]) == 60
        assert record["c_per_step_factor"] is not None
        assert 0 < record["per_step_factor"] < 1
    # a forget gate opened by bias 1 keeps the cell path alive longer
    assert fb1["c_per_step_factor"] > fb0["c_per_step_factor"]


def test_run_after_training_steps():
    records = run_gradient_flow("gru", task="adding", seq_len=30, hidden_size=8, batch_size=4,
                                steps=[0, 3], progress=False)
    assert [r["step"] for r in records] == [0, 3]
    assert records[0]["curve_h"] != records[1]["curve_h"]
    for r in records:
        assert {"model", "task", "seq_len", "hidden_size", "step", "per_step_factor"} <= set(r)


def test_bad_steps():
    with pytest.raises(ValueError, match="steps"):
        run_gradient_flow("rnn", seq_len=10, hidden_size=4, steps=[-1], progress=False)


def test_the_float64_twin_of_a_trained_model_keeps_its_gradients_to_itself():
    from lstm.experiments.gradient_flow import float64_copy, task_loss

    model, task = _relu_rnn_with_known_factor(0.9)
    model.float()
    batch = task.make_batch(4, seed_stream(2, 3))
    task_loss(model, batch).backward()  # the parameters now have tape nodes (and .grad)
    before = {name: p.grad.copy() for name, p in model.named_parameters()}
    twin = float64_copy(model)
    twin.zero_grad()
    task_loss(twin, batch).backward()
    for name, p in model.named_parameters():  # a copied tape node would add into these
        np.testing.assert_array_equal(p.grad, before[name])
    for name, p in twin.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float64, name
