"""bench.apps_compile: the LRU count of traces its --signatures table is made of, and the
command line's check of --apps."""

from __future__ import annotations

import pytest

from bench import apps_compile


def test_misses_count_an_lru_cache_of_signatures():
    assert apps_compile._misses([1, 2, 1, 2, 3], size=2) == 3  # hits on the second 1 and 2
    assert apps_compile._misses([1, 2, 3, 1], size=2) == 4  # 1 was dropped when 3 came
    assert apps_compile._misses([1, 2, 1, 3, 1], size=2) == 3  # least recently used: 2 goes
    assert apps_compile._misses([1, 1, 1], size=8) == 1
    assert apps_compile._misses(list(range(20)) * 2, size=8) == 40


def test_unknown_apps_are_named(capsys):
    with pytest.raises(SystemExit):
        apps_compile.main(["--apps", "classify,nope"])
    assert "--apps: expected some of classify,translate,forecast,charlm, got nope" in (
        capsys.readouterr().err)
