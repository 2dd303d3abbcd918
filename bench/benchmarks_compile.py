"""asv: a fresh process's import + first call, with Numba's on-disk cache warm or cold.

Each sample runs `python` anew (asv's timeraw_) and times the import of minigrad (and lstm) and
one first call: the engine's recorded-op snippet of bench.compare, or one training step of a
layer (B=32, I=32, H=128, T=16, float32; fused unless the workload says composed). "warm": setup()
runs the same code once beforehand so Numba's cache holds every kernel it needs; "cold": the timed
process points NUMBA_CACHE_DIR at a fresh empty directory before numba is imported, so every
kernel compiles (the directory is removed when that process exits). Interpreter start-up itself
is outside the timing.
"""

from __future__ import annotations

from bench.asv_cases import fused_available, layer_snippet, run_python, skip
from bench.peers.minigrad_models import STARTUP_SNIPPET

WORKLOADS = {
    "engine": STARTUP_SNIPPET,
    "rnn": layer_snippet("rnn", "fused"),
    "lstm": layer_snippet("lstm", "fused"),
    "gru": layer_snippet("gru", "fused"),
    "lstm-composed": layer_snippet("lstm", "composed"),
}
COLD_CACHE_SETUP = (
    "import atexit, os, shutil, tempfile\n"
    "os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='asv-numba-cold-')\n"
    "atexit.register(shutil.rmtree, os.environ['NUMBA_CACHE_DIR'], True)\n"
)


class ImportAndFirstCall:
    """Seconds from `import minigrad` to the end of the first call, in a fresh process."""

    params = (list(WORKLOADS), ["warm", "cold"])
    param_names = ["workload", "numba_cache"]
    repeat = (2, 5, 20.0)
    warmup_time = 0  # a warm-up run would fill a "warm" cache anyway; setup does that explicitly
    rounds = 1
    timeout = 600

    def setup(self, workload, numba_cache):
        if workload in ("rnn", "lstm", "gru") and not fused_available():
            skip("no fused recurrent primitives (minigrad.ops.recurrent) at this commit")
        if numba_cache == "warm":
            run_python(WORKLOADS[workload])

    def timeraw_import_and_first_call(self, workload, numba_cache):
        if numba_cache == "cold":
            return WORKLOADS[workload], COLD_CACHE_SETUP
        return WORKLOADS[workload]
