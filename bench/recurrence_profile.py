"""Where the fused LSTM's time goes: the generated forward and backward runners (run_cpu) split
into the per-step GEMMs, the lane loops and the GEMMs over all steps, at the adding step's shape
(B 32, T 100, I 2, H 128) and the character model's layers (H 256, I 64 and I 256), float32.

    python -m bench.recurrence_profile [--threads 1,2] [--calls 20] [--shapes 128x2,256x64,256x256]
                                       [--clock cpu|wall] [--split rows,units] [--runner-only]
                                       [--share] [--torch]

Rows (milliseconds per call, the minimum and the median of --calls calls):
- forward, backward: run_cpu.forward / backward with the generated kernels (what a training step
  calls);
- ... without the step GEMMs: the same with the generated kernels' per-step GEMM lines removed
  (the lane loops, the GEMMs over all steps, the buffers and threads), so the difference is the
  per-step GEMMs inside the loop;
- step GEMM rows: T per-step products of one thread's rows alone, through the microkernel on
  32-column tiles the kernels use (gemm_tiles, cpu_tile_gemm), OpenBLAS on wider packed column
  tiles (gemm_packed, MINIGRAD_STEP_GEMM=blas's path), one BLAS call per step on the unpacked
  weights, and numpy's np.dot into out= (a new operand each call is not needed: it is the same
  BLAS);
- weight GEMM (dgates^T [x | h] over all T*B rows) and the input projection / dx GEMMs.
--split: how the threads share the time loops (cpu_runtime.set_split: rows, units, auto), one
profile per value; --runner-only: the forward and backward rows only. To compare splits or thread
counts, run `--clock wall --runner-only` several times, alternating.
--share: instead, the time loops alone with only the first thread's share of them run (its rows,
or its units, the barrier's other parties absent), by that thread's CPU time: the work each
thread does under a split, unaffected by a busy machine's scheduling (the barrier's waits are
not in it). With --step-gemm micro,blas the per-step GEMM's two paths (MINIGRAD_STEP_GEMM)
alternate call by call in the one process: their ratio under the same conditions.
--torch: torch.nn.LSTM's forward and backward at the same shapes and threads instead (one layer,
input and state gradients asked for, float32; oneDNN's fused RNN on this CPU), for its own 1 -> 2
thread scaling.
The default clock is the process's CPU time (all threads), which a busy machine disturbs far less
than the wall clock; with 2 threads it is the work of both.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

B, T = 32, 100


def _timer(clock):
    return time.process_time if clock == "cpu" else time.perf_counter


def _best(fn, calls, clock):
    now, times = _timer(clock), []
    fn()
    for _ in range(calls):
        start = now()
        fn()
        times.append(now() - start)
    return round(1e3 * min(times), 3), round(1e3 * statistics.median(times), 3)


def _without_step_gemms(source: str):
    """The generated module with its per-step GEMM calls replaced by `pass` (not cached)."""
    lines = []
    for line in source.splitlines():
        if ("gemm_packed(" in line or "gemm_tiles(" in line) and "import" not in line:
            line = line[:len(line) - len(line.lstrip())] + "pass"
        lines.append(line.replace("cache=True", "cache=False"))
    folder = tempfile.mkdtemp(prefix="minigrad-profile-")
    path = os.path.join(folder, "lanes_only.py")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    spec = importlib.util.spec_from_file_location("lanes_only", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numpy_blas_single():
    """numpy's BLAS on one thread (threadpoolctl), like the kernels' own; a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _step_gemms(a, w) -> dict:
    """{how: fn}: T products a @ w into one output, four ways."""
    from numba import njit

    from minigrad.backends import cpu_blas as cb
    from minigrad.backends.cpu_tile_gemm import TILE

    @njit(nogil=True)
    def packed_steps(a, packed, c, chunk):
        for _ in range(T):
            cb.gemm_packed(a, packed, c, 1.0, chunk)

    @njit(nogil=True)
    def plain_steps(a, w, c):
        for _ in range(T):
            cb.gemm(a, w, c, False, False, 1.0, 1.0)

    @njit(nogil=True)
    def micro_steps(a, tiles, c, chunk):
        packed, starts, widths = tiles
        for _ in range(T):
            cb.gemm_tiles(a, packed, starts, widths, c, 1.0, chunk)

    def numpy_steps(a, w, c):
        for _ in range(T):
            np.dot(a, w, out=c)

    c = np.zeros((a.shape[0], w.shape[1]), a.dtype)
    chunk, tile = cb.step_tiling(a.shape[0], *w.shape)
    packed = cb.pack_column_tiles(w, tile)
    tiles = cb.pack_ranges(w, [(0, w.shape[1])], TILE)
    return {"microkernel tiles": lambda: micro_steps(a, tiles, c, chunk),
            "packed tiles": lambda: packed_steps(a, packed, c, chunk),
            "one BLAS call": lambda: plain_steps(a, w, c),
            "np.dot out=": lambda: numpy_steps(a, w, c)}


def _share_timer(rt, kernels, spent, label):
    """A stand-in for cpu_runtime.run that runs only the first call of a time loop (with the
    barrier's parties set to 1: the kernels' last argument) and adds its thread CPU time to
    spent[name + label()]; other work runs as usual."""
    run = rt.run

    def first_share(fn, calls):
        name = {kernels.forward: "forward loop", kernels.backward: "backward loop"}.get(fn)
        if name is None:
            return run(fn, calls)
        start = time.thread_time()
        fn(*calls[0][:-1], 1)
        spent.setdefault(name + label(), []).append(time.thread_time() - start)

    return first_share


def share_profile(H: int, I: int, threads: int, calls: int, split: str,
                  step_gemms=("",)) -> dict:
    """One thread's share of the forward and backward time loops, its CPU ms (min, median);
    with several step_gemms (MINIGRAD_STEP_GEMM values) they alternate call by call."""
    from minigrad.compiler import cpu_runtime as rt
    from minigrad.compiler import run_cpu

    rt.set_num_threads(threads)
    rt.set_split(split)
    cell, params, x, states, steps, dout, shapes = _lstm(H, I)
    spent, run, mode = {}, rt.run, [""]
    rt.run = _share_timer(rt, cell.kernels, spent, lambda: f" [{mode[0]}]" if mode[0] else "")
    before = os.environ.get("MINIGRAD_STEP_GEMM")
    try:
        for _ in range(calls + 1):
            for how in step_gemms:
                mode[0] = how
                if how:
                    os.environ["MINIGRAD_STEP_GEMM"] = how
                saved = run_cpu.forward(cell.kernels, cell.plan, x, states, params, steps,
                                        False)[2]
                run_cpu.backward(cell.kernels, cell.plan, saved, dout, [None, None], False,
                                 cell.param_acc, shapes)
    finally:
        rt.run = run
        if before is None:
            os.environ.pop("MINIGRAD_STEP_GEMM", None)
        else:
            os.environ["MINIGRAD_STEP_GEMM"] = before
    rows = {k: (round(1e3 * min(v[1:]), 3), round(1e3 * statistics.median(v[1:]), 3))
            for k, v in spent.items()}
    return {"H": H, "I": I, "threads": threads, "split": split, "clock": "thread cpu, one share",
            "load": round(os.getloadavg()[0], 1), "ms_min_median": rows}


def torch_profile(H: int, I: int, threads: int, calls: int, clock: str) -> dict:
    """torch.nn.LSTM (one layer) at (T, B, I) -> H: forward, and backward of <out, dout>."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H)
    x = torch.randn(T, B, I, requires_grad=True)
    dout = torch.randn(T, B, H)
    rows = {"forward": _best(lambda: lstm(x), calls, clock)}

    def backward():
        out, _ = lstm(x)
        out.backward(dout)

    both = _best(backward, calls, clock)
    rows["forward + backward"] = both
    return {"H": H, "I": I, "threads": threads, "library": f"torch {torch.__version__}",
            "clock": clock, "load": round(os.getloadavg()[0], 1), "ms_min_median": rows}


def _lstm(H: int, I: int):
    """The LSTM cell compiled at H, I (float32) and its random inputs."""
    from minigrad.compiler import compile_step
    from minigrad.ops.recurrent import _step

    f32 = np.float32
    shapes = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H), "bias_ih": (4 * H,),
              "bias_hh": (4 * H,)}
    cell = compile_step(_step("lstm"), I, (H, H), shapes, f32)
    rng = np.random.default_rng(0)
    params = {k: (0.1 * rng.standard_normal(s)).astype(f32) for k, s in shapes.items()}
    x = rng.standard_normal((T, B, I)).astype(f32)
    states = [np.zeros((B, H), f32), np.zeros((B, H), f32)]
    steps = np.full(B, T, np.int64)
    dout = rng.standard_normal((T, B, H)).astype(f32)
    return cell, params, x, states, steps, dout, shapes


def profile(H: int, I: int, threads: int, calls: int, clock: str, split: str = "auto",
            runner_only: bool = False) -> dict:
    from minigrad.backends.cpu_blas import single_threaded_blas
    from minigrad.compiler import cpu_runtime as rt
    from minigrad.compiler import run_cpu

    rt.set_num_threads(threads)
    rt.set_split(split)
    cell, params, x, states, steps, dout, shapes = _lstm(H, I)
    f32 = np.float32
    rng = np.random.default_rng(1)
    rows = {}
    variants = [("", cell.kernels)]
    if not runner_only:
        variants.append((" without the step GEMMs", _without_step_gemms(cell.source)))
    for label, kernels in variants:
        def forward(kernels=kernels):
            return run_cpu.forward(kernels, cell.plan, x, states, params, steps, False)[2]

        saved = [forward() for _ in range(calls + 1)]
        rows["forward" + label] = _best(forward, calls, clock)
        rows["backward" + label] = _best(
            lambda kernels=kernels, saved=saved: run_cpu.backward(
                kernels, cell.plan, saved.pop(), dout, [None, None], False, cell.param_acc,
                shapes), calls, clock)

    share = rt.parts(B)[0][1]
    out = {"H": H, "I": I, "threads": threads, "split": split, "clock": clock,
           "load": round(os.getloadavg()[0], 1), "ms_min_median": rows}
    if runner_only:
        return out
    flops = {}
    with single_threaded_blas(), _numpy_blas_single():  # numpy links its own OpenBLAS
        for name, a, w in (("forward step GEMM (rows, H) @ (H, 4H)",
                            rng.standard_normal((share, H)).astype(f32),
                            np.ascontiguousarray(params["weight_hh"].T)),
                           ("backward step GEMM (rows, 4H) @ (4H, H)",
                            rng.standard_normal((share, 4 * H)).astype(f32),
                            params["weight_hh"])):
            for how, fn in _step_gemms(a, w).items():
                rows[f"{name} x T, {how}"] = _best(fn, calls, clock)
                flops[f"{name} x T, {how}"] = 2 * share * w.shape[0] * w.shape[1] * T
        d = rng.standard_normal((T * B, 4 * H)).astype(f32)
        xh = rng.standard_normal((T * B, I + H)).astype(f32)
        dw = np.empty((4 * H, I + H), f32)
        rows["weight GEMM dgates^T [x|h]"] = _best(lambda: rt.weight_gemm(d, xh, dw), calls,
                                                  clock)
        flops["weight GEMM dgates^T [x|h]"] = 2 * T * B * 4 * H * (I + H)
        gates = np.empty((T * B, 4 * H), f32)
        rows["input projection x W_ih^T"] = _best(
            lambda: rt.split_tiles(xh[:, :I], params["weight_ih"].T, gates),
            calls, clock)
        dx = np.empty((T * B, I), f32)
        rows["dx GEMM dgates W_ih"] = _best(
            lambda: rt.split_tiles(d, params["weight_ih"], dx), calls, clock)
    out["rows_per_thread"] = share
    out["gflops"] = {k: round(f / rows[k][0] / 1e6, 1) for k, f in flops.items()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.recurrence_profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--shapes", default="128x2,256x64,256x256", help="HxI,...")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--split", default="auto", help="rows, units or auto; several: rows,units")
    p.add_argument("--runner-only", action="store_true")
    p.add_argument("--share", action="store_true")
    p.add_argument("--torch", action="store_true")
    p.add_argument("--step-gemm", default="",
                   help="with --share: micro,blas alternates the per-step GEMMs call by call")
    args = p.parse_args(argv)
    try:
        threads = [int(n) for n in args.threads.split(",")]
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    except ValueError:
        p.error(f"--threads / --shapes: expected e.g. 1,2 and 128x2,256x64, got "
                f"{args.threads!r} / {args.shapes!r}")
    splits = args.split.split(",")
    if any(s not in ("rows", "units", "auto") for s in splits):
        p.error(f"--split: expected rows, units or auto (comma-separated), got {args.split!r}")
    if args.calls < 1 or min(threads) < 1 or any(len(s) != 2 or min(s) < 1 for s in shapes):
        p.error("--calls, --threads and the sizes of --shapes must be >= 1")
    for H, I in shapes:
        for n in threads:
            for split in splits:
                if args.torch:
                    row = torch_profile(H, I, n, args.calls, args.clock)
                elif args.share:
                    row = share_profile(H, I, n, args.calls, split,
                                        tuple(args.step_gemm.split(",")))
                else:
                    row = profile(H, I, n, args.calls, args.clock, split, args.runner_only)
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
