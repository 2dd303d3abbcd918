"""`lstm classify`: train sequence classifiers on a real dataset; one JSON line per run."""

from __future__ import annotations

import os
import sys

from ...cli_args import csv_list, emit, name_list, subcommand
from ..common.cli import (
    add_overrides,
    add_run_options,
    interrupted,
    presets_epilog,
    stopped_by_signals,
)
from .data import DATASETS
from .dtw import MODES
from .model import POOLINGS

_PRINTED = ("accuracy", "train_accuracy", "test_cross_entropy", "dtw_accuracy", "dtw_mode",
            "train_time", "epoch_time", "n_parameters")


def add_parser(subparsers) -> None:
    """Register `lstm classify` on the lstm command's subparsers."""
    from .train import PRESETS

    c = subcommand(subparsers, "classify", "speaker identification on Japanese Vowels; one JSON "
             "line per run",
             "Train a bidirectional LSTM over the variable-length utterances (packed by "
             "length), pooled over time by additive attention, by the last states or by the "
             "mean, for each pooling x seed; features standardised with the training set's "
             "statistics; a fixed number of epochs, then the test accuracy. The 1-nearest-"
             "neighbour DTW baseline is computed once on the same split. Each run is appended "
             "to OUT/results.jsonl; runs already there are not run again.",
             presets_epilog(PRESETS) + "example: lstm classify --dataset japanese-vowels "
             "--pooling attention,last,mean --seeds 0,1,2 --out results")
    c.add_argument("--dataset", choices=DATASETS, default="japanese-vowels",
                   help="dataset (ships with sktime, the apps extra)")
    c.add_argument("--pooling", type=name_list("pooling", POOLINGS), default=["attention"],
                   help="comma-separated poolings over time: attention (additive, masked), "
                        "last (final states of both directions), mean (over valid frames); "
                        "default: attention")
    c.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                   help="model size and training budget (quick: the default of every "
                        "application command); the options below override it")
    c.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    c.add_argument("--seeds", type=csv_list(int), default=None,
                   help="comma-separated seeds of the weights and batch order (default: 0)")
    add_overrides(c, [
            ("--hidden-size", int, "LSTM units per direction"),
            ("--attention-size", int, "attention hidden size"),
            ("--num-layers", int, "stacked LSTM layers"),
            ("--epochs", int, "passes over the training set"),
            ("--batch-size", int, "sequences per step"),
            ("--lr", float, "Adam learning rate"),
            ("--clip", float, "gradient global-norm clipping threshold (0: none)"),
            ("--dropout", float, "dropout on the pooled vector (and between layers)"),
            ("--noise", float, "std of Gaussian noise added to the standardised training "
                               "frames"),
            ("--val-fraction", float, "hold out this fraction of each speaker's training "
                                      "utterances and keep the epoch best on them (0: train "
                                      "on all, fixed epochs)")])
    c.add_argument("--baseline", choices=("dtw", "none"), default="dtw",
                   help="compute the 1-NN DTW baseline on the same split")
    c.add_argument("--dtw-mode", choices=MODES, default="dependent",
                   help="multivariate DTW: one warping path (dependent) or one per feature")
    c.add_argument("--dtw-window", type=int, default=None,
                   help="Sakoe-Chiba band in frames (default: no band)")
    add_run_options(c, run)


def run(args) -> int:
    """Run every pooling x seed of `args`; print and append one JSON line each."""
    from .train import dtw_baseline, preset_config, record_dtw, run_configs

    if args.seed is not None and args.seeds is not None:
        raise ValueError("give --seed or --seeds, not both")
    seeds = [args.seed] if args.seed is not None else (args.seeds or [0])
    if not args.pooling or (args.seeds is not None and not args.seeds):
        raise ValueError("--pooling and --seeds need at least one value each")
    if args.dtw_window is not None and args.dtw_window < 0:
        raise ValueError(f"--dtw-window must be >= 0 frames, got {args.dtw_window}")
    overrides = {"hidden_size": args.hidden_size, "attention_size": args.attention_size,
                 "num_layers": args.num_layers, "epochs": args.epochs,
                 "batch_size": args.batch_size, "lr": args.lr, "clip": args.clip,
                 "dropout": args.dropout, "noise": args.noise, "val_fraction": args.val_fraction,
                 "impl": args.impl}
    configs = [preset_config(args.preset, dataset=args.dataset, pooling=p, seed=s, **overrides)
               for p in args.pooling for s in seeds]
    dtw = drawn_dtw = None
    if args.baseline == "dtw":
        dtw = dtw_baseline(args.dataset, args.dtw_mode, args.dtw_window)
        record_dtw(os.path.join(args.out, "results.jsonl"), args.dataset, dtw)
        drawn_dtw = {"dtw_confusion": dtw.pop("dtw_confusion")}
        dtw.pop("dtw_predicted")

    finished, caught, path = [], {}, os.path.join(args.out, "results.jsonl")

    def show(row):
        finished.append(row)
        result = row["result"]
        line = {**row["config"], **{k: result[k] for k in _PRINTED if k in result}}
        if dtw:
            line.update({k: v for k, v in dtw.items() if k in _PRINTED})
        emit(line)

    try:
        with stopped_by_signals(caught):
            rows = run_configs(configs, path, progress=not args.quiet, on_result=show, dtw=dtw,
                               compile=args.compile)
        from .report import draw_run_figures

        figures = draw_run_figures(rows, drawn_dtw, args.out)
        if not args.quiet:
            print(f"lstm classify: drew {', '.join(figures)}", file=sys.stderr)
    except KeyboardInterrupt:
        return interrupted("classify", path, len(finished), len(configs), caught["signum"])
    return 0
