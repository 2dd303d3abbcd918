"""Every CUDA kernel compiles for a real GPU (sm_80 PTX) and its float32 form has no float64
instruction. Runs tests/cuda/ptx_check.py in a process without the simulator; needs the CUDA
toolkit's libNVVM and NVRTC (pip nvidia-cuda-nvrtc), not a GPU, and skips when they are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigrad.backends.cuda_foreach import FLOAT64_BY_DESIGN

pytestmark = pytest.mark.cuda
MISSING_TOOLKIT = ("Failure finding", "libNVVM", "libnvvm", "NVVM", "nvrtc", "CUDA_HOME")


@pytest.fixture(scope="module")
def compiled():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    script = Path(__file__).with_name("ptx_check.py")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    error = result["error"]
    if error and any(word in error for word in MISSING_TOOLKIT):
        pytest.skip(f"cannot compile CUDA kernels here: {error[:200]}")
    assert error is None, error
    return result["kernels"]


def test_every_kernel_compiles_to_ptx(compiled):
    assert len(compiled) >= 30


def test_float32_kernels_have_no_float64_instructions(compiled):
    assert compiled.pop("control_promotes") > 0  # the count sees a promotion when there is one
    libdevice = compiled.pop("control_libdevice_sinf")  # __nv_sinf's huge-|x| path, not ours
    for name in FLOAT64_BY_DESIGN:  # the gradient norm sums in float64, as the CPU's
        assert compiled.pop(name) > 0
    trigonometric = ("rule_sin_", "rule_cos_", "rule_tan_")
    promoted = {name: n for name, n in compiled.items()
                if n and not (name.startswith(trigonometric) and n <= libdevice)}
    assert not promoted, f"float64 instructions in float32 kernels: {promoted}"
