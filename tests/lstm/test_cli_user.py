"""The lstm command as a demanding user meets it (session 12): what a run that goes wrong says,
the options every command shares, and resuming on purpose. Each test is one defect's regression
test: it failed on the code before its fix."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import minigrad as mg
from lstm.cli import main

# a tiny adding run: a few steps of a 4-unit model on 5-step sequences
TINY = ["--task", "adding", "--seq-len", "5", "--hidden-size", "4", "--batch-size", "2",
        "--eval-every", "5", "--test-size", "8", "--quiet"]
# plain SGD at an absurd learning rate, unclipped: the loss is NaN within a few steps
DIVERGING = ["--model", "irnn", "--optimizer", "sgd", "--lr", "1e30", "--clip", "none",
             "--steps", "5"]


def test_a_diverged_train_run_says_what_to_do_and_exits_2(tmp_path, capsys):
    # before: exit 0, nothing on stderr but numpy's overflow warnings, the NaN visible only as
    # null metrics in the JSON line
    assert main(["train", *TINY, *DIVERGING, "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["stopped"] == "diverged"
    assert "the loss became NaN or infinite by step" in captured.err
    assert "--lr 1e+30 is too large for --model irnn with --optimizer sgd; try a smaller --lr " \
           "(e.g. 1e+29), or clip the gradients (--clip norm, the default)" in captured.err
    assert "RuntimeWarning" not in captured.err and "overflow" not in captured.err
    # the row is kept (a sweep reads a diverged run as its learning rate's result); the same
    # command again prints it and says the same
    assert main(["train", *TINY, *DIVERGING, "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "this run has finished" in captured.err and "--lr 1e+30 is too large" in captured.err
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1


COMMANDS = ["train", "gradflow", "sweep", "report", "forecast", "classify", "charlm",
            "translate", "generate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_threads(command, capsys):
    # before: no command had --threads ("unrecognized arguments"); the thread count was only
    # MINIGRAD_NUM_THREADS, which holds neither BLAS nor Numba's loops
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--threads", "0"])
    assert exit_info.value.code == 2
    assert "argument --threads: expected an integer >= 1, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--threads N" in capsys.readouterr().out


def test_threads_hold_the_run_and_are_given_back(tmp_path, capsys):
    before = mg.get_num_threads()
    assert main(["train", *TINY, "--model", "gru", "--steps", "2", "--threads", "1",
                 "--no-compile", "--out", str(tmp_path)]) == 0
    (row,) = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert row["threads"] == 1
    assert mg.get_num_threads() == before  # an in-process caller keeps its own setting


def test_a_sweeps_workers_take_threads_each(tmp_path, monkeypatch):
    from lstm.experiments.sweep import RunSpec, run_sweep
    from lstm.runs.threads import threads_used

    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # without --threads: 2 each
    config = {"task": "adding", "model": "gru", "seq_len": 5, "hidden_size": 4, "batch_size": 2,
              "steps": 1, "eval_every": 1, "test_size": 8, "lr": 1e-2}
    specs = [RunSpec("train", {**config, "seed": seed}) for seed in (0, 1)]
    with threads_used(1):
        rows = run_sweep(specs, str(tmp_path / "results.jsonl"), workers=2, progress=False)
    assert [r["threads"] for r in rows] == [1, 1]


def test_train_resume_refuses_a_run_that_is_not_there(tmp_path, capsys):
    # before: --resume was an unknown option; a user wanting to carry on a run with a changed
    # setting started a new run from step 0 without a word
    base = ["train", *TINY, "--model", "gru", "--steps", "4", "--no-compile", "--out",
            str(tmp_path)]
    assert main([*base, "--resume"]) == 2
    assert "holds no other run to resume. Leave out --resume to start this run" in \
        capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert main([*base, "--lr", "0.05"]) == 0
    capsys.readouterr()
    assert main([*base, "--resume"]) == 2  # the run there has another --lr
    err = capsys.readouterr().err
    assert "--resume: no interrupted run of these settings" in err
    assert "(at step 4 of 4) has --lr 0.05 (here 0.001)" in err
    assert len(list((tmp_path / "runs").iterdir())) == 1  # nothing left by the refusal
    assert main([*base, "--lr", "0.05", "--steps", "6", "--resume"]) == 0  # a longer budget
    assert "starting from step 4 of the same run" in capsys.readouterr().err
    assert main([*base, "--resume", "--restart"]) == 2
    assert "--resume carries a run on, --restart starts it afresh" in capsys.readouterr().err


def test_charlm_resume_refuses_a_run_that_is_not_there(tmp_path, capsys):
    assert main(["charlm", "--steps", "3", "--hidden-size", "8", "--seeds", "0,1", "--resume",
                 "--quiet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--resume: no interrupted run of these settings" in err and "charlm-E32-H8-L2-s0-" in err
    assert not (tmp_path / "charlm").exists()  # refused before any seed trained


@pytest.fixture
def saved_charlm(tmp_path):
    pytest.importorskip("safetensors.numpy")
    from lstm.apps.charlm.data import Vocabulary
    from lstm.apps.charlm.model import CharLM
    from lstm.apps.charlm.store import save_model

    vocab = Vocabulary.from_text("def f(x):\n    return x\n")
    save_model(str(tmp_path), CharLM(len(vocab), embedding_size=4, hidden_size=6, num_layers=1,
                                     rng=0), vocab, {"bits_per_char": 1.5})
    return tmp_path


@pytest.mark.parametrize("damage, problem", [
    ("truncated weights", "model.safetensors is damaged or is not a saved model: "
                          "SafetensorError"),
    ("json not json", "model.json is damaged or is not a saved model: not JSON"),
    ("json a list", "model.json is damaged or is not a saved model: expected a JSON object, "
                    "got list"),
    ("json other sizes", "model.safetensors is damaged or is not a saved model: its tensors do "
                         "not fit model.json"),
])
@pytest.mark.parametrize("command", ["generate", "export"])
def test_a_damaged_saved_model_is_one_line_and_exit_1(saved_charlm, damage, problem, command,
                                                      capsys):
    # before: a Python traceback from safetensors (SafetensorError) or from json (a list has
    # no .get), or json's bare message naming no file
    weights, config = saved_charlm / "model.safetensors", saved_charlm / "model.json"
    if damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "json not json":
        config.write_text("{garbage")
    elif damage == "json a list":
        config.write_text("[1, 2]")
    else:
        settings = json.loads(config.read_text())
        settings["model"]["hidden_size"] = 7
        config.write_text(json.dumps(settings))
    argv = (["generate", "--checkpoint", str(saved_charlm), "--length", "3"]
            if command == "generate" else ["export", str(saved_charlm)])
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"lstm {command}: error: {saved_charlm}/") and problem in line


@pytest.mark.parametrize("fmt, output, message", [
    ("safetensors", "a-file", "--output {out}/a-file is a file; with --format safetensors it is "
                              "the directory"),
    ("onnx", "a-file/model.onnx", "--output {out}/a-file/model.onnx: {out}/a-file is a file, "
                                  "not a directory"),
    ("onnx", ".", "--output {out}/. is a directory; with --format onnx it is the file to write"),
])
def test_export_names_output_in_the_way(saved_charlm, tmp_path, fmt, output, message, capsys):
    # before: "error: .../a-file: File exists; a file stands where a directory should be", no
    # option named (and a directory given for the ONNX file: IsADirectoryError's line)
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "a-file").write_text("x")
    assert main(["export", "--format", fmt, "--output", f"{out}/{output}",
                 str(saved_charlm)]) == 2
    assert message.format(out=out) in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--only", "forecast", "--asv-results", "somewhere"],
     "--only forecast builds that application's section alone, which --asv-results does not "
     "change; leave out --asv-results or --only"),
    (["--only", "charlm", "--models", "lstm", "--asv-results", "x"],
     "which --models and --asv-results do not change"),
    (["--results", "{tmp}/a-file"], "--results {tmp}/a-file is a file, not a directory"),
    (["--asv-results", "{tmp}/nowhere"], "--asv-results {tmp}/nowhere is not a directory; "
                                         "give asv's results directory"),
])
def test_report_refuses_options_it_would_ignore(tmp_path, extra, message, capsys):
    # before: --only silently ignored --models and --asv-results (exit 0, a report without
    # them); --results naming a file said "File exists; a file stands where a directory
    # should be" without naming --results
    (tmp_path / "a-file").write_text("x")
    argv = ["report", "--quiet", "--out", str(tmp_path / "report"),
            *[a.format(tmp=tmp_path) for a in extra]]
    assert main(argv) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "report").exists()  # refused before anything is written


def test_forecast_names_the_dataset_and_options_of_a_split_that_does_not_fit(tmp_path, capsys):
    # before: "val_size must be >= horizon (30) so one forecast fits, got 24": which of the four
    # datasets, and which options, left to guess
    pytest.importorskip("statsmodels")
    assert main(["forecast", "--horizon", "30", "--quiet", "--out", str(tmp_path)]) == 2
    assert "lstm forecast: error: --dataset airline: val_size must be >= horizon (30) so one " \
           "forecast fits, got 24 (options --val-size, --horizon)" in capsys.readouterr().err


def test_version(capsys):
    # before: "unrecognized arguments: --version"
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    import lstm

    assert capsys.readouterr().out.strip() == \
        f"lstm (minigrad-lstm) {lstm.__version__}, minigrad {mg.__version__}"


@pytest.mark.parametrize("given", [["--dtw-mode", "independent"], ["--dtw-window", "3"]])
def test_classify_refuses_dtw_options_without_the_baseline(tmp_path, given, capsys):
    # before: ignored with --baseline none (exit 0 after training every run)
    assert main(["classify", "--baseline", "none", *given, "--quiet", "--out",
                 str(tmp_path)]) == 2
    assert f"{given[0]} set the DTW baseline, which --baseline none leaves out" in \
        capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()


def test_sweep_refuses_workers_with_a_scheduler(tmp_path, capsys):
    # before: --workers was ignored on a Dask cluster (after 20 s of trying to reach it)
    assert main(["sweep", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2", "--quiet",
                 "--out", str(tmp_path)]) == 2
    assert "got workers=2 with scheduler 'tcp://127.0.0.1:1' (options --workers, --scheduler: " \
           "give one)" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"PK\x03\x04 torn", b"", b"not a checkpoint at all"])
def test_a_damaged_charlm_checkpoint_is_one_line_and_exit_1(tmp_path, content, capsys):
    # before: zipfile.BadZipFile's (or EOFError's) traceback
    from lstm.apps.charlm.cli import settings_for
    from lstm.cli import build_parser

    argv = ["charlm", "--steps", "2", "--hidden-size", "8", "--embedding-size", "4",
            "--valid-chars", "500", "--ngram-max-order", "1", "--seed", "0", "--quiet",
            "--out", str(tmp_path)]
    (config,), _ = settings_for(build_parser().parse_args(argv))
    path = tmp_path / "charlm" / config.run_name() / "checkpoint.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"lstm charlm: error: checkpoint {path} is damaged: ")
    assert line.endswith("Delete it to start this run afresh (the other runs and the results "
                         "file are untouched)")


def test_a_figure_stopped_mid_write_leaves_the_old_one(tmp_path):
    # before: savefig wrote OUT/<name>.png in place: a Ctrl-C or a full disk mid-write left a
    # torn PNG where the last good figure was
    from lstm.reporting.figures import new_figure, save

    figure = new_figure(2, 2)
    figure.add_subplot().plot([0, 1], [1, 0])
    save(figure, str(tmp_path), "curve.png")
    before = (tmp_path / "curve.png").read_bytes()
    assert before.startswith(b"\x89PNG")

    def torn(target, **_):
        target.write(b"\x89PNG torn")
        raise KeyboardInterrupt

    figure.savefig = torn
    with pytest.raises(KeyboardInterrupt):
        save(figure, str(tmp_path), "curve.png")
    assert (tmp_path / "curve.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]  # no temp file left


class _Killed(Exception):
    """What SIGTERM's default action stands for here (it would end the test process)."""


def test_charlm_sigterm_outside_training_says_what_is_kept(tmp_path, monkeypatch, capsys):
    # before: SIGTERM while the baselines were computed took the default action: the process
    # gone, no line, no exit status of the command's own
    import signal

    from lstm.apps.charlm import baselines

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(baselines, "cached_baselines", terminated)

    def killed(signum, frame):
        raise _Killed

    previous = signal.signal(signal.SIGTERM, killed)
    try:
        code = main(["charlm", "--steps", "2", "--hidden-size", "8", "--embedding-size", "4",
                     "--valid-chars", "500", "--ngram-max-order", "1", "--seed", "0", "--quiet",
                     "--out", str(tmp_path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 128 + signal.SIGTERM
    assert f"lstm charlm: interrupted; 0 of 1 runs are in {tmp_path}/results.jsonl" in \
        capsys.readouterr().err


def test_train_sigterm_before_the_loop_is_one_line_and_143(tmp_path, monkeypatch, capsys):
    # before: SIGTERM while the model and the test set were built took the default action
    import signal

    from lstm.runs import train as train_module

    built = train_module.Trainer.__init__

    def terminated(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        built(self, *args, **kwargs)

    monkeypatch.setattr(train_module.Trainer, "__init__", terminated)

    def killed(signum, frame):
        raise _Killed

    previous = signal.signal(signal.SIGTERM, killed)
    try:
        code = main(["train", *TINY, "--model", "gru", "--steps", "2", "--out", str(tmp_path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 128 + signal.SIGTERM
    assert capsys.readouterr().err.strip() == (
        "lstm train: error: interrupted; finished runs are kept in the results file: run the "
        "same command again to carry on")


@pytest.mark.parametrize("command", ["train", "forecast", "charlm"])
def test_out_under_a_file_names_out(tmp_path, command, capsys):
    # before: "/.../a-file/sub: Not a directory; a file stands where a directory should be",
    # which option left to guess
    (tmp_path / "a-file").write_text("x")
    assert main([command, "--out", str(tmp_path / "a-file" / "sub"), "--quiet"]) == 2
    assert f"--out {tmp_path}/a-file/sub: {tmp_path}/a-file is a file, not a directory; " \
           "choose a directory" in capsys.readouterr().err


def test_charlm_ctrl_c_then_resume_equals_a_straight_run(tmp_path, monkeypatch, capsys):
    """Ctrl-C mid-run checkpoints at the step boundary (exit 130); `--resume` carries the run on
    to the same numbers as a run never stopped (compiled, the default)."""
    import signal

    from lstm.apps.common.trainer import EpochTrainer

    argv = ["charlm", "--steps", "12", "--eval-every", "4", "--hidden-size", "8",
            "--embedding-size", "4", "--batch-size", "8", "--bptt", "20", "--valid-chars", "500",
            "--ngram-max-order", "1", "--seed", "0", "--checkpoint-every", "100", "--quiet"]
    stepped = EpochTrainer.run_step

    def ctrl_c_at_step_7(self, batch, fit):
        loss = stepped(self, batch, fit)
        if fit.steps == 7:
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    monkeypatch.setattr(EpochTrainer, "run_step", ctrl_c_at_step_7)
    assert main([*argv, "--out", str(tmp_path / "stopped")]) == 130
    assert "lstm charlm: interrupted at step 7; everything up to it is in" in \
        capsys.readouterr().err
    monkeypatch.setattr(EpochTrainer, "run_step", stepped)
    assert main([*argv, "--resume", "--out", str(tmp_path / "stopped")]) == 0
    resumed = json.loads(capsys.readouterr().out)
    (tmp_path / "straight").mkdir()  # the baselines computed once (they take most of it)
    shutil.copy(tmp_path / "stopped" / "charlm_baselines.json", tmp_path / "straight")
    assert main([*argv, "--out", str(tmp_path / "straight")]) == 0
    straight = json.loads(capsys.readouterr().out)
    for key in ("steps", "bits_per_char", "valid_bits_per_char"):
        assert resumed[key] == straight[key], key
