"""Every application command says once, on its first (compiling) training call, that it is
compiling and where it is cached (issue 22); --compile runs the step through mg.compile."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("statsmodels")
pytest.importorskip("sktime")

from lstm.apps.common import trainer  # noqa: E402
from lstm.cli import main  # noqa: E402

TINY = ["forecast", "--dataset", "sunspots", "--model", "rnn", "--seeds", "0,1",
        "--hidden-size", "4", "--max-epochs", "2"]


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    monkeypatch.setattr(trainer, "_ANNOUNCED", set())


@pytest.mark.parametrize("compile", [False, True])
def test_the_first_call_is_said_once_per_command(tmp_path, capsys, compile):
    out = tmp_path / "out"
    args = [*TINY, "--out", str(out), "--compile" if compile else "--no-compile"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2  # two runs, one JSON line each
    lines = [line for line in captured.err.splitlines() if "compiling" in line]
    what = "the training step (mg.compile)" if compile else "its kernels"
    assert len(lines) == 1 and f"lstm forecast: compiling {what}" in lines[0], captured.err
    assert lines[0].endswith(f"(cached in {trainer.cache_location()})")


def test_quiet_says_nothing_and_compiled_rows_are_the_same_runs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*TINY, "--out", str(out), "--quiet"]) == 0
    eager = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "compiling" not in capsys.readouterr().err
    # --compile does not change a run's identity: the finished runs are reused
    assert main([*TINY, "--out", str(out), "--quiet", "--compile"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == eager
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
