"""minigrad keeps freed array memory between training steps on glibc (backends/memory.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from bench.page_faults import faults_per_step

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="malloc tuning applies to glibc only")


@glibc
def test_training_steps_reuse_their_pages():
    """What minigrad promises: with its thresholds applied, an LSTM step (B=32, T=100, H=128:
    6.5 MB of gates) reuses the pages the previous step freed, so it takes almost no fresh page
    faults. How many glibc's *defaults* take is a property of the machine (2,205 per step on one
    Xeon, 0.1 on an EPYC with glibc 2.36): bench/page_faults.py and asv measure it."""
    applied, faults = faults_per_step()
    assert applied == ("[('mmap_max', 0), ('mmap_threshold', 33554432), "
                       "('trim_threshold', 536870912)]")
    assert faults < 100


@glibc
def test_system_setting_leaves_malloc_alone():
    applied, _ = faults_per_step("system")
    assert applied == "[]"


@glibc
def test_glibc_variables_win():
    applied, _ = faults_per_step(env_extra={"MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert applied == "[('mmap_max', 0), ('mmap_threshold', 33554432)]"


BIG_BLOCKS = """
import resource, numpy as np, minigrad
def take():
    a = np.empty(12 << 20, np.float32)  # 48 MiB: past glibc's 32 MiB mmap ceiling
    a[:] = 1.0
take()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    take()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 5)
"""


@glibc
def test_blocks_past_the_mmap_threshold_reuse_their_pages():
    """An array over 32 MiB (the fused GRU's gates at T = 1000, a minGRU layer's output at
    T = 4000) freed and taken again reuses its pages: malloc maps no block of its own (glibc
    would map and unmap it each time: 24-12,288 fresh faults, huge pages or not)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "MINIGRAD_MALLOC"}
    out = subprocess.run([sys.executable, "-c", BIG_BLOCKS], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) < 4


def test_bad_setting_is_named():
    out = subprocess.run([sys.executable, "-c", "import minigrad"],
                         env={**os.environ, "MINIGRAD_MALLOC": "fast"}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert "MINIGRAD_MALLOC must be 'keep' or 'system', got 'fast'" in out.stderr
