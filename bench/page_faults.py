"""Fresh page faults per LSTM training step with minigrad's tuned malloc and with glibc's defaults.

minigrad raises glibc's mmap and trim thresholds at import (minigrad/backends/memory.py) so that
a training step reuses the pages the previous step freed. How many faults glibc's *defaults* take
depends on the machine (glibc version, arena layout, transparent huge pages: 2,205 per step on
one 2-core Xeon, 0.1 on a 2-core EPYC with glibc 2.36), so the comparison is measured here and
in asv (`benchmarks_memory.StepPageFaults`), not asserted by a test.

    python -m bench.page_faults      # one line per setting: applied thresholds, faults per step
"""

from __future__ import annotations

import os
import subprocess
import sys

STEPS = """
import resource, numpy as np, minigrad as mg
from minigrad.backends import memory
from lstm import LSTM
mg.set_num_threads(2)  # pool threads: glibc gives them arenas of their own
rng = np.random.default_rng(0)
m = LSTM(32, 128, rng=0)
x = mg.tensor(rng.standard_normal((100, 32, 32)).astype(np.float32), requires_grad=True)
def step():
    m.zero_grad(); x.grad = None
    m(x)[0].sum().backward()
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(sorted(memory.applied.items()), (f1 - f0) / 10)
"""

SETTINGS = ("keep", "system")  # MINIGRAD_MALLOC: minigrad's tuning, glibc's defaults


def faults_per_step(malloc: str | None = None, env_extra: dict | None = None) -> tuple[str, float]:
    """(the thresholds minigrad applied, minor page faults per step) in a fresh process.

    ``malloc`` sets MINIGRAD_MALLOC (None: unset); glibc's own MALLOC_* variables of the caller
    are removed so that only ``env_extra`` sets them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "MINIGRAD_MALLOC"}
    if malloc is not None:
        env["MINIGRAD_MALLOC"] = malloc
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"the page-fault probe failed:\n{out.stderr}")
    applied, faults = out.stdout.rsplit(" ", 1)
    return applied, float(faults)


def main() -> None:
    for setting in SETTINGS:
        applied, faults = faults_per_step(setting)
        print(f"MINIGRAD_MALLOC={setting:<6} applied={applied} faults/step={faults:.1f}")


if __name__ == "__main__":
    main()
