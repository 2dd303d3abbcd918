"""`lstm train`'s step, eager against compiled (mg.compile), through the trainer itself: a batch
drawn, encoded, forward, loss, backward, clipping, the optimizer's update, the loss read back.
Default: the adding task, lstm-fb1, H 128, T 100, B 32, Adam, clipping at norm 1 (issue 18's
"whole `lstm train` adding step"). Each mode runs in its own process (the first steps, which
trace and compile, are not timed), the two alternated and repeated; one JSON line per process
and a summary line with the median step times and their ratio.

    python -m bench.train_step [--model lstm-fb1] [--steps 40] [--warmup 5] [--repeats 3]
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
          batch: int) -> dict:
    from bench.peers import step_times
    from lstm.runs.config import TrainConfig
    from lstm.runs.train import Trainer

    config = TrainConfig(task="adding", model=model, hidden_size=hidden, seq_len=seq_len,
                         batch_size=batch, optimizer="adam", lr=1e-3, clip="norm",
                         compile=compiled, steps=warmup + steps)
    trainer = Trainer(config)
    start = time.perf_counter()
    trainer.train_step()  # the first call traces and compiles (eager: the kernels load)
    first = time.perf_counter() - start
    times = step_times(trainer.train_step, steps, warmup=warmup - 1)
    import minigrad as mg

    return {"compiled": compiled, "model": model, "first_call_s": round(first, 3),
            "median_ms": round(1e3 * statistics.median(times), 3),
            "min_ms": round(1e3 * min(times), 3), "threads": mg.get_num_threads(),
            "still_compiled": isinstance(trainer._step, mg.CompiledFunction)}


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
    p.add_argument("--child", choices=("eager", "compiled"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = (args.hidden_size, args.seq_len, args.batch_size)
    if args.child:
        row = child(args.model, args.child == "compiled", args.steps, max(1, args.warmup),
                    *sizes)
        print(json.dumps(row), flush=True)
        return 0
    medians: dict[bool, list[float]] = {False: [], True: []}
    for repeat in range(args.repeats):
        for mode in (("eager", "compiled") if repeat % 2 == 0 else ("compiled", "eager")):
            out = subprocess.run(
                [sys.executable, "-m", "bench.train_step", "--child", mode, "--model",
                 args.model, "--steps", str(args.steps), "--warmup", str(args.warmup),
                 "--hidden-size", str(sizes[0]), "--seq-len", str(sizes[1]), "--batch-size",
                 str(sizes[2])], capture_output=True, text=True, check=True,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            medians[row["compiled"]].append(row["median_ms"])
    eager, compiled = statistics.median(medians[False]), statistics.median(medians[True])
    print(json.dumps({"summary": f"{args.model} adding H{sizes[0]} T{sizes[1]} B{sizes[2]}",
                      "eager_ms": eager, "compiled_ms": compiled,
                      "compiled_over_eager": round(compiled / eager, 3),
                      "load": os.getloadavg()[0]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
