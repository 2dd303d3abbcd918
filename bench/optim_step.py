"""One Adam (or SGD) step over all parameters of the character model, minigrad next to
torch.optim.Adam (SGD).

    python -m bench.optim_step [--preset quick|default] [--threads 2] [--rounds 3]
                               [--repeats 200] [--optimizer adam|sgd] [--out FILE.json]

The parameters are those of `lstm charlm`'s model at the preset (embedding, stacked LSTM,
decoder; float32), each with a fixed random gradient. Modes, each in its own process, rounds
alternating: ``minigrad-foreach`` (mg.optim.Adam's default: one multi-tensor kernel call),
``minigrad-per-param`` (foreach=False: one kernel call per parameter), ``torch-foreach``
(torch.optim.Adam(foreach=True)) and ``torch-for-loop`` (foreach=False). A worker warms up
for 20 steps, then times `repeats` steps one by one; the table gives the median.
``--optimizer sgd`` times SGD with momentum 0.9 in the same four modes instead.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODES = ("minigrad-foreach", "minigrad-per-param", "torch-foreach", "torch-for-loop")


def shapes(preset: str) -> list[tuple]:
    """The character model's parameter shapes at the preset (torch's names and order)."""
    from bench.charlm_speed import training_batches
    from lstm.apps.charlm.cli import PRESETS

    config = PRESETS[preset]
    vocab, _, _ = training_batches(config)
    E, H, L = config["embedding_size"], config["hidden_size"], config["num_layers"]
    out = [(vocab, E)]
    for layer in range(L):
        width = E if layer == 0 else H
        out += [(4 * H, width), (4 * H, H), (4 * H,), (4 * H,)]
    return out + [(vocab, H), (vocab,)]


def optimizer(mode: str, preset: str, threads: int, kind: str = "adam"):
    """(the optimizer of the mode over the model's parameters, each with a gradient, the
    library's version, the shapes)."""
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in shapes(preset)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes(preset)]
    if mode.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
        params = [torch.from_numpy(d.copy()).requires_grad_() for d in data]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g)
        cls = torch.optim.Adam if kind == "adam" else torch.optim.SGD
        extra = {} if kind == "adam" else {"momentum": 0.9}
        opt = cls(params, lr=1e-3, foreach=mode == "torch-foreach", **extra)
        version = torch.__version__
    else:
        import minigrad as mg

        params = [mg.tensor(d.copy(), requires_grad=True) for d in data]
        for p, g in zip(params, grads):
            p.grad = g
        cls = mg.optim.Adam if kind == "adam" else mg.optim.SGD
        extra = {} if kind == "adam" else {"momentum": 0.9}
        opt = cls(params, lr=1e-3, foreach=mode == "minigrad-foreach", **extra)
        version = mg.__version__
    return opt, version, data


def worker(mode: str, preset: str, repeats: int, threads: int, kind: str = "adam") -> dict:
    from bench.peers import step_times

    opt, version, data = optimizer(mode, preset, threads, kind)
    seconds = step_times(opt.step, repeats, warmup=20)
    return {"mode": mode, "version": version, "median_s": statistics.median(seconds),
            "min_s": min(seconds), "parameters": int(sum(d.size for d in data)),
            "tensors": len(data)}


def run(preset: str, rounds: int, repeats: int, threads: int, modes=MODES,
        kind: str = "adam") -> list[dict]:
    from bench.peers.machine import worker_env

    rows = []
    for round_index in range(rounds):
        for mode in modes:
            done = subprocess.run(
                [sys.executable, "-m", "bench.optim_step", "--worker", mode, preset,
                 str(repeats), str(threads), kind], capture_output=True, text=True, cwd=ROOT,
                env=worker_env(ROOT, threads), timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"{mode} worker failed:\n{done.stderr[-2000:]}")
            rows.append({**json.loads(done.stdout.strip().splitlines()[-1]),
                         "round": round_index, "optimizer": kind})
    return rows


def table(rows: list[dict]) -> str:
    best = {m: statistics.median(r["median_s"] for r in rows if r["mode"] == m)
            for m in dict.fromkeys(r["mode"] for r in rows)}
    base = best.get("torch-foreach", float("nan"))
    name = "SGD" if rows[0].get("optimizer") == "sgd" else "Adam"
    lines = [f"{name} step over {rows[0]['tensors']} tensors, {rows[0]['parameters']:,} "
             "parameters (float32)", "", "| mode | median ms | / torch foreach |", "|---|---|---|"]
    lines += [f"| {m} | {s * 1e3:.3f} | {s / base:.2f}x |" for m, s in best.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    from bench.peers.machine import bench_parser

    p = bench_parser(__doc__, 5, preset="default", threads=2)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    args = p.parse_args(argv)
    if args.worker:
        mode, preset, repeats, threads, kind = args.worker
        print(json.dumps(worker(mode, preset, int(repeats), int(threads), kind)), flush=True)
        return 0
    rows = run(args.preset, args.rounds, args.repeats, args.threads, kind=args.optimizer)
    print(table(rows))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
