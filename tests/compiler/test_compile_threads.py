"""mg.compile from several threads: traces patch module state (the backends' functions,
Tensor's attributes), so they run one at a time, and a trace records only its own thread's
calls (another thread's eager ops and program replays run as usual meanwhile)."""

from __future__ import annotations

import threading

import numpy as np

import minigrad as mg
from minigrad.backends import cpu


def _expected(i):
    return np.tanh(np.ones((4, 3)) @ np.full((3, 2), float(i))).sum()


def test_traces_in_many_threads_at_once_equal_eager_and_leave_the_engine_unpatched():
    threads, start, failures = 8, threading.Barrier(8), []

    def work(i):
        try:
            w = mg.tensor(np.full((3, 2), float(i)), requires_grad=True)
            step = mg.compile(lambda x: (x @ w).tanh().sum())
            x = mg.tensor(np.ones((4, 3)))
            start.wait()
            for _ in range(4):  # a trace, then the program
                value = step(x).numpy()
                if not np.isclose(value, _expected(i), rtol=1e-12):
                    failures.append((i, value))
            eager = mg.tensor(np.full((2, 2), float(i))) @ mg.tensor(np.eye(2))
            if not np.array_equal(eager.numpy(), np.full((2, 2), float(i))):
                failures.append((i, "eager"))
        except Exception as e:  # noqa: BLE001 - reported below with the thread's number
            failures.append((i, repr(e)))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert failures == []
    assert not hasattr(cpu.matmul, "__wrapped__")  # every trace's wrapper was taken off
    assert not mg.autograd.state.compiling
