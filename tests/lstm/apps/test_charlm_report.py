"""The report's character-model section (in conftest.py's tiny report): its numbers and samples."""

from __future__ import annotations

import json

import pytest

from lstm.reporting.page import fmt


def test_section_shows_the_run_baselines_and_samples(tiny_report):
    pytest.importorskip("safetensors")
    results = tiny_report["path"].parent / "results" / "charlm" / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["kind"] == "charlm"
    result = rows[0]["result"]
    assert result["corpus"]["test"]["modules"] == ["base64"]  # the tiny report's corpus
    page = tiny_report["path"].read_text(encoding="utf-8")
    section = page[page.index('<section id="charlm">'):]
    section = section[:section.index("</section>")]
    for key in ("bits_per_char", "ngram_bits_per_char", "lzma_primed_bits_per_char",
                "gzip_bits_per_char"):
        assert f"<td>{fmt(result[key])}</td>" in section, key
    for temperature in (0.5, 0.8, 1.0):
        assert f"Sample at temperature {temperature}" in section
    assert section.count("<pre>def ") == 3  # each sample continues the prime
    assert 'src="charlm.png"' in section
