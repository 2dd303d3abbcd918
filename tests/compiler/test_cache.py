"""The disk cache of generated kernels: a second process compiles nothing; a changed cell does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCRIPT = """
m = Recurrent(Cell1, 2, 3, rng=0)
out, h_n = m(mg.tensor(np.ones((4, 2, 2), np.float32)))
out.sum().backward()
kernels = compiled_step(m.cells["_l0"], np.float32).kernels
stats = {name: [sum(getattr(kernels, name).stats.cache_hits.values()),
                sum(getattr(kernels, name).stats.cache_misses.values())]
         for name in ("forward", "backward")}
print(json.dumps({"stats": stats, "file": kernels.__file__, "h": h_n.numpy().tolist()}))
"""
THREADS = {"MINIGRAD_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def test_second_process_loads_the_kernels_and_a_changed_cell_compiles_anew(tmp_path,
                                                                          run_cell_script):
    first = run_cell_script(tmp_path, "tanh", SCRIPT, **THREADS)
    assert first["stats"]["forward"] == [0, 1] and first["stats"]["backward"] == [0, 1]
    assert Path(first["file"]).parent == tmp_path / "cells"
    second = run_cell_script(tmp_path, "tanh", SCRIPT, **THREADS)
    assert second["file"] == first["file"] and second["h"] == first["h"]
    assert second["stats"]["forward"] == [1, 0] and second["stats"]["backward"] == [1, 0]
    changed = run_cell_script(tmp_path, "sigmoid", SCRIPT, **THREADS)
    assert changed["file"] != first["file"]
    assert changed["stats"]["forward"] == [0, 1]
    assert len(list((tmp_path / "cells").glob("*.py"))) == 2


def test_an_unwritable_cache_directory_falls_back_to_a_temporary_one(tmp_path, monkeypatch):
    from minigrad.compiler import cache

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(blocked))
    path = cache.cache_dir()
    assert path.name == "cells" and path.parent.name.startswith("minigrad-")
    assert os.access(path, os.W_OK)


def test_a_changed_scalar_rule_changes_the_generated_module(monkeypatch):
    from minigrad.backends import scalar_rules
    from minigrad.compiler import emit_cpu

    before = emit_cpu.rules_fingerprint({"tanh", "mul_da"})
    original = scalar_rules.RULES["tanh"]

    def edited(ft, lib):  # pragma: no cover - only its source text matters here
        """tanh, edited."""
        return original.factory(ft, lib)

    monkeypatch.setitem(scalar_rules.RULES, "tanh", original.__class__(
        "tanh", 1, edited, original.uses, original.doc))
    assert emit_cpu.rules_fingerprint({"tanh", "mul_da"}) != before
    assert emit_cpu.rules_fingerprint({"add"}) == emit_cpu.rules_fingerprint({"add_da"})


def test_a_damaged_cell_kernel_cache_is_rebuilt_with_one_warning(tmp_path, monkeypatch):
    import warnings

    import numpy as np

    from minigrad.backends.kernel_source import KernelCacheWarning
    from minigrad.compiler import cache

    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path))
    source = ("from numba import njit\n\n\n@njit(cache=True)\ndef kernel(x):\n"
              "    return x * 2.0 + 1.0\n")
    module = cache.load(source, prefix="damagetest")
    assert module.kernel(np.arange(3.0)).tolist() == [1.0, 3.0, 5.0]  # writes the Numba cache
    index = next((tmp_path / "cells" / "__pycache__").glob("minigrad_damagetest_*.nbi"))
    index.write_bytes(b"\x80\x04 torn")
    monkeypatch.setattr(cache, "_MODULES", {})
    monkeypatch.delitem(sys.modules, module.__name__)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = cache.load(source, prefix="damagetest")
    assert [w.category for w in caught] == [KernelCacheWarning]
    assert "kernel 'kernel' was damaged (UnpicklingError" in str(caught[0].message)
    assert again.kernel(np.arange(3.0)).tolist() == [1.0, 3.0, 5.0]
