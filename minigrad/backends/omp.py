"""OpenMP's wait policy for the parallel kernels (Numba's ``omp`` threading layer: the scans, the
gated scans and their in-op GEMMs, the ``parallel=True`` backend kernels).

By default libgomp's idle threads spin for a while after each parallel region. On a machine where
every core is busy with something else (another process, or OpenBLAS's own threads spinning after
a numpy GEMM) a spinning thread holds the core the region's partner thread needs, and a region of
microseconds waits for a scheduler slice: the minGRU step at T = 100 took 111-138 ms against
15-16 ms with passive waiting at load 13, and at T 1000 its second thread gained nothing
(docs/performance.md, "scale21"). Passive waiting costs a thread wake-up per region instead, which
measured within noise on a quiet machine.

So importing minigrad sets ``OMP_WAIT_POLICY=passive`` unless the user chose a policy
(``OMP_WAIT_POLICY`` or libgomp's ``GOMP_SPINCOUNT`` set: ``OMP_WAIT_POLICY=active`` brings the
spinning back). libgomp reads it once, when Numba first loads it at the first parallel kernel
call of the process, so it has no effect if a parallel Numba kernel already ran before minigrad
was imported. Other OpenMP runtimes loaded later in the process (torch bundles its own) read the
same variable.
"""

from __future__ import annotations

import os

applied: dict[str, str] = {}  # what wait_passively set, for tests and the docs


def wait_passively(environ=os.environ) -> dict[str, str]:
    """Set OMP_WAIT_POLICY=passive in `environ` unless a wait policy is already chosen there;
    returns what was set ({} when the user's choice stands)."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return {}
    environ["OMP_WAIT_POLICY"] = "passive"
    if environ is os.environ:
        applied["OMP_WAIT_POLICY"] = "passive"
    return {"OMP_WAIT_POLICY": "passive"}
