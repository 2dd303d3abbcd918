"""`lstm translate`: train number-translation models; one JSON line per run, figures in --out."""

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

SWEEP = ("attention", "seed")  # one run per attention x seed
_PRINTED = ("exact_match", "chrf", "bleu", "exact_match_beam", "chrf_beam", "bleu_beam",
            "val_exact_match", "best_epoch", "train_time", "n_parameters", "model_dir")


def add_parser(subparsers) -> None:
    """Register `lstm translate` on the lstm command's subparsers."""
    from .train import PRESETS, TranslateConfig

    c = subcommand(
        subparsers, "translate",
        help="sequence to sequence with attention: numbers in words, English to French",
        description="Train an encoder-decoder (bidirectional LSTM encoder, LSTM decoder, "
                    "additive or multiplicative attention or none) on numbers written out by "
                    "num2words in one language and in another, for each attention x seed; whole "
                    "blocks of numbers are held out for validation and test. Scores the test "
                    "numbers by exact match, chrF and BLEU (sacrebleu), greedy and beam search. "
                    "Each run is appended to OUT/results.jsonl and its model saved under "
                    "OUT/translate-models/; the figures go to OUT. Runs already there are not "
                    "run again.",
        epilog=presets_epilog(PRESETS)
        + "example: lstm translate --attention additive,none --seeds 0,1 --out results")
    add_config_options(c, TranslateConfig, PRESETS, SWEEP)
    add_run_options(c, run)


def run(args) -> int:
    """Run every attention x seed of `args`; print and append one JSON line each; draw."""
    from .figures import alignment_figure, scores_figure
    from .store import run_configs
    from .train import PRESETS, TranslateConfig

    configs = configs_from_args(TranslateConfig, PRESETS, args, SWEEP)
    if configs[0].source == configs[0].target:
        raise ValueError(f"--source and --target must differ, both are {configs[0].source!r}")

    def line(row, reused):
        result = row["result"]
        return {**row["config"], **{k: result[k] for k in _PRINTED if k in result}}

    def draw(rows):
        figures = [scores_figure(rows, args.out), alignment_figure(rows, args.out)]
        if not args.quiet:  # as the other applications say theirs
            print("lstm translate: drew "
                  + ", ".join(os.path.join(args.out, f) for f in figures if f),
                  file=sys.stderr, flush=True)

    return run_all("translate", args.out, len(configs), lambda show: run_configs(
        configs, args.out, progress=not args.quiet, on_result=show, compile=args.compile),
        line, draw)
