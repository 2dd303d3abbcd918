"""Each application's quick preset, eager next to compiled: the command's wall time, the time
in the training step calls and the traces of the compiled step per run.

    python -m bench.apps_compile [--apps classify,translate,forecast,charlm] [--rounds 2]
                                 [--warmup 1] [--preset quick|default] [--threads 1] [--nice 10]
                                 [--out FILE.json]
    python -m bench.apps_compile --signatures

A worker runs one `lstm <app> --preset quick ...` command (or `--preset default`; one seed,
and for forecast one dataset: APP_ARGS) in its own process, eager (`--no-compile`) or
compiled, into a fresh output directory, and prints one JSON line: wall seconds of the whole
command (data, training, evaluation, baselines, figures), the seconds inside the training step
calls (the shared trainer's `train_seconds`, first compiling call included) and, compiled, the
traces of each run's step. Rounds alternate the two modes so a busy machine slows both alike.

`--signatures` trains nothing: it draws the quick presets' classify and translate batches (seed
0, the same random stream as a run) and counts the traces a compiled step with mg.compile's
8-program cache makes when each batch is padded to its own longest sequence with the lengths
passed as Python ints (a signature per lengths tuple: the applications before issue 18's bucket
padding), padded to its own longest with the lengths as a Tensor, and padded to the buckets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("classify", "translate", "forecast", "charlm")
APP_ARGS = {
    "classify": ["--seeds", "0", "--pooling", "attention"],
    "translate": ["--seeds", "0", "--attention", "additive"],
    "forecast": ["--seeds", "0", "--dataset", "airline"],
    "charlm": ["--seeds", "0"],
}


def worker(app: str, compiled: bool, preset: str = "quick") -> dict:
    """Run the command once in this process; its figures."""
    from lstm.apps.common import trainer
    from lstm.cli import main

    made = []
    original = trainer.EpochTrainer.__init__

    def recorded(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    trainer.EpochTrainer.__init__ = recorded
    with tempfile.TemporaryDirectory() as out:
        argv = [app, "--preset", preset, *APP_ARGS[app], "--out", out, "--quiet",
                "--compile" if compiled else "--no-compile"]
        started = time.perf_counter()
        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                status = main(argv)
            finally:
                sys.stdout = stdout
        wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"lstm {app} exited {status}")
    return {"app": app, "preset": preset, "compiled": compiled, "wall_s": wall,
            "step_s": sum(t.train_seconds for t in made), "runs": len(made),
            "traces": [t.traces() for t in made]}


def _misses(keys, size: int = 8) -> int:
    """The misses (traces) of an LRU cache of `size` signatures over `keys` in order."""
    from collections import OrderedDict

    cache, misses = OrderedDict(), 0
    for key in keys:
        if key in cache:
            cache.move_to_end(key)
            continue
        misses += 1
        cache[key] = True
        if len(cache) > size:
            cache.popitem(last=False)
    return misses


def _batch_keys(app: str, bucketed: bool) -> list:
    """(shapes, lengths tuple) of every training batch of the quick preset's seed-0 run."""
    import numpy as np

    from lstm.apps.common.padding import buckets

    keys = []
    if app == "classify":
        from lstm.apps.classify import train as c

        config = c.preset_config("quick", seed=0)
        dataset = c.load_dataset(config.dataset)
        rng = np.random.default_rng(config.seed)
        train_x, _ = c.prepare(dataset)
        c.build_model(config, dataset, rng)  # draws from rng first, as a run does
        sizes = buckets(max(map(len, train_x))) if bucketed else None
        for _ in range(config.epochs):
            for (x, lengths, _y), _ in c.batches(train_x, dataset.train_y, config.batch_size,
                                                rng, config.noise, sizes):
                keys.append((x.shape, tuple(lengths.numpy().tolist())))
        return keys
    from lstm.apps.translate import train as t

    config = t.preset_config("quick", seed=0)
    corpus = t.load_corpus(config)
    rng = np.random.default_rng(config.seed)
    t.build_model(config, corpus, rng)
    source, target = corpus.ids("train")
    sizes = ((buckets(max(map(len, source))), buckets(max(map(len, target)) + 2)) if bucketed
             else None)
    for _ in range(config.epochs):
        for (src, lengths, tgt), _ in t.batches(source, target, config.batch_size, rng, sizes):
            keys.append((src.shape, tgt.shape, tuple(lengths.numpy().tolist())))
    return keys


def signatures() -> None:
    """Print the traces per run of the three ways of padding (see the module's docstring)."""
    print("| app | steps | traces: own length, lengths as ints | own length, lengths Tensor | "
          "buckets, lengths Tensor |")
    print("|---|---|---|---|---|")
    for app in ("classify", "translate"):
        own, bucketed = _batch_keys(app, False), _batch_keys(app, True)
        print(f"| {app} | {len(own)} | {_misses(own)} | {_misses([k[:-1] for k in own])} | "
              f"{_misses([k[:-1] for k in bucketed])} |")


def run(app: str, compiled: bool, threads: int, nice: int, preset: str = "quick") -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = ["nice", "-n", str(nice), sys.executable, "-m", "bench.apps_compile", "--worker",
               app, "--compiled" if compiled else "--eager", "--preset", preset]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1,
                        help="rounds run first and not counted (the kernels' disk caches filled: "
                             "a cold cache compiles inside the first runs' steps)")
    parser.add_argument("--preset", choices=("quick", "default"), default="quick")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    parser.add_argument("--signatures", action="store_true",
                        help="count the compiled classify / translate steps' traces per run "
                             "under three paddings (trains nothing)")
    parser.add_argument("--worker", choices=APPS, help=argparse.SUPPRESS)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    mode.add_argument("--eager", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.compiled, args.preset)))
        return 0
    if args.signatures:
        signatures()
        return 0
    apps = [a for a in args.apps.split(",") if a]
    unknown = set(apps) - set(APPS)
    if unknown:
        parser.error(f"--apps: expected some of {','.join(APPS)}, got {','.join(sorted(unknown))}")
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    rows = []
    for k in range(args.warmup + args.rounds):
        for app in apps:
            for compiled in ((False, True) if k % 2 == 0 else (True, False)):
                row = run(app, compiled, args.threads, args.nice, args.preset)
                row["load"], row["warmup"] = os.getloadavg()[0], k < args.warmup
                print(json.dumps(row), file=sys.stderr, flush=True)
                if not row["warmup"]:
                    rows.append(row)
    print("| app | eager wall s | compiled wall s | compiled/eager wall | eager step s | "
          "compiled step s | traces per run |")
    print("|---|---|---|---|---|---|---|")
    for app in apps:
        mine = {c: [r for r in rows if r["app"] == app and r["compiled"] is c]
                for c in (False, True)}
        wall = {c: statistics.median(r["wall_s"] for r in v) for c, v in mine.items()}
        step = {c: statistics.median(r["step_s"] for r in v) for c, v in mine.items()}
        print(f"| {app} | {wall[False]:.1f} | {wall[True]:.1f} | {wall[True] / wall[False]:.2f} | "
              f"{step[False]:.1f} | {step[True]:.1f} | {mine[True][0]['traces']} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
