"""`lstm train` compiles its training step by default (issue 18): for every model of the registry
the compiled step gives eager's losses and weights, in float64, or the trainer says in one line
that the model's step cannot be compiled and runs it eager, with the same results."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import minigrad as mg
from lstm import zoo
from lstm.models import build_model
from lstm.runs.config import TrainConfig
from lstm.runs.train import Trainer

SMALL = {"seq_len": 6, "hidden_size": 4, "batch_size": 4, "steps": 3, "eval_every": 3,
         "test_size": 8, "optimizer": "adam", "lr": 1e-2}
FLOAT64 = functools.partial(build_model, dtype=np.float64)
STEPS = 3


def run_steps(config: TrainConfig) -> tuple[list[float], dict, Trainer]:
    trainer = Trainer(config, FLOAT64)
    losses = [trainer.train_step() for _ in range(STEPS)]
    return losses, {k: np.array(v) for k, v in trainer.model.state_dict().items()}, trainer


def assert_same_run(compiled, eager) -> None:
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-10, atol=1e-12)
    assert compiled[1].keys() == eager[1].keys()
    for key, value in eager[1].items():
        np.testing.assert_allclose(compiled[1][key], value, rtol=1e-10, atol=1e-12,
                                   err_msg=key)


def compiled_or_said(trainer: Trainer, err: str, model: str) -> bool:
    """Whether the run's step stayed compiled; if not, the trainer said so in one line."""
    said = [line for line in err.splitlines() if "cannot be compiled" in line]
    if isinstance(trainer._step, mg.CompiledFunction):
        assert said == []
        return True
    assert len(said) == 1 and model in said[0] and "runs eager" in said[0], err
    return False


def test_compile_is_on_by_default_and_not_in_the_run_key():
    config = TrainConfig()
    assert config.compile is True
    assert "compile" not in config.to_dict()
    assert config.run_name() == config.replace(compile=False).run_name()


@pytest.mark.slow
@pytest.mark.parametrize("model", zoo.names())
def test_compiled_step_equals_eager_for_every_registered_model(model, capsys):
    eager = run_steps(TrainConfig(model=model, compile=False, **SMALL))
    capsys.readouterr()
    compiled = run_steps(TrainConfig(model=model, **SMALL))
    compiled_or_said(compiled[2], capsys.readouterr().err, model)
    assert_same_run(compiled, eager)


@pytest.mark.parametrize("impl", ["fused", "composed"])
def test_variable_lengths_compile_in_the_fused_kernels(impl, capsys):
    """hochreiter1997's batches carry lengths: the fused kernels read them inside the compiled
    program (range-checked on every call); the composed path reads them on the host, so its
    step says it cannot be compiled and runs eager."""
    options = {**SMALL, "seq_len": 22, "variant": "hochreiter1997", "impl": impl}
    eager = run_steps(TrainConfig(model="lstm", compile=False, **options))
    capsys.readouterr()
    compiled = run_steps(TrainConfig(model="lstm", **options))
    stayed = compiled_or_said(compiled[2], capsys.readouterr().err, "lstm")
    assert stayed == (impl == "fused")
    assert_same_run(compiled, eager)
    if stayed:
        assert compiled[2]._step.cache_info().traces == 1  # new lengths, the same program


def test_a_bad_length_is_refused_by_the_compiled_program():
    trainer = Trainer(TrainConfig(model="lstm", **{**SMALL, "seq_len": 22,
                                                   "variant": "hochreiter1997"}), FLOAT64)
    trainer.train_step()
    batch = trainer.task.make_batch(4, np.random.default_rng(1))
    x, y = trainer.model.encode(batch.x), trainer.targets(batch.y)
    bad = mg.tensor(np.array([x.shape[0], 0, 5, 6], dtype=np.int64))  # 0: no step at all
    assert isinstance(trainer._step, mg.CompiledFunction)
    with pytest.raises(ValueError, match=r"every length must be in 1\.\.\d+ \(seq_len\), "
                                         r"got min 0"):
        trainer._run_step(x, y, bad)
    assert trainer._step.cache_info().traces == 1  # the program's own check, not a new trace
