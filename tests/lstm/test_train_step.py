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
        compiled.cache_info = lambda: dict(calls)
        return compiled

    monkeypatch.setattr(mg, "compile", fake_compile, raising=False)
    eager = Trainer(TrainConfig(model="gru", **SMALL))
    eager_result = eager.run(progress=False)
    assert calls == {"compile": 0, "step": 0}  # compile defaults to off
    compiled = Trainer(TrainConfig(model="gru", compile=True, **SMALL))
    result = compiled.run(progress=False)
    assert calls == {"compile": 1, "step": SMALL["steps"]}
    assert capsys.readouterr().err.count("compiling the training step") == 1
    assert result["curve"] == eager_result["curve"]
    for key, value in weights(eager).items():
        np.testing.assert_array_equal(weights(compiled)[key], value)


def test_without_mg_compile_the_flag_runs_eager(monkeypatch):
    monkeypatch.delattr(mg, "compile", raising=False)
    result = Trainer(TrainConfig(model="gru", compile=True, **SMALL)).run(progress=False)
    assert result["steps"] == SMALL["steps"] and result["config"]["compile"] is True
