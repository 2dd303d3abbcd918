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

``MINIGRAD_MALLOC=system`` (read at import) leaves malloc as it is; any of glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` variables also wins over this.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 512 << 20

applied: dict[str, int] = {}  # what tune_malloc set, for tests and the docs


def tune_malloc() -> dict[str, int]:
    """Raise glibc's mmap and trim thresholds once per process; returns what was set ({} when
    not on glibc, switched off, or the user set glibc's variables)."""
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
                                ("trim_threshold", M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        if f"MALLOC_{name.upper()}_" in os.environ:
            continue
        if mallopt(option, value) == 1:
            applied[name] = value
    return applied
