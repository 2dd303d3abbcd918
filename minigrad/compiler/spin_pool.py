"""A thread pool whose threads spin for a while between parallel calls (opt-in:
MINIGRAD_POOL_SPIN_US, microseconds; cpu_runtime.run uses it when that is above 0).

A compiled character-model step makes 13 parallel calls (the time loops, the products over all
steps, the weight gradients, the decoder's products), with serial work between them. Through
ThreadPoolExecutor the pool thread sleeps on a lock between calls and must be woken for the
next; on a virtual machine whose idle vCPU halts at once (this one's kernel command line has
``haltpoll.guest_halt_poll_ns=0``) each wake goes through the host. torch's OpenMP threads
instead spin between parallel regions. Here each pool thread, after its share, spins on its own
flag (``barrier.wait_for``: ``pause``, then ``sched_yield``) for about the given time before
sleeping on a condition; the caller posts a share by advancing the flag, notifies the condition,
runs its own share and spins until every thread's done-flag has advanced. Spinning holds a core:
under load it costs the partner thread that core (docs/performance.md, torch's two threads under
load), hence opt-in.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .barrier import SPINS_BEFORE_YIELD, advance, wait_for

_LINE = 8  # int64 per 64-byte line: each flag on its own cache line
# wait_for's rounds per microsecond past its first SPINS_BEFORE_YIELD `pause` rounds (5 us here):
# a `sched_yield` round took about 0.3 us (1,000 rounds: 213-231 us, Intel Xeon, KVM guest)
ROUNDS_PER_US = 3


def env_int(name: str, minimum: int):
    """The integer in environment variable `name` (None when unset or empty); ValueError naming
    it when it is not an integer >= minimum."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{name} must be {kind}, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return n


def spin_microseconds() -> int:
    """MINIGRAD_POOL_SPIN_US (0 when unset: the plain pool)."""
    return env_int("MINIGRAD_POOL_SPIN_US", 0) or 0


def spin_rounds(spin_us: int) -> int:
    """wait_for's round limit for about spin_us microseconds of spinning."""
    return SPINS_BEFORE_YIELD + spin_us * ROUNDS_PER_US


class SpinningPool:
    """n worker threads; run(fn, calls) runs calls[0] here and the rest on the workers."""

    def __init__(self, n: int, spin_us: int):
        self.n = n
        self.rounds = spin_rounds(spin_us)
        self.posted = np.zeros(n * _LINE, np.int64)  # worker k's share number at k * _LINE
        self.done = np.zeros(n * _LINE, np.int64)
        self.tasks = [None] * n
        self.errors = [None] * n
        self.condition = threading.Condition()
        self.pid = os.getpid()
        for k in range(n):
            threading.Thread(target=self._work, args=(k,), daemon=True,
                             name=f"minigrad-spin-{k}").start()

    def _work(self, k: int) -> None:
        seen = 0
        at = k * _LINE
        while True:
            if not wait_for(self.posted, at, seen + 1, self.rounds):
                with self.condition:
                    while self.posted[at] < seen + 1:
                        self.condition.wait()
            seen += 1
            fn, args = self.tasks[k]
            self.tasks[k] = None
            try:
                fn(*args)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller
                self.errors[k] = error
            advance(self.done, at)

    def run(self, fn, calls) -> None:
        workers = len(calls) - 1
        targets = []
        for k, args in enumerate(calls[1:]):
            self.tasks[k] = (fn, args)
            targets.append(advance(self.posted, k * _LINE))
        with self.condition:
            self.condition.notify_all()
        try:
            fn(*calls[0])
        finally:  # every share ends before the caller goes on, even when its own share raised
            for k in range(workers):
                wait_for(self.done, k * _LINE, targets[k], -1)
            errors = self.errors[:workers]
            self.errors[:workers] = [None] * workers
        for error in errors:
            if error is not None:
                raise error
