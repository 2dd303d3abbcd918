"""bench.compare --suite compile: a tiny run of minigrad eager and compiled, one process each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.peers import tables

ROOT = Path(__file__).resolve().parents[2]


def test_compile_suite_measures_both_modes_and_their_first_call(tmp_path):
    out = tmp_path / "compile.json"
    command = [sys.executable, "-m", "bench.compare", "--suite", "compile", "--tiny", "--batch",
               "--repeats", "2", "--budget", "1", "--warmup", "1", "--warmup-seconds", "0",
               "--markdown", "--out", str(out), "--libraries", "minigrad-eager,minigrad-compile"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    ok = [r for r in report["results"] if r["status"] == "ok"]
    assert {(r["library"], r["case"]["kind"]) for r in ok} == {
        (lb, kind) for lb in ("minigrad-eager", "minigrad-compile")
        for kind in ("compile_lstm", "adding_step", "ln_adding_step", "charlm_step")} | {
        ("minigrad-eager", "adam_step")}
    for r in ok:
        assert r["info"]["first_call_s"] > 0
    for kind in ("compile_lstm", "adding_step", "ln_adding_step", "charlm_step"):  # same step
        group = [r for r in ok if r["case"]["kind"] == kind]
        assert set(tables.agreement(group).values()) == {"ok"}, kind
    assert "## mg.compile (issue 18)" in done.stdout and "| compile_lstm |" in done.stdout
