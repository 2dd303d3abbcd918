"""Where a compiled step's time goes: the program's kernel calls by backend function, and the
Python of the replay.

    python -m bench.profile_compiled [--step plain_lstm|adding] [--T 100] [--steps 20]
                                     [--no-fuse] [--ab-across]

Builds the step of bench.benchmarks_whole_compile (``plain_lstm``: the LSTM written as a Python
loop, B 32, I 32, H 128, forward + backward; ``adding``: an `lstm train` adding step, fused LSTM,
readout, MSE, clipping, Adam), compiles it, and wraps every callable constant of the generated
program (the backend kernels, the fused kernels, ``Optimizer.step``) in a timer keyed by the name
the program's source gives it. Times are the process's CPU time (run it with one thread:
OMP/OPENBLAS/NUMBA/MINIGRAD_NUM_THREADS=1 for a clean split; with more, BLAS's worker threads count
too), each name's best step of ``--steps``, the wrapper's own cost calibrated and subtracted;
"replay" is the best unwrapped step minus the kernels: the generated program's own Python (locals,
``del``, tuple unpacking, guards).
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict

import numpy as np

from bench.profile_composed import timed, wrapper_cost

_clock = time.process_time
_NAMED = re.compile(r"=?\s*(k\d+)\(.*#\s*(\S+)$")
_OPAQUE = re.compile(r"^\s*(k\d+)\((k\d+)\)$")


def build(step_name: str, T: int):
    """(step function, arguments) of a fresh model."""
    from bench.benchmarks_whole_compile import build_step

    return build_step(step_name, T)


def names_of(source: str) -> dict:
    """constant name -> backend function name (or 'fused', 'Optimizer.step') in a program."""
    found = {}
    for line in source.splitlines():
        m = _NAMED.search(line)
        if m:
            found[m.group(1)] = m.group(2)
            continue
        m = _OPAQUE.match(line)
        if m:
            found[m.group(1)] = "Optimizer.step"
    return found


def _wrap(namespace, names, totals, counts):
    originals = {key: namespace[key] for key in names}
    for key, name in names.items():
        namespace[key] = timed(originals[key], name, totals, counts)
    return lambda: namespace.update(originals)


def profile(step, args, steps: int):
    """(best step seconds, {name: (best seconds, calls)}, wrapper cost, program)."""
    for _ in range(3):
        step(*args)
    programs = step.programs()
    times = []
    for _ in range(steps):
        start = _clock()
        step(*args)
        times.append(_clock() - start)
    total = float(np.min(times))
    best: dict = {}
    for program in programs:
        namespace = program.function.__globals__
        names = names_of(program.source)
        for _ in range(steps):
            totals, counts = defaultdict(float), defaultdict(int)
            undo = _wrap(namespace, names, totals, counts)
            try:
                step(*args)
            finally:
                undo()
            for n in totals:
                seconds = best.get(n, (np.inf, 0))[0]
                best[n] = (min(seconds, totals[n]), counts[n])
    cost = min(wrapper_cost() for _ in range(5))
    return total, best, cost, programs


def ab_across(step_name: str, T: int, calls: int) -> dict:
    """CPU seconds per call of the step compiled with and without the fusion across split and
    concat (compiler/fuse.py's ACROSS), the two programs called alternately in this process (the
    same load for both): {variant: (calls' CPU seconds, program calls)}."""
    import minigrad as mg
    from minigrad.compiler import fuse

    variants = {}
    for across in (False, True):
        fuse.ACROSS = across  # read when the step traces
        try:
            fn, fn_args = build(step_name, T)
            step = mg.compile(fn)
            for _ in range(3):
                step(*fn_args)
        finally:
            fuse.ACROSS = True
        variants["across" if across else "without"] = (step, fn_args, [])
    for _ in range(calls):
        for step, fn_args, times in variants.values():
            start = _clock()
            step(*fn_args)
            times.append(_clock() - start)
    return {name: (times, sum(p.n_calls for p in step.programs()))
            for name, (step, _, times) in variants.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step", choices=("plain_lstm", "adding"), default="plain_lstm")
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--no-fuse", action="store_true")
    p.add_argument("--ab-across", action="store_true",
                   help="instead: the step with and without the fusion across split and concat, "
                        "called alternately (--steps calls each), CPU ms per call")
    args = p.parse_args(argv)
    if args.ab_across:
        for name, (times, n_calls) in ab_across(args.step, args.T, args.steps).items():
            ms = np.array(times) * 1e3
            print(f"{name:8s} CPU ms per call: min {ms.min():.2f}, p25 "
                  f"{np.percentile(ms, 25):.2f}, median {np.median(ms):.2f} "
                  f"({len(ms)} calls, {n_calls} calls in the program)")
        return

    import minigrad as mg

    fn, fn_args = build(args.step, args.T)
    step = mg.compile(fn, fuse=not args.no_fuse)
    total, best, cost, programs = profile(step, fn_args, args.steps)
    calls = sum(program.n_calls for program in programs)
    print(f"{args.step} (T={args.T}) compiled: {total * 1e3:.2f} ms per step (best of "
          f"{args.steps}, CPU time), {calls} calls in the program")
    print(f"{'kernel':28s} {'calls':>6s} {'ms':>8s} {'share':>7s} {'us/call':>8s}")
    accounted = 0.0
    for name, (seconds, n) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        net = max(seconds - cost * n, 0.0)
        accounted += net
        print(f"{name:28s} {n:6d} {net * 1e3:8.2f} {net / total:7.1%} {net / n * 1e6:8.1f}")
    replay = max(total - accounted, 0.0)
    print(f"{'replay (program Python)':28s} {'':6s} {replay * 1e3:8.2f} {replay / total:7.1%}")
    print(f"(wrapper cost {cost * 1e6:.2f} us per call, subtracted)")


if __name__ == "__main__":
    main()
