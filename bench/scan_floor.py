"""The minGRU step's floor, part by part: each part of the projected gated-scan kernels alone on
one thread over all of T's blocks, and the stored-pre alternative to the backward's recomputation.

    python -m bench.scan_floor [--seq-len 1000] [--repeats 7] [--rounds 3]

Run it with one thread (``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``): the figures are the
calling process's CPU time, fastest of --repeats, each part on the step's shapes (B 32, I 32,
H 128, float32, the kernels' block of steps) through the generated module's own parts:

- ``project``: the block's rows of x gathered and multiplied by W^T (the microkernel on W^T's
  packed column tiles), 2 T B I 2H flops; run by the forward and again by the backward;
- ``forward gate steps`` / ``reverse gate steps``: the gate math and the recurrence over pre
  (one block's pre-activations, in cache), and the gate map's VJP with the reverse scan;
- ``dW^T`` and ``dx``: the backward's two products per block (``gemm_in_place``), dx scattered
  to its rows;
- then, alternated ``--rounds`` times, the forward's project + steps into the thread's block
  buffer (what the kernel does) against into a stored (T B, 2H) pre, and the backward's
  recomputation + VJP against the VJP reading that stored pre: what storing pre in the forward
  instead of forming it again would gain or lose on this machine.

GFLOP/s are printed beside the products, to set against the microkernel's peak on an
L1-resident block (``python -m bench.gemm_rates --both-cores``).
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import numpy as np

BATCH, INPUT, HIDDEN = 32, 32, 128


@functools.cache
def kernels():
    """The four block loops, compiled on first use (asv imports bench/ before it knows whether a
    commit has minigrad and numba: nothing heavy at module level)."""
    from numba import njit

    from minigrad.backends import cpu_gated_scan as scan
    from minigrad.backends.cpu_blas import gemm_in_place

    module = scan.generated_kernels("mingru", np.float32)
    project, forward_steps, reverse_steps = (module.project, module.forward_steps,
                                             module.reverse_steps)

    @njit
    def project_blocks(x, tiles, starts, widths, block, pre, xs, stored):
        """project over every block, into pre (one block's buffer) or, when stored has rows, into
        stored's rows of the block."""
        n_t, n_n = x.shape[0], x.shape[1]
        for t0 in range(0, n_t, block):
            t1 = min(t0 + block, n_t)
            target = stored[t0 * n_n:t1 * n_n] if stored.shape[0] else pre
            project(x, tiles, starts, widths, t0, t1, 0, n_n, xs, target)


    @njit
    def forward_blocks(x, tiles, starts, widths, bias, h0, valid, out, block, pre, xs, a, b, stored,
                       steps):
        """project (unless steps only) then forward_steps, block by block, through pre or stored."""
        n_t, n_n = x.shape[0], x.shape[1]
        for t0 in range(0, n_t, block):
            t1 = min(t0 + block, n_t)
            target = stored[t0 * n_n:t1 * n_n] if stored.shape[0] else pre
            if not steps:
                project(x, tiles, starts, widths, t0, t1, 0, n_n, xs, target)
            forward_steps(t0, t1, 0, n_n, target, n_n, 0, bias, h0, valid, out, a, b)


    @njit
    def reverse_blocks(x, tiles, starts, widths, bias, h0, valid, out, g, block, pre, xs, grad,
                       carries, grad_bias, stored, recompute):
        """reverse_steps block by block from the end, on pre formed again (recompute) or as it lies
        (stored's rows, or the one block in pre)."""
        n_t, n_n = x.shape[0], x.shape[1]
        t1 = n_t
        while t1 > 0:
            t0 = max(0, t1 - block)
            source = stored[t0 * n_n:t1 * n_n] if stored.shape[0] else pre
            if recompute:
                project(x, tiles, starts, widths, t0, t1, 0, n_n, xs, source)
            reverse_steps(t0, t1, 0, n_n, source, n_n, 0, bias, h0, valid, out, g, carries, grad,
                          grad_bias)
            t1 = t0


    @njit
    def weight_products(x, weight, block, grad, xs, dxs, partial, grad_x, which):
        """dW^T += xs^T dL/dpre (which 0) or dL/dx = dL/dpre W scattered to its rows (which 1), per
        block."""
        n_t, n_n = x.shape[0], x.shape[1]
        for t0 in range(0, n_t, block):
            t1 = min(t0 + block, n_t)
            m = (t1 - t0) * n_n
            if which == 0:
                gemm_in_place(xs[:m].T, grad[:m], partial, 1.0)
            else:
                gemm_in_place(grad[:m], weight, dxs[:m], 0.0)
                for t in range(t0, t1):
                    grad_x[t] = dxs[(t - t0) * n_n:(t - t0 + 1) * n_n]

    return project_blocks, forward_blocks, reverse_blocks, weight_products


def _fastest(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def parts(steps: int, repeats: int, rounds: int) -> tuple[dict, dict]:
    """({part: CPU seconds}, {alternative: [CPU seconds per round]}), one thread."""
    from minigrad.backends import cpu_gated_scan as scan
    from minigrad.backends.cpu_blas import pack_ranges, single_threaded_blas
    from minigrad.backends.cpu_tile_gemm import TILE

    project_blocks, forward_blocks, reverse_blocks, weight_products = kernels()
    width = 2 * HIDDEN
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, BATCH, INPUT)).astype(np.float32)
    weight = (rng.standard_normal((width, INPUT)) * 0.2).astype(np.float32)
    bias, h0 = np.zeros(width, np.float32), np.zeros((BATCH, HIDDEN), np.float32)
    tiles = pack_ranges(np.ascontiguousarray(weight.T), [(0, width)], TILE)
    valid, none = np.zeros((0, 0), np.bool_), np.zeros((0, width), np.float32)
    h = scan.gated_scan_projected(x, weight, bias, h0, None, "mingru")
    upstream = np.ones((1, 1, HIDDEN), np.float32)  # out.sum()'s, as the kernels receive it
    block = max(1, scan.BLOCK_BYTES // (BATCH * width * 4))
    pre, grad = (np.empty((block * BATCH, width), np.float32) for _ in range(2))
    xs, dxs = (np.empty((block * BATCH, INPUT), np.float32) for _ in range(2))
    out, grad_x = np.empty_like(h), np.empty_like(x)
    stored = np.empty((steps * BATCH, width), np.float32)
    a, b = np.empty(HIDDEN, np.float32), np.empty(HIDDEN, np.float32)
    carries, grad_bias = np.zeros((BATCH, HIDDEN), np.float32), np.zeros((BATCH, width),
                                                                         np.float32)
    partial = np.zeros((INPUT, width), np.float32)
    project_blocks(x, *tiles, block, pre, xs, none)
    grad[:] = rng.standard_normal(grad.shape).astype(np.float32) * 0.1
    single = {
        "project (gather + x W^T)": lambda: project_blocks(x, *tiles, block, pre, xs, none),
        "forward gate steps": lambda: forward_blocks(x, *tiles, bias, h0, valid, out, block,
                                                     pre, xs, a, b, none, True),
        "reverse gate steps (VJP)": lambda: reverse_blocks(x, *tiles, bias, h0, valid, h, upstream,
                                                     block, pre, xs, grad.copy(), carries,
                                                     grad_bias, none, False),
        "dW^T = xs^T dL/dpre": lambda: weight_products(x, weight, block, grad, xs, dxs, partial,
                                                        grad_x, 0),
        "dx = dL/dpre W, scattered": lambda: weight_products(x, weight, block, grad, xs, dxs,
                                                              partial, grad_x, 1),
        "out.sum() (numpy)": lambda: h.sum(),
    }
    alternatives = {
        "forward, pre in the block buffer (now)": lambda: forward_blocks(
            x, *tiles, bias, h0, valid, out, block, pre, xs, a, b, none, False),
        "forward, pre stored (T B, 2H)": lambda: forward_blocks(
            x, *tiles, bias, h0, valid, out, block, pre, xs, a, b, stored, False),
        "backward gates, pre formed again (now)": lambda: reverse_blocks(
            x, *tiles, bias, h0, valid, h, upstream, block, pre, xs, grad, carries, grad_bias,
            none, True),
        "backward gates, pre read from the store": lambda: reverse_blocks(
            x, *tiles, bias, h0, valid, h, upstream, block, pre, xs, grad, carries, grad_bias,
            stored, False),
    }
    with single_threaded_blas():
        found = {name: _fastest(fn, repeats) for name, fn in single.items()}
        rounds_found: dict = {name: [] for name in alternatives}
        for _ in range(rounds):
            for name, fn in alternatives.items():
                rounds_found[name].append(_fastest(fn, repeats))
    return found, rounds_found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    flops = 2 * args.seq_len * BATCH * INPUT * 2 * HIDDEN
    found, alternatives = parts(args.seq_len, args.repeats, args.rounds)
    print(f"minGRU T {args.seq_len}, B {BATCH}, I {INPUT}, H {HIDDEN}; one thread's CPU, fastest "
          f"of {args.repeats}; load {os.getloadavg()}; threads: NUMBA "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    for name, seconds in found.items():
        rate = "" if "sum" in name or "steps" in name else \
            f"  {flops / seconds / 1e9:6.1f} GFLOP/s"
        print(f"  {name:<42}{seconds * 1e3:8.2f} ms{rate}")
    for name, seconds in alternatives.items():
        print(f"  {name:<42}" + " ".join(f"{s * 1e3:7.2f}" for s in seconds) + " ms")


if __name__ == "__main__":
    main()
