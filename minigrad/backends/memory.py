"""Keep freed array memory in the process between training steps (glibc's malloc only).

A training step allocates the same large buffers every time (the gates and states a recurrent
backward needs, the gradients) and frees them at its end. With glibc's defaults, blocks over the
dynamic mmap threshold are returned to the kernel on free and heap tops over 128 KB are trimmed,
so the next step takes every page of them again as a fresh page fault, zero-filled by the kernel
(most of all when the fused loops' pool threads, which glibc gives arenas of their own, free
them): on an LSTM step at (B=32, T=100, I=32, H=128), 2 threads, that was ~2,000 faults and
4-5 ms of 25 (docs/performance.md).
Raising the mmap threshold to its maximum (32 MiB) and the trim threshold keeps those pages mapped
for the next step, which is what PyTorch's and JAX's CPU allocators do in their own way. The
process's resident size then stays at its peak instead of falling between steps.
Blocks of 32 MiB and more (glibc cannot raise the threshold past that) were still mapped afresh
for every allocation: the fused GRU's gates at T = 1000 (48 MiB), a minGRU layer's output at
T = 4000 (64 MiB) took 160-670 faults a step (huge pages or 4 KiB ones, as the kernel had them
free) and 30-70 ms of one core's time on the minGRU step (docs/performance.md, "mingru21c").
So malloc is also told never to map a block of its own (``M_MMAP_MAX`` = 0): every block comes
from the heap and its pages are kept like the smaller ones' (a block larger than a thread
arena's 64 MiB heap is still mapped: glibc falls back to mmap).
Below 32 MiB the setting changes nothing: the minGRU step at T = 1000 (largest array 16 MB)
makes no mmap or munmap call between steps either way (strace), its output lands at the same
heap address with the same share of huge pages, and its kernels run as fast on 4 KiB pages as
on 2 MiB ones (``python -m bench.huge_pages``; docs/performance.md, "mingru21d").

``MINIGRAD_MALLOC=system`` (read at import) leaves malloc as it is; any of glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_MAX_`` variables also
wins over the setting it names.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 512 << 20
MMAP_MAX = 0  # blocks malloc maps by itself: none (every block from the heap, its pages kept)

applied: dict[str, int] = {}  # what tune_malloc set, for tests and the docs


def tune_malloc() -> dict[str, int]:
    """Raise glibc's mmap and trim thresholds and stop its own mmaps, once per process; returns
    what was set ({} when not on glibc, switched off, or the user set glibc's variables)."""
    if applied:
        return applied
    choice = os.environ.get("MINIGRAD_MALLOC", "keep").strip().lower()
    if choice not in ("keep", "system"):
        raise ValueError(f"MINIGRAD_MALLOC must be 'keep' or 'system', got {choice!r}")
    if choice == "system" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return applied
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return applied
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    for name, option, value in (("mmap_threshold", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                ("trim_threshold", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                                ("mmap_max", M_MMAP_MAX, MMAP_MAX)):
        if f"MALLOC_{name.upper()}_" in os.environ:
            continue
        if mallopt(option, value) == 1:
            applied[name] = value
    return applied
