"""Which Numba functions a process compiled and what each cost: ``numba:compile`` and
``numba:llvm_lock`` event listeners, in the compiling thread's CPU seconds (what a busy machine
inflates least). Used by ``python -m bench.compile_first_call --kernels``.

A function's *own* seconds exclude the functions compiled while typing it (its callees, Numba's
overloads it needs); *with callees* includes them; *LLVM* is the part of its own seconds spent
holding LLVM's lock (lowering, optimisation, machine code).
"""

from __future__ import annotations

import time
from collections import defaultdict


class KernelTimes:
    """Install with ``install()`` (``uninstall()`` to stop); ``rows()`` once the compiles are
    done."""

    def __init__(self):
        self.stack: list[list] = []  # [dispatcher, start, callees' seconds, LLVM seconds]
        self.records: list[tuple] = []  # (name, caller name, with callees, own, LLVM)

    def install(self):
        from numba.core import event  # here: asv imports bench/ modules without numba

        outer = self

        class Compile(event.Listener):
            def on_start(self, ev):
                outer.stack.append([ev.data["dispatcher"], time.thread_time(), 0.0, 0.0])

            def on_end(self, ev):
                dispatcher, start, callees, llvm = outer.stack.pop()
                total = time.thread_time() - start
                caller = outer.stack[-1][0] if outer.stack else None
                if outer.stack:
                    outer.stack[-1][2] += total
                outer.records.append((_name(dispatcher), _name(caller), total, total - callees,
                                      llvm))

        class Llvm(event.Listener):
            def on_start(self, ev):
                self.start = time.thread_time()

            def on_end(self, ev):
                if outer.stack:
                    outer.stack[-1][3] += time.thread_time() - self.start

        self.listeners = [("numba:compile", Compile()), ("numba:llvm_lock", Llvm())]
        for kind, listener in self.listeners:
            event.register(kind, listener)
        return self

    def uninstall(self):
        from numba.core import event

        for kind, listener in self.listeners:
            event.unregister(kind, listener)

    def rows(self, top: int = 12) -> list[dict]:
        """The functions with the most own seconds (summed over their signatures), largest
        first, and a last row with the totals."""
        summed = defaultdict(lambda: {"compiles": 0, "own_s": 0.0, "with_callees_s": 0.0,
                                      "llvm_s": 0.0, "first_caller": None})
        for name, caller, total, own, llvm in self.records:
            row = summed[name]
            row["compiles"] += 1
            row["own_s"] += own
            row["with_callees_s"] += total
            row["llvm_s"] += llvm
            row["first_caller"] = row["first_caller"] or caller
        ranked = sorted(summed.items(), key=lambda kv: -kv[1]["own_s"])
        out = [{"function": name, **row} for name, row in ranked[:top]]
        out.append({"function": "(all)", "compiles": len(self.records), "first_caller": None,
                    "own_s": sum(r[3] for r in self.records),
                    "with_callees_s": sum(r[2] for r in self.records if r[1] is None),
                    "llvm_s": sum(r[4] for r in self.records)})
        return out


def _name(dispatcher) -> str | None:
    if dispatcher is None:
        return None
    function = getattr(dispatcher, "py_func", dispatcher)
    return f"{function.__module__}.{function.__qualname__}"
