"""`lstm translate`: train number-translation models; one JSON line per run, figures in --out."""

from __future__ import annotations

import os

from ...cli_args import csv_list, emit, name_list, subcommand
from ..common.cli import (
    add_overrides,
    add_run_options,
    interrupted,
    presets_epilog,
    stopped_by_signals,
)
from .data import LANGUAGES
from .model import ATTENTIONS

_PRINTED = ("exact_match", "chrf", "bleu", "exact_match_beam", "chrf_beam", "bleu_beam",
            "val_exact_match", "best_epoch", "train_time", "n_parameters", "model_dir")


def add_parser(subparsers) -> None:
    """Register `lstm translate` on the lstm command's subparsers."""
    from .train import PRESETS

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
    c.add_argument("--source", choices=LANGUAGES, default="en", help="source language")
    c.add_argument("--target", choices=LANGUAGES, default="fr", help="target language")
    c.add_argument("--attention", type=name_list("attention", ATTENTIONS), default=["additive"],
                   help="comma-separated: additive (Bahdanau), multiplicative (Luong "
                        "'general'), none (the encoder's final state only); default: "
                        "additive")
    c.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                   help="data size, model size and budget; the options below override it")
    c.add_argument("--seeds", type=csv_list(int), default=[0],
                   help="comma-separated seeds of the weights and batch order; default: 0")
    add_overrides(c, [
            ("--max-number", int, "largest number"),
            ("--block-size", int, "numbers per held-out block"),
            ("--n-train", int, "training pairs"),
            ("--n-test", int, "test pairs"),
            ("--embedding-size", int, "word embedding size"),
            ("--hidden-size", int, "LSTM units (per direction in the encoder)"),
            ("--attention-size", int, "additive attention's hidden size"),
            ("--epochs", int, "passes over the training pairs"),
            ("--batch-size", int, "pairs per step"),
            ("--lr", float, "Adam learning rate"),
            ("--beam-width", int, "beam search width")])
    add_run_options(c, run)


def run(args) -> int:
    """Run every attention x seed of `args`; print and append one JSON line each; draw."""
    from .figures import alignment_figure, scores_figure
    from .store import run_configs
    from .train import preset_config

    overrides = {k: getattr(args, k) for k in (
        "max_number", "block_size", "n_train", "n_test", "embedding_size", "hidden_size",
        "attention_size", "epochs", "batch_size", "lr", "beam_width", "impl")}
    configs = [preset_config(args.preset, source=args.source, target=args.target, attention=a,
                             seed=s, **overrides) for a in args.attention for s in args.seeds]
    if args.source == args.target:
        raise ValueError(f"--source and --target must differ, both are {args.source!r}")

    finished, caught = [], {}

    def show(row):
        finished.append(row)
        result = row["result"]
        emit({**row["config"], **{k: result[k] for k in _PRINTED if k in result}})

    try:
        with stopped_by_signals(caught):
            rows = run_configs(configs, args.out, progress=not args.quiet, on_result=show,
                               compile=args.compile)
    except KeyboardInterrupt:
        return interrupted("translate", os.path.join(args.out, "results.jsonl"),
                           len(finished), len(configs), caught["signum"])
    scores_figure(rows, args.out)
    alignment_figure(rows, args.out)
    return 0
