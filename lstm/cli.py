"""The `lstm` command: train, gradflow, sweep, report. Every command prints JSON lines."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .config import OPTIMIZERS, TrainConfig
from .models import MODEL_NAMES


def _csv(kind):
    def parse(text: str):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got "
                                             f"{text!r}") from e
    return parse


def _models(text: str):
    names = _csv(str)(text)
    bad = [n for n in names if n not in MODEL_NAMES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown models {bad}; choose from {MODEL_NAMES}")
    return names


def _emit(row: dict) -> None:
    print(json.dumps(row, sort_keys=True), flush=True)


def _train_config(args) -> TrainConfig:
    fields = {"task": args.task, "variant": args.variant, "model": args.model,
              "seq_len": args.seq_len, "hidden_size": args.hidden_size,
              "batch_size": args.batch_size, "steps": args.steps, "optimizer": args.optimizer,
              "lr": args.lr, "clip": args.clip, "clip_value": args.clip_value,
              "tbptt": args.tbptt, "eval_every": args.eval_every, "seed": args.seed,
              "impl": args.impl, "test_size": args.test_size, "patience": args.patience,
              "checkpoint_every": args.checkpoint_every}
    return TrainConfig(**fields)


def cmd_train(args) -> int:
    from .experiments.sweep import append_result, run_key
    from .train import train

    config = _train_config(args)
    run_dir = os.path.join(args.out, "runs", f"{config.task}-{config.model}-T{config.seq_len}"
                                             f"-s{config.seed}")
    result = train(config, run_dir, progress=not args.quiet)
    row = {"key": run_key("train", config.to_dict()), "kind": "train",
           "config": config.to_dict(), "result": result}
    append_result(os.path.join(args.out, "results.jsonl"), row)
    summary = {k: result[k] for k in ("solved", "steps_to_solve", "steps", "stopped",
                                      "wall_time")}
    _emit({"model": config.model, "task": config.task, "seq_len": config.seq_len,
           "hidden_size": config.hidden_size, "baseline": result["task"]["baseline"],
           **result["metrics"], **summary})
    return 0


def cmd_gradflow(args) -> int:
    from .experiments.sweep import RunSpec, run_sweep

    specs = [RunSpec("gradflow", {"model": m, "task": args.task, "seq_len": args.seq_len,
                                  "hidden_size": args.hidden_size,
                                  "batch_size": args.batch_size, "steps": args.steps,
                                  "seed": args.seed}) for m in args.models]

    def show(row):
        for record in row["result"]["records"]:
            _emit({k: v for k, v in record.items() if not k.startswith("curve_")})

    rows = run_sweep(specs, os.path.join(args.out, "gradflow.jsonl"), workers=args.workers,
                     progress=not args.quiet, on_result=None)
    order = {m: i for i, m in enumerate(args.models)}
    for row in sorted(rows, key=lambda r: order[r["config"]["model"]]):
        show(row)
    return 0


def cmd_sweep(args) -> int:
    from .experiments.presets import preset_specs
    from .experiments.sweep import run_sweep

    specs = preset_specs(args.preset, tasks=args.tasks, models=args.models,
                         seq_lens=args.seq_lens, seeds=args.seeds, steps=args.steps)

    def show(row):
        if row["kind"] == "train":
            r = row["result"]
            _emit({"kind": "train", "model": r["config"]["model"], "task": r["config"]["task"],
                   "seq_len": r["config"]["seq_len"], "seed": r["config"]["seed"],
                   "solved": r["solved"], "steps_to_solve": r["steps_to_solve"],
                   "baseline": r["task"]["baseline"], **r["metrics"]})
        else:
            for record in row["result"]["records"]:
                _emit({"kind": "gradflow", **{k: v for k, v in record.items()
                                              if not k.startswith("curve_")}})

    run_sweep(specs, os.path.join(args.out, "results.jsonl"), workers=args.workers,
              scheduler=args.scheduler, progress=not args.quiet, on_result=show)
    return 0


def cmd_report(args) -> int:
    from .report import build_report

    path = build_report(out_dir=args.out, preset=args.preset, results_dir=args.results,
                        asv_results=args.asv_results, progress=not args.quiet)
    _emit({"report": os.path.abspath(path)})
    return 0


def _common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--out", default=out_default, help=f"output directory (default {out_default})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model on one task; prints one JSON line")
    t.add_argument("--task", choices=("adding", "copy"), default="adding")
    t.add_argument("--variant", default="arjovsky")
    t.add_argument("--model", choices=MODEL_NAMES, default="lstm-fb1")
    t.add_argument("--seq-len", type=int, default=100)
    t.add_argument("--hidden-size", type=int, default=128)
    t.add_argument("--batch-size", type=int, default=20)
    t.add_argument("--steps", type=int, default=10_000)
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="rmsprop")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--clip", choices=("norm", "value", "none"), default="norm")
    t.add_argument("--clip-value", type=float, default=1.0)
    t.add_argument("--tbptt", type=int, default=None, help="truncated BPTT chunk length")
    t.add_argument("--eval-every", type=int, default=100)
    t.add_argument("--test-size", type=int, default=1000)
    t.add_argument("--patience", type=int, default=None, help="evaluations without improvement")
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--impl", choices=("fused", "composed"), default="fused")
    t.add_argument("--seed", type=int, default=0)
    _common(t, "results")
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("gradflow", help="||dL/dh_t|| against t per model, at init and after "
                                        "training; one JSON line per model and step")
    g.add_argument("--models", type=_models, default=["rnn", "lstm", "gru"])
    g.add_argument("--task", choices=("adding", "copy"), default="adding")
    g.add_argument("--seq-len", type=int, default=200)
    g.add_argument("--hidden-size", type=int, default=128)
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--steps", type=_csv(int), default=[0, 100],
                   help="training steps at which to measure, e.g. 0,100")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=1)
    _common(g, "results")
    g.set_defaults(func=cmd_gradflow)

    s = sub.add_parser("sweep", help="a grid of runs, resumable; one JSON line per finished run")
    s.add_argument("--preset", choices=("quick", "default"), default="default")
    s.add_argument("--quick", dest="preset", action="store_const", const="quick",
                   help="the quick preset (same as --preset quick)")
    s.add_argument("--tasks", type=_csv(str), default=None)
    s.add_argument("--models", type=_models, default=None)
    s.add_argument("--seq-lens", type=_csv(int), default=None)
    s.add_argument("--seeds", type=_csv(int), default=None)
    s.add_argument("--steps", type=int, default=None, help="training steps per run")
    s.add_argument("--workers", type=int, default=None, help="local worker processes")
    s.add_argument("--scheduler", default=None, help="Dask scheduler, e.g. tcp://host:8786")
    _common(s, "results")
    s.set_defaults(func=cmd_sweep)

    r = sub.add_parser("report", help="run what is missing and write report/index.html")
    r.add_argument("--preset", choices=("quick", "full"), default="quick")
    r.add_argument("--results", default=None, help="results directory (default: OUT/results)")
    r.add_argument("--asv-results", default=None, help="asv results directory (.asv/results)")
    _common(r, "report")
    r.set_defaults(func=cmd_report)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"lstm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
