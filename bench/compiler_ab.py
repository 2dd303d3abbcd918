"""A/B of the built-in cells: hand-written fused kernels vs the cell compiler's, in one process.

python -m bench.compiler_ab [--rounds N] [--models lstm,gru,rnn] [--configs 32,100,32,128;...]
Forward + backward of (out * w).sum(), float32, rounds interleaved (A, B, A, B, ...); prints the
median milliseconds of each and the ratio generated / hand-written.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import lstm.fused as fused_module
import minigrad as mg
from lstm import GRU, LSTM, RNN
from lstm.cells import GRUCell, LSTMCell, RNNCell

LAYERS = {"lstm": (LSTM, LSTMCell), "gru": (GRU, GRUCell), "rnn": (RNN, RNNCell)}
CONFIGS = [(32, 100, 32, 128), (16, 1000, 2, 128), (64, 200, 64, 256)]


def _step(module, x, w):
    out, _ = module(x)
    (out * w).sum().backward()


def measure(model: str, config, rounds: int, repeats: int = 3) -> dict:
    """Median ms of hand-written and generated forward + backward, interleaved."""
    B, T, I, H = config
    layer, cell = LAYERS[model]
    rng = np.random.default_rng(0)
    m = layer(I, H, rng=0)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32))
    w = mg.tensor(rng.standard_normal((T, B, H)).astype(np.float32))
    times = {"handwritten": [], "generated": []}
    for _ in range(rounds):
        for variant in times:
            if variant == "handwritten":
                fused_module.HANDWRITTEN.add(cell)
            else:
                fused_module.HANDWRITTEN.discard(cell)
            _step(m, x, w)  # warm (and compile on first use)
            start = time.perf_counter()
            for _ in range(repeats):
                _step(m, x, w)
            times[variant].append((time.perf_counter() - start) / repeats * 1e3)
    fused_module.HANDWRITTEN.add(cell)
    hand = statistics.median(times["handwritten"])
    gen = statistics.median(times["generated"])
    return {"model": model, "config": config, "handwritten_ms": hand, "generated_ms": gen,
            "ratio": gen / hand}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", default="lstm,gru,rnn")
    parser.add_argument("--configs", default=";".join(",".join(map(str, c)) for c in CONFIGS),
                        help="B,T,I,H;B,T,I,H;...")
    args = parser.parse_args(argv)
    configs = [tuple(int(v) for v in c.split(",")) for c in args.configs.split(";")]
    for model in args.models.split(","):
        for config in configs:
            r = measure(model, config, args.rounds)
            print(f"{model:5s} B,T,I,H={config}: hand-written {r['handwritten_ms']:7.2f} ms  "
                  f"generated {r['generated_ms']:7.2f} ms  ratio {r['ratio']:.3f}", flush=True)


if __name__ == "__main__":
    main()
