"""The generated elementwise kernels compile once and load from disk in the next process: a rule's
first use costs a compile in a fresh kernel directory and almost nothing in the second process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PROGRAM = """
import json, time
import numpy as np
import minigrad as mg
x = mg.tensor(np.linspace(-2, 2, 64, dtype=np.float32), requires_grad=True)
x.tanh().sum().backward()  # Numba's own start-up (loading its caches) is not what we measure
start = time.perf_counter()
mg.softsign(x).backward(np.ones(64, np.float32))
mg.maximum(x, 0.25).backward(np.ones(64, np.float32))
print(json.dumps(time.perf_counter() - start))
"""


def _run(kernel_dir):
    env = {**os.environ, "MINIGRAD_KERNEL_DIR": str(kernel_dir), "PYTHONPATH": str(ROOT)}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True,
                          check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_compiled_kernels(tmp_path):
    cold = _run(tmp_path)
    files = sorted(p.name for p in tmp_path.glob("*.py"))
    assert any(n.startswith("cpu_softsign_float32_") for n in files), files
    assert any(n.startswith("cpu_maximum_float32_") for n in files), files
    assert list((tmp_path / "__pycache__").glob("*.nbi")), "no Numba cache index written"
    warm = _run(tmp_path)
    assert warm < 0.3 * cold, (cold, warm)


DAMAGED = """
import numpy as np
import minigrad as mg
x = mg.tensor(np.linspace(-2, 2, 8), requires_grad=True)
y = mg.softsign(x)
y.backward(np.arange(8.0))
print(repr(y.numpy().tolist()), repr(x.grad.tolist()))
"""


def _run_damaged(kernel_dir):
    env = {**os.environ, "MINIGRAD_KERNEL_DIR": str(kernel_dir), "PYTHONPATH": str(ROOT),
           "PYTHONWARNINGS": "default"}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run([sys.executable, "-c", DAMAGED], env=env, capture_output=True,
                          text=True, timeout=600)


def test_a_damaged_numba_cache_file_is_rebuilt_and_reported_in_one_line(tmp_path):
    first = _run_damaged(tmp_path)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    cached = sorted((tmp_path / "__pycache__").glob("cpu_softsign_float64_*"))
    index = next(p for p in cached if "forward" in p.name and p.suffix == ".nbi")
    data = next(p for p in cached if "backward" in p.name and p.suffix == ".nbc")
    for damaged in (index, data):
        damaged.write_bytes(b"\x80\x04 not a pickle")
        again = _run_damaged(tmp_path)
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout  # the same values and gradients
        lines = again.stderr.strip().splitlines()
        assert len(lines) == 1, again.stderr
        kernel = "forward" if damaged is index else "backward"
        assert f"KernelCacheWarning: minigrad: the Numba cache of kernel '{kernel}' was " \
               "damaged (UnpicklingError" in lines[0]
        assert "Traceback" not in again.stderr
        clean = _run_damaged(tmp_path)  # rebuilt: the next process reads it without a word
        assert clean.stderr == "" and clean.stdout == first.stdout


def test_an_unusable_kernel_folder_falls_back_to_a_temporary_one_with_one_warning(tmp_path):
    first = _run_damaged(tmp_path / "good")
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the kernel folder should be")
    again = _run_damaged(blocked / "kernels")  # mkdir fails: NotADirectoryError
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1, again.stderr
    assert "KernelCacheWarning: minigrad: cannot write the kernel cache" in lines[0]
    assert str(blocked / "kernels") in lines[0] and "NotADirectoryError" in lines[0]


def test_a_truncated_generated_kernel_file_is_written_again_with_one_warning(tmp_path):
    first = _run_damaged(tmp_path)
    module = next(tmp_path.glob("cpu_softsign_float64_*.py"))
    text = module.read_text()
    module.write_text(text[:text.index("def backward")])  # a torn write: valid Python still
    again = _run_damaged(tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout  # never the damaged program's values
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "KernelCacheWarning" in lines[0] and "damaged" in lines[0], \
        again.stderr
    assert module.read_text() == text
    clean = _run_damaged(tmp_path)
    assert clean.stderr == "" and clean.stdout == first.stdout
