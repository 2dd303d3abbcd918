"""The report's classification section: what it draws and says, and its absence without data."""

from __future__ import annotations

import pytest

from lstm.apps.classify import report as section


def test_without_the_data_package_the_report_skips_the_section_and_says_why(
        tmp_path, monkeypatch, capsys):
    real = section.importlib.util.find_spec
    monkeypatch.setattr(section.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sktime" else real(name, *a))
    assert section.classify_sections(str(tmp_path), str(tmp_path)) == []
    assert "minigrad-lstm[apps]" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_section_figures_tables_and_caption(tmp_path, monkeypatch):
    pytest.importorskip("sktime")
    monkeypatch.setitem(section.REPORT_PRESETS, "quick", {
        "preset": "quick", "seeds": (0, 1), "overrides": {"epochs": 3, "hidden_size": 8}})
    [result] = section.classify_sections(str(tmp_path / "results"), str(tmp_path))
    assert result.anchor == section.ANCHOR and result.images == list(section.FIGURES)
    for name in section.FIGURES:
        assert (tmp_path / name).stat().st_size > 10_000
    summary, every_run = result.tables
    assert [row[0] for row in summary.rows[:3]] == ["attention", "last", "mean"]
    assert all(row[1] == 2 for row in summary.rows[:3])
    assert summary.rows[3][0].startswith("1-NN DTW") and 0.9 < summary.rows[3][2] < 1
    assert any(row[0] == "published: FCN" and row[2] == 0.993 for row in summary.rows)
    assert len(every_run.rows) == 6
    assert "3 test utterances per speaker" in result.caption and "Fawaz" in result.caption
    rows = (tmp_path / "results" / "classify.jsonl").read_text().splitlines()
    assert len(rows) == 6
    again = section.classify_sections(str(tmp_path / "results"), str(tmp_path))[0]
    assert again.tables[1].rows == every_run.rows  # reused, not retrained
