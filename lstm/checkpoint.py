"""Checkpoint files: flat dicts of arrays in .npz, written atomically, read without pickle.

A write goes to a temporary file in the target's directory, is flushed and fsynced, then renamed
over the target (os.replace is atomic on POSIX), and the directory is fsynced: a crash at any
point leaves either the old complete file or the new complete file, never a partial one.
Generator states are stored as integer arrays (PCG64's 128-bit state and increment as two
uint64 words each), so loading needs no pickle.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets

import numpy as np

_MASK64 = (1 << 64) - 1


def atomic_write(path: str, write) -> None:
    """Call write(binary file) on a temp file beside `path`, fsync it, rename it to `path`."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as umask allows
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot open or fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_npz(path: str, arrays: dict) -> None:
    """Write {name: array} to `path` (.npz, uncompressed) atomically; no object arrays."""
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in arrays.items():
        if value.dtype == object:
            raise ValueError(f"save_npz: {name!r} is an object array (it would need pickle)")
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Every array in `path`, read with allow_pickle=False."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def write_json(path: str, value) -> None:
    """Write `value` as JSON to `path` atomically."""
    text = json.dumps(value, indent=1, sort_keys=True).encode()
    atomic_write(path, lambda f: f.write(text))


def _u128(value: int) -> np.ndarray:
    return np.array([value >> 64, value & _MASK64], dtype=np.uint64)


def generator_state(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A PCG64 Generator's full state as uint64 arrays."""
    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise ValueError(f"generator_state: only PCG64 generators are supported, got "
                         f"{state['bit_generator']}")
    return {"state": _u128(state["state"]["state"]), "inc": _u128(state["state"]["inc"]),
            "has_uint32": np.array(state["has_uint32"], np.uint64),
            "uinteger": np.array(state["uinteger"], np.uint64)}


def set_generator_state(rng: np.random.Generator, arrays: dict) -> None:
    """Restore what generator_state returned (into a PCG64 Generator)."""
    if rng.bit_generator.state["bit_generator"] != "PCG64":
        raise ValueError("set_generator_state: only PCG64 generators are supported")
    words = {k: [int(w) for w in np.asarray(arrays[k]).reshape(-1)] for k in ("state", "inc")}
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {k: (hi << 64) | lo for k, (hi, lo) in words.items()},
        "has_uint32": int(arrays["has_uint32"]),
        "uinteger": int(arrays["uinteger"]),
    }
