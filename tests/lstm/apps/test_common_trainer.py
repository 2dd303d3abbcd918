"""The applications' one trainer: the step built in one place (eager or mg.compile), the first
call said once with where it is cached, the bar's clock started after that call."""

from __future__ import annotations

import time

import numpy as np
import pytest

import minigrad as mg
from lstm.apps.common import trainer
from minigrad import optim
from minigrad.nn import Linear


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test as a new process: nothing announced yet."""
    monkeypatch.setattr(trainer, "_ANNOUNCED", set())


def test_first_call_says_once_where_it_is_cached(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path))
    calls = []
    step = trainer.first_call(lambda *a: calls.append(a) or len(calls), "lstm demo", False)
    assert [step(i) for i in range(3)] == [1, 2, 3] and calls == [(0,), (1,), (2,)]
    err = capsys.readouterr().err
    assert err.count("lstm demo: compiling") == 1 and str(tmp_path) in err
    again = trainer.first_call(lambda: None, "lstm demo", True)  # a second run, same process
    again()
    assert capsys.readouterr().err == ""
    other = trainer.first_call(lambda: None, "lstm other", True)
    other()
    assert "lstm other: compiling the training step (mg.compile)" in capsys.readouterr().err


def test_quiet_says_nothing(capsys):
    trainer.first_call(lambda: None, "lstm demo", False, quiet=True)()
    assert capsys.readouterr().err == ""


def test_the_bar_starts_its_clock_after_the_first_call():
    bar = trainer.StepBar(total=10, desc="demo", progress=True)
    assert bar.bar is None  # nothing is drawn, so nothing extrapolated, while compiling
    first_done = time.time()
    bar.update(1)  # the compiling call has finished
    shown = bar.bar.format_dict
    assert shown["initial"] == 1 and shown["n"] == 1  # counted, but outside the rate
    assert bar.bar.start_t >= first_done
    for _ in range(4):
        bar.update(1)
    shown = bar.bar.format_dict
    assert shown["n"] - shown["initial"] == 4  # the rate is over the 4 calls after it
    assert shown["elapsed"] <= time.time() - first_done
    bar.close()


def test_a_resumed_bar_counts_from_where_it_stopped():
    bar = trainer.StepBar(total=10, desc="demo", progress=True, done=6)
    bar.update(1)
    assert bar.bar.format_dict["initial"] == 7
    bar.close()


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1
    return x, y


@pytest.mark.parametrize("compile", [False, True])
def test_epochs_keep_the_best_score_and_stop_on_patience(compile):
    x, y = _regression()
    model = Linear(3, 1, rng=0, dtype=np.float64)
    fit_trainer = trainer.EpochTrainer(
        model, optim.SGD(model.parameters(), lr=0.05),
        lambda a, b: mg.mse_loss(model(a), b), clip=10.0, compile=compile)

    def batches():
        for start in range(0, 64, 16):
            yield (mg.tensor(x[start:start + 16]), mg.tensor(y[start:start + 16])), 16

    scores = iter([3.0, 2.0, 2.5, 2.5, 2.5, 1.0])
    kept = {}

    def evaluate(epoch, loss):
        kept[epoch] = model.weight.numpy().copy()
        return {"epoch": epoch, "train_mse": loss}, next(scores)

    fit = fit_trainer.fit(6, 4, batches, evaluate, better=lambda a, b: a < b, patience=3,
                          copy_best=True)
    assert [row["epoch"] for row in fit.curve] == [1, 2, 3, 4, 5]  # 3 epochs without better
    assert fit.stopped == "early_stopping" and fit.best_epoch == 2 and fit.best_score == 2.0
    np.testing.assert_array_equal(model.weight.numpy(), kept[2])  # the best epoch restored
    losses = [row["train_mse"] for row in fit.curve]
    assert losses[-1] < losses[0]  # it trains


def test_compiled_steps_equal_eager_ones():
    x, y = _regression(1)
    weights = []
    for compile in (False, True):
        model = Linear(3, 1, rng=0, dtype=np.float64)
        step = trainer.make_step(lambda a, b, m=model: mg.mse_loss(m(a), b),
                                 optim.Adam(model.parameters(), lr=0.01), clip=1.0,
                                 compile=compile)
        for start in range(0, 64, 16):
            step(mg.tensor(x[start:start + 16]), mg.tensor(y[start:start + 16]))
        weights.append(model.weight.numpy().copy())
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-12, atol=1e-12)


def test_a_step_may_carry_a_state():
    model = Linear(2, 2, rng=0, dtype=np.float64)
    step = trainer.make_step(lambda a: (mg.mse_loss(model(a), a), model(a).detach()),
                             optim.SGD(model.parameters(), lr=0.1))
    loss, state = step(mg.tensor(np.ones((4, 2))))
    assert loss.shape == () and state.shape == (4, 2)
    assert all(p.grad is None for p in model.parameters())  # zero_grad after the update


def _stepwise_fit(model):
    """fit(stop_after): a fit of 3 'epochs' of 4 steps each, the carried state and the step
    count in the batches (as lstm charlm's), evaluated before the first step; after_step stops
    it after `stop_after` steps (an interrupt); a second call goes on from where it stood."""
    x, y = _regression(2)
    carried, fit = {"h": np.zeros((16, 1))}, trainer.Fit()
    fit_trainer = trainer.EpochTrainer(
        model, optim.Adam(model.parameters(), lr=0.05),
        lambda a, b, h: (mg.mse_loss(model(a) + h * 0.1, b), model(a).detach()),
        carry=lambda h: carried.update(h=h.numpy()))

    def batches():
        end = (fit.steps // 4 + 1) * 4
        while fit.steps < min(end, 12):
            i = fit.steps % 4 * 16
            yield (mg.tensor(x[i:i + 16]), mg.tensor(y[i:i + 16]), mg.tensor(carried["h"])), 1

    def evaluate(epoch, loss):
        return {"step": fit.steps, "loss": loss}, float(np.mean((x @ model.weight.numpy().T
                                                                  + model.bias.numpy() - y) ** 2))

    def run(stop_after=None):
        return fit_trainer.fit(None, 0, batches, evaluate, lambda a, b: a < b, keep_best=False,
                               evaluate_first=True, state=fit, total_steps=12,
                               after_step=lambda: stop_after is not None
                               and fit.steps >= stop_after)

    return run


def test_an_interrupted_fit_goes_on_from_its_state_as_if_never_stopped():
    straight = _stepwise_fit(Linear(3, 1, rng=0, dtype=np.float64))()
    assert [row["step"] for row in straight.curve] == [0, 4, 8, 12]
    assert straight.curve[0]["loss"] is None and straight.stopped == "max_epochs"
    run = _stepwise_fit(Linear(3, 1, rng=0, dtype=np.float64))
    stopped = run(stop_after=6)
    assert stopped.steps == 6 and stopped.stopped is None  # mid-epoch, nothing restored
    assert stopped.total != 0 and stopped.weight == 2  # the running epoch's loss so far
    assert len(stopped.curve) == 2
    resumed = run()
    assert resumed.curve == straight.curve and resumed.best_epoch == straight.best_epoch
    assert resumed.stopped == "max_epochs"
    assert run().curve == straight.curve  # a finished fit: nothing more to do
