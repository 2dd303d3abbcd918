"""Training: config validation, loss goes down, clipping, truncated BPTT, early stopping, metrics,
checkpoints (bit-identical resume, atomic writes, no pickle)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigrad as mg
from lstm.metrics import copy_metrics, regression_metrics
from lstm.runs import checkpoint as ckpt
from lstm.runs.config import TrainConfig
from lstm.runs.train import CHECKPOINT_NAME, Trainer, train

TINY = {"seq_len": 6, "hidden_size": 8, "batch_size": 8, "steps": 10, "eval_every": 5,
        "test_size": 32, "impl": "composed"}


def tiny(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, **changes})


def params(trainer):
    return trainer.model.state_dict()


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


# ---- config ------------------------------------------------------------------------------------
def test_config_defaults_are_arjovskys():
    c = TrainConfig()
    assert (c.optimizer, c.lr, c.alpha, c.clip, c.clip_value) == ("rmsprop", 1e-3, 0.9, "norm", 1)
    assert (c.batch_size, c.hidden_size, c.model) == (20, 128, "lstm-fb1")
    assert TrainConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(("changes", "message"), [
    ({"model": "lstm2"}, "model must be one of.*'lstm2'"),
    ({"optimizer": "adagrad"}, "optimizer must be one of.*'adagrad'"),
    ({"clip": "max"}, "clip must be one of"),
    ({"variant": "exprnn"}, "variant must be one of.*'exprnn'"),
    ({"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
    ({"lr": math.nan}, "lr must be a finite number"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"seq_len": 1}, "seq_len must be an integer >= 2, got 1"),
    ({"tbptt": 0}, "tbptt must be an integer >= 1 or None, got 0"),
    ({"patience": 2.5}, "patience must be an integer"),
    ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\], got 1.5 \(option --alpha\)"),
    ({"betas": (0.9, 1.0)}, "betas must be"),
    ({"variant": "hochreiter1997", "seq_len": 30, "tbptt": 5}, "tbptt is not supported"),
    ({"variant": "hochreiter1997", "seq_len": 20}, "seq_len must be >= 22"),
])
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown fields \['epochs'\]"):
        TrainConfig.from_dict({"epochs": 3})


# ---- metrics -----------------------------------------------------------------------------------
def test_regression_metrics_by_hand():
    m = regression_metrics([[1.0], [2.0], [3.0]], [[1.0], [3.0], [5.0]], tolerance=1.5)
    # errors 0, -1, -2; target mean 3, SS_tot = 8, SS_res = 5
    assert m["mse"] == pytest.approx(5 / 3) and m["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert m["mae"] == pytest.approx(1.0) and m["r2"] == pytest.approx(1 - 5 / 8)
    assert m["within_tolerance"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="shape"):
        regression_metrics([1.0, 2.0], [1.0])


def test_copy_metrics_by_hand():
    logits = np.zeros((3, 2, 2))
    logits[:, :, 1] = math.log(3)  # p(class 1) = 3/4 everywhere
    targets = np.array([[0, 1], [1, 1], [0, 0]])
    m = copy_metrics(logits, targets, n_copy=1)
    picked = np.where(targets == 1, -math.log(0.75), -math.log(0.25))
    assert m["cross_entropy"] == pytest.approx(picked.mean())
    assert m["recall_cross_entropy"] == pytest.approx(-math.log(0.25))
    assert m["recall_accuracy"] == 0.0 and m["accuracy"] == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="n_copy must be in 1..3, got 4"):
        copy_metrics(logits, targets, 4)


# ---- training ----------------------------------------------------------------------------------
def test_training_reduces_the_loss_below_the_baseline():
    adding = train(tiny(model="gru", batch_size=32, steps=150, eval_every=50, test_size=256,
                        optimizer="adam", lr=1e-2), progress=False)
    curve = [row["mse"] for row in adding["curve"]]
    assert curve[-1] < 0.7 * adding["task"]["baseline"] and curve[-1] < curve[0] / 5
    assert adding["steps"] == 150 and adding["stopped"] == "max_steps"
    assert set(adding["metrics"]) == {"mse", "rmse", "mae", "r2"}
    copy = train(tiny(task="copy", seq_len=4, n_copy=2, n_symbols=3, model="gru", batch_size=32,
                      hidden_size=16, steps=150, eval_every=50, test_size=256, optimizer="adam",
                      lr=1e-2), progress=False)
    assert copy["metrics"]["cross_entropy"] < copy["task"]["baseline"]
    assert copy["metrics"]["recall_accuracy"] > 0.5  # chance is 1/3


def test_every_optimizer_and_clip_mode_runs():
    for optimizer in ("rmsprop", "adam", "sgd"):
        for clip in ("norm", "value", "none"):
            r = train(tiny(optimizer=optimizer, clip=clip, steps=2, momentum=0.5 * (
                optimizer != "adam")), progress=False)
            assert r["steps"] == 2 and np.isfinite(r["metrics"]["mse"])


@pytest.mark.parametrize("clip", ["norm", "value"])
def test_clipping_bounds_the_sgd_update(clip):
    lr, limit = 0.5, 1e-3
    trainer = Trainer(tiny(optimizer="sgd", lr=lr, clip=clip, clip_value=limit))
    before = params(trainer)
    trainer.train_step()
    steps = [trainer.model.state_dict()[k] - before[k] for k in before]
    if clip == "value":
        assert max(np.abs(s).max() for s in steps) <= lr * limit + 1e-6  # float32 rounding
    else:
        norm = math.sqrt(sum(float((s.astype(np.float64) ** 2).sum()) for s in steps))
        assert norm == pytest.approx(lr * limit, rel=1e-3)  # clipped: the raw norm is far above


def test_tbptt_equal_to_length_is_full_bptt():
    # tbptt's chunks run eager: bit for bit against the eager full step (the compiled one
    # equals it to float rounding, tests/lstm/test_compile_every_model.py)
    a = Trainer(tiny(task="copy", n_copy=2, compile=False))
    b = Trainer(tiny(task="copy", n_copy=2, tbptt=10))
    for _ in range(3):
        a.train_step()
        b.train_step()
    assert_same_params(params(a), params(b))


def test_tbptt_copy_loss_is_the_mean_over_all_steps():
    full, chunked = Trainer(tiny(task="copy", n_copy=2)), Trainer(tiny(task="copy", n_copy=2,
                                                                       tbptt=3))
    assert chunked.train_step() == pytest.approx(full.train_step(), rel=1e-5)
    assert not np.array_equal(params(full)["recurrent.weight_hh_l0"],
                              params(chunked)["recurrent.weight_hh_l0"])


def test_tbptt_adding_gradient_stops_at_the_chunk_boundary():
    config = tiny(model="rnn", tbptt=4, optimizer="sgd", lr=1.0, clip="none")
    trainer = Trainer(config)
    reference = Trainer(config)  # same init, same batches
    batch = reference.task.make_batch(config.batch_size, reference.train_rng)
    with mg.no_grad():
        _, state = reference.model(batch.x[:4])
    out, _ = reference.model(batch.x[4:], state.detach())
    mg.mse_loss(out, batch.y).backward()
    expected = {n: p.grad.copy() for n, p in reference.model.named_parameters()}
    before = params(trainer)
    trainer.train_step()
    after = params(trainer)
    for name in before:  # SGD with lr 1: the step is minus the gradient
        np.testing.assert_allclose(before[name] - after[name], expected[name], rtol=1e-5,
                                   atol=1e-7, err_msg=name)


def test_evaluation_in_batches_equals_one_batch():
    trainer = Trainer(tiny(task="copy", n_copy=2, test_size=50, eval_batch_size=7))
    whole = Trainer(tiny(task="copy", n_copy=2, test_size=50, eval_batch_size=50))
    a, b = trainer.evaluate(), whole.evaluate()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-5)


def scripted(trainer, losses):
    values = iter(losses)
    trainer.evaluate = lambda: {"mse": next(values), "rmse": 0.0, "mae": 0.0, "r2": 0.0}
    return trainer


def test_early_stopping_when_solved():
    trainer = scripted(Trainer(tiny(steps=100, eval_every=2)), [0.2, 0.1, 0.009, 0.5])
    result = trainer.run(progress=False)
    assert result["stopped"] == "solved" and result["steps"] == 4
    assert result["steps_to_solve"] == 4 and result["samples_to_solve"] == 32
    assert [row["step"] for row in result["curve"]] == [0, 2, 4]


def test_early_stopping_on_a_plateau():
    losses = [0.2, 0.15, 0.1499, 0.16, 0.1, 0.1]
    trainer = scripted(Trainer(tiny(steps=100, eval_every=1, patience=2, min_delta=0.01)), losses)
    result = trainer.run(progress=False)
    assert result["stopped"] == "plateau" and result["steps"] == 3
    assert result["best_loss"] == pytest.approx(0.1499) and not result["solved"]


def test_extra_final_evaluation_is_reported_but_decides_nothing():
    trainer = scripted(Trainer(tiny(steps=6, eval_every=4, patience=1)), [0.2, 0.1, 0.5])
    result = trainer.run(progress=False)  # evaluations at 0, 4 and (extra) 6
    assert [row["step"] for row in result["curve"]] == [0, 4, 6]
    assert result["stopped"] == "max_steps" and result["best_loss"] == pytest.approx(0.1)
    assert trainer.evals_without_improvement == 0 and result["metrics"]["mse"] == 0.5


def test_divergence_stops_the_run():
    result = scripted(Trainer(tiny(steps=100, eval_every=1)), [0.2, math.nan]).run(progress=False)
    assert result["stopped"] == "diverged" and result["metrics"]["mse"] is None


def test_progress_bar_can_be_switched_off(capsys):
    train(tiny(steps=3), progress=False)
    assert capsys.readouterr().err == ""
    train(tiny(steps=3), progress=True)
    assert "lstm-fb1 adding T=6" in capsys.readouterr().err


# ---- checkpoints -------------------------------------------------------------------------------
@pytest.mark.parametrize("changes", [
    {"model": "lstm-fb1", "optimizer": "rmsprop"},
    {"task": "copy", "n_copy": 2, "model": "gru", "optimizer": "adam", "tbptt": 4},
    {"variant": "hochreiter1997", "seq_len": 22, "model": "lstm", "optimizer": "sgd",
     "momentum": 0.9},
])
def test_resume_is_bit_identical(tmp_path, changes):
    config = tiny(steps=12, eval_every=4, **changes)
    straight = Trainer(config)
    straight_result = straight.run(progress=False)
    first = train(config.replace(steps=6), str(tmp_path), progress=False)
    assert first["steps"] == 6
    resumed = Trainer(config)
    resumed.load(str(tmp_path / CHECKPOINT_NAME))
    assert resumed.step == 6
    result = resumed.run(progress=False)
    assert_same_params(params(straight), params(resumed))
    ours, theirs = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    steps = {row["step"]: row for row in result["curve"]}
    for row in straight_result["curve"]:  # every evaluation of the straight run is matched
        assert steps[row["step"]] == row


def test_train_resumes_from_out_dir_and_skips_finished_runs(tmp_path):
    config = tiny(steps=8, eval_every=4)
    train(config.replace(steps=4), str(tmp_path), progress=False)
    resumed = train(config, str(tmp_path), progress=False)
    straight = Trainer(config)
    straight.run(progress=False)
    assert resumed["steps"] == 8
    data = ckpt.load_npz(str(tmp_path / CHECKPOINT_NAME))
    assert_same_params(params(straight), {k[6:]: v for k, v in data.items()
                                          if k.startswith("model/")})
    again = train(config, str(tmp_path), progress=False)  # already at its budget: nothing to do
    assert again["steps"] == 8 and again["curve"] == resumed["curve"]
    assert os.path.exists(tmp_path / "result.json")


def test_resume_refuses_another_config(tmp_path):
    train(tiny(steps=2), str(tmp_path), progress=False)
    with pytest.raises(ValueError, match=r"fields \['lr'\] differ"):
        train(tiny(steps=4, lr=0.5), str(tmp_path), progress=False)


def test_generator_state_round_trip():
    rng = np.random.default_rng(2**100 + 7)
    rng.random(3)
    rng.integers(0, 10, dtype=np.uint32)  # leaves a buffered 32-bit half
    arrays = ckpt.generator_state(rng)
    assert all(a.dtype == np.uint64 for a in arrays.values())
    expected = rng.random(5)
    other = np.random.default_rng(0)
    ckpt.set_generator_state(other, arrays)
    np.testing.assert_array_equal(other.random(5), expected)


def test_checkpoint_needs_no_pickle(tmp_path):
    path = str(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="'bad' is an object array"):
        ckpt.save_npz(path, {"bad": np.array([{}], dtype=object)})
    trainer = Trainer(tiny(steps=1))
    trainer.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


def test_crash_mid_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "c.npz")
    ckpt.save_npz(path, {"a": np.arange(1000)})

    def crashing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.np, "savez", crashing_savez)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_npz(path, {"a": np.zeros(1000)})
    monkeypatch.undo()
    np.testing.assert_array_equal(ckpt.load_npz(path)["a"], np.arange(1000))
    assert os.listdir(tmp_path) == ["c.npz"]  # the temp file is gone too


WRITER = """
import sys
import numpy as np
from lstm.runs.checkpoint import save_npz
i = 0
while True:
    save_npz(sys.argv[1], {"i": np.int64(i), "data": np.full(300_000, i, np.int64)})
    i += 1
    if i == 3:
        print("ready", flush=True)
"""


def test_sigkill_mid_write_never_leaves_a_partial_file(tmp_path):
    path = str(tmp_path / "c.npz")
    child = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    data = ckpt.load_npz(path)  # a complete file, from one write
    assert data["i"] >= 2 and (data["data"] == data["i"]).all()


TRAIN_CMD = ["--task", "adding", "--model", "gru", "--seq-len", "12", "--hidden-size", "8",
             "--batch-size", "8", "--steps", "2500", "--eval-every", "100", "--test-size",
             "32", "--checkpoint-every", "100000", "--optimizer", "adam", "--lr", "1e-3",
             "--seed", "3"]


def _lstm_train(out, *extra):
    return [sys.executable, "-m", "lstm", "train", *TRAIN_CMD, "--out", str(out), *extra]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_keeps_its_steps_and_resumes_bit_identically(tmp_path, signum):
    """Ctrl-C (or SIGTERM) between checkpoints loses nothing: the run stops at the next step
    boundary, checkpoints it, and the same command resumes to the same weights as a run that
    was never interrupted."""
    child = subprocess.Popen(_lstm_train(tmp_path / "stopped"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    seen = b""
    deadline = time.time() + 120
    while b"it/s" not in seen and time.time() < deadline:  # tqdm is counting steps
        seen += child.stderr.read1(4096)
    time.sleep(0.3)
    child.send_signal(signum)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 128 + signum, err.decode()[-2000:]
    assert b"Run the same command again to resume" in err
    (run_dir,) = (tmp_path / "stopped" / "runs").glob("adding-gru-T12-s3-*")
    stopped_at = int(ckpt.load_npz(str(run_dir / CHECKPOINT_NAME))["step"])
    assert 0 < stopped_at < 2500, "the interrupt must land mid-run"

    resumed = subprocess.run(_lstm_train(tmp_path / "stopped", "--quiet"), capture_output=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    straight = subprocess.run(_lstm_train(tmp_path / "straight", "--quiet"),
                              capture_output=True, timeout=300)
    assert straight.returncode == 0, straight.stderr.decode()[-2000:]
    a = ckpt.load_npz(str(run_dir / CHECKPOINT_NAME))
    (straight_dir,) = (tmp_path / "straight" / "runs").glob("adding-gru-T12-s3-*")
    assert straight_dir.name == run_dir.name  # the run's name is its config's, wherever --out is
    b = ckpt.load_npz(str(straight_dir / CHECKPOINT_NAME))
    assert int(a["step"]) == int(b["step"]) > stopped_at
    assert str(a["stopped"]) == str(b["stopped"])
    for key in [k for k in b if k.startswith(("model/", "optim/"))]:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(a["curve_values"], b["curve_values"])
