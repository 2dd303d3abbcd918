"""Results files: one JSON row per finished run. Every writer and reader goes through here.

Writes: a row is appended with one O_APPEND write, fsynced before returning, under an advisory
lock on the file's directory (two commands writing one file do not interleave). Before it, a
torn last line (a kill or a full disk mid-append) is moved to `<file>.damaged` and cut off, so
the new row never lands glued to it; a failed write is cut back off at once. Whole-file changes
(replacing a row, quarantining damaged lines) are temp file + fsync + rename.

Reads: a torn last line is ignored, a line an older writer glued onto a torn one gives back its
complete row, and a row this version cannot use raises ResultsError naming the file, line, key
and field. Rows carry `schema`; rows without it (schema 1, before this module) are upgraded.
Standard library only: a writer process starts fast.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import sys
import time

SCHEMA_VERSION = 2
DAMAGED_SUFFIX = ".damaged"
# the fields each kind's result must hold for the consumers (results_doc, report, bench)
RESULT_FIELDS = {
    "train": ("config", "metrics", "curve", "solved", "steps_to_solve", "task", "steps",
              "wall_time"),
    "gradflow": ("records",),
    "speed": ("status",),
}
# every row has a kind; rows of the kinds above also need these (other kinds, e.g. the
# applications' rows, may carry their own fields; a row without a key gets one from its content)
ROW_FIELDS = {"key": str, "kind": str, "config": dict, "result": dict}


class ResultsError(ValueError):
    """A results file or row this version cannot use."""


class Row(dict):
    """A row read from a file; `where` is 'path line N'."""

    where = ""


def versions() -> dict:
    """Python, numpy, numba and minigrad versions of this process."""
    import platform

    import numba
    import numpy

    import minigrad

    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "minigrad": minigrad.__version__}


def make_row(kind: str, config: dict, result: dict, **extra) -> dict:
    """A complete row (schema, key, versions, finished_at) for a run of `kind` and `config`."""
    from .keys import run_key  # here: the fault tests load this module on its own

    row = {"schema": SCHEMA_VERSION, "key": run_key(kind, config), "kind": kind,
           "config": config, "result": result, "wall_time_s": None, "threads": None,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    row.update(extra)
    if "versions" not in row:
        row["versions"] = versions()
    return row


def say(message: str) -> None:
    """A note for the user on stderr (repairs made, fallbacks taken)."""
    print(message, file=sys.stderr, flush=True)


# ---- writing -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: str):
    """An exclusive flock on the file's directory for the block (no lock where unsupported)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _check_regular(path: str) -> None:
    """OSError unless `path` is a regular file (a directory, or a device such as /dev/full,
    which reads as endless zeros, is not a results file)."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a results file", path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise OSError(errno.EINVAL, "is not a regular file (a device, FIFO or socket)", path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _keep_damaged(path: str, data: bytes, what: str) -> str:
    """Append `data` to path.damaged (fsynced) and say so; returns the side file's path."""
    side = path + DAMAGED_SUFFIX
    fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        _write_all(fd, data if data.endswith(b"\n") else data + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    say(f"lstm: {path}: {what} ({len(data)} bytes); kept in {side}, the file goes on without it")
    return side


def _cut_torn_tail(path: str) -> None:
    """Move a last line without its newline to path.damaged and truncate it off."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        start = size
        while start > 0:  # back to the last newline, a block at a time
            block_start = max(0, start - 65536)
            block = os.pread(fd, start - block_start, block_start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                start = block_start + cut + 1
                break
            start = block_start
        _keep_damaged(path, os.pread(fd, size - start, start),
                      "ended in a torn line, left by a killed or failed write")
        os.ftruncate(fd, start)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_row(path: str, row: dict) -> None:
    """Append one row (schema stamped) as a JSON line, fsynced; a torn tail is quarantined
    first, and a failed write (a full disk) is cut back off before the error is raised."""
    with _locked(path):
        _check_regular(path)
        _cut_torn_tail(path)
        _append(path, _line(row))


def with_key(row: dict) -> dict:
    """`row`, with a key made from its content (kind and every field) if it has none."""
    if "key" in row:
        return row
    if not isinstance(row.get("kind"), str):
        raise ResultsError(f"a results row needs a 'kind' (a str), got {row.get('kind')!r}")
    content = {k: v for k, v in row.items() if k not in ("schema", "key")}
    from .keys import run_key  # here: the fault tests load this module on its own

    return {**row, "key": run_key(row["kind"], content)}


def _line(row: dict) -> bytes:
    """The JSON line of `row`, schema stamped, key filled in, checked as readers will."""
    row = with_key({"schema": SCHEMA_VERSION, **row})
    check_row(row, f"the row to write (kind {row.get('kind')!r})")
    return (json.dumps(row, sort_keys=True) + "\n").encode()


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait until the block ends (main thread): Ctrl-C in the middle of an
    append would otherwise tear the line or cut off a row that was already written.

    The Python handlers are swapped for ones that only note the signal, and the noted signals
    are raised again after the block. (Blocking them with pthread_sigmask is not enough: the
    kernel then hands the signal to another thread, a BLAS or thread-pool worker, and Python
    still runs its handler in the main thread inside the block.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is not None:  # None: installed outside Python, cannot be restored
            previous[signum] = signal.signal(signum, lambda number, frame: noted.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in noted:
            signal.raise_signal(signum)


def _append(path: str, data: bytes) -> None:
    with _signals_held():
        _append_now(path, data)


def _append_now(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            if isinstance(e, OSError) and e.filename is None and e.errno is not None:
                raise OSError(e.errno, e.strerror, path) from e  # name the file
            raise
    finally:
        os.close(fd)


def _rewrite(path: str, lines: list[bytes]) -> None:
    """Replace the file's content with `lines` atomically (temp file, fsync, rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _write_all(fd, b"".join(lines))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _lines(data: bytes) -> list[bytes]:
    """The lines of a file, each with its b"\n" (the last without, if torn). Only b"\n" ends
    a line: bytes.splitlines would also split at a stray b"\r" inside damaged bytes."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def repair(path: str) -> None:
    """Quarantine every damaged line (torn, glued, not JSON) to path.damaged; rows an older
    writer glued onto a torn line are kept. Writers call it before they read to resume."""
    with _locked(path):
        _check_regular(path)
        if not os.path.isfile(path):
            return
        with open(path, "rb") as f:
            lines = _lines(f.read())
        kept, damaged = [], []
        for line in lines:
            parsed = _parse(line) if line.endswith(b"\n") else None
            if parsed is None:
                damaged.append(line)
                continue
            prefix, row = parsed
            if prefix:
                damaged.append(prefix)
                line = (json.dumps(row, sort_keys=True) + "\n").encode()
            kept.append(line)
        if damaged:
            _keep_damaged(path, b"".join(d if d.endswith(b"\n") else d + b"\n" for d in damaged),
                          f"{len(damaged)} damaged line(s) (torn, or glued onto a torn one)")
            _rewrite(path, kept)


def put_row(path: str, row: dict, replaces: tuple[str, ...] = ()) -> None:
    """Write `row` as the only row with its key (or any key in `replaces`): an append when
    there is none, else one atomic rewrite without the old ones. Two commands finishing the
    same run at once leave one row."""
    row = with_key(row)
    keys = {row["key"], *replaces}
    with _locked(path):
        _check_regular(path)
        _cut_torn_tail(path)
        lines = []
        if os.path.isfile(path):
            with open(path, "rb") as f:
                lines = _lines(f.read())
        kept = [line for line in lines
                if (parsed := _parse(line)) is None or parsed[1].get("key") not in keys]
        if len(kept) == len(lines):
            _append(path, _line(row))
        else:
            _rewrite(path, kept + [_line(row)])


# ---- reading -----------------------------------------------------------------------------------
def _parse(line: bytes) -> tuple[bytes, dict] | None:
    """(b"", row) for a JSON object line; (torn prefix, row) for a row glued onto a torn line by
    an older writer; None when no complete row is in it."""
    try:
        value = json.loads(line)
        return (b"", value) if isinstance(value, dict) else None
    except ValueError:
        pass
    start = line.find(b'{"', 1)
    while start > 0:
        try:
            value = json.loads(line[start:])
        except ValueError:
            start = line.find(b'{"', start + 1)
            continue
        return (line[:start], value) if isinstance(value, dict) and "kind" in value else None
    return None


def check_row(row: dict, where: str = "a row") -> dict:
    """The row upgraded to this schema, or ResultsError naming `where`, its key and the field."""
    key = row.get("key") if isinstance(row.get("key"), str) else None
    label = f"{where}{f' (key {key[:80]})' if key else ''}"
    schema = row.get("schema", 1)
    if not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:
        raise ResultsError(f"{label}: field 'schema' is {schema!r}; this lstm reads schema 1 to "
                           f"{SCHEMA_VERSION} (a newer lstm wrote it? upgrade)")
    known = row.get("kind") in RESULT_FIELDS
    for name, kind in ROW_FIELDS.items():
        if (known or name == "kind" or name in row) and not isinstance(row.get(name), kind):
            got = "missing" if name not in row else f"a {type(row[name]).__name__}"
            raise ResultsError(f"{label}: field '{name}' must be a {kind.__name__}, it is {got}")
    if "key" not in row:
        row = with_key(row)
    for name in RESULT_FIELDS.get(row["kind"], ()):
        if name not in row["result"]:
            raise ResultsError(f"{label}: field 'result.{name}' is missing (needed for "
                               f"{row['kind']!r} rows)")
    upgraded = Row(row)
    upgraded.where = where
    upgraded.setdefault("schema", 1)
    upgraded.setdefault("versions", {})
    upgraded.setdefault("finished_at", None)
    upgraded.setdefault("threads", None)
    upgraded.setdefault("wall_time_s", (row.get("result") or {}).get("wall_time"))
    return upgraded


def read_rows(path: str) -> list[Row]:
    """Every row of a results file ([] if there is none), checked and upgraded (check_row).

    A torn last line is ignored; a glued line gives back its complete row; a line with no row
    in it is skipped with a note on stderr (writers move such lines to path.damaged); of rows
    with the same key, the last is kept (with a note).
    """
    if not os.path.exists(path):
        return []
    _check_regular(path)
    with open(path, "rb") as f:
        lines = _lines(f.read())
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.endswith(b"\n"):
            break  # torn by a kill mid-write: the next writer quarantines it
        parsed = _parse(line)
        if parsed is None:
            if line.strip():
                say(f"lstm: {path} line {number} holds no complete row ({len(line)} bytes of "
                    "damage); skipped (the next lstm train or sweep moves it aside)")
            continue
        rows.append(check_row(parsed[1], f"{path} line {number}"))
    last = {row["key"]: i for i, row in enumerate(rows)}
    if len(last) < len(rows):  # e.g. two sweeps of the same grid at once: the last row wins
        say(f"lstm: {path}: {len(rows) - len(last)} duplicate row(s) of the same run; the last "
            "of each is used")
        rows = [row for i, row in enumerate(rows) if last[row["key"]] == i]
    return rows


def find_row(rows: list[dict], key: str) -> dict | None:
    """The last row with `key`, or None."""
    return next((r for r in reversed(rows) if r["key"] == key), None)
