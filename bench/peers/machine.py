"""What the machine is doing: how busy its cores are, CPU time of child processes, and the
wall and CPU time of fresh interpreter start-ups."""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from . import LIBRARIES, summarize, thread_env


def bench_parser(doc: str, worker_nargs: int, preset: str, threads: int,
                 **worker_keywords) -> argparse.ArgumentParser:
    """The options of a bench that measures each library or mode in a child process of its own:
    the hidden --worker (the child's arguments), --preset, --threads, --rounds, --out."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--worker", nargs=worker_nargs, help=argparse.SUPPRESS, **worker_keywords)
    p.add_argument("--preset", choices=("quick", "default"), default=preset)
    p.add_argument("--threads", type=int, default=threads)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=None, metavar="FILE.json")
    return p


def cpu_busy(interval: float = 0.5) -> float:
    """Fraction of all cores busy (user, system, steal...) over `interval` seconds (/proc/stat)."""

    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(interval)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(max_busy: float, max_wait_s: float) -> float:
    """Wait (up to max_wait_s) until at most `max_busy` of the cores are busy; the last reading."""
    deadline = time.perf_counter() + max_wait_s
    busy = cpu_busy()
    while busy > max_busy and time.perf_counter() < deadline:
        time.sleep(2.0)
        busy = cpu_busy()
    return busy


def worker_env(root: Path, threads: int) -> dict[str, str]:
    """The environment of a worker: threads pinned, the repository root importable."""
    env = dict(os.environ, **thread_env(threads))
    # what importing minigrad set in this process (OMP_WAIT_POLICY) is not passed on: a torch or
    # JAX worker runs with the user's environment, a minigrad worker sets it again on import
    for name in getattr(sys.modules.get("minigrad.backends.omp"), "applied", {}):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def startup_times(root: Path, labels: list[str], runs: int, threads: int) -> list[dict]:
    """Wall time of a fresh `python -c "<import + first op>"` per library, caches warmed first."""
    snippets = {"python + numpy": "import numpy"}
    for label in labels:
        module_name, _ = LIBRARIES[label]
        module = importlib.import_module(f"bench.peers.{module_name}")
        snippets.setdefault(label, getattr(module, "STARTUP_SNIPPET", None))
    out = []
    for label, snippet in snippets.items():
        if snippet is None:
            continue
        seconds, cpu_seconds, ok = [], [], True
        for i in range(runs + 1):  # run 0 fills Numba's on-disk cache and the OS page cache
            start, cpu_start = time.perf_counter(), _children_cpu()
            done = subprocess.run(
                [sys.executable, "-c", snippet],
                cwd=root,
                env=worker_env(root, threads),
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                ok = False
                break
            if i:
                seconds.append(time.perf_counter() - start)
                cpu_seconds.append(_children_cpu() - cpu_start)
        record = {"library": label, "snippet": snippet}
        record.update(
            summarize(seconds, cpu_seconds)
            if ok
            else {"status": "skipped", "reason": done.stderr.strip()[-300:]}
        )
        out.append(record)
    return out


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_meta(root: Path, argv: list[str], threads: int) -> dict:
    """Date, command, commit, machine, threads and load average of a comparison run."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    # others edit the working tree while we measure: name the files that differ from the commit
    dirty = subprocess.run(
        ["git", "diff", "--name-only", "HEAD", "--", "minigrad", "lstm", "bench"],
        cwd=root,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m bench.compare " + " ".join(argv),
        "commit": commit,
        "uncommitted": dirty,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "threads": threads,
        "loadavg_before": list(os.getloadavg()),
    }
