"""The cell variants side by side in one process: fused and composed, against the built-in LSTM.

python -m bench.variants_ab [--rounds N] [--models lstm-peephole,cifg,...] [--config B,T,I,H]
                            [--clock wall|cpu] [--no-composed]
Forward + backward of (out * out).sum(), float32, one layer; rounds interleaved (LSTM, variant
fused, variant composed, ...). Prints median milliseconds, the variant's fused time over the
built-in fused LSTM's, and its composed time over its fused time. A variant the cell compiler
cannot fuse shows only its composed time and the reason.

``--clock cpu`` runs the fused recurrences on one thread and times each call by the CPU time of
that thread (time.thread_time), the minimum over the rounds: on a loaded machine a thread waiting
for a core does not count, so the ratio holds steadier than wall time (2 cores at load 17: the
ratios of three runs within 0.04 of each other, the LSTM's own time within 1.5x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

# asv imports every module in bench/ to discover benchmarks: numpy, minigrad and lstm are
# imported where they are used


def _step(module, x):
    out, _ = module(x)
    (out * out).sum().backward()


def _timed(module, x, repeats: int, clock=time.perf_counter) -> float:
    _step(module, x)  # warm (compiles on first use)
    start = clock()
    for _ in range(repeats):
        _step(module, x)
    return (clock() - start) / repeats * 1e3


def measure(model: str, config, rounds: int, repeats: int = 3, clock: str = "wall",
            composed: bool = True) -> dict:
    """Median ms (clock "wall") or minimum CPU ms of one thread (clock "cpu") of the built-in
    LSTM (fused), the variant fused (if it fuses) and composed (unless composed=False)."""
    import numpy as np

    import minigrad as mg
    from lstm.models import build_recurrent

    B, T, I, H = config
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = {"lstm": build_recurrent("lstm", I, H, T, rng=0),
                  "fused": build_recurrent(model, I, H, T, rng=0)}
    note = next((str(w.message) for w in caught), "")
    if layers["fused"].impl != "fused":
        del layers["fused"]
    if composed or "fused" not in layers:
        layers["composed"] = build_recurrent(model, I, H, T, rng=0, impl="composed")
    timer, pick = time.perf_counter, statistics.median
    if clock == "cpu":
        mg.set_num_threads(1)
        timer, pick = time.thread_time, min
    times = {name: [] for name in layers}
    for _ in range(rounds):
        for name, layer in layers.items():
            times[name].append(_timed(layer, x, repeats if name != "composed" else 1, timer))
    med = {name: pick(v) for name, v in times.items()}
    return {"model": model, "config": config, "ms": med, "note": note}


def main(argv=None) -> None:
    from lstm import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default=",".join(zoo.names(variant=True)))
    parser.add_argument("--config", default="32,100,32,128", help="B,T,I,H")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--no-composed", action="store_true",
                        help="time the fused paths only")
    args = parser.parse_args(argv)
    config = tuple(int(v) for v in args.config.split(","))
    for model in args.models.split(","):
        r = measure(model, config, args.rounds, clock=args.clock, composed=not args.no_composed)
        ms = r["ms"]
        line = f"{model:13s} B,T,I,H={config}: LSTM fused {ms['lstm']:7.2f} ms"
        if "fused" in ms:
            line += f"  fused {ms['fused']:7.2f} ms ({ms['fused'] / ms['lstm']:.2f}x LSTM)"
            if "composed" in ms:
                line += (f"  composed {ms['composed']:7.2f} ms "
                         f"({ms['composed'] / ms['fused']:.1f}x its fused)")
        else:
            line += f"  composed {ms['composed']:7.2f} ms (not fused: {r['note']})"
        print(line, flush=True)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
