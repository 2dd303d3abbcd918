"""The disk cache of generated kernels: a second process compiles nothing; a changed cell does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
import numpy as np
import minigrad as mg
from lstm import Cell, Recurrent
from lstm.cells import make_uniform
from lstm.fused import compiled_step

class Cell1(Cell):
    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (2 * hidden_size, input_size),
                            "weight_hh": (2 * hidden_size, hidden_size)}, hidden_size, "",
                     self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        a, b = (x @ self.weight_ih.T + h @ self.weight_hh.T).split(2, axis=-1)
        return (a.sigmoid() * h + b.OPERATION(),)

m = Recurrent(Cell1, 2, 3, rng=0)
out, h_n = m(mg.tensor(np.ones((4, 2, 2), np.float32)))
out.sum().backward()
kernels = compiled_step(m.cells["_l0"], np.float32).kernels
stats = {name: [sum(getattr(kernels, name).stats.cache_hits.values()),
                sum(getattr(kernels, name).stats.cache_misses.values())]
         for name in ("forward", "backward")}
print(json.dumps({"stats": stats, "file": kernels.__file__, "h": h_n.numpy().tolist()}))
"""


def _run(tmp_path: Path, operation: str) -> dict:
    env = dict(os.environ, MINIGRAD_CACHE_DIR=str(tmp_path), PYTHONPATH=os.getcwd(),
               MINIGRAD_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", SCRIPT.replace("OPERATION", operation)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_kernels_and_a_changed_cell_compiles_anew(tmp_path):
    first = _run(tmp_path, "tanh")
    assert first["stats"]["forward"] == [0, 1] and first["stats"]["backward"] == [0, 1]
    assert Path(first["file"]).parent == tmp_path / "cells"
    second = _run(tmp_path, "tanh")
    assert second["file"] == first["file"] and second["h"] == first["h"]
    assert second["stats"]["forward"] == [1, 0] and second["stats"]["backward"] == [1, 0]
    changed = _run(tmp_path, "sigmoid")
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
