"""The comparison harness (bench/compare.py): a tiny run of every installed library gives sane
JSON, every library computes the same loss as a float64 numpy reference, and bench/ is safe for
asv to import."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import peers  # noqa: E402
from bench.peers import machine, tables  # noqa: E402

PEER_MODULES = {"torch": "torch", "jax": "jax", "autograd": "autograd"}
FUSED_READY = importlib.util.find_spec("minigrad.ops.recurrent") is not None


def installed_libraries() -> list[str]:
    labels = ["minigrad", "minigrad-composed"]
    return labels + [lb for lb, mod in PEER_MODULES.items() if importlib.util.find_spec(mod)]


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """One tiny run of both suites, one worker process per installed library."""
    out = tmp_path_factory.mktemp("compare") / "tiny.json"
    command = [
        sys.executable,
        "-m",
        "bench.compare",
        "--suite",
        "all",
        "--tiny",
        "--batch",
        "--repeats",
        "2",
        "--budget",
        "1",
        "--warmup",
        "1",
        "--warmup-seconds",
        "0",
        "--startup-runs",
        "0",
        "--markdown",
        "--out",
        str(out),
        "--libraries",
        ",".join(installed_libraries()),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout


# ---- float64 references of what every library must compute ------------------------------------
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference_loss(model: str, B: int, T: int, I: int, H: int) -> float:
    """out.sum() of one layer with the harness's weights and input, in float64."""
    w = {k: v.astype(np.float64) for k, v in peers.recurrent_weights(model, I, H).items()}
    x = peers.sequence_input(T, B, I).astype(np.float64)
    h, c, total = np.zeros((B, H)), np.zeros((B, H)), 0.0
    for t in range(T):
        xp = x[t] @ w["weight_ih_l0"].T + w["bias_ih_l0"]
        hp = h @ w["weight_hh_l0"].T + w["bias_hh_l0"]
        if model == "rnn":
            h = np.tanh(xp + hp)
        elif model == "lstm":
            i, f, g, o = np.split(xp + hp, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:
            (x_r, x_z, x_n), (h_r, h_z, h_n) = np.split(xp, 3, axis=1), np.split(hp, 3, axis=1)
            r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
            h = (1 - z) * np.tanh(x_n + r * h_n) + z * h
        total += h.sum()
    return total


# ---- the tiny run -------------------------------------------------------------------------------
def test_every_installed_library_measured_every_case(tiny_report):
    report, _ = tiny_report
    for label in installed_libraries():
        records = [r for r in report["results"] if r["library"] == label]
        assert records, f"{label}: no records"
        for r in records:
            if label == "minigrad" and r["case"]["kind"] == "train_step" and not FUSED_READY:
                assert r["status"] == "skipped" and "recurrent" in r["reason"]
                continue
            assert r["status"] == "ok", f"{label} / {r['id']}: {r.get('reason')}"


def test_times_are_sane(tiny_report):
    report, _ = tiny_report
    ok = [r for r in report["results"] if r["status"] == "ok"]
    assert ok
    for r in ok:
        for stats in [r["time"], *r["variants"].values()]:
            assert math.isfinite(stats["median_s"]) and stats["median_s"] > 0
            assert stats["min_s"] <= stats["median_s"] <= stats["max_s"]
            assert stats["iqr_s"] >= 0 and stats["repeats"] >= 1
    ops = [r for r in ok if r["case"]["kind"] == "op"]
    assert {r["library"] for r in ops} == {"minigrad"} | ({"torch"} & set(installed_libraries()))
    for r in ops:  # forward alone is part of forward + backward, so it must be cheaper (the
        # fastest call of each: medians of microsecond ops swap places on a busy machine)
        assert r["variants"]["forward"]["min_s"] < r["time"]["min_s"]


def test_every_library_computes_the_reference_loss(tiny_report):
    report, _ = tiny_report
    checked = 0
    for r in report["results"]:
        if r["status"] != "ok" or r["case"]["kind"] == "op":
            continue
        c = r["case"]
        model = "lstm" if c["kind"] == "composed_lstm" else c["model"]
        expected = reference_loss(model, c["B"], c["T"], c["I"], c["H"])
        assert r["check"]["loss"] == pytest.approx(expected, rel=1e-4), f"{r['library']} {r['id']}"
        checked += 1
    assert checked >= 10


def test_gradients_agree_across_libraries(tiny_report):
    report, _ = tiny_report
    ok = [r for r in report["results"] if r["status"] == "ok"]
    for cid in {r["id"] for r in ok}:
        group = [r for r in ok if r["id"] == cid]
        verdicts = tables.agreement(group)
        assert all(v == "ok" for v in verdicts.values()), f"{cid}: {verdicts}"


def test_report_carries_meta_and_markdown_tables(tiny_report):
    report, stdout = tiny_report
    meta = report["meta"]
    assert len(meta["loadavg_before"]) == 3 and len(meta["loadavg_after"]) == 3
    assert meta["command"].startswith("python -m bench.compare")
    assert "| library | median ms |" in stdout
    assert "## LSTM training step" in stdout


# ---- pieces -------------------------------------------------------------------------------------
def test_flops_and_memory_bound():
    assert peers.flops_per_step("lstm", 32, 100, 32, 128) == 3 * 2 * 32 * 100 * 160 * 4 * 128
    assert peers.flops_per_step("gru", 1, 1, 1, 1) == 3 * 2 * 2 * 3
    assert peers.saved_bytes_lower_bound("lstm", 2, 3, 4) == 2 * 3 * 6 * 4 * 4
    assert peers.saved_bytes_lower_bound("rnn", 2, 3, 4) == 2 * 3 * 4 * 4


def test_summarize_and_fit():
    s = peers.summarize([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s["median_s"], s["min_s"], s["max_s"], s["iqr_s"], s["repeats"]) == (3, 1, 5, 2, 5)
    slope, intercept, r2 = tables.linear_fit([100, 200, 500], [2.5, 4.5, 10.5])
    assert slope == pytest.approx(0.02) and intercept == pytest.approx(0.5)
    assert r2 == pytest.approx(1.0)
    assert tables.linear_fit([1, 2, 3], [1, 3, 2])[2] < 0.5
    with pytest.raises(ValueError, match="repeats"):
        peers.run_timed(lambda: None, repeats=0)


def test_startup_times_measures_a_fresh_process():
    records = machine.startup_times(ROOT, ["minigrad"], runs=1, threads=1)
    by_label = {r["library"]: r for r in records}
    assert by_label["minigrad"]["median_s"] > by_label["python + numpy"]["median_s"] > 0


def test_harness_is_safe_for_asv_to_import():
    """asv imports every module in bench/: the harness's do no work, import no peer library and
    define no names asv would take for benchmarks."""
    modules = ["bench", "bench.compare", "bench.peers"] + sorted(
        f"bench.peers.{p.stem}"
        for p in (ROOT / "bench" / "peers").glob("*.py")
        if p.name != "__init__.py"
    )
    probe = (
        "import importlib, sys\n"
        "prefixes = ('time_', 'track_', 'peakmem_', 'mem_', 'timeraw_')\n"
        f"for m in {modules!r}:\n"
        "    bad = [n for n in vars(importlib.import_module(m)) if n.startswith(prefixes)]\n"
        "    assert not bad, (m, bad)\n"
        "heavy = [n for n in ('torch', 'jax', 'autograd', 'lstm', 'tqdm') if n in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-1500:]
