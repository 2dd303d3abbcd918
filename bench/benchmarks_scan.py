"""asv: minGRU / minLSTM (trained through one mg.linear_scan) against the fused GRU and LSTM
across T, and the scan primitive against a bare memory pass (issue 21).

A training step is one layer's forward over bench.peers' fixed x (T, B, I) with the tape on and
the backward of out.sum() (no optimizer): B 32, I 32, H 128, float32, as benchmarks_speed. The
scan cases time mg.linear_scan's CPU kernel on a and b of shape (T, B*H) next to np.add over the
same arrays (the bytes a scan must move: read a and b, write h). bench/scan_speed.py prints the
same comparison as one table with ratios.
"""

from __future__ import annotations

from bench.asv_cases import BATCH, HIDDEN, INPUT, TimedSamples, skip, warmed_train_step

SCAN_MODELS = ["mingru", "minlstm", "gru", "lstm"]
SCAN_SEQ_LENS = [100, 400, 1000, 4000]
_CASES: dict = {}


def scan_model_step(model: str, seq_len: int):
    """A warmed training step of `model` (cached per process)."""
    key = (model, seq_len)
    if key in _CASES:
        return _CASES[key]
    try:
        from lstm.models import MODEL_NAMES, build_recurrent
    except ImportError as e:
        skip(f"lstm.models not importable at this commit ({e})")
    if model not in MODEL_NAMES:
        skip(f"no model {model!r} at this commit")
    _CASES[key] = warmed_train_step(build_recurrent(model, INPUT, HIDDEN, seq_len, rng=0),
                                    seq_len)
    return _CASES[key]


class ScanModels(TimedSamples):
    """minGRU / minLSTM (scan) and the fused GRU / LSTM: one training step across T."""

    params = (SCAN_MODELS, SCAN_SEQ_LENS)
    param_names = ["model", "seq_len"]
    repeat = (3, 20, 4.0)

    def setup(self, model, seq_len):
        self.step = scan_model_step(model, seq_len)

    def time_train_step(self, model, seq_len):
        self.step()


class LinearScan:
    """mg.linear_scan's CPU kernel (forward, backward) and a memory pass over the same bytes."""

    params = ([1000, 4000],)
    param_names = ["seq_len"]
    number = 1
    repeat = (3, 30, 2.0)
    rounds = 1
    timeout = 300

    def setup(self, seq_len):
        import numpy as np

        try:
            from minigrad.backends import cpu
        except ImportError as e:
            skip(f"minigrad not importable ({e})")
        if not hasattr(cpu, "linear_scan"):
            skip("no mg.linear_scan at this commit")
        rng = np.random.default_rng(0)
        shape = (seq_len, BATCH * HIDDEN)
        self.a = rng.uniform(0.5, 1.0, shape).astype(np.float32)
        self.b = rng.standard_normal(shape).astype(np.float32)
        self.h0 = np.zeros(shape[1:], np.float32)
        self.out = np.empty_like(self.a)
        self.cpu, self.np = cpu, np
        self.h = cpu.linear_scan(self.a, self.b, self.h0, 0)
        cpu.linear_scan_backward(self.a, self.b, self.h, self.h0, self.b, 0)

    def time_scan(self, seq_len):
        self.cpu.linear_scan(self.a, self.b, self.h0, 0)

    def time_scan_backward(self, seq_len):
        self.cpu.linear_scan_backward(self.a, self.b, self.h, self.h0, self.b, 0)

    def time_memory_pass(self, seq_len):
        self.np.add(self.a, self.b, out=self.out)
