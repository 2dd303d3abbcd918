"""Where the minGRU / minLSTM training step goes, stage by stage, with 1 and with 2 threads.

    python -m bench.scan_profile [--models mingru,minlstm] [--seq-len 1000] [--threads 1,2]
                                 [--repeats 7] [--rounds 2]

Each (model, threads) runs in its own process with OPENBLAS_NUM_THREADS, NUMBA_NUM_THREADS and
OMP_NUM_THREADS set to the count; the processes alternate, every round runs them all again, and
each figure is the best median over the rounds, on the wall clock and on the process's CPU clock
(every thread's time: a thread that spin-waits for work shows there). The stages are the step's
backend calls on arrays of the step's shapes (B 32, I 32, H 128, float32; bench.scan_speed's
step), each timed alone:

- ``projection``: x W^T over all T*B rows, the op's GEMM (``cpu_gated_scan.projection``: BLAS
  calls split over Numba's threads); ``numpy GEMM``: the same product through numpy's matmul
  (numpy's own OpenBLAS threads), the cells' path before;
- ``gated forward`` / ``gated backward``: the scan kernels (the backward with out.sum()'s
  broadcast upstream, the bias gradient summed inside);
- ``dx + dW``: the two backward GEMMs (``projection_backward``);
- ``projected forward`` / ``projected backward``: what the step runs since session 9, the
  GEMMs inside the scan's region (``gated_scan_projected`` and its backward: pre and dL/dpre
  formed a block of steps at a time in each thread's cache, never stored), against the four
  calls above;
- ``sum``, ``concat``: out.sum() and a join of two halves of the output (single-threaded
  numpy; what the cells' chunks cost until session 10: the step no longer joins anything);
- ``alloc``: a fresh (T, B, G*H) buffer written once (its page faults);
- ``numpy GEMM, then gated forward`` and ``projection, then gated forward``: the pairs as the
  step runs them, back to back: where the pair costs more than its parts, two thread pools
  fight over the cores;
- ``step``: the whole training step; ``rest``: the step less the projected forward and
  backward and the sum (the tape, copies of gradients).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.scan_speed import BATCH, HIDDEN, INPUT, _train_step

STAGES = ("projection", "numpy GEMM", "gated forward", "gated backward", "dx + dW",
          "projected forward", "projected backward", "sum", "concat", "alloc",
          "numpy GEMM, then gated forward", "projection, then gated forward", "step", "rest")
IN_STEP = ("projected forward", "projected backward", "sum")


SETTLE_SECONDS = 0.25  # after each stage: numpy's OpenBLAS threads spin about 0.1 s after a call


def _times(fn, repeats: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of fn over `repeats` calls after two warm ones,
    then a pause: a stage run right after ``numpy GEMM`` found numpy's OpenBLAS workers still
    spinning on the cores (the gated forward on two threads 6.1 ms wall and 10.2 ms CPU against
    4.1 on one: docs/performance.md, session 12), so no stage inherits the one before's threads."""
    fn()
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    time.sleep(SETTLE_SECONDS)
    return float(np.median(wall)), float(np.median(cpu))


def stage_times(model: str, steps: int, repeats: int) -> dict:
    """{stage: (wall, cpu)} of one model at T = steps (run in a worker process)."""
    from minigrad.backends import cpu_gated_scan as kernels

    blocks = {"mingru": 2, "minlstm": 3}[model]
    width = blocks * HIDDEN
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps * BATCH, INPUT)).astype(np.float32)
    weight = (rng.standard_normal((width, INPUT)) * 0.2).astype(np.float32)
    bias = np.zeros(width, np.float32)
    h0 = np.zeros((BATCH, HIDDEN), np.float32)
    pre = kernels.projection(x, weight).reshape(steps, BATCH, width)
    h = kernels.gated_scan(pre, bias, h0, None, model)
    upstream = np.broadcast_to(np.float32(1.0), h.shape)
    grad_pre = kernels.gated_scan_backward(pre, bias, h0, None, h, upstream, model)[0]
    grad_rows = grad_pre.reshape(-1, width)
    x3 = x.reshape(steps, BATCH, INPUT)
    half = steps // 2
    cases = {
        "projection": lambda: kernels.projection(x, weight),
        "numpy GEMM": lambda: x @ weight.T,
        "gated forward": lambda: kernels.gated_scan(pre, bias, h0, None, model),
        "gated backward": lambda: kernels.gated_scan_backward(pre, bias, h0, None, h, upstream,
                                                              model),
        "dx + dW": lambda: kernels.projection_backward(x, weight, grad_rows, True),
        "projected forward": lambda: kernels.gated_scan_projected(x3, weight, bias, h0, None,
                                                                  model),
        "projected backward": lambda: kernels.gated_scan_projected_backward(
            x3, weight, bias, h0, None, h, upstream, model, True),
        "sum": lambda: h.sum(),
        "concat": lambda: np.concatenate([h[:half], h[half:]]),
        "alloc": lambda: np.empty(pre.shape, pre.dtype).fill(1.0),
        "numpy GEMM, then gated forward": lambda: kernels.gated_scan(
            (x @ weight.T).reshape(pre.shape), bias, h0, None, model),
        "projection, then gated forward": lambda: kernels.gated_scan(
            kernels.projection(x, weight).reshape(pre.shape), bias, h0, None, model),
        "step": _train_step(model, steps),
    }
    out = {name: _times(fn, repeats) for name, fn in cases.items()}
    out["rest"] = tuple(out["step"][k] - sum(out[s][k] for s in IN_STEP) for k in (0, 1))
    return out


def _spawn(model: str, threads: int, args) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "bench.scan_profile", "--worker", model, "--seq-len",
               str(args.seq_len), "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mingru,minlstm")
    parser.add_argument("--seq-len", type=int, default=1000)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(stage_times(args.worker, args.seq_len, args.repeats)))
        return
    threads = [int(n) for n in args.threads.split(",")]
    runs = [(m, n) for m in args.models.split(",") for n in threads]
    best: dict = {}
    for round_ in range(args.rounds):
        for model, n in (runs if round_ % 2 == 0 else runs[::-1]):
            for stage, pair in _spawn(model, n, args).items():
                old = best.get((model, n, stage), (np.inf, np.inf))
                best[(model, n, stage)] = tuple(min(a, b) for a, b in zip(old, pair))
    print(f"T {args.seq_len}, B {BATCH}, I {INPUT}, H {HIDDEN}; load {os.getloadavg()}; "
          "ms, best median of the rounds, wall / CPU")
    for model in args.models.split(","):
        print(f"{model:<32}" + "".join(f"{f'{n} thread(s)':>18}" for n in threads)
              + (f"{'wall speed-up':>15}" if len(threads) > 1 else ""))
        for stage in STAGES:
            cells = [best[(model, n, stage)] for n in threads]
            row = "".join(f"{w * 1e3:9.1f} /{c * 1e3:6.1f}" for w, c in cells)
            ratio = (f"{cells[0][0] / cells[-1][0]:15.2f}" if len(threads) > 1
                     and stage != "rest" else "")
            print(f"  {stage:<30}{row}{ratio}")


if __name__ == "__main__":
    main()
