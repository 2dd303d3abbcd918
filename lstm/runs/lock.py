"""One process per run directory: an exclusive lock held while a run trains.

`RunLock(run_dir)` takes an flock on RUN_DIR/.lock and writes its pid and command there. A second
process on the same run either waits for the first (printing one line that names it) or, with
wait=False, raises RunBusy, whose message is that one line; never a traceback, never a half
written checkpoint. The lock goes with the process (the kernel drops an flock when its holder
exits, even killed), so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

LOCK_NAME = ".lock"


class RunBusy(RuntimeError):
    """Another process holds this run's lock."""


def holder(run_dir: str) -> str:
    """What the lock file says about its holder ('process PID: command'), or 'another process'."""
    try:
        with open(os.path.join(run_dir, LOCK_NAME)) as f:
            text = f.read().strip()
    except OSError:
        text = ""
    return text or "another process"


class RunLock:
    """Context manager: the run directory's lock for the block (created with the directory)."""

    def __init__(self, run_dir: str, wait: bool = True, label: str = "lstm",
                 poll_s: float = 0.2):
        self.run_dir, self.wait, self.label, self.poll_s = run_dir, wait, label, poll_s
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: no lock
            return self
        os.makedirs(self.run_dir, exist_ok=True)
        fd = os.open(os.path.join(self.run_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                line = (f"{self.label}: this run ({self.run_dir}) is being run by "
                        f"{holder(self.run_dir)}")
                if not self.wait:
                    os.close(fd)
                    raise RunBusy(line + "; run the same command again when it has "
                                         "finished") from None
                if not said:
                    print(line + "; waiting for it to finish (Ctrl-C stops waiting)",
                          file=sys.stderr, flush=True)
                    said = True
                time.sleep(self.poll_s)
            except BaseException:
                os.close(fd)
                raise
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        # who holds it, for a second process's message; the lock works without it (a full
        # disk: the run's own writes say so, naming their files)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()}: {command}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # releases the flock
            self._fd = None
