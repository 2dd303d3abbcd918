"""The run engine's shared parts: run keys (`keys`: a hash of every field that changes a result,
naming each run's directory) and a lock per run directory (`lock`), used by `lstm train`, the
sweeps and the applications."""
