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

from bench.asv_cases import IMPLS, MODELS, PEERS, SEQ_LENS, minigrad_case, peer_case


class Recurrent:
    """minigrad's RNN / LSTM / GRU layers; composed stops at seq_len 256 (skipped above)."""

    params = (MODELS, IMPLS, SEQ_LENS)
    param_names = ["model", "impl", "seq_len"]
    number = 1
    repeat = (3, 30, 4.0)
    rounds = 1
    timeout = 600

    def setup(self, model, impl, seq_len):
        self.case = minigrad_case(model, impl, seq_len)

    def time_forward(self, model, impl, seq_len):
        self.case.forward()

    def time_train_step(self, model, impl, seq_len):
        self.case.train_step()


class Peers:
    """torch.nn.{RNN,LSTM,GRU}, JAX jit(lax.scan) and HIPS autograd (up to seq_len 256), same
    sizes and weights."""

    params = (PEERS, MODELS, SEQ_LENS)
    param_names = ["library", "model", "seq_len"]
    number = 1
    repeat = (3, 30, 4.0)
    rounds = 1
    timeout = 600

    def setup(self, library, model, seq_len):
        self.case = peer_case(library, model, seq_len)

    def time_forward(self, library, model, seq_len):
        self.case.forward()

    def time_train_step(self, library, model, seq_len):
        self.case.train_step()
