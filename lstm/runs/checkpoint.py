"""Checkpoint files: flat dicts of arrays in .npz, written atomically, read without pickle.

A write goes to a temporary file in the target's directory, is flushed and fsynced, then renamed
over the target (os.replace is atomic on POSIX), and the directory is fsynced: a crash at any
point leaves either the old complete file or the new complete file, never a partial one.
Generator states are stored as integer arrays (PCG64's 128-bit state and increment as two
uint64 words each), so loading needs no pickle.

Training checkpoints (save_checkpoint / load_checkpoint) are read back and checked before they
replace the previous one, which is kept as `<name>.prev.npz`; a damaged latest checkpoint falls
back to it, and a damaged file is reported by name with what is wrong and how to start afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import zipfile

import numpy as np

_MASK64 = (1 << 64) - 1


def atomic_write(path: str, write) -> None:
    """Call write(binary file) on a temp file beside `path`, fsync it, rename it to `path`."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as umask allows
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e  # name the target, not the temp file
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror, path) from e  # name the file being written
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


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: names the file, what is wrong and what to do."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"checkpoint {path} is damaged: {problem}. Delete it to start the run "
                         "afresh (`lstm train --restart` does that for its runs)")
        self.path, self.problem = path, problem


def previous_path(path: str) -> str:
    """Where the checkpoint before `path` is kept: name.npz -> name.prev.npz."""
    root, ext = os.path.splitext(path)
    return f"{root}.prev{ext}"


def read_checked(path: str, required=()) -> dict[str, np.ndarray]:
    """load_npz, with every way a file can be damaged turned into a CheckpointError."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head != b"PK\x03\x04":
            raise CheckpointError(path, f"not an .npz archive (it starts with {head!r}); "
                                        "written by something else, or overwritten")
        data = load_npz(path)
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, zipfile.LargeZipFile) as e:
        raise CheckpointError(path, f"unreadable .npz ({type(e).__name__}: {e}); truncated "
                                    "or overwritten") from None
    except OSError as e:
        if e.errno is None:  # zlib/zip errors surface as bare OSErrors
            raise CheckpointError(path, f"unreadable .npz ({e})") from None
        raise
    missing = [name for name in required if not any(
        k == name or k.startswith(name + "/") for k in data)]
    if missing:
        raise CheckpointError(path, f"fields {missing} are missing (written by another version "
                                    "or another program?)")
    return data


def save_checkpoint(path: str, arrays: dict, required=()) -> None:
    """save_npz to a temp name, read back and checked, then the current checkpoint becomes
    previous_path(path) and the new one takes its name."""
    directory = os.path.dirname(os.path.abspath(path))
    staged = os.path.join(directory, f".{os.path.basename(path)}.new.npz")
    try:
        save_npz(staged, arrays)
    except OSError as e:
        if e.filename != staged:
            raise
        raise OSError(e.errno, e.strerror, path) from e  # the checkpoint, not its staging name
    try:
        read_checked(staged, required)
    except CheckpointError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
        raise RuntimeError(f"the checkpoint just written to {path} does not read back "
                           f"({e.problem}); the previous one is kept") from None
    if os.path.exists(path):
        os.replace(path, previous_path(path))
    os.replace(staged, path)
    _fsync_directory(directory)


def load_checkpoint(path: str, required=(), say=None) -> tuple[dict[str, np.ndarray], str]:
    """(arrays, the file they came from): `path`, or previous_path(path) when `path` is missing
    or damaged (said through `say`). CheckpointError names the latest file when neither loads."""
    candidates = [p for p in (path, previous_path(path)) if os.path.exists(p)]
    if not candidates:
        raise FileNotFoundError(2, "no checkpoint", path)
    first_error = None
    for candidate in candidates:
        try:
            data = read_checked(candidate, required)
        except CheckpointError as e:
            first_error = first_error or e
            continue
        if first_error is not None and say is not None:
            say(f"lstm: {first_error}; falling back to {candidate} (step "
                f"{int(data['step']) if 'step' in data else '?'})")
        return data, candidate
    raise first_error


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


def safetensors_numpy():
    """safetensors' numpy API (the `apps` extra), or a RuntimeError saying how to install it:
    the one loader of every saved model (charlm, translate, forecast, classify)."""
    try:
        from safetensors import numpy as st_numpy
    except ImportError as e:
        raise RuntimeError("saving and loading models needs the safetensors package: pip "
                           "install 'minigrad-lstm[apps]'") from e
    return st_numpy
