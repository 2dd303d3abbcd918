"""minGRU / minLSTM (one mg.gated_scan per layer, the input GEMM inside it) against the fused GRU
and LSTM across T, and mg.linear_scan against a bare memory pass; "mingru-step" and
"minlstm-step" are the same cells with scan=False (the cell compiler's sequential kernel).
bench.scan_profile splits the minGRU / minLSTM step into its stages, with 1 and 2 threads.

    python -m bench.scan_speed [--seq-lens 100,400,1000,4000] [--rounds 2] [--repeats 5]
                               [--clock wall|cpu]

A training step is one layer's forward over x (T, B, I) with the tape on and the backward of
out.sum() (B 32, I 32, H 128, float32; bench.asv_cases' definition). Each model runs in its own
process, the models alternate, and every round runs them all again: the table gives each model's
best median over the rounds and the ratios of those, all from this one run. The scan primitive is
timed on a and b of shape (T, B*H) against np.add(a, b, out=...), which moves the same bytes
(read a and b, write h); GB/s counts those three arrays. ``--clock cpu`` times the process's CPU
time instead of the wall clock: with one thread per library (OPENBLAS_NUM_THREADS=1
NUMBA_NUM_THREADS=1) it is the work done, which a machine shared with other jobs does not
stretch as it stretches the wall clock (a parallel region waits for its slowest thread).
mg.gated_scan's minGRU kernel (the gate math inside the scan) reads pre (T, B, 2H) and writes
h (T, B, H): the same bytes again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.peers import median_seconds

BATCH, INPUT, HIDDEN = 32, 32, 128
MODELS = ("mingru", "minlstm", "gru", "lstm", "mingru-step", "minlstm-step")
PAIRS = (("mingru", "gru"), ("minlstm", "lstm"), ("mingru-step", "gru"), ("minlstm-step", "lstm"))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _median_time(fn, repeats: int) -> float:
    return median_seconds(fn, repeats, warm=True, clock=_clock)


def _train_step(model: str, steps: int):
    """A training step of one layer of `model` at T = steps."""
    import minigrad as mg
    from lstm.models import build_recurrent

    if model.endswith("-step"):  # minGRU / minLSTM through the cell compiler's sequential kernel
        from lstm import MinGRUCell, MinLSTMCell, Recurrent

        cell = {"mingru-step": MinGRUCell, "minlstm-step": MinLSTMCell}[model]
        layer = Recurrent(cell, INPUT, HIDDEN, rng=0, scan=False)
    else:
        layer = build_recurrent(model, INPUT, HIDDEN, steps, rng=0)
    x = mg.tensor(np.random.default_rng(0).standard_normal((steps, BATCH, INPUT))
                  .astype(np.float32), requires_grad=True)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x)[0].sum().backward()

    return step


def train_step_times(model: str, seq_lens, repeats: int) -> dict:
    """{T: median seconds} of one training step of `model` (run in a worker process)."""
    return {steps: _median_time(_train_step(model, steps), repeats) for steps in seq_lens}


def _scan_cases(steps: int) -> dict:
    """name -> a call over a and b of shape (T, B*H) float32 (and the bytes a scan moves)."""
    import minigrad as mg
    from minigrad.backends import cpu

    rng = np.random.default_rng(0)
    shape = (steps, BATCH * HIDDEN)
    a = rng.uniform(0.5, 1.0, shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    h0 = np.zeros(shape[1:], np.float32)
    target = np.empty_like(a)
    h = cpu.linear_scan(a, b, h0, 0)
    log_a, log_b = np.log(a), np.log(np.abs(b))
    ta, tb = mg.tensor(a), mg.tensor(b)
    pre = rng.standard_normal((steps, BATCH, 2 * HIDDEN)).astype(np.float32)
    bias = np.zeros(2 * HIDDEN, np.float32)
    h0_rows = h0.reshape(BATCH, HIDDEN)
    gated = cpu.gated_scan(pre, bias, h0_rows, None, "mingru")
    return {
        "memory_pass": lambda: np.add(a, b, out=target),
        "scan": lambda: cpu.linear_scan(a, b, h0, 0),
        "scan_log": lambda: cpu.linear_scan(log_a, log_b, h0, 0, True),
        "scan_backward": lambda: cpu.linear_scan_backward(a, b, h, h0, b, 0),
        "op_forward": lambda: mg.linear_scan(ta, tb),
        "gated_mingru": lambda: cpu.gated_scan(pre, bias, h0_rows, None, "mingru"),
        "gated_mingru_backward": lambda: cpu.gated_scan_backward(pre, bias, h0_rows, None, gated,
                                                                 gated, "mingru"),
    }, 3 * a.nbytes


def scan_times(seq_lens, repeats: int) -> dict:
    """{T: {memory_pass, scan, scan_log, scan_backward, op_forward, gated_mingru,
    gated_mingru_backward: seconds, bytes}}."""
    out = {}
    for steps in seq_lens:
        cases, moved = _scan_cases(steps)
        out[steps] = {name: _median_time(fn, repeats) for name, fn in cases.items()}
        out[steps]["bytes"] = moved
    return out


def _worker(args) -> None:
    global _clock
    _clock = CLOCKS[args.clock]
    seq_lens = [int(t) for t in args.seq_lens.split(",")]
    if args.worker == "scan":
        result = scan_times(seq_lens, args.repeats)
    else:
        result = train_step_times(args.worker, seq_lens, args.repeats)
    print(json.dumps(result))


def _spawn(what: str, args) -> dict:
    command = [sys.executable, "-m", "bench.scan_speed", "--worker", what, "--seq-lens",
               args.seq_lens, "--repeats", str(args.repeats), "--clock", args.clock]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env=dict(os.environ))
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-lens", default="100,400,1000,4000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    models = args.models.split(",")
    best: dict = {}
    scans: list = []
    for round_ in range(args.rounds):
        order = models if round_ % 2 == 0 else models[::-1]
        for what in [*order, "scan"]:
            result = _spawn(what, args)
            if what == "scan":
                scans.append(result)
                continue
            for steps, seconds in result.items():
                key = (what, steps)
                best[key] = min(best.get(key, np.inf), seconds)
    print(f"load: {os.getloadavg()}; clock: {args.clock}; threads: OPENBLAS "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, NUMBA "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    pairs = [(m, base) for m, base in PAIRS if {m, base} <= set(models)]
    print("T      " + "  ".join(f"{m:>12}" for m in models) + "".join(
        f"  {base}/{m}" for m, base in pairs))
    for steps in sorted({t for _, t in best}):
        row = "  ".join(f"{best[(m, steps)] * 1e3:10.1f}ms" for m in models)
        ratios = "".join(f"  {best[(base, steps)] / best[(m, steps)]:{len(base) + len(m) + 1}.2f}"
                         for m, base in pairs)
        print(f"{steps:<6} " + row + ratios)
    print("scan primitive on (T, B*H) float32, best of rounds (ms; GB/s of a, b, h):")
    for steps in sorted(scans[0]):
        timing = {k: min(s[steps][k] for s in scans) for k in scans[0][steps] if k != "bytes"}
        gbs = {k: scans[0][steps]["bytes"] / v / 1e9 for k, v in timing.items()}
        print(f"T {steps}: " + ", ".join(f"{k} {v * 1e3:.2f} ms ({gbs[k]:.1f} GB/s)"
                                         for k, v in timing.items())
              + f"; scan / memory pass {timing['scan'] / timing['memory_pass']:.2f}x"
              + f"; gated / memory pass {timing['gated_mingru'] / timing['memory_pass']:.2f}x")


if __name__ == "__main__":
    main()
