"""The generated lane loops vectorise even when they read and write many row views.

The sLSTM's forward stores ten views and its backward sixteen: past LLVM's default cap of 128
runtime alias checks the loop vectoriser left both scalar (minigrad.backends.vectorise). Compiled
in a fresh process with an empty kernel cache (Numba's cached code cannot be inspected), both
kernels must hold vector divisions: the lane loop's own (the GEMMs are calls, the row copies
divide nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json, re
import numpy as np
import minigrad as mg
from lstm import Recurrent
from lstm.cell_zoo_xlstm import SLSTMCell
from lstm.fused import compiled_step

m = Recurrent(SLSTMCell, 3, 8, num_heads=2, rng=0)
out, _ = m(mg.tensor(np.ones((4, 2, 3), np.float32)))
out.sum().backward()
kernels = compiled_step(m.cells["_l0"], np.float32).kernels
found = {}
for name in ("forward", "backward"):
    kernel = getattr(kernels, name)
    ir = kernel.inspect_llvm(kernel.signatures[0])
    found[name] = len(re.findall(r"fdiv[^\\n]*<\\d+ x float>", ir))
print(json.dumps(found))
"""


def test_the_slstm_lane_loops_vectorise(tmp_path):
    env = dict(os.environ, MINIGRAD_CACHE_DIR=str(tmp_path), PYTHONPATH=os.getcwd(),
               MINIGRAD_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["forward"] > 0 and found["backward"] > 0, found
