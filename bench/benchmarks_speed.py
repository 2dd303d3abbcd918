"""asv: time of one recurrent layer's forward and training step across sequence lengths.

B=32, I=32, H=128, float32, one layer, one direction (what bench.asv_cases builds). `Recurrent`
times minigrad's layers, fused and composed; `Peers` times torch.nn, JAX (jit over lax.scan)
and HIPS autograd on the same inputs and weights, each skipped where it is not installed.

Timing: setup() builds and warms the case once per process (asv re-runs setup before every
sample; the build is cached, so re-runs cost nothing), then each sample is one call (number = 1:
the slowest cases take seconds, the fastest over 100 us, far above the timer's resolution).
Sampling stops once 4 s of samples are taken (at least 3, at most 30); one round (one process)
per parameter combination keeps the full suite affordable on 2 cores.
"""

from __future__ import annotations

from bench.asv_cases import (
    IMPLS,
    MODELS,
    PEERS,
    SEQ_LENS,
    TimedSamples,
    minigrad_case,
    peer_case,
)


class _Layers(TimedSamples):
    """setup builds self.case (a bench.asv_cases.Case) with the class's `build` from the
    parameters; the two timings call its forward and its training step."""

    def setup(self, *params):
        self.case = type(self).build(*params)

    def time_forward(self, *params):
        self.case.forward()

    def time_train_step(self, *params):
        self.case.train_step()


class Recurrent(_Layers):
    """minigrad's RNN / LSTM / GRU layers; composed stops at seq_len 256 (skipped above)."""

    params = (MODELS, IMPLS, SEQ_LENS)
    param_names = ["model", "impl", "seq_len"]
    build = staticmethod(minigrad_case)


class Peers(_Layers):
    """torch.nn.{RNN,LSTM,GRU}, JAX jit(lax.scan) and HIPS autograd (up to seq_len 256), same
    sizes and weights."""

    params = (PEERS, MODELS, SEQ_LENS)
    param_names = ["library", "model", "seq_len"]
    build = staticmethod(peer_case)
