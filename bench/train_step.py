"""`lstm train`'s step, eager against compiled (mg.compile), through the trainer itself: a batch
drawn, encoded, forward, loss, backward, clipping, the optimizer's update, the loss read back.
Default: the adding task, lstm-fb1, H 128, T 100, B 32, Adam, clipping at norm 1 (issue 18's
"whole `lstm train` adding step"). Each mode runs in its own process (the first steps, which
trace and compile, are not timed), the modes alternated and repeated; one JSON line per process
and a summary line with the median step times (wall clock, and CPU time of all threads) and their
ratios.

    python -m bench.train_step [--model lstm-fb1] [--impl fused|composed] [--steps 40]
                               [--warmup 5] [--repeats 3] [--base TREE [--base-compiled]]
                               [--units] [--threads N]

--base TREE adds a third mode: the eager step of another checkout of this project (for issue 18's
"faster than today's eager step": `git worktree add /tmp/base 561893f`, the tree when the issue
was filed), run from that tree through the API both have (lstm.config.TrainConfig,
lstm.train.Trainer) with the same threads; the summary gives each mode over base eager.
--base-compiled times the base tree's compiled step instead (a compiler change measured
before/after: `--model lstm-ln --impl composed`, the plain-loop layer-norm LSTM, whose three
layer norms per step the row-reduction fusion takes into its kernels).
--units adds the modes eager-units and compiled-units: the same steps with the fused recurrences'
threads split by hidden units (MINIGRAD_RECURRENT_SPLIT=units, docs/fused_kernels.md), alternated
with the rest.
--threads N runs every process with N threads (MINIGRAD_NUM_THREADS, OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS set to N): `--threads 1` on a busy machine, where the CPU times of one thread are
the figures to compare (a second thread's wall clock waits for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def child(model: str, compiled: bool, steps: int, warmup: int, hidden: int, seq_len: int,
          batch: int, impl: str = "fused") -> dict:
    import dataclasses

    try:
        from lstm.runs.config import TrainConfig
        from lstm.runs.train import Trainer
    except ImportError:  # an older tree (--base): the run engine's old paths
        from lstm.config import TrainConfig
        from lstm.train import Trainer

    options = dict(task="adding", model=model, hidden_size=hidden, seq_len=seq_len,
                   batch_size=batch, optimizer="adam", lr=1e-3, clip="norm",
                   steps=warmup + steps)
    if impl != "fused":
        options["impl"] = impl
    if "compile" in {f.name for f in dataclasses.fields(TrainConfig)}:
        options["compile"] = compiled  # a tree from before mg.compile has no such field
    elif compiled:
        raise SystemExit("train_step: this tree has no compiled step")
    trainer = Trainer(TrainConfig(**options))
    start = time.perf_counter()
    trainer.train_step()  # the first call traces and compiles (eager: the kernels load)
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        trainer.train_step()
    times, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        trainer.train_step()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    import minigrad as mg

    threads = getattr(mg, "get_num_threads", None)
    return {"compiled": compiled, "model": model, "first_call_s": round(first, 3),
            "median_ms": round(1e3 * statistics.median(times), 3),
            "min_ms": round(1e3 * min(times), 3),
            "cpu_median_ms": round(1e3 * statistics.median(cpu), 3),
            "threads": threads() if threads else None,
            "still_compiled": isinstance(getattr(trainer, "_step", None),
                                         getattr(mg, "CompiledFunction", ()))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_step", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lstm-fb1")
    p.add_argument("--steps", type=int, default=40, help="timed steps per process")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (>= 1)")
    p.add_argument("--repeats", type=int, default=3, help="processes per mode")
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--impl", choices=("fused", "composed"), default="fused")
    p.add_argument("--base", metavar="TREE",
                   help="also time the eager step of this checkout (e.g. a worktree of 561893f)")
    p.add_argument("--base-compiled", action="store_true",
                   help="time the base tree's compiled step, not its eager one")
    p.add_argument("--units", action="store_true",
                   help="also time both modes with the threads split by hidden units")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of every process (default: the process's CPUs)")
    p.add_argument("--child", choices=("eager", "compiled"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    sizes = (args.hidden_size, args.seq_len, args.batch_size)
    if args.child:
        row = child(args.model, args.child == "compiled", args.steps, max(1, args.warmup),
                    *sizes, impl=args.impl)
        print(json.dumps(row), flush=True)
        return 0
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    modes = [("eager", here), ("compiled", here)]
    if args.units:
        modes += [("eager-units", here), ("compiled-units", here)]
    if args.base:
        layouts = (("lstm", "train.py"), ("lstm", "train", "__init__.py"),
                   ("lstm", "runs", "train.py"))  # the run engine's paths over the commits
        if not any(os.path.isfile(os.path.join(args.base, *path)) for path in layouts):
            p.error(f"--base: expected a checkout of this project, got {args.base!r}")
        modes.insert(0, ("base", os.path.abspath(args.base)))
    medians: dict[str, list[dict]] = {name: [] for name, _ in modes}
    for repeat in range(args.repeats):
        for name, tree in (modes if repeat % 2 == 0 else modes[::-1]):
            compiled = name.startswith("compiled") or name == "base" and args.base_compiled
            row = _run_child(tree, "compiled" if compiled else "eager", args, sizes,
                             "units" if name.endswith("-units") else None)
            row["mode"] = name
            print(json.dumps(row), flush=True)
            medians[name].append(row)
    summary = {"summary": f"{args.model} ({args.impl}) adding H{sizes[0]} T{sizes[1]} "
                          f"B{sizes[2]}" + (", base compiled" if args.base_compiled else "")}
    for name in medians:
        summary[f"{name}_ms"] = statistics.median(r["median_ms"] for r in medians[name])
        summary[f"{name}_cpu_ms"] = statistics.median(r["cpu_median_ms"] for r in medians[name])
    summary["compiled_over_eager"] = round(summary["compiled_ms"] / summary["eager_ms"], 3)
    for name in ("eager", "compiled"):
        if f"{name}-units_ms" in summary:
            summary[f"{name}-units_over_{name}"] = round(
                summary[f"{name}-units_ms"] / summary[f"{name}_ms"], 3)
    if args.base:
        for name in [m for m, _ in modes if m != "base"]:
            summary[f"base_over_{name}"] = round(summary["base_ms"] / summary[f"{name}_ms"], 3)
            summary[f"base_over_{name}_cpu"] = round(
                summary["base_cpu_ms"] / summary[f"{name}_cpu_ms"], 3)
    summary["load"] = os.getloadavg()[0]
    print(json.dumps(summary), flush=True)
    return 0


def _run_child(tree: str, mode: str, args, sizes, split: str | None = None) -> dict:
    """One process timing one mode, with `tree` first on the path (this module is passed as a
    file, so an older tree without it times its own step through the same child())."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [tree] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if split:
        env["MINIGRAD_RECURRENT_SPLIT"] = split
    if args.threads is not None:
        for name in ("MINIGRAD_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            env[name] = str(args.threads)
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", mode, "--model", args.model,
         "--impl", args.impl, "--steps", str(args.steps), "--warmup", str(args.warmup),
         "--hidden-size",
         str(sizes[0]), "--seq-len", str(sizes[1]), "--batch-size", str(sizes[2])],
        capture_output=True, text=True, check=True, cwd=tree, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
