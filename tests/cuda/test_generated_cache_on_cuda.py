"""The generated CUDA module is cached on disk by its text like the CPU one: a second process
imports the same file without writing it again; a changed cell gets another file. (Whether
numba.cuda's own cache then skips compiling needs a GPU: the simulator compiles nothing.)"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.cuda
SCRIPT = """
m = Recurrent(Cell1, 2, 3, rng=0).to("cuda")
out, h_n = m(mg.tensor(np.ones((3, 2, 2), np.float32), device="cuda"))
out.sum().backward()
module, _ = compiled_step(m.cells["_l0"], np.float32).cuda()
print(json.dumps({"file": module.__file__, "mtime": os.stat(module.__file__).st_mtime_ns,
                  "h": h_n.numpy().tolist()}))
"""


def test_second_process_reuses_the_cuda_module_and_a_changed_cell_gets_a_new_one(
        tmp_path, run_cell_script):
    first, second, changed = (run_cell_script(tmp_path, operation, SCRIPT,
                                              NUMBA_ENABLE_CUDASIM="1")
                              for operation in ("tanh", "tanh", "relu"))
    assert Path(first["file"]).name.startswith("minigrad_cudacell_")
    assert Path(first["file"]).parent == tmp_path / "cells"
    assert second["file"] == first["file"] and second["mtime"] == first["mtime"]
    assert second["h"] == first["h"]
    assert changed["file"] != first["file"] and changed["h"] != first["h"]
