"""The speed of the code issue 19's minigrad clean-up folded, in this tree and another, side by
side: the tape's record, the eager dispatch of core ops, the CPU row kernels (softmax,
log-softmax, cross-entropy) and the float32 rule kernels whose polynomials became loops.

    python -m bench.fold_check --other /path/to/a/checkout/of/main [--rounds 3]

Each round runs one fresh process per tree (PYTHONPATH set to it), alternating, after one warm-up
process per tree that compiles the kernels. A figure is the best of its repeats within a process,
in CPU time (time.process_time: the kernels are single-threaded, and a busy machine inflates wall
time), and the best over rounds. Both trees share $MINIGRAD_KERNEL_DIR (generated kernel files are
named by a hash of their source, so each tree finds its own). Prints one line per case: this
tree, the other, and their ratio (this / other).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = {"tanh": (), "sigmoid": (), "erf": (), "elu": (1.0,), "gelu": (), "softplus": (1.0, 20.0),
         "logsigmoid": ()}


def _best(fn, args: tuple, repeats: int, number: int = 1) -> float:
    """Seconds per call of fn(*args): the best of `repeats` timings of `number` calls."""
    fn(*args)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(number):
            fn(*args)
        best = min(best, (time.process_time() - t0) / number)
    return best


def worker() -> dict:
    import numpy as np

    import minigrad as mg
    from minigrad.autograd import record
    from minigrad.backends import cpu, cpu_kernels

    out = {}
    x = mg.tensor(np.ones((4, 8), np.float32), requires_grad=True)
    y = mg.tensor(np.ones((4, 8), np.float32), requires_grad=True)
    data = np.ones(4)
    out["record (us)"] = _best(record, ("neg", data, (x,), lambda g: (g,)), 5, 20000) * 1e6
    for name, op in (("add", mg.add), ("tanh", mg.tanh), ("sin", mg.sin), ("less", mg.less)):
        operands = (x,) if name in ("tanh", "sin") else (x, y)
        out[f"mg.{name} 4x8 (us)"] = _best(op, operands, 5, 5000) * 1e6
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        logits = rng.standard_normal((2048, 512)).astype(dtype)
        buffer = np.empty_like(logits)
        targets = rng.integers(0, 512, 2048)
        for name, args in (("softmax_rows", (logits, buffer)),
                           ("log_softmax_rows", (logits, buffer)),
                           ("cross_entropy_rows", (logits, targets, -100, buffer))):
            out[f"{name} 2048x512 {np.dtype(dtype).name} (ms)"] = _best(
                getattr(cpu_kernels, name), args, 15) * 1e3
    values = (rng.standard_normal(1 << 20) * 3).astype(np.float32)
    for name, params in RULES.items():
        out[f"rule {name} 1M float32 (ms)"] = _best(
            cpu.rule_unary, (name, values, params), 20) * 1e3
    return out


def _run(tree: Path) -> dict:
    """worker() in a fresh process that imports minigrad from `tree`."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker"],
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                          text=True, check=True, cwd=tree)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--other", type=Path, help="the tree to compare with (its root)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker()))
        return 0
    if args.other is None:
        p.error("--other is required")
    trees = {"this": ROOT, "other": args.other.resolve()}
    for tree in trees.values():
        _run(tree)  # warm-up: compiles (or loads) every kernel
    best: dict = {"this": {}, "other": {}}
    for _ in range(args.rounds):
        for label, tree in trees.items():
            for case, value in _run(tree).items():
                best[label][case] = min(value, best[label].get(case, float("inf")))
    print(f"load {os.getloadavg()[0]:.1f}; this {ROOT}, other {trees['other']}")
    print(f"{'case':40s} {'this':>9s} {'other':>9s} {'ratio':>6s}")
    for case, value in best["this"].items():
        other = best["other"].get(case, float("nan"))
        print(f"{case:40s} {value:9.3f} {other:9.3f} {value / other:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
