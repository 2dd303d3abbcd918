"""Generated fused kernels side by side in one process: a user's cell against the built-in LSTM,
and each against its own composed path.

python -m bench.compiler_ab [--rounds N] [--configs B,T,I,H;...] [--cells lstm,peephole,layernorm]
Forward + backward of (out * w).sum(), float32, the variants interleaved round by round; prints
median milliseconds and the ratios to the built-in fused LSTM. `peephole` is lstm.cell_zoo's
PeepholeLSTMCell (diagonal peepholes, Gers & Schmidhuber 2000), `layernorm` its
LayerNormLSTMCell (Ba, Kiros & Hinton 2016): cells defined as a user defines one (a step of
minigrad ops), compiled by the cell compiler.
"""

from __future__ import annotations

import argparse
import statistics
import time

CONFIGS = [(32, 100, 32, 128), (16, 1000, 2, 128), (64, 200, 64, 256)]


def _layer(cell: str, impl: str, I: int, H: int):
    from lstm import LSTM, LayerNormLSTMCell, PeepholeLSTMCell, Recurrent

    if cell == "lstm":
        return LSTM(I, H, impl=impl, rng=0)
    cell_class = LayerNormLSTMCell if cell == "layernorm" else PeepholeLSTMCell
    return Recurrent(cell_class, I, H, impl=impl, rng=0)


def measure(cells, config, rounds: int, composed: bool) -> dict:
    """Median ms per variant (cell, impl), interleaved round by round."""
    import numpy as np

    import minigrad as mg

    B, T, I, H = config
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32))
    w = mg.tensor(rng.standard_normal((T, B, H)).astype(np.float32))
    variants = {(c, impl): _layer(c, impl, I, H) for c in cells
                for impl in (("fused", "composed") if composed else ("fused",))}
    times = {key: [] for key in variants}
    for _ in range(rounds):
        for key, layer in variants.items():
            out, _ = layer(x)
            (out * w).sum().backward()  # warm (compiles on first use)
            start = time.perf_counter()
            out, _ = layer(x)
            (out * w).sum().backward()
            times[key].append((time.perf_counter() - start) * 1e3)
    return {key: statistics.median(v) for key, v in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cells", default="lstm,peephole")
    parser.add_argument("--composed", action="store_true", help="also time impl='composed'")
    parser.add_argument("--configs", default=";".join(",".join(map(str, c)) for c in CONFIGS),
                        help="B,T,I,H;B,T,I,H;...")
    args = parser.parse_args(argv)
    for config in [tuple(int(v) for v in c.split(",")) for c in args.configs.split(";")]:
        medians = measure(args.cells.split(","), config, args.rounds, args.composed)
        base = medians[("lstm", "fused")] if ("lstm", "fused") in medians else None
        for (cell, impl), ms in medians.items():
            ratio = f"  {ms / base:.2f}x the fused LSTM" if base else ""
            print(f"B,T,I,H={config} {cell:9s} {impl:8s} {ms:8.2f} ms{ratio}", flush=True)


if __name__ == "__main__":
    main()
