"""asv: whole steps under mg.compile (issue 18) against the same steps eager, across seq_len.

Two steps, float32, B=32, H=128: ``plain_lstm``, the LSTM written from public primitives as a
Python loop (bench.peers.compiled_models.mg_lstm_step, I=32), forward + backward of the
sum of its outputs; ``adding``, an `lstm train`-like adding step (fused LSTM, readout, MSE,
backward, norm clipping at 1, Adam: compiled_models.mg_adding_step). ``time_step`` times one
call after the first (the trace); ``track_compile_seconds`` is the first call of a fresh
``mg.compile`` of the step, i.e. the trace (one eager run under the recorder) and the program's
generation, in a process whose Numba kernels are already compiled. Commits without
``mg.compile`` are skipped.
"""

from __future__ import annotations

import time

import numpy as np

from bench.asv_cases import skip
from bench.peers import PARAM_NAMES, recurrent_weights, sequence_input

STEPS = ["plain_lstm", "adding"]
SEQ_LENS = [25, 100, 400]
B, I, H = 32, 32, 128


def build_step(step_name, seq_len):
    """(step function, its arguments) of a fresh model."""
    import minigrad as mg

    if not hasattr(mg, "compile"):
        skip("no mg.compile at this commit")
    from bench.peers.compiled_models import mg_adding_step, mg_lstm_step

    if step_name == "plain_lstm":
        w = recurrent_weights("lstm", I, H)
        step = mg_lstm_step([mg.tensor(w[k], requires_grad=True) for k in PARAM_NAMES])
        return step, (mg.tensor(sequence_input(seq_len, B, I)),)
    from lstm import LSTM, tasks

    step = mg_adding_step(LSTM(2, H, forget_bias=1.0, rng=0), mg.nn.Linear(H, 1, rng=1))
    x, y = tasks.adding(B, seq_len, np.random.default_rng(0))
    return step, (mg.tensor(x), mg.tensor(y))


class WholeStep:
    """One step, eager or compiled (the trace is done in setup, never timed)."""

    params = (STEPS, ["eager", "compiled"], SEQ_LENS)
    param_names = ["step", "mode", "seq_len"]
    number = 1
    repeat = (3, 20, 4.0)
    rounds = 1
    timeout = 900

    def setup(self, step_name, mode, seq_len):
        import minigrad as mg

        step, self.args = build_step(step_name, seq_len)
        self.step = mg.compile(step) if mode == "compiled" else step
        self.step(*self.args)  # the trace (compiled), Numba's first calls (both)
        self.step(*self.args)

    def time_step(self, step_name, mode, seq_len):
        self.step(*self.args)


class CompileSeconds:
    """Seconds of a fresh mg.compile's first call (the trace and the program's generation)."""

    params = (STEPS, SEQ_LENS)
    param_names = ["step", "seq_len"]
    unit = "seconds"
    timeout = 900

    def setup(self, step_name, seq_len):
        step, args = build_step(step_name, seq_len)
        step(*args)  # Numba's kernels compiled in this process: the track is the compiler's

    def track_compile_seconds(self, step_name, seq_len):
        import minigrad as mg

        step, args = build_step(step_name, seq_len)
        compiled = mg.compile(step)
        started = time.perf_counter()
        compiled(*args)
        return time.perf_counter() - started


class ColdCompileSeconds:
    """Seconds of mg.compile's first two calls (the trace, then the program's first run, where
    Numba compiles the fused kernels) in a new process whose kernel caches are empty: every
    Numba kernel of the backends and of the fusion compiled (issue 18's target: <= 10 s), as
    ``python -m bench.compile_first_call`` measures its cold run. T = 100 only."""

    params = (STEPS,)
    param_names = ["step"]
    unit = "seconds"
    number = 1
    repeat = 1
    timeout = 1800

    def setup(self, step_name):
        import minigrad as mg

        if not hasattr(mg, "compile"):
            skip("no mg.compile at this commit")
        try:
            from bench.compile_first_call import cache_env, run_worker
        except ImportError:
            skip("no bench.compile_first_call.run_worker at this commit")
        self.cache_env, self.run_worker = cache_env, run_worker

    def track_cold_compile_seconds(self, step_name):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            r = self.run_worker(step_name, 100, self.cache_env(tmp))
        return r["first_compiled_call_s"] + r["second_compiled_call_s"]
