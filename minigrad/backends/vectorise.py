"""One process-wide LLVM setting that lets the generated lane loops vectorise.

A generated lane loop (minigrad.compiler) reads and writes many row views: the products' slots,
the saved values, each new state. Numba cannot tell LLVM that they do not overlap, so the loop
vectoriser guards the vector loop with a runtime check between each written view and every other
view, and past ``-vectorize-memory-check-threshold`` checks (128 in LLVM) it gives up: the loop
then runs one float at a time. The sLSTM's forward stores ten views (two slots, four saved
values, four states), about 135 checks: it was left scalar and took 3.5x the fused LSTM's
forward kernel at (B, T, I, H) = (32, 100, 32, 128), 1.1-1.4x once vectorised (one thread, load
13-18 on 2 cores; docs/performance.md, "Issue 21: the sLSTM's lane loops vectorised"). The LSTM's
forward (six views) stayed under the cap.

``allow_alias_checks`` raises the cap to ``ALIAS_CHECKS`` before the generated kernels compile. It
changes no result: the vector loop runs the same IEEE operations per lane as the scalar one (the
kernels allow contraction into FMAs either way), and where views do overlap at run time the checks
send the loop down its scalar path. The checks run once per lane loop (per batch row and step),
a few hundred compares against the loop's thousands of vector instructions. The setting is
LLVM's, so it holds for every Numba compilation of the process after the first call.
"""

from __future__ import annotations

ALIAS_CHECKS = 1024
_applied = False


def allow_alias_checks() -> None:
    """Raise LLVM's cap on the runtime alias checks of a vectorised loop (once per process)."""
    global _applied
    if _applied:
        return
    import llvmlite.binding as llvm

    llvm.set_option("minigrad", f"-vectorize-memory-check-threshold={ALIAS_CHECKS}")
    _applied = True
