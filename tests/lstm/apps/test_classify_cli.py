"""`lstm classify`: help, one JSON line per run, the results file, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lstm.cli import main


def assert_png(path) -> None:
    """The file exists, starts with PNG's signature and decodes to a non-empty image."""
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50, (path, pixels.shape)


def test_prints_one_line_per_run_and_appends_them(tmp_path, capsys):
    pytest.importorskip("sktime")
    code = main(["classify", "--preset", "quick", "--pooling", "attention,last", "--seeds",
                 "0", "--epochs", "2", "--hidden-size", "8", "--dtw-window", "2",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    assert [(r["pooling"], r["seed"], r["epochs"]) for r in lines] == [("attention", 0, 2),
                                                                       ("last", 0, 2)]
    for r in lines:
        assert 0 <= r["accuracy"] <= 1 and 0.5 <= r["dtw_accuracy"] <= 1
        assert r["dtw_mode"] == "dependent" and r["dataset"] == "japanese-vowels"
    rows = [json.loads(s) for s in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["classify_dtw", "classify", "classify"]
    assert rows[0]["config"] == {"dataset": "japanese-vowels", "mode": "dependent", "window": 2}
    assert rows[0]["result"]["dtw_accuracy"] == lines[0]["dtw_accuracy"]
    assert rows[1]["result"]["dtw_window"] == 2
    for name in ("classify_confusion.png", "classify_attention.png"):  # drawn by the command
        assert_png(tmp_path / name)
    assert main(["classify", "--preset", "quick", "--pooling", "attention", "--epochs", "2",
                 "--hidden-size", "8", "--dtw-window", "2", "--dtw-mode", "independent",
                 "--out", str(tmp_path), "--quiet"]) == 0
    kinds = [json.loads(s)["kind"] for s in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert kinds == ["classify_dtw", "classify", "classify", "classify_dtw"]  # no run repeated


@pytest.mark.parametrize("args, message", [
    (["--pooling", "max"], "argument --pooling: expected one or more values, each one of "
                           "('attention', 'last', 'mean'), comma-separated, got 'max'"),
    (["--seed", "1", "--seeds", "2"], "not both"),
    (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["--dtw-window", "-1"], "dtw-window"),
    (["--pooling", ","], "argument --pooling: expected one or more values"),
])
def test_bad_arguments_exit_2_with_one_line_and_no_traceback(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "lstm", "classify", *args, "--out",
                           str(tmp_path), "--quiet", "--baseline", "none"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_says_where_the_finished_runs_are_and_exits_130(tmp_path, monkeypatch, capsys):
    from lstm.apps.classify import train as classify

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(classify, "run_configs", interrupted)
    assert main(["classify", "--baseline", "none", "--out", str(tmp_path), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and str(tmp_path / "results.jsonl") in err
