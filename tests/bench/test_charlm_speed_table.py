"""bench.charlm_speed's table: medians over rounds and the ratios the issue reads (to torch's
characters/s), with or without minigrad's eager step among the libraries."""

from __future__ import annotations

from bench.charlm_speed import table


def test_ratios_to_torch_and_to_the_first_library():
    rows = [{"library": "minigrad-compile", "chars_per_s": v} for v in (30_000, 31_000, 29_000)]
    rows += [{"library": "torch", "chars_per_s": v} for v in (25_000, 27_000, 26_000)]
    lines = table(rows).splitlines()
    assert lines[0] == ("| library | characters / s (median of rounds) | vs minigrad-compile "
                        "| vs torch |")
    assert lines[2] == "| minigrad-compile | 30,000 | 1.00x | 1.15x |"
    assert lines[3] == "| torch | 26,000 | 0.87x | 1.00x |"
    with_eager = table(rows + [{"library": "minigrad", "chars_per_s": 15_000}]).splitlines()
    assert "vs minigrad |" in with_eager[0]
    assert with_eager[2] == "| minigrad-compile | 30,000 | 2.00x | 1.15x |"
