"""Where the composed LSTM's time goes: kernels by family, the tape and the op layer.

    python -m bench.profile_composed [--T 100 --B 32 --I 32 --H 128] [--steps 20]

Runs bench.peers' composed LSTM (public primitives, PyTorch gate order) forward + backward and
times every call into the CPU backend by name (a wrapper per backend function, its own cost
calibrated and subtracted), grouped into families: GEMMs, elementwise kernels on the (B, H) and
(B, 4H) arrays, their fused backward kernels, split/concat/slicing, gradient accumulation and
unbroadcast. Times are the process's CPU time (one thread); each family's time is its best
step and the total the best uninstrumented step, so a busy machine inflates the numbers less.
What the backend calls do not account for is Python:
the op functions (operand checks, closures) and the tape (nodes, the backward walk); cProfile
splits that remainder between minigrad/autograd.py and minigrad/ops (the ratio, not the
absolute: cProfile inflates Python calls).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict

import numpy as np

# The process's CPU time, not wall time: on a shared machine, time spent descheduled would land
# in whichever call was running (one thread: BLAS, Numba and the tape all run on this one).
_clock = time.process_time

FAMILIES = {
    "GEMMs (x_t W_ih^T, h W_hh^T and their backward)": ("matmul", "matmul_nt", "matmul_tn"),
    "elementwise forward (add, mul, sigmoid, tanh)": ("add", "mul", "sub", "sigmoid", "tanh",
                                                      "full"),
    "activation backward (the rules' kernels)": ("rule_unary_backward",),
    "split / concat / slices / stack / transpose": ("split", "concat", "getitem", "slice_set",
                                                    "stack", "transpose", "reshape", "zeros",
                                                    "index_add"),
    "unbroadcast (sum_to) and reductions": ("sum_to", "sum", "broadcast_to"),
    "gradient copies": ("copy", "ones"),
}


def _shape_of(args):
    shapes = [tuple(a.shape) for a in args if hasattr(a, "shape") and getattr(a, "ndim", 0)]
    return max(shapes, key=lambda s: (len(s), s)) if shapes else ()


def timed(fn, name, totals, counts, detail=None):
    """fn wrapped to add its CPU seconds to totals[name] and one to counts[name]; with `detail`
    (a dict), also to detail[(name, largest operand shape)]."""
    def wrapper(*args, **kwargs):
        start = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = _clock() - start
            totals[name] += spent
            counts[name] += 1
            if detail is not None:
                key = (name, _shape_of(args))
                seconds, calls = detail.get(key, (0.0, 0))
                detail[key] = (seconds + spent, calls + 1)

    return wrapper


def _instrument(module, totals, counts, detail=None):
    """Wrap every public function of the backend module; returns a function that undoes it.
    With `detail` (a dict), also time each (name, largest operand shape)."""
    originals = {}
    for name in dir(module):
        fn = getattr(module, name)
        if name.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue
        originals[name] = fn
        setattr(module, name, timed(fn, name, totals, counts, detail))
    return lambda: [setattr(module, n, f) for n, f in originals.items()]


def wrapper_cost(repeats=20000):
    """Seconds one wrapped call adds, measured on a no-op."""
    totals, counts = defaultdict(float), defaultdict(int)

    def noop():
        return None

    class Holder:
        pass

    holder = Holder()
    holder.noop = noop
    _instrument(holder, totals, counts)
    start = _clock()
    for _ in range(repeats):
        holder.noop()
    wrapped = (_clock() - start) / repeats
    start = _clock()
    for _ in range(repeats):
        noop()
    return wrapped - (_clock() - start) / repeats - totals["noop"] / repeats


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("T", 100), ("B", 32), ("I", 32), ("H", 128), ("steps", 20)):
        p.add_argument(f"--{name}", type=int, default=default)
    args = p.parse_args(argv)

    import minigrad as mg
    from bench.peers.minigrad_models import composed_lstm_loss
    from minigrad.backends import cpu

    rng = np.random.default_rng(0)
    H, I = args.H, args.I
    shapes = [(4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
    params = [mg.tensor((rng.standard_normal(s) * 0.1).astype(np.float32), requires_grad=True)
              for s in shapes]
    x = mg.tensor(rng.standard_normal((args.T, args.B, I)).astype(np.float32))

    def step():
        for q in params:
            q.grad = None
        composed_lstm_loss(mg, x, *params).backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(args.steps):
        start = _clock()
        step()
        times.append(_clock() - start)
    total = float(np.min(times))  # minima throughout: the machine is shared, noise only adds

    per_step = {}
    for _ in range(args.steps):
        totals, counts = defaultdict(float), defaultdict(int)
        undo = _instrument(cpu, totals, counts)
        try:
            step()
        finally:
            undo()
        for n in totals:
            best = per_step.get(n, (np.inf, 0))[0]
            per_step[n] = (min(best, totals[n]), counts[n])
    cost = min(wrapper_cost() for _ in range(5))
    detail = {}
    undo = _instrument(cpu, defaultdict(float), defaultdict(int), detail)
    try:
        step()
    finally:
        undo()

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(3):
        step()
    profile.disable()
    tape = ops = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        if filename.endswith("minigrad/autograd.py"):
            tape += tottime
        elif "minigrad/ops/" in filename or filename.endswith("minigrad/tensor.py"):
            ops += tottime

    print(f"composed LSTM (T={args.T}, B={args.B}, I={I}, H={H}) forward + backward: "
          f"{total * 1e3:.1f} ms (best of {args.steps}; each family its best step)")
    print(f"{'family':58s} {'calls':>6s} {'ms':>7s} {'share':>6s}")
    accounted = 0.0
    named = set()
    for family, names in FAMILIES.items():
        calls = sum(per_step.get(n, (0, 0))[1] for n in names)
        ms = sum(max(per_step.get(n, (0, 0))[0] - cost * per_step.get(n, (0, 0))[1], 0)
                 for n in names)
        named.update(names)
        accounted += ms
        print(f"{family:58s} {calls:6.0f} {ms * 1e3:7.2f} {ms / total:6.1%}")
    rest = {n: v for n, v in per_step.items() if n not in named}
    other = sum(max(t - cost * c, 0) for t, c in rest.values())
    accounted += other
    print(f"{'other backend calls: ' + ', '.join(sorted(rest)):58s} "
          f"{sum(c for _, c in rest.values()):6.0f} {other * 1e3:7.2f} {other / total:6.1%}")
    python = max(total - accounted, 0.0)
    share_tape = tape / (tape + ops) if tape + ops else 0.0
    print(f"{'Python: the tape (autograd.py)':58s} {'':6s} {python * share_tape * 1e3:7.2f} "
          f"{python * share_tape / total:6.1%}")
    print(f"{'Python: op functions and Tensor methods':58s} {'':6s} "
          f"{python * (1 - share_tape) * 1e3:7.2f} {python * (1 - share_tape) / total:6.1%}")
    print(f"(wrapper cost {cost * 1e6:.2f} us per backend call, subtracted)")
    print("\nthe 12 largest (backend call, largest operand shape), one step:")
    ranked = sorted(detail.items(), key=lambda kv: -(kv[1][0] - cost * kv[1][1]))[:12]
    for (name, shape), (seconds, calls) in ranked:
        net = max(seconds - cost * calls, 0.0)
        print(f"  {name:22s} {str(shape):16s} {calls:6d} calls {net * 1e3:7.2f} ms "
              f"{net / calls * 1e6:6.1f} us/call")


if __name__ == "__main__":
    main()
