"""`lstm classify`: train sequence classifiers on a real dataset; one JSON line per run."""

from __future__ import annotations

import os
import sys

from ...cli_args import subcommand
from ..common.cli import (
    add_config_options,
    add_run_options,
    configs_from_args,
    presets_epilog,
    run_all,
)
from .dtw import MODES

_PRINTED = ("accuracy", "train_accuracy", "test_cross_entropy", "dtw_accuracy", "dtw_mode",
            "train_time", "epoch_time", "n_parameters")


def add_parser(subparsers) -> None:
    """Register `lstm classify` on the lstm command's subparsers."""
    from .train import PRESETS, ClassifyConfig

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
    add_config_options(c, ClassifyConfig, PRESETS, sweep=("pooling", "seed"))
    c.add_argument("--baseline", choices=("dtw", "none"), default="dtw",
                   help="compute the 1-NN DTW baseline on the same split")
    c.add_argument("--dtw-mode", choices=MODES, default=None,
                   help="multivariate DTW: one warping path or one per feature (default: "
                        "dependent, one path)")
    c.add_argument("--dtw-window", type=int, default=None,
                   help="Sakoe-Chiba band in frames (default: no band)")
    add_run_options(c, run)


def run(args) -> int:
    """Run every pooling x seed of `args`; print and append one JSON line each."""
    from .train import PRESETS, ClassifyConfig, dtw_baseline, record_dtw, run_configs

    if args.dtw_window is not None and args.dtw_window < 0:
        raise ValueError(f"--dtw-window must be >= 0 frames, got {args.dtw_window}")
    given = [flag for flag, value in (("--dtw-mode", args.dtw_mode),
                                      ("--dtw-window", args.dtw_window)) if value is not None]
    if args.baseline == "none" and given:
        raise ValueError(f"{' and '.join(given)} set the DTW baseline, which --baseline none "
                         "leaves out; give one or the other")
    args.dtw_mode = args.dtw_mode or "dependent"
    configs = configs_from_args(ClassifyConfig, PRESETS, args, sweep=("pooling", "seed"))
    dtw = drawn_dtw = None
    if args.baseline == "dtw":
        dtw = dtw_baseline(configs[0].dataset, args.dtw_mode, args.dtw_window)
        record_dtw(os.path.join(args.out, "results.jsonl"), configs[0].dataset, dtw)
        drawn_dtw = {"dtw_confusion": dtw.pop("dtw_confusion")}
        dtw.pop("dtw_predicted")

    path = os.path.join(args.out, "results.jsonl")

    def line(row, reused):
        result = row["result"]
        return {**row["config"], **{k: result[k] for k in _PRINTED if k in result},
                **{k: v for k, v in (dtw or {}).items() if k in _PRINTED}}

    def draw(rows):
        from .report import draw_run_figures

        figures = draw_run_figures(rows, drawn_dtw, args.out)
        if not args.quiet:
            print(f"lstm classify: drew {', '.join(figures)}", file=sys.stderr)

    return run_all("classify", args.out, len(configs), lambda show: run_configs(
        configs, path, progress=not args.quiet, on_result=show, dtw=dtw,
        compile=args.compile), line, draw)
