"""The 12 core elementwise ops (add ... abs), eager, forward and forward + backward.

    python -m bench.core_ops_speed [--rounds 7] [--calls 300] [--against DIR]

Per op on (32, 128) float32 (the composed LSTM's gate shape) and (256, 256): microseconds of the
recorded forward, and of the forward plus `y.backward(g)` with a given upstream. With `--against
DIR` (a checkout of minigrad, e.g. `git archive <commit> minigrad | tar -x -C DIR`), the same cases
run in alternating processes, one importing this tree's minigrad and one DIR's, round by round;
the fastest round of each is kept and the table gives both and their ratio (this / DIR). Times are
the process's CPU time (time.process_time), so time spent descheduled on a shared machine is not
counted; still, read the ratios, not the times. (minigrad is imported inside the functions: asv
imports every module of bench/ and nothing heavy may load then.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import timeit

import numpy as np

SHAPES = ((32, 128), (256, 256))
UNARY = ("neg", "exp", "log", "tanh", "sigmoid", "relu", "abs")
BINARY = ("add", "sub", "mul", "div", "pow")


def _cases(mg, shape):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.uniform(0.5, 2.0, shape).astype(np.float32), requires_grad=True)
    y = mg.tensor(rng.uniform(0.5, 2.0, shape).astype(np.float32), requires_grad=True)
    cases = {name: (lambda f: lambda: f(x))(getattr(mg, name)) for name in UNARY}
    cases.update({name: (lambda f: lambda: f(x, y))(getattr(mg, name)) for name in BINARY})
    cases["pow_scalar"] = lambda: x ** 2
    return cases, (x, y), np.ones(shape, np.float32)


def measure(calls: int) -> dict:
    """{case: microseconds per call} for this process's minigrad, one round."""
    import minigrad as mg

    out = {}
    for shape in SHAPES:
        cases, leaves, g = _cases(mg, shape)
        for name, fn in cases.items():
            def both(fn=fn, g=g, leaves=leaves):
                fn().backward(g)
                for t in leaves:
                    t.grad = None

            fn(), both()  # compile and warm
            tag = f"{name} {shape[0]}x{shape[1]}"
            for label, case in (("fwd", fn), ("fwd+bwd", both)):
                # CPU time of this process: time descheduled on a shared machine is not counted
                best = min(timeit.repeat(case, number=calls, repeat=3, timer=time.process_time))
                out[f"{tag} {label}"] = best / calls * 1e6
    return out


def _run(tree: str, calls: int) -> dict:
    # the script by path, not -m: sys.path[0] is then bench/, so minigrad comes from PYTHONPATH
    env = dict(os.environ, PYTHONPATH=tree)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", "--calls",
                           str(calls)], env=env, check=True, capture_output=True, text=True,
                          cwd=tree)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (processes)")
    parser.add_argument("--calls", type=int, default=300, help="calls per timing")
    parser.add_argument("--against", help="a directory holding another minigrad to compare")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        import minigrad

        print(json.dumps({"minigrad": minigrad.__file__} | measure(args.calls)))
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"this": here} | ({"base": args.against} if args.against else {})
    best: dict = {label: {} for label in trees}
    for _ in range(args.rounds):
        for label, tree in trees.items():
            found = _run(tree, args.calls)
            best[label]["minigrad"] = found.pop("minigrad")
            for case, us in found.items():
                best[label][case] = min(us, best[label].get(case, float("inf")))
    print(f"{'case':32} " + " ".join(f"{label:>9}" for label in trees) +
          ("    ratio" if args.against else ""))
    for label in trees:
        print(f"{label}: {best[label].pop('minigrad')}")
    for case in best["this"]:
        row = " ".join(f"{best[label][case]:9.2f}" for label in trees)
        ratio = f" {best['this'][case] / best['base'][case]:8.2f}" if args.against else ""
        print(f"{case:32} {row}{ratio}")
    if args.against:
        ratios = [best["this"][c] / best["base"][c] for c in best["this"]]
        print(f"geometric mean ratio (this / base): {float(np.exp(np.mean(np.log(ratios)))):.3f}")


if __name__ == "__main__":
    main()
