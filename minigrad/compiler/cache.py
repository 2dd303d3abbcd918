"""The disk cache of generated kernels: one .py file per source text, imported by path.

A module's name is the hash of its text (which encodes the step's whole structure, the dtype and
the generator version), so a changed cell gets a new file and an unchanged one finds its file and
Numba's cache beside it (``__pycache__``, cache=True): a second process compiles nothing. Files
are written once, atomically, and never rewritten (a new mtime would void Numba's cache).
Directory: $MINIGRAD_CACHE_DIR, else $XDG_CACHE_HOME/minigrad, else ~/.cache/minigrad; kernels
go under ``cells/`` (a per-user folder of the temporary directory if that one is not writable).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..backends.kernel_source import import_source

_MODULES: dict = {}


def cache_dir() -> Path:
    """Where generated kernels are kept (created on first use)."""
    root = os.environ.get("MINIGRAD_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        root = os.path.join(base, "minigrad")
    path = Path(root) / "cells"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    # a read-only home: a per-user folder in the temporary directory (compiled again per boot)
    fallback = Path(tempfile.gettempdir()) / f"minigrad-{os.getuid()}" / "cells"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def load(source: str, prefix: str = "cell"):
    """Import the module with this source text (writing it first if it is new)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"minigrad_{prefix}_{digest}"
    if name in _MODULES:
        return _MODULES[name]
    module = _MODULES[name] = import_source(source, cache_dir() / f"{name}.py", name)
    return module
