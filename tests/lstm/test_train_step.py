"""The trainer's one training step and its seam with mg.compile (docs/where_things_live.md):
a plain function of tensors, compiled only when the config asks and minigrad has mg.compile."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm.runs.config import TrainConfig
from lstm.runs.train import Trainer

SMALL = {"seq_len": 6, "hidden_size": 4, "batch_size": 4, "steps": 12, "eval_every": 6,
         "test_size": 8, "optimizer": "adam", "lr": 1e-2}


def weights(trainer) -> dict:
    return {k: np.array(v) for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_the_step_is_a_function_of_tensors_that_updates_the_model(task):
    trainer = Trainer(TrainConfig(task=task, model="gru", **SMALL))
    step = trainer.make_step()
    batch = trainer.task.make_batch(4, np.random.default_rng(0))
    x, y = trainer.model.encode(batch.x), trainer.targets(batch.y)
    assert isinstance(x, mg.Tensor) and isinstance(y, mg.Tensor)
    before = weights(trainer)
    loss = step(x, y)
    assert isinstance(loss, mg.Tensor) and loss.shape == () and np.isfinite(loss.item())
    after = weights(trainer)
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    assert all(p.grad is None or not np.any(p.grad) for p in trainer.model.parameters())


def test_compile_wraps_the_step_once_and_says_so(monkeypatch, capsys):
    calls = {"compile": 0, "step": 0}

    def fake_compile(fn):  # the seam's contract: same signature and result as fn
        calls["compile"] += 1

        def compiled(*args):
            calls["step"] += 1
            return fn(*args)
        return compiled

    monkeypatch.setattr(mg, "compile", fake_compile)
    eager = Trainer(TrainConfig(model="gru", compile=False, **SMALL))
    eager_result = eager.run(progress=False)
    assert calls == {"compile": 0, "step": 0}  # --no-compile
    compiled = Trainer(TrainConfig(model="gru", **SMALL))  # compile is the default
    result = compiled.run(progress=True)
    # the first call twice: the trace (undone) and the program (Trainer._first_compiled)
    assert calls == {"compile": 1, "step": SMALL["steps"] + 1}
    assert capsys.readouterr().err.count("compiling the training step of gru") == 1
    assert result["curve"] == eager_result["curve"]
    for key, value in weights(eager).items():
        np.testing.assert_array_equal(weights(compiled)[key], value)


def test_the_eta_starts_after_the_first_compiling_call(monkeypatch):
    """The progress bar's clock restarts once, after the first step (the trace and the
    kernels' compile), so its rate and ETA are those of the compiled steps."""
    import lstm.runs.train as train_module

    seen = []
    real = train_module.restart_clock
    monkeypatch.setattr(train_module, "restart_clock", lambda bar: seen.append(bar.n) or real(bar))
    trainer = Trainer(TrainConfig(model="gru", **SMALL))
    trainer.run(progress=True)
    assert seen == [1]


def test_restart_clock_keeps_the_count_and_drops_the_time_before():
    import io

    from tqdm import tqdm

    from lstm.runs.train import restart_clock

    bar = tqdm(total=10, file=io.StringIO())
    bar.update(3)
    bar.start_t -= 100.0  # a first call that took 100 s
    assert bar.format_dict["elapsed"] >= 100
    restart_clock(bar)
    meter = bar.format_dict
    assert meter["n"] == 3 and meter["initial"] == 3 and meter["elapsed"] < 50
    bar.close()


def test_restart_clock_draws_no_bar_at_zero_nor_a_negative_rate():
    """tqdm's reset() drew the bar at 0 before restart_clock put the count back: a resumed
    `lstm train` piped ended on `0/10000 [00:00<-00:00, -394743925.03it/s]`."""
    import io
    import re

    from tqdm import tqdm

    from lstm.runs.train import restart_clock

    stream = io.StringIO()
    bar = tqdm(total=10000, initial=9882, file=stream, mininterval=0)
    bar.update(1)
    stream.seek(0)
    stream.truncate()
    restart_clock(bar)
    drawn = stream.getvalue()
    assert re.findall(r"(\d+)/10000", drawn) == ["9883"], drawn
    assert not re.search(r"-\d", drawn), drawn
    bar.close()
