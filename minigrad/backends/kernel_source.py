"""Elementwise kernels generated from the scalar rules as source files, so Numba can cache them.

Numba's disk cache keys a kernel on its source file and, for a closure, on a pickle of what it
closes over; a compiled rule pickles with a random per-process id, so a kernel written as a
closure over a rule would compile again in every process. Instead each (target, rule, dtype)
gets a small generated module under the kernel directory that imports its rules by name, and its
kernels are cached next to it. The file name carries a hash of the rule sources and of the
template, so editing any rule (or a template) gives a new file: no stale cache to delete.

The directory is ``$MINIGRAD_KERNEL_DIR`` or ``~/.cache/minigrad/kernels``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path

from .scalar_rules import RULES

_HERE = Path(__file__).parent
_RULE_FILES = ("scalar_rules.py", "scalar_rules_math.py", "scalar_rules_activations.py",
               "scalar_rules_piecewise.py", "scalar_float32.py", "indexing.py")  # all inlined
_rules_digest = None
_LOADED: dict = {}


def kernel_dir() -> Path:
    """Where generated kernel modules (and their Numba caches) live."""
    root = os.environ.get("MINIGRAD_KERNEL_DIR")
    return Path(root) if root else Path.home() / ".cache" / "minigrad" / "kernels"


class KernelCacheWarning(RuntimeWarning):
    """A generated kernel's cache was damaged or its folder could not be written; minigrad
    compiled the kernel again (after removing the damage, or in a temporary folder)."""


def _digest(template: str) -> str:
    global _rules_digest
    if _rules_digest is None:
        h = hashlib.sha256()
        for name in _RULE_FILES:
            h.update((_HERE / name).read_bytes())
        _rules_digest = h.hexdigest()
    return hashlib.sha256((_rules_digest + template).encode()).hexdigest()[:16]


def load(target: str, rule_name: str, dtype_name: str, template: str, **fields):
    """The module generated from `template` for one rule and dtype (written once, then imported)."""
    source = template.format(rule=rule_name, dtype=dtype_name, **fields)
    stem = f"{target}_{rule_name}_{dtype_name}_{_digest(source)}"
    module_name = f"minigrad_kernels_{stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    return import_source(source, kernel_dir() / f"{stem}.py", module_name)


def import_source(source: str, path: Path, module_name: str):
    """Import `source` as module `module_name` from the file `path`, writing the file first when
    it is missing or holds other text (write then rename: parallel processes see either no file
    or the whole file; an unchanged file keeps its mtime, so Numba's cache beside it stays valid;
    other text is damage, a truncated file: warned, written again, so never imported), then check
    the Numba cache of its kernels (check_numba_cache). A folder that cannot be written: _write."""
    found = _read(path)
    if found != source:
        if found is not None:  # the name is the text's hash: other text is damage
            _warn(f"minigrad: the generated kernel file {path} was damaged (its text is not "
                  f"the one its name hashes); written again, compiling it again", path)
        path = _write(source, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    check_numba_cache(module, path)
    return module


_UNWRITABLE: set = set()


def _write(source: str, path: Path) -> Path:
    """Write source to path atomically (write, then rename); where the folder cannot be written
    (read-only, a file in the way) to the same name in a per-user folder of the temporary
    directory, with one warning per folder. Returns the path written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError as error:
        fallback = Path(tempfile.gettempdir()) / f"minigrad-{os.getuid()}" / path.parent.name
        if fallback == path.parent:
            raise
        if path.parent not in _UNWRITABLE:
            _UNWRITABLE.add(path.parent)
            _warn(f"minigrad: cannot write the kernel cache {path.parent} "
                  f"({type(error).__name__}: {error}); using {fallback} (compiled again after a "
                  f"reboot)", path)
        path = fallback / path.name  # written by an earlier process: kept, with its mtime
        return path if _read(path) == source else _write(source, path)
    with os.fdopen(fd, "w") as f:
        f.write(source)
    os.replace(tmp, path)
    return path


def _read(path: Path):
    """The text of path; None when there is no file, "" when it is not text (damage)."""
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (UnicodeDecodeError, OSError):
        return ""


def _warn(message: str, path) -> None:
    # one line on stderr: line 0 of the kernel file has no source text to echo
    warnings.warn_explicit(message, KernelCacheWarning, str(path), 0,
                           module="minigrad.kernel_cache")


def check_numba_cache(module, path) -> list[str]:
    """Read the Numba cache index and data files of every cached kernel of a generated module;
    a file that does not unpickle (a torn write, a full disk, a stray edit) is removed, so Numba
    compiles that kernel again and rewrites it, and one warning line names it. Without this the
    damage surfaces at the kernel's first call as an UnpicklingError from deep inside Numba.
    Returns the names of the kernels whose cache was rebuilt."""
    rebuilt = []
    for name, kernel in sorted(vars(module).items()):
        cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
        if cache_file is None or not hasattr(cache_file, "_load_index"):
            continue  # not a cached Numba kernel (or a Numba without this layout)
        try:
            for data_name in cache_file._load_index().values():
                try:
                    cache_file._load_data(data_name)
                except FileNotFoundError:
                    pass  # Numba recompiles a missing entry by itself
        except Exception as error:  # noqa: BLE001 - any unreadable pickle is damage
            for stale in Path(cache_file._cache_path).glob(
                    Path(cache_file._index_path).name.rsplit(".", 1)[0] + "*"):
                stale.unlink(missing_ok=True)
            rebuilt.append(name)
            _warn(f"minigrad: the Numba cache of kernel {name!r} was damaged "
                  f"({type(error).__name__}: {error}); removed, compiling it again", path)
    return rebuilt


def rule_params(name: str, dtype, params) -> tuple:
    """A rule's scalar parameters as `dtype` scalars (the generated kernels' trailing
    arguments); ValueError naming the rule when their count is not the rule's."""
    expected = RULES[name].params
    if not params and not expected:
        return ()
    if len(params) != len(expected):
        raise ValueError(f"{name}: expected the parameters {expected}, got {len(params)} "
                         f"values {tuple(params)}")
    return tuple(dtype.type(p) for p in params)


def rule_kernels(target: str, name: str, dtype, unary: str, binary: str):
    """(rule, module) of the kernels generated for one scalar rule and float dtype on `target`
    from its unary or binary template, loaded once per process."""
    import numpy as np

    key = (target, name, dtype)
    found = _LOADED.get(key)
    if found is not None:
        return found
    rule = RULES.get(name)
    if rule is None:
        raise ValueError(f"{target} backend: no scalar rule named {name!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: needs float32 or float64 data, got {dtype}")
    params = "".join(f", p{i}" for i in range(len(rule.params)))
    template = unary if rule.arity == 1 else binary
    found = _LOADED[key] = (rule, load(target, name, dtype.name, template, params=params))
    return found
