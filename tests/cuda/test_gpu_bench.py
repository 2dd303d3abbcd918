"""bench/gpu_lstm.py: import-safe for asv, skips cleanly without a GPU, and its step runs (on a
tiny configuration under the simulator; the real sizes are for a GPU)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import gpu_lstm  # noqa: E402

pytestmark = pytest.mark.cuda
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def test_module_defines_no_stray_asv_names():
    stray = [n for n in vars(gpu_lstm) if n.startswith(("time_", "track_", "peakmem_"))]
    assert stray == []


def test_flops_are_the_sum_of_the_six_gemms():
    batch, steps, inputs, hidden = 2, 3, 5, 7
    gates = 4 * hidden
    forward = 2 * batch * inputs * gates + 2 * batch * hidden * gates
    backward = 2 * (2 * batch * gates * inputs) + 2 * (2 * batch * gates * hidden)
    assert gpu_lstm.step_flops(batch, steps, inputs, hidden) == steps * (forward + backward)


@pytest.mark.skipif(not SIMULATOR, reason="checks the simulator's skip")
def test_benchmarks_skip_under_the_simulator(capsys):
    assert "simulator" in gpu_lstm.gpu_unavailable_reason()
    for cls in (gpu_lstm.GpuLstmTrainStep, gpu_lstm.GpuLstmVsCudnn):
        with pytest.raises(NotImplementedError, match="simulator"):
            cls().setup(next(iter(gpu_lstm.CONFIGS)))
    assert gpu_lstm.main() == 0
    assert "skipped" in capsys.readouterr().out


def test_the_benchmarked_step_computes_gradients_on_the_device(monkeypatch):
    monkeypatch.setitem(gpu_lstm.CONFIGS, "tiny", (2, 3, 2, 3))
    step, synchronize = gpu_lstm.minigrad_step("tiny")
    first = step().item()
    synchronize()
    grads = {n: p.grad for n, p in step.model.named_parameters()}
    assert all(p.device == "cuda" for p in step.model.parameters())
    first_grads = {n: g.copy_to_host() for n, g in grads.items()}
    assert all(np.abs(g).sum() > 0 for g in first_grads.values())
    assert step().item() == first  # no optimizer: the same loss again
    for name, p in step.model.named_parameters():  # zeroed, not accumulated
        np.testing.assert_allclose(p.grad.copy_to_host(), first_grads[name], rtol=1e-6)


@pytest.mark.skipif(SIMULATOR, reason="timings need a real GPU")
def test_gpu_step_time_is_measurable():
    seconds = gpu_lstm._median_seconds(*gpu_lstm.minigrad_step("B64_T200_I64_H256"))
    assert 0 < seconds < 60
    assert np.isfinite(gpu_lstm.step_flops(64, 200, 64, 256) / seconds)
