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


def _serialise_shared_allocation():
    """numba-cuda's simulator creates a block's shared array when the first thread reaches
    `cuda.shared.array`, with no lock: two threads can each create one and then not share it.
    Same behaviour (one array per block and source line), with a lock."""
    import threading
    import traceback

    import numpy as np
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    lock = threading.Lock()
    original = kernelapi.FakeCUDAShared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory: not used here
            return original(self, shape, dtype, alignment)
        caller = traceback.extract_stack(sys._getframe())[-2][0:2]
        with lock:
            shared = self._allocations.get(caller)
            if shared is None:
                if isinstance(dtype, types.Type):
                    dtype = numpy_support.as_dtype(dtype)
                shared = self._allocations[caller] = np.empty(shape, dtype)
        return shared

    kernelapi.FakeCUDAShared.array = array


if SIMULATOR:
    _serialise_shared_allocation()


def pytest_configure(config):
    if SIMULATOR:
        # Simulated kernels compute with numpy scalars: xoroshiro128+'s uint64 wrap-around and a
        # NaN from 0/0 (an all-ignored cross-entropy) become numpy warnings, and numba.cuda.random
        # asks for object mode there. None of it happens on a GPU.
        for line in ("ignore:overflow encountered:RuntimeWarning",
                     "ignore:invalid value encountered:RuntimeWarning",
                     "ignore:The keyword argument 'nopython=False'"):
            config.addinivalue_line("filterwarnings", line)


@pytest.fixture
def assert_cuda_equals_cpu():
    """assert_cuda_equals_cpu(cases, name, atol=1e-6): cases[name] = (fn, [(shape, transform),
    ...]) run on the CPU and on CUDA on the same float32 draws (seeded by the name's place in
    the sorted cases) with the same random upstream gradient: the output's device, dtype and
    shape, its values and every input's gradient (None on both or of the same dtype and values)
    agree to rtol 1e-5 and atol."""
    import numpy as np

    import minigrad as mg
    from minigrad.backends import get

    def run(fn, arrays, device):
        tensors = [mg.tensor(a, requires_grad=True, device=device) for a in arrays]
        out = fn(*tensors)
        upstream = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
        out.backward(mg.tensor(upstream, device=device))
        return out, [None if t.grad is None else get(device).to_host(t.grad) for t in tensors]

    def check(cases, name, atol=1e-6):
        fn, inputs = cases[name]
        rng = np.random.default_rng(sorted(cases).index(name))
        arrays = [m(rng.standard_normal(shape)).astype(np.float32) for shape, m in inputs]
        out_cpu, grads_cpu = run(fn, arrays, "cpu")
        out_cuda, grads_cuda = run(fn, arrays, "cuda")
        assert out_cuda.device == "cuda"
        assert out_cuda.dtype == out_cpu.dtype and out_cuda.shape == out_cpu.shape
        np.testing.assert_allclose(out_cuda.numpy(), out_cpu.numpy(), rtol=1e-5, atol=atol)
        for i, (g_cpu, g_cuda) in enumerate(zip(grads_cpu, grads_cuda)):
            assert (g_cpu is None) == (g_cuda is None), f"input {i}"
            if g_cpu is not None:
                assert g_cuda.dtype == g_cpu.dtype, f"input {i}"
                np.testing.assert_allclose(g_cuda, g_cpu, rtol=1e-5, atol=atol,
                                           err_msg=f"gradient of input {i}")

    return check


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
