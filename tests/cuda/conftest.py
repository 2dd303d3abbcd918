"""The CUDA tests: on a GPU, or under Numba's simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is
imported, so in its own process: `make test` runs `NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda`).

Without either, every test here is skipped with that reason, so a plain `pytest tests` passes on a
machine without a GPU.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HERE = Path(__file__).parent

if SIMULATOR:
    # The simulator runs each CUDA thread as a Python thread and polls them at every barrier; a
    # short GIL switch interval makes barrier-heavy kernels (reductions, GEMM) about 10x faster.
    sys.setswitchinterval(1e-4)


def pytest_configure(config):
    if SIMULATOR:
        # Simulated kernels compute with numpy scalars: xoroshiro128+'s uint64 wrap-around and a
        # NaN from 0/0 (an all-ignored cross-entropy) become numpy warnings, and numba.cuda.random
        # asks for object mode there. None of it happens on a GPU.
        for line in ("ignore:overflow encountered:RuntimeWarning",
                     "ignore:invalid value encountered:RuntimeWarning",
                     "ignore:The keyword argument 'nopython=False'"):
            config.addinivalue_line("filterwarnings", line)


def cuda_usable() -> bool:
    if SIMULATOR:
        return True
    from minigrad.cuda import is_available

    return is_available()


def pytest_collection_modifyitems(config, items):
    if cuda_usable():
        return
    skip = pytest.mark.skip(reason="no GPU and NUMBA_ENABLE_CUDASIM is not set: run the CUDA "
                            "tests with `NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda` (make test)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)
