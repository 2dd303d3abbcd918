"""One line for each fault the `lstm` command can meet: the path or address, the cause, what to do.

Exit status: 2 for what the user chose (a bad argument, an unusable --out), 1 for what happened
(a full disk, a damaged file, a failed run), 128 + signal for an interrupt (130 for Ctrl-C,
143 for SIGTERM: every command takes SIGTERM as Ctrl-C).
"""

from __future__ import annotations

import errno
import os
import signal
import sys

_AGAIN = "free some space and run the same command again"
_ELSEWHERE = "move it away or choose another --out"
_WRITABLE = (2, "choose a directory you can write to (--out)")
# errno -> (exit status, what to do)
_OS_HINTS = {
    errno.ENOSPC: (1, f"the disk is full: {_AGAIN} (finished runs and checkpoints are kept)"),
    errno.EDQUOT: (1, f"the disk quota is used up: {_AGAIN}"),
    errno.EACCES: _WRITABLE, errno.EPERM: _WRITABLE,
    errno.EROFS: (2, "the file system is read-only: choose another --out"),
    errno.EISDIR: (2, f"a directory stands where a file should be: {_ELSEWHERE}"),
    errno.ENOTDIR: (2, "a file stands where a directory should be: the path and its parents "
                       "must be directories"),
    errno.EEXIST: (2, "a file stands where a directory should be: give a directory"),
    errno.ENOENT: (2, "check the path"),
    errno.EINVAL: (2, f"something other than a file stands there: {_ELSEWHERE}"),
}


def describe_os_error(e: OSError) -> tuple[int, str]:
    """(exit status, one line) for an OSError: the path(s), the cause, what to do."""
    paths = " -> ".join(str(p) for p in (e.filename, e.filename2) if p is not None)
    cause = e.strerror or str(e) or type(e).__name__
    status, hint = _OS_HINTS.get(e.errno, (1, f"{errno.errorcode.get(e.errno, 'OS error')}"))
    return status, f"{paths + ': ' if paths else ''}{cause}; {hint}"


def check_out_dir(path: str) -> None:
    """--out must be a directory we can write to (created if missing); ValueError otherwise."""
    if not path:
        raise ValueError("--out must name a directory, got an empty string")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--out {path} is a file, not a directory; choose a directory")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"--out {path}: {parent} is a file, not a directory; choose a "
                         "directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise ValueError(f"--out {path} cannot be made ({e.strerror}: {e.filename}); choose a "
                         "directory you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {path} is not writable (permission denied); choose a "
                         "directory you can write to")


def report(command: str, e: BaseException, signum: int = signal.SIGINT) -> int:
    """Print one line for `e` on stderr; the exit status (None: not a fault we describe).
    `signum`: the signal behind a KeyboardInterrupt (SIGTERM is raised as one)."""
    if isinstance(e, OSError):
        status, line = describe_os_error(e)
    elif isinstance(e, ValueError):
        status, line = 2, str(e)
    elif isinstance(e, RuntimeError):
        status, line = 1, str(e)
    elif isinstance(e, MemoryError):
        status, line = 1, ("out of memory; choose smaller sizes (--hidden-size, --batch-size, "
                           "--seq-len, --test-size) or fewer --workers")
    elif isinstance(e, KeyboardInterrupt):
        status, line = 128 + int(signum), ("interrupted; finished runs are kept in the "
                                           "results file: run the same command again to carry "
                                           "on")
    else:
        raise e
    print(f"lstm {command}: error: {line}", file=sys.stderr, flush=True)
    return status
