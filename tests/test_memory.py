"""minigrad keeps freed array memory between training steps on glibc (backends/memory.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="malloc tuning applies to glibc only")

STEPS = """
import resource, numpy as np, minigrad as mg
from minigrad.backends import memory
from lstm import LSTM
mg.set_num_threads(2)  # pool threads: glibc gives them arenas of their own
rng = np.random.default_rng(0)
m = LSTM(32, 128, rng=0)
x = mg.tensor(rng.standard_normal((100, 32, 32)).astype(np.float32), requires_grad=True)
def step():
    m.zero_grad(); x.grad = None
    m(x)[0].sum().backward()
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(sorted(memory.applied.items()), (f1 - f0) / 10)
"""


def _run(env_extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "MINIGRAD_MALLOC"}
    out = subprocess.run([sys.executable, "-c", STEPS], env={**env, **env_extra},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.rsplit(" ", 1)
    return applied, float(faults)


@glibc
def test_training_steps_reuse_their_pages():
    """An LSTM step (B=32, T=100, H=128: 6.5 MB of gates) took ~2,200 fresh page faults per step
    with glibc's defaults (4-5 ms of 25); kept memory takes almost none."""
    applied, faults = _run({})
    assert applied == "[('mmap_threshold', 33554432), ('trim_threshold', 536870912)]"
    assert faults < 100
    applied, faults_system = _run({"MINIGRAD_MALLOC": "system"})
    assert applied == "[]"
    assert faults_system > 10 * max(faults, 10)


@glibc
def test_glibc_variables_win():
    applied, _ = _run({"MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert applied == "[('mmap_threshold', 33554432)]"


def test_bad_setting_is_named():
    out = subprocess.run([sys.executable, "-c", "import minigrad"],
                         env={**os.environ, "MINIGRAD_MALLOC": "fast"}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert "MINIGRAD_MALLOC must be 'keep' or 'system', got 'fast'" in out.stderr
