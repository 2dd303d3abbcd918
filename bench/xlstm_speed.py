"""The xLSTM cells' training step against the fused LSTM's: sLSTM fused, mLSTM parallel.

    python -m bench.xlstm_speed [--batches 8,32,128] [--runs 5] [--repeats 5]
                                [--models lstm,slstm,mlstm] [--config T,I,H] [--clock wall|cpu]

A training step is one layer's forward over x (T, B, I) with the tape on and the backward of
out.sum() (float32; T 100, I 32, H 128 unless --config says otherwise). Models: ``lstm`` (the
built-in, fused), ``slstm`` (fused, 4 heads, sigmoid forget gate), ``slstm-exp`` (the same with the
exponential forget gate), ``mlstm`` (its parallel form, the model's training path), ``mlstm-rec``
(the mLSTM's recurrent step, composed: it does not fuse). Each model runs in its own process
(median of --repeats steps after a warm one), the models alternate (reversed every other run),
and each run's ratio is taken against the LSTM of the same run, measured next to it: the table
gives per batch size the median time and, per model, the median ratio and its spread (min-max)
over the runs. The load average is printed before and after. ``--clock cpu`` runs each worker on
one thread (minigrad's recurrences and OpenBLAS) and takes the minimum CPU time of the process
over the repeats instead of the median wall time: on a loaded machine the time spent waiting for
a core is not counted, so the ratios hold far steadier (bench.variants_ab's ``--clock cpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

MODELS = ("lstm", "slstm", "slstm-exp", "mlstm", "mlstm-rec")


def _layer(model: str, input_size: int, hidden_size: int, steps: int):
    from lstm.cell_zoo_xlstm import SLSTMCell
    from lstm.layers import Recurrent
    from lstm.models import build_recurrent
    from lstm.xlstm_parallel import MLSTM

    if model == "slstm-exp":
        return Recurrent(SLSTMCell, input_size, hidden_size, rng=0, forget_gate="exp")
    if model == "mlstm-rec":
        return MLSTM(input_size, hidden_size, impl="composed", rng=0)
    return build_recurrent(model, input_size, hidden_size, steps, rng=0)


def step_seconds(model: str, batch: int, config, repeats: int, clock: str = "wall") -> float:
    """Median wall seconds (clock "wall") or minimum CPU seconds of the process (clock "cpu")
    of one training step of `model` (run in a worker process)."""
    from bench.asv_cases import warmed_train_step
    from bench.peers import step_times

    steps, input_size, hidden_size = config
    layer = _layer(model, input_size, hidden_size, steps)
    # warm: compiles (or loads) the kernels
    step = warmed_train_step(layer, steps, batch, input_size, seed=0)
    timer, pick = (time.process_time, min) if clock == "cpu" else (time.perf_counter, np.median)
    return float(pick(step_times(step, repeats, clock=timer)))


def _spawn(model: str, batch: int, args) -> float:
    command = [sys.executable, "-m", "bench.xlstm_speed", "--worker", model, "--batches",
               str(batch), "--repeats", str(args.repeats), "--config", args.config, "--clock",
               args.clock]
    env = dict(os.environ)
    if args.clock == "cpu":
        env.update(MINIGRAD_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="8,32,128")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="lstm,slstm,mlstm")
    parser.add_argument("--config", default="100,32,128", help="T,I,H")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = tuple(int(v) for v in args.config.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    if args.worker:
        print(json.dumps(step_seconds(args.worker, batches[0], config, args.repeats,
                                      args.clock)))
        return
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown or "lstm" not in models:
        parser.error(f"--models: choose from {', '.join(MODELS)} and include lstm; got "
                     f"{args.models!r}")
    print(f"load before: {os.getloadavg()}", flush=True)
    times = {(m, b): [] for m in models for b in batches}
    for run in range(args.runs):
        for batch in batches:
            for model in models if run % 2 == 0 else models[::-1]:
                times[(model, batch)].append(_spawn(model, batch, args))
    print(f"load after: {os.getloadavg()}")
    T, I, H = config
    print(f"(T, I, H) = ({T}, {I}, {H}), {args.clock} clock, {args.runs} runs x {args.repeats} "
          "steps; ms = median over runs; ratio = median (min-max) of model / LSTM per run")
    for batch in batches:
        lstm = times[("lstm", batch)]
        cells = []
        for model in models:
            ms = statistics.median(times[(model, batch)]) * 1e3
            if model == "lstm":
                cells.append(f"lstm {ms:.1f} ms")
                continue
            ratios = [t / base for t, base in zip(times[(model, batch)], lstm)]
            cells.append(f"{model} {ms:.1f} ms {statistics.median(ratios):.2f}x "
                         f"({min(ratios):.2f}-{max(ratios):.2f})")
        print(f"B {batch:<4} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
