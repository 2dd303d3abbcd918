"""`lstm report`: a tiny report end to end (every figure and table, valid PNGs, resumable) and
the pieces it rests on (the float64 LSTM trace, unit picking, asv's file format, the timings).
The tiny report is conftest.py's; test_report_browser.py opens it in Chromium."""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from lstm import report
from lstm.experiments import speed
from lstm.experiments.inside import (
    linear_fit_r2,
    lstm_trace,
    running_marked_sum,
    unit_correlations,
)
from lstm.models import build_model
from lstm.reporting.asv_history import read_asv_results
from lstm.tasks import get_task


class PageParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.sections, self.tables, self.captions = [], [], 0, 0
        self.scripts_or_links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "table":
            self.tables += 1
        elif tag == "figcaption":
            self.captions += 1
        elif tag in ("script", "link", "iframe"):
            self.scripts_or_links.append(tag)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature and the IHDR chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(data[12:29]), f"{path.name}: IHDR CRC mismatch"
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND", f"{path.name}: no IEND chunk (truncated)"
    return struct.unpack(">II", data[16:24])


def test_report_has_every_figure_table_and_valid_png(tiny_report, report_expectations):
    figures, sections = report_expectations["figures"], report_expectations["sections"]
    page = tiny_report["path"].read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(page)
    assert set(parser.images) == figures
    assert set(parser.sections) == sections
    assert parser.captions == len(sections - {"settings"})
    assert parser.tables >= len(sections)  # at least one table of numbers per section
    assert parser.scripts_or_links == []  # self-contained: no scripts, stylesheets or frames
    for image in parser.images:
        assert not os.path.isabs(image) and "://" not in image
        width, height = png_size(tiny_report["path"].parent / image)
        assert width >= 400 and height >= 300
    assert "http://" not in page and "https://" not in page
    assert "speed.TimeTrainStep.time_train_step" in page  # the asv table
    assert "Not measured" not in page


def test_report_tables_carry_the_numbers_drawn(tiny_report):
    results = tiny_report["path"].parent / "results"
    rows = [json.loads(line) for line in (results / "results.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    flows = [rec for r in rows if r["kind"] == "gradflow" for rec in r["result"]["records"]]
    assert len(train) == 3 * 2 * 2 + 3 + 2 * 2 * 2 and len(flows) == 3 * 2
    ladder_runs = [r for r in train if r.get("ladder")]
    assert sorted({r["config"]["seq_len"] for r in ladder_runs}) == [5, 7]  # 11: skipped
    page = tiny_report["path"].read_text(encoding="utf-8")
    from lstm.reporting.page import fmt
    for record in flows:
        assert f"<td>{fmt(record['per_step_factor'])}</td>" in page
    for run in train:
        assert f"<td>{fmt(run['result']['wall_time'])}</td>" in page
    speed_rows = [json.loads(line) for line in (results / "speed.jsonl").read_text().splitlines()]
    assert len(speed_rows) == 3 * 2 + 3 * 1  # fused at both lengths, composed capped at 3
    for row in speed_rows:
        assert f"<td>{fmt(row['result']['median_s'] * 1e3)}</td>" in page


def test_report_rerun_reuses_results(tiny_report, tiny_presets, monkeypatch, tmp_path):
    out = tmp_path / "out"  # a copy: the session's report stays as built for other tests
    shutil.copytree(tiny_report["path"].parent, out)
    results = out / "results"
    before = {p.name: p.read_bytes() for p in results.glob("*.jsonl")}
    checkpoint = results / "inside" / "checkpoint.npz"
    stamp = checkpoint.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr("lstm.experiments.sweep.execute", no_training)
    monkeypatch.setattr(speed, "time_train_step", no_training)
    monkeypatch.setattr("lstm.apps.charlm.cli.run_charlm", no_training)
    monkeypatch.setattr(report, "_default_asv_dir", lambda root: None)
    report.build_report(str(out), "quick", None, None, False)  # this time without asv
    assert {p.name: p.read_bytes() for p in results.glob("*.jsonl")} == before
    assert checkpoint.stat().st_mtime_ns == stamp  # loaded, not trained again
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "No asv results" in page and "asv_history.png" not in page
    assert png_size(out / "speed.png")[0] > 0


def test_report_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="preset must be one of"):
        report.build_report(str(tmp_path), "huge")
    with pytest.raises(ValueError, match="asv_results must be an asv results directory"):
        report.build_report(str(tmp_path), "quick", asv_results=str(tmp_path / "nowhere"))


# ---- the pieces ---------------------------------------------------------------------------------
def test_lstm_trace_equals_the_model():
    task = get_task("adding", 12)
    model = build_model("lstm-fb1", task, 5, rng=3, dtype=np.float64)
    x = task.make_batch(4, np.random.default_rng(0)).x
    with mg.no_grad():
        expected, (h_n, c_n) = model(x)
    trace = lstm_trace(model.state_dict(), x)
    np.testing.assert_allclose(trace["prediction"], expected.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trace["h"][-1], h_n.numpy()[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trace["c"][-1], c_n.numpy()[0], rtol=1e-12, atol=1e-12)
    # c_t = f c_{t-1} + i g, h_t = o tanh(c_t), gates in their ranges
    c_prev = np.vstack([np.zeros((1, 4, 5)), trace["c"][:-1]])
    np.testing.assert_allclose(trace["c"], trace["f"] * c_prev + trace["i"] * trace["g"])
    np.testing.assert_allclose(trace["h"], trace["o"] * np.tanh(trace["c"]))
    assert all(0 < trace[k].min() and trace[k].max() < 1 for k in ("i", "f", "o"))
    with pytest.raises(ValueError, match="x must be"):
        lstm_trace(model.state_dict(), x[..., :1])


def test_running_sum_and_unit_picking():
    x, y, _ = get_task("adding", 20).make_batch(64, np.random.default_rng(1))
    s = running_marked_sum(x)
    np.testing.assert_allclose(s[-1], y[:, 0], rtol=1e-6)
    assert np.all(np.diff(s, axis=0) >= 0) and np.all(s[0] <= y[:, 0])
    rng = np.random.default_rng(2)
    values = rng.standard_normal((64, 6))
    values[:, 4] = -3.0 * y[:, 0] + 0.01 * rng.standard_normal(64)
    values[:, 1] = 1.0  # a constant unit: correlation 0, not nan
    r = unit_correlations(values, y[:, 0])
    assert np.argmax(np.abs(r)) == 4 and r[4] < -0.99 and r[1] == 0.0
    assert linear_fit_r2(values, y[:, 0]) > 0.999
    assert linear_fit_r2(values[:, [1]], y[:, 0]) == pytest.approx(0.0, abs=1e-6)


def test_read_asv_results(tmp_path, asv_writer):
    asv_writer(tmp_path)
    rows = read_asv_results(str(tmp_path))
    by_key = {(r["commit"][0], r["benchmark"].split(".")[-1], r["params"]): r for r in rows}
    assert len(rows) == 2 * (3 + 1)  # the null result (gru, 64) is left out
    assert by_key[("a", "time_train_step", ("lstm", "64"))]["value"] == 0.04
    assert by_key[("b", "time_train_step", ("gru", "16"))]["value"] == 0.01
    assert by_key[("b", "track_adding_mse", ())]["value"] == 0.1
    assert by_key[("a", "track_adding_mse", ())]["unit"] == "mse"
    assert by_key[("a", "time_train_step", ("lstm", "16"))]["date"].year == 2001


def test_read_asv_results_skips_a_torn_file(tmp_path, asv_writer, capsys):
    asv_writer(tmp_path)
    torn = tmp_path / "box" / ("c" * 8 + "-virtualenv-py3.11.json")
    torn.write_text('{"commit_hash": "' + "c" * 40 + '", "results": {"speed.')  # a killed asv
    assert len(read_asv_results(str(tmp_path))) == 8
    assert f"skipped {torn}" in capsys.readouterr().err


def test_time_train_step_measures_and_checks():
    timing = speed.time_train_step("gru", "composed", 4, batch_size=2, input_size=3,
                                   hidden_size=4, repeats=4, warmup=1, budget_s=10.0)
    assert timing["repeats"] == 4
    assert 0 < timing["min_s"] <= timing["median_s"] <= timing["max_s"]
    with pytest.raises(ValueError, match="model must be one of"):
        speed.time_train_step("transformer", "fused", 4)
    with pytest.raises(ValueError, match="seq_len must be an integer >= 1"):
        speed.time_train_step("rnn", "fused", 0)


def test_peers_run_through_bench(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    root = speed.bench_root()
    if root is None:
        pytest.skip("bench/ is not next to the lstm package (installed without the repo)")
    configs = [{"library": "torch", "model": m, "seq_len": 5, "batch_size": 2,
                "input_size": 3, "hidden_size": 4} for m in ("lstm", "rnn")]
    path = str(tmp_path / "speed.jsonl")
    rows = speed.run_peers(configs, path, root, repeats=3, warmup=1, budget_s=0.05,
                           progress=False)
    assert [r["result"]["status"] for r in rows] == ["ok", "ok"], rows
    assert all(r["result"]["median_s"] > 0 and r["result"]["version"] != "?" for r in rows)

    def no_subprocess(*args, **kwargs):
        raise AssertionError("a stored peer timing was measured again")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert speed.run_peers(configs, path, root, progress=False) == rows


