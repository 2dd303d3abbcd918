"""One core's float32 GEMM rate on the shapes the fused LSTM runs (docs/fused_kernels.md, "The GEMM
floors and the per-step microkernel"): numpy's OpenBLAS and torch's MKL, each in its own process,
and minigrad's two per-step paths (OpenBLAS on wide packed tiles, MINIGRAD_STEP_GEMM=blas, and
the microkernel on 32-column tiles) interleaved in one.

    python -m bench.gemm_rates [--libraries numpy,torch,minigrad] [--repeats 15]
    python -m bench.gemm_rates --both-cores [--repeats 15]

``--both-cores``: the microkernel on one L1-resident block (no memory traffic, FMA-bound) on one
thread alone, then on two threads at once, alternated: whether the second core adds a core's
worth of multiply-adds (two separate cores: each thread keeps its rate) or shares one core's
units (two hyperthreads of one core as seen by a VM: each gets about half). Where it is about
half, no 2-thread speed-up of a compute-bound step beyond about 1.2x is to be had.

Clock: the calling thread's CPU time (a busy machine's other processes are not in it; their
cache and memory traffic is), GFLOP/s of the fastest repeat and of the median one. The per-step
rows run 100 products in a row, as a time loop does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

STEP_SHAPES = [(32, 256, 1024), (16, 256, 1024), (16, 1024, 256), (32, 1024, 256),
               (32, 130, 512), (16, 130, 512), (16, 512, 128)]
BIG_SHAPES = [(3200, 256, 1024), (1024, 3200, 256), (3200, 1024, 256)]
STEPS = 100


def _rate(flops, times):
    return round(flops / min(times) / 1e9, 1), round(flops / statistics.median(times) / 1e9, 1)


def _timed(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        times.append(time.thread_time() - start)
    return times


def library_rates(library: str, repeats: int) -> dict:
    """{shape: (best, median) GFLOP/s} of one product per call (STEPS calls for step shapes)."""
    rng = np.random.default_rng(0)
    if library == "torch":
        import torch

        torch.set_num_threads(1)

        def product(a, b, c):
            return lambda: torch.mm(torch.from_numpy(a), torch.from_numpy(b),
                                    out=torch.from_numpy(c))
    else:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)

        def product(a, b, c):
            return lambda: np.dot(a, b, out=c)
    rows = {}
    for m, k, n in STEP_SHAPES + BIG_SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        one = product(a, b, np.empty((m, n), np.float32))
        calls = STEPS if (m, k, n) in STEP_SHAPES else 1

        def run(one=one, calls=calls):
            for _ in range(calls):
                one()

        rows[f"{m}x{k}x{n}"] = _rate(2 * m * k * n * calls, _timed(run, repeats))
    return rows


def minigrad_rates(repeats: int) -> dict:
    """{shape: {"blas tiles": (best, median), "microkernel": ...}}, the two interleaved."""
    from numba import njit

    from minigrad.backends.cpu_blas import gemm_tiles, pack_ranges, step_tiling
    from minigrad.backends.cpu_tile_gemm import TILE

    @njit(nogil=True)
    def steps(a, packed, starts, widths, c, chunk):
        for _ in range(STEPS):
            gemm_tiles(a, packed, starts, widths, c, 1.0, chunk)

    rng = np.random.default_rng(0)
    rows = {}
    for m, k, n in STEP_SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32)
        c = np.zeros((m, n), np.float32)
        chunk, tile = step_tiling(m, k, n)
        variants = {"blas tiles": pack_ranges(w, [(0, n)], tile if tile != TILE else 2 * TILE),
                    "microkernel": pack_ranges(w, [(0, n)], TILE)}
        times = {name: [] for name in variants}
        for tiles in variants.values():
            steps(a, *tiles, c, chunk)
        for _ in range(repeats):
            for name, tiles in variants.items():
                start = time.thread_time()
                steps(a, *tiles, c, chunk)
                times[name].append(time.thread_time() - start)
        rows[f"{m}x{k}x{n}"] = {name: _rate(2 * m * k * n * STEPS, t)
                                for name, t in times.items()}
    return rows


def both_cores(repeats: int) -> dict:
    """{threads: [(GFLOP/s by the thread's CPU clock, by the wall clock) per thread, ...] of the
    best repeat} for 1 and 2 threads running the microkernel on their own L1-resident block."""
    import threading

    from numba import njit

    from minigrad.backends.cpu_tile_gemm import TILE, tile_product

    @njit(nogil=True)
    def spin(calls, a, tile, c):
        for _ in range(calls):
            tile_product(a, tile, c, 1.0)

    inner, calls = 256, 20000
    flops = 2 * 8 * inner * TILE * calls

    def operands():
        rng = np.random.default_rng(0)
        return (rng.standard_normal((8, inner)).astype(np.float32) * 1e-3,
                rng.standard_normal((inner, TILE)).astype(np.float32) * 1e-3,
                np.zeros((8, TILE), np.float32))

    spin(1, *operands())

    def worker(out, i):
        args = operands()
        cpu, wall = time.thread_time(), time.perf_counter()
        spin(calls, *args)
        out[i] = (flops / (time.thread_time() - cpu) / 1e9,
                  flops / (time.perf_counter() - wall) / 1e9)

    best: dict = {1: None, 2: None}
    for _ in range(repeats):
        for threads in (1, 2):
            out = [None] * threads
            pool = [threading.Thread(target=worker, args=(out, i)) for i in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            if best[threads] is None or sum(w for _, w in out) > sum(w for _, w in best[threads]):
                best[threads] = out
    return {threads: [(round(c, 1), round(w, 1)) for c, w in rows]
            for threads, rows in best.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gemm_rates", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--libraries", default="numpy,torch,minigrad")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--both-cores", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.both_cores:
        print(json.dumps({"load": round(os.getloadavg()[0], 1),
                          "gflops_per_thread_cpu_wall": both_cores(args.repeats)}), flush=True)
        return 0
    if args.worker:
        rows = minigrad_rates(args.repeats) if args.worker == "minigrad" else \
            library_rates(args.worker, args.repeats)
        print(json.dumps(rows), flush=True)
        return 0
    libraries = [name for name in args.libraries.split(",") if name]
    unknown = sorted(set(libraries) - {"numpy", "torch", "minigrad"})
    if unknown:
        p.error(f"--libraries: numpy, torch or minigrad, got {unknown}")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for library in libraries:
        done = subprocess.run([sys.executable, "-m", "bench.gemm_rates", "--worker", library,
                               "--repeats", str(args.repeats)], capture_output=True, text=True,
                              env=env, check=True)
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps({"library": library, "load": round(os.getloadavg()[0], 1),
                          "gflops_best_median": rows}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
