"""Whether transparent huge pages change the minGRU step (issue 21): the projected gated-scan
kernels with their large arrays (x, h, dL/dx) in 2 MiB pages against 4 KiB pages, and where the
step's own output lies under each malloc setting.

    python -m bench.huge_pages [--seq-len 1000] [--rounds 30] [--threads 2]

1. Kernels: x (T, B, I), h (T, B, H) and dL/dx in private anonymous mappings aligned to 2 MiB
   and madvised MADV_HUGEPAGE or MADV_NOHUGEPAGE (the share of each backed by huge pages is
   printed: it needs THP `madvise` or `always`), the forward and backward kernels run on each
   set in turn, alternated, in one process; the minimum and median of each.
2. The step: ``bench.scan_speed``'s minGRU training step in a fresh process with minigrad's
   malloc setting (``M_MMAP_MAX`` = 0) and with glibc's own mmaps (``MALLOC_MMAP_MAX_=65536``):
   the step's time, its minor page faults and the share of its output's pages that are huge
   (from /proc/self/pagemap and /proc/kpageflags: root only, "-" otherwise).
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import struct
import subprocess
import sys
import time

import numpy as np

HUGE = 2 << 20
PAGE = mmap.PAGESIZE
KPF_THP = 1 << 22
BATCH, INPUT, HIDDEN = 32, 32, 128


def huge_share(array) -> float | None:
    """The share of array's pages backed by a transparent huge page (None when the kernel does
    not let this process read page flags)."""
    first = array.ctypes.data // PAGE
    count = (array.ctypes.data + array.nbytes - 1) // PAGE - first + 1
    try:
        with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as flags:
            pagemap.seek(first * 8)
            entries = np.frombuffer(pagemap.read(count * 8), np.uint64)
            huge = 0
            for entry in entries:
                frame = int(entry) & ((1 << 55) - 1)
                if not int(entry) >> 63 or not frame:
                    continue
                flags.seek(frame * 8)
                huge += bool(struct.unpack("Q", flags.read(8))[0] & KPF_THP)
    except OSError:
        return None
    return huge / count


_MAPPINGS: list = []


def mapped(shape, huge: bool):
    """A float32 array of `shape` in a private anonymous mapping aligned to 2 MiB, madvised for
    huge pages or against them, every page touched."""
    nbytes = int(np.prod(shape)) * 4
    region = mmap.mmap(-1, nbytes + HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    region.madvise(mmap.MADV_HUGEPAGE if huge else mmap.MADV_NOHUGEPAGE)
    raw = np.frombuffer(region, np.uint8)
    offset = -raw.ctypes.data % HUGE
    array = raw[offset:offset + nbytes].view(np.float32).reshape(shape)
    array[...] = 0
    _MAPPINGS.append(region)
    return array


def kernels(steps: int, rounds: int) -> None:
    from minigrad.backends import cpu_gated_scan as scan
    from minigrad.backends.cpu_blas import single_threaded_blas

    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((2 * HIDDEN, INPUT)) * 0.2).astype(np.float32)
    bias, h0 = np.zeros(2 * HIDDEN, np.float32), np.zeros((BATCH, HIDDEN), np.float32)
    upstream = np.ones((1, 1, HIDDEN), np.float32)
    module = scan.generated_kernels("mingru", np.float32)
    parts = scan._threads(BATCH)
    block = scan._block(BATCH, 2 * HIDDEN, np.float32, parts)
    no_mask = scan._no_mask(None)
    sets = {}
    for huge in (True, False):
        x = mapped((steps, BATCH, INPUT), huge)
        x[...] = rng.standard_normal(x.shape)
        sets[huge] = (x, mapped((steps, BATCH, HIDDEN), huge), mapped((steps, BATCH, INPUT), huge))
        shares = [huge_share(a) for a in sets[huge]]
        print(f"{'2 MiB' if huge else '4 KiB'} pages asked: huge-page share of x, h, dL/dx "
              + ", ".join("-" if s is None else f"{s:.2f}" for s in shares))

    def run(huge):
        x, out, grad_x = sets[huge]
        with single_threaded_blas():
            start = time.perf_counter()
            module.forward_projected(x, *scan._tiles(weight), bias, h0, no_mask, out, block, parts)
            middle = time.perf_counter()
            module.backward_projected(
                x, weight, *scan._tiles(weight), bias, h0, no_mask, out, upstream, grad_x,
                np.zeros((BATCH, HIDDEN), np.float32), np.zeros((BATCH, 2 * HIDDEN), np.float32),
                np.empty((parts, INPUT, 2 * HIDDEN), np.float32), block, parts)
            return middle - start, time.perf_counter() - middle

    times = {True: [], False: []}
    for r in range(rounds + 2):
        for huge in ((True, False) if r % 2 else (False, True)):
            times[huge].append(run(huge))
    for huge in (True, False):
        t = np.array(times[huge][2:]) * 1e3
        print(f"{'2 MiB' if huge else '4 KiB'}: forward min {t[:, 0].min():.2f} median "
              f"{np.median(t[:, 0]):.2f} ms, backward min {t[:, 1].min():.2f} median "
              f"{np.median(t[:, 1]):.2f} ms")


STEP = """
import json, resource, sys, time
import numpy as np
import minigrad as mg
from minigrad.backends import memory
from bench.huge_pages import huge_share
from bench.scan_speed import _train_step
step = _train_step("mingru", {steps})
for _ in range(3):
    step()
times, f0 = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(15):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 15
import minigrad.backends.cpu_gated_scan as scan
x = np.random.default_rng(0).standard_normal(({steps}, 32, 32)).astype(np.float32)
out = scan.gated_scan_projected(x, np.zeros((256, 32), np.float32), None,
                                np.zeros((32, 128), np.float32), None, "mingru")
print(json.dumps(dict(setting=sorted(memory.applied.items()), min=min(times) * 1e3,
                      median=float(np.median(times)) * 1e3, faults=faults,
                      share=huge_share(out))))
"""


def step_runs(steps: int, rounds: int, threads: int) -> None:
    settings = (("M_MMAP_MAX=0 (minigrad)", {}),
                ("glibc's mmaps (MALLOC_MMAP_MAX_=65536)", {"MALLOC_MMAP_MAX_": "65536"}))
    for _ in range(rounds):
        for name, extra in settings:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | extra
            env |= {"NUMBA_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
            done = subprocess.run([sys.executable, "-c", STEP.format(steps=steps)], env=env,
                                  capture_output=True, text=True, check=True)
            got = json.loads(done.stdout.strip().splitlines()[-1])
            share = "-" if got["share"] is None else f"{got['share']:.2f}"
            print(f"{name}: step min {got['min']:.1f} median {got['median']:.1f} ms, "
                  f"{got['faults']:.1f} faults a step, huge-page share of an output allocated "
                  f"after the steps (where the step's freed one was) {share} "
                  f"(load {os.getloadavg()[0]:.1f})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--step-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import minigrad as mg

    mg.set_num_threads(args.threads)
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
            thp = setting.read().strip()
    except OSError:
        thp = "unknown"
    print(f"THP: {thp}; "
          f"threads {args.threads}; T {args.seq_len}; load {os.getloadavg()[0]:.1f}")
    kernels(args.seq_len, args.rounds)
    step_runs(args.seq_len, args.step_rounds, args.threads)


if __name__ == "__main__":
    main()
