"""Signals during a run: SIGINT and SIGTERM stop a checkpointed run at a step boundary (used by
lstm.train's Trainer and the applications' trainers)."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred_signals(flag: dict):
    """SIGINT and SIGTERM only set flag["signum"] inside the block, so the loop stops at a step
    boundary (a step interrupted half-way through the optimizer update would checkpoint a state
    no uninterrupted run has). A second SIGINT interrupts at once. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.get("signum") == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["signum"] = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
