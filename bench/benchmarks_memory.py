"""asv: memory of one training step of minigrad's layers (B=32, I=32, H=128, float32).

`TracedStepMemory` tracks what tracemalloc sees during one training step after warm-up: numpy
buffers and Python objects (the tape, saved activations, gradients). Arrays that Numba allocates
inside compiled code are invisible to it; `StepPeakRSS` catches those: the process's peak
resident memory after one full-size step, next to `peakmem_reference`, the same process after the
same setup (interpreter, imports, compiled kernels, weights, input) without the step. Their
difference is the step's own footprint.
"""

from __future__ import annotations

from bench import asv_cases as cases
from bench import page_faults
from bench.peers import saved_bytes_lower_bound
from bench.peers.worker import traced_peak_bytes


class TracedStepMemory:
    """tracemalloc peak of one training step, and its ratio to what backward must keep."""

    params = (cases.MODELS, cases.IMPLS, [64, 256, 1024])
    param_names = ["model", "impl", "seq_len"]
    rounds = 1
    timeout = 300

    def setup(self, model, impl, seq_len):
        self.case = cases.minigrad_case(model, impl, seq_len)

    def track_step_bytes(self, model, impl, seq_len):
        return traced_peak_bytes(self.case.train_step)

    track_step_bytes.unit = "bytes"

    def track_step_bytes_over_saved_bound(self, model, impl, seq_len):
        """Peak over the activations backward must read (bench.peers.saved_bytes_lower_bound)."""
        bound = saved_bytes_lower_bound(model, cases.BATCH, seq_len, cases.HIDDEN)
        return traced_peak_bytes(self.case.train_step) / bound

    track_step_bytes_over_saved_bound.unit = "ratio"


class StepPeakRSS:
    """Peak resident memory with and without one full-size training step."""

    params = (cases.MODELS, cases.IMPLS, [256, 1024])
    param_names = ["model", "impl", "seq_len"]
    rounds = 1
    timeout = 300

    def setup(self, model, impl, seq_len):
        # Compiling takes LLVM far more memory than loading: compile in a child process so that
        # this one only loads cached kernels, and warm up here on a tiny input, both to keep the
        # high-water mark below the full step's.
        cases.check_runnable(impl, seq_len)
        cases.run_python(cases.layer_snippet(model, impl, cases.WARM_SEQ_LEN, cases.WARM_BATCH))
        self.case = cases.minigrad_case(model, impl, seq_len, warm_full=False)

    def peakmem_train_step(self, model, impl, seq_len):
        self.case.train_step()

    def peakmem_reference(self, model, impl, seq_len):
        """Nothing: the interpreter, imports and setup that peakmem_train_step also counts."""


class StepPageFaults:
    """Fresh (minor) page faults per LSTM training step (B=32, T=100, H=128), with minigrad's
    malloc thresholds (`keep`) and with glibc's defaults (`system`): bench/page_faults.py. The
    defaults' count is a property of the machine's glibc, so it is tracked here, not tested."""

    params = [list(page_faults.SETTINGS)]
    param_names = ["malloc"]
    rounds = 1
    number = 1
    repeat = 1
    timeout = 600

    def track_faults_per_step(self, malloc):
        return page_faults.faults_per_step(malloc)[1]

    track_faults_per_step.unit = "faults"
