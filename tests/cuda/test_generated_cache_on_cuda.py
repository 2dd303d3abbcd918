"""The generated CUDA module is cached on disk by its text like the CPU one: a second process
imports the same file without writing it again; a changed cell gets another file. (Whether
numba.cuda's own cache then skips compiling needs a GPU: the simulator compiles nothing.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cuda
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, os
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

m = Recurrent(Cell1, 2, 3, rng=0).to("cuda")
out, h_n = m(mg.tensor(np.ones((3, 2, 2), np.float32), device="cuda"))
out.sum().backward()
module, _ = compiled_step(m.cells["_l0"], np.float32).cuda()
print(json.dumps({"file": module.__file__, "mtime": os.stat(module.__file__).st_mtime_ns,
                  "h": h_n.numpy().tolist()}))
"""


def _run(tmp_path, operation):
    env = dict(os.environ, MINIGRAD_CACHE_DIR=str(tmp_path), NUMBA_ENABLE_CUDASIM="1",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT.replace("OPERATION", operation)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_reuses_the_cuda_module_and_a_changed_cell_gets_a_new_one(tmp_path):
    first = _run(tmp_path, "tanh")
    second = _run(tmp_path, "tanh")
    changed = _run(tmp_path, "relu")
    assert Path(first["file"]).name.startswith("minigrad_cudacell_")
    assert Path(first["file"]).parent == tmp_path / "cells"
    assert second["file"] == first["file"] and second["mtime"] == first["mtime"]
    assert second["h"] == first["h"]
    assert changed["file"] != first["file"] and changed["h"] != first["h"]
