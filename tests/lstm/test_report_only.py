"""`lstm report --only APP`: one application's section on its own page, with its figures."""

from __future__ import annotations

import importlib.util

import pytest

from lstm.cli import main

NEEDS = {"forecast": ("statsmodels", "sktime"), "classify": ("sktime",),
         "charlm": ("safetensors",)}
FIGURES = {"forecast": ["forecast.png"],
           "classify": ["classify_accuracy.png", "classify_confusion.png",
                        "classify_attention.png"],
           "charlm": ["charlm.png"]}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    """The file exists, starts with PNG's signature and decodes to a non-empty image."""
    from matplotlib import image

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50, (path, pixels.shape)


@pytest.mark.parametrize("app", list(NEEDS))
def test_only_builds_one_section(app, tmp_path, tiny_presets, capsys):
    missing = [p for p in NEEDS[app] if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{app} needs {missing}")
    out = tmp_path / "report"
    assert main(["report", "--only", app, "--out", str(out), "--quiet"]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f'<section id="{app}">' in page
    others = {"forecast", "classify", "charlm", "horizon", "speed"} - {app}
    assert not any(f'<section id="{name}">' in page for name in others)
    for name in FIGURES[app]:
        assert_png(out / name)
    assert not (out / "results" / "results.jsonl").exists() or app == "forecast"


def test_only_rejects_an_unknown_app(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["report", "--only", "translate-me", "--out", str(tmp_path)])
    assert "invalid choice" in capsys.readouterr().err
