"""`lstm forecast`: JSON lines with the issue's metric names, the results file, clear errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("statsmodels")
pytest.importorskip("sktime")

from lstm.cli import main  # noqa: E402

METRICS = {"mse", "rmse", "mae", "r2", "smape", "mase"}


def assert_png(path) -> None:
    """The file exists, starts with PNG's signature and decodes to a non-empty image."""
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50, (path, pixels.shape)


def test_one_json_line_per_run_and_the_results_file(tmp_path, capsys):
    args = ["forecast", "--dataset", "sunspots", "--model", "rnn,gru", "--seeds", "0,1",
            "--hidden-size", "4", "--max-epochs", "2", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model"], r["seed"]) for r in lines] == [("rnn", 0), ("rnn", 1), ("gru", 0),
                                                        ("gru", 1)]
    for line in lines:
        assert METRICS <= set(line) and line["dataset"] == "sunspots" and line["horizon"] == 10
        assert set(line["baselines"]) == {"naive", "seasonal_naive", "seasonal_naive_drift",
                                          "ets", "sarima"}
        assert all(set(m) == METRICS for m in line["baselines"].values())
    rows = [json.loads(r) for r in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["forecast"] * 4
    assert rows[0]["result"]["metrics"]["rmse"] == lines[0]["rmse"]
    assert_png(tmp_path / "forecast.png")  # the command draws its forecasts next to baselines'
    # the same command again reuses every run and prints the same lines
    assert main(args) == 0
    captured = capsys.readouterr()
    assert [json.loads(line) for line in captured.out.splitlines()] == lines
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("args,message", [
    (["--test-size", "5"], "test_size must be >= horizon (12)"),
    (["--val-size", "100", "--test-size", "30"], "fewer than lookback + horizon"),
    (["--lookback", "6"], "needs a lookback of at least the season (12)"),
])
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, args, message):
    assert main(["forecast", "--dataset", "airline", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["--dataset", "stocks"], "argument --dataset: expected one or more values, each one of "
                              "('airline', 'sunspots', 'co2', 'macro'), comma-separated, got "
                              "'stocks'"),
    (["--model", "lstm,cnn"], "argument --model: expected one or more values"),
    (["--seeds", "a,b"], "argument --seeds: expected one or more values, each an integer >= 0"),
    (["--hidden-size", "0"], "argument --hidden-size: expected an integer >= 1, got '0'"),
    (["--output", "trend"], "argument --output: expected one of ('delta', 'seasonal', 'level'), "
                            "got 'trend'")])
def test_bad_values_are_usage_errors_naming_the_option(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", *args])
    assert exit_info.value.code == 2
    assert "lstm forecast: error: " + message in capsys.readouterr().err




def test_report_section_says_when_the_extra_is_missing(tmp_path, monkeypatch):
    from lstm.apps.forecast import report as forecast_section

    def missing(*args):
        raise ValueError("the sktime package is not installed: pip install 'minigrad-lstm[apps]'")

    monkeypatch.setattr(forecast_section, "run_preset", missing)
    section = forecast_section.forecast_section(str(tmp_path), str(tmp_path))
    assert section.images == [] and "pip install" in section.note


def test_ctrl_c_says_what_is_kept_and_exits_130(tmp_path, capsys, monkeypatch):
    from lstm.apps.forecast import runs as forecast_runs

    def interrupted(configs, path, progress, on_result, **options):
        on_result({"config": {"dataset": "airline", "model": "gru", "seed": 0}}, True)
        raise KeyboardInterrupt

    monkeypatch.setattr(forecast_runs, "run_forecasts", interrupted)
    monkeypatch.setattr(forecast_runs, "summary_line", lambda row: row["config"])
    code = main(["forecast", "--dataset", "airline", "--model", "gru", "--seeds", "0,1",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted; 1 of 2 runs" in err and "Traceback" not in err


def test_report_leaves_the_section_out_without_the_extra(tmp_path, capsys, monkeypatch):
    from lstm.apps.forecast import report as forecast_section

    real = forecast_section.importlib.util.find_spec
    monkeypatch.setattr(forecast_section.importlib.util, "find_spec",
                        lambda name: None if name == "statsmodels" else real(name))
    assert forecast_section.forecast_sections(str(tmp_path), str(tmp_path)) == []
    assert "statsmodels not installed" in capsys.readouterr().err


def test_sigterm_stops_after_the_finished_runs_with_143(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(root))
    process = subprocess.Popen(
        [sys.executable, "-m", "lstm", "forecast", "--dataset", "airline", "--model", "lstm",
         "--seeds", ",".join(map(str, range(40))), "--out", str(tmp_path), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results = tmp_path / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (results.exists() and results.read_text()):
        time.sleep(0.2)  # the first run is in the file: stop the second
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "interrupted;" in err and "Traceback" not in err
    assert len(out.splitlines()) == len(results.read_text().splitlines()) >= 1


def test_a_run_whose_key_is_long_saves_its_model(tmp_path, capsys):
    """The model directory was named by the whole run key (a JSON config): `--lr 1e9` made it
    257 bytes, over a file name's 255, and the finished run failed with ENAMETOOLONG; a long
    --lr or --clip does it too)."""
    args = ["forecast", "--dataset", "airline", "--hidden-size", "4", "--max-epochs", "1",
            "--model", "rnn", "--seed", "0", "--lr", "0.00123456789012", "--clip",
            "1234567.125", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    (row,) = [json.loads(r) for r in (tmp_path / "results.jsonl").read_text().splitlines()]
    model_dir = row["result"]["model_dir"]
    assert len(model_dir.rsplit("/", 1)[-1]) < 64
    assert (tmp_path / "models" / model_dir.rsplit("/", 1)[-1] / "model.json").exists()


def test_a_learning_rate_that_blows_up_the_network_is_named(tmp_path, capsys):
    """`--lr 1e9`: the network's forecasts are not finite; the error named no option
    ("forecast_metrics: 86 predictions are not finite"), now it names --lr, exit 2, no row
    (and no numpy overflow warning before it)."""
    import warnings

    args = ["forecast", "--dataset", "airline", "--hidden-size", "4", "--max-epochs", "1",
            "--model", "rnn", "--seed", "0", "--lr", "1e9", "--out", str(tmp_path), "--quiet"]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=RuntimeWarning, module=r"lstm\.")  # ours
        assert main(args) == 2
    err = capsys.readouterr().err
    assert "--lr" in err and "not finite" in err and "Traceback" not in err
    assert not (tmp_path / "results.jsonl").exists() or not (
        tmp_path / "results.jsonl").read_text().strip()
