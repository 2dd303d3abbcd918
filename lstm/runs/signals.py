"""Signals during a run: SIGINT and SIGTERM stop a checkpointed run at a step boundary (used by
lstm.runs.train's Trainer and the applications' trainers); SIGTERM as Ctrl-C for a command that
stops its workers and says what is left (the sweeps)."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def handled(handler, signums=(signal.SIGINT, signal.SIGTERM)):
    """`handler` on `signums` inside the block, the previous handlers back after it (a signal
    whose handler was installed outside Python, so cannot be restored, is left as it is). In
    the main thread only: elsewhere Python cannot set handlers and the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signums if signal.getsignal(s) is not None}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def deferred_signals(flag: dict):
    """SIGINT and SIGTERM only set flag["signum"] inside the block, so the loop stops at a step
    boundary (a step interrupted half-way through the optimizer update would checkpoint a state
    no uninterrupted run has). A second SIGINT interrupts at once. Main thread only."""
    def handler(signum, frame):
        if flag.get("signum") == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["signum"] = signum

    with handled(handler):
        yield


@contextlib.contextmanager
def held_signals():
    """SIGINT and SIGTERM wait for the end of the block, then go to the handlers outside it (a
    result appended to its file and announced as one: a stop between the two would keep a row
    the command did not report). A second SIGINT interrupts at once. Main thread only."""
    flag: dict = {}
    with deferred_signals(flag):
        yield
    if "signum" in flag:
        signal.raise_signal(flag["signum"])


@contextlib.contextmanager
def term_as_interrupt():
    """SIGTERM raises KeyboardInterrupt inside the block, as Ctrl-C does; yields a dict whose
    "signum" is the signal that stopped it (SIGINT unless SIGTERM came), for the exit status
    128 + signum. Main thread only (elsewhere SIGTERM is left as it is)."""
    caught = {"signum": signal.SIGINT}

    def on_term(signum, frame):
        caught["signum"] = signum
        raise KeyboardInterrupt

    with handled(on_term, (signal.SIGTERM,)):
        yield caught
