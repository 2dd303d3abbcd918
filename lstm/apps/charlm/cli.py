"""`lstm charlm` (train the character language model on the stdlib's source, score it next to the
n-gram and the compressors) and `lstm generate` (sample from a saved model)."""

from __future__ import annotations

import argparse
import os
import sys

from ...cli_args import Formatter, emit
from ..common.cli import add_run_options
from .train import CharLMConfig

# Each preset's settings; an option given on the command line wins over its preset's value.
PRESETS = {
    "quick": {"embedding_size": 32, "hidden_size": 128, "num_layers": 2, "batch_size": 32,
              "bptt": 100, "steps": 500, "lr": 5e-3, "eval_every": 100, "valid_chars": 40_000,
              "ngram_max_order": 10},
    "default": {"embedding_size": 64, "hidden_size": 256, "num_layers": 2, "batch_size": 32,
                "bptt": 100, "steps": 2000, "lr": 3e-3, "eval_every": 250, "valid_chars": None,
                "ngram_max_order": 20},
}
TRAIN_FIELDS = ("embedding_size", "hidden_size", "num_layers", "dropout", "batch_size", "bptt",
                "steps", "lr", "clip_value", "eval_every", "valid_chars", "patience",
                "checkpoint_every")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected seeds >= 0, got {text!r}")
    return seeds


def settings_for(args) -> tuple[list[CharLMConfig], int]:
    """The run configs (one per seed) and the n-gram's largest order, preset then options."""
    chosen = dict(PRESETS[args.preset])
    for name in (*TRAIN_FIELDS, "ngram_max_order"):
        value = getattr(args, name, None)
        if value is not None:
            chosen[name] = value
    max_order = chosen.pop("ngram_max_order")
    if max_order < 1:
        raise ValueError(f"--ngram-max-order must be >= 1, got {max_order}")
    seeds = args.seeds if args.seeds is not None else [args.seed]
    return [CharLMConfig(**chosen, seed=seed) for seed in seeds], max_order


def run_charlm(config: CharLMConfig, corpus, out_dir: str, max_order: int, preset: str,
               progress: bool = True, compile: bool = False) -> dict:  # noqa: A002
    """Train (or resume) one run under OUT/charlm/, save its best model there, add the baselines
    (cached in OUT) and append the results row to OUT/results.jsonl; returns the row."""
    from ...runs.keys import run_key
    from ...runs.lock import RunLock
    from ...runs.results_io import find_row, read_rows

    results = os.path.join(out_dir, "results.jsonl")
    key = run_key("charlm", config.to_dict())
    run_dir = os.path.join(out_dir, "charlm", config.run_name())
    done = find_row(read_rows(results), key)
    if done is None:
        with RunLock(run_dir, label="lstm charlm"):  # one process per run; the second waits
            done = find_row(read_rows(results), key)
            if done is None:
                return _train_and_record(config, corpus, out_dir, run_dir, key, max_order,
                                         preset, progress, compile)
    print(f"lstm charlm: {config.run_name()} has finished; its result is in {results}",
          file=sys.stderr, flush=True)  # a finished run is reported, never trained again
    return done


def _train_and_record(config, corpus, out_dir, run_dir, key, max_order, preset, progress,
                      compile):  # noqa: A002 - the option's name
    """Train (or resume) the run in run_dir, save its best model, add the baselines and append
    its row (with the run's lock held)."""
    from ...experiments.sweep import append_result, versions
    from .baselines import cached_baselines
    from .store import save_model
    from .train import train_charlm

    results = os.path.join(out_dir, "results.jsonl")
    result, trainer = train_charlm(config, corpus, run_dir, progress=progress,
                                   compile=compile)
    save_model(run_dir, trainer.model, trainer.vocab,
               {"valid_bits_per_char": result["valid_bits_per_char"],
                "bits_per_char": result["bits_per_char"], "step": result["best_step"]})
    if progress:
        print(f"lstm charlm: n-gram (orders 1..{max_order}) and compressor baselines",
              file=sys.stderr, flush=True)
    baselines = cached_baselines(corpus, trainer.vocab, max_order, out_dir)
    row = {"key": key, "kind": "charlm", "preset": preset,
           "config": config.to_dict(), "result": {**result, **baselines, "checkpoint": run_dir},
           "versions": versions()}
    append_result(results, row)
    return row


def run(args) -> int:
    """lstm charlm: one training run per seed, each printed and appended as one JSON line."""
    from ...runs.train import Interrupted
    from .data import load_corpus

    configs, max_order = settings_for(args)
    corpus = load_corpus()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for config in configs:
        try:
            row = run_charlm(config, corpus, args.out, max_order, args.preset, not args.quiet,
                             args.compile)
        except Interrupted as e:
            print(f"lstm charlm: interrupted at step {e.step}; everything up to it is in "
                  f"{e.checkpoint}. Run the same command again to resume.", file=sys.stderr)
            return 128 + int(e.signum)
        rows.append(row)
        emit(summary(row))
    from .figures import draw_learning_curve

    figure = draw_learning_curve(rows, args.out)
    if not args.quiet:
        print(f"lstm charlm: drew {figure}", file=sys.stderr)
    return 0


SUMMARY_KEYS = ("bits_per_char", "valid_bits_per_char", "ngram_bits_per_char", "ngram_order",
                "gzip_bits_per_char", "bz2_bits_per_char", "lzma_bits_per_char",
                "lzma_primed_bits_per_char", "bz2_primed_bits_per_char", "train_chars_per_s",
                "steps", "epochs", "num_parameters", "vocab_size", "wall_time", "checkpoint")


def summary(row: dict) -> dict:
    """The printed line: settings and test metrics (the results file keeps the curve too)."""
    result = row["result"]
    return {"kind": "charlm", "preset": row["preset"], **row["config"],
            "python_version": result["corpus"]["python_version"],
            "test_chars": result["corpus"]["test"]["chars"],
            **{k: result[k] for k in SUMMARY_KEYS}}


def run_generate(args) -> int:
    """lstm generate: a sample from a saved model, printed as one JSON line (or as text)."""
    from .model import sample
    from .store import load_model

    if not args.prime:
        raise ValueError("--prime must be at least one character")
    if not args.temperature > 0:
        raise ValueError(f"--temperature must be > 0, got {args.temperature}")
    if args.length < 0:
        raise ValueError(f"--length must be >= 0, got {args.length}")
    model, vocab, config = load_model(args.checkpoint)
    # refused rather than mapped to the unknown id: the training text has no unknown
    # characters, so that id's embedding never moved from its random start
    unknown = vocab.unknown_chars(args.prime)
    if unknown:
        raise ValueError(f"--prime has {len(unknown)} character(s) the model's vocabulary "
                         f"({len(vocab.chars)} characters) lacks: "
                         + ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown))
    drawn = sample(model, vocab.encode(args.prime), args.length, args.temperature, args.seed)
    text = vocab.decode(drawn)
    row = {"kind": "generate", "checkpoint": args.checkpoint, "prime": args.prime,
           "temperature": args.temperature, "length": args.length, "seed": args.seed,
           "model": config["model"], "sample": text}
    if args.out:
        from ...experiments.sweep import append_result

        os.makedirs(args.out, exist_ok=True)
        append_result(os.path.join(args.out, "results.jsonl"), row)
    if args.text:
        print(args.prime + text, flush=True)
    else:
        emit(row)
    return 0


def add_parser(subparsers) -> None:
    """Register `charlm` and `generate` on the `lstm` command's subparsers."""
    c = subparsers.add_parser(
        "charlm", formatter_class=Formatter,
        help="character-level LSTM language model on Python's standard library source",
        description="Train embedding -> 2-layer LSTM -> softmax on the source of a fixed list of "
                    "standard-library modules (lstm/apps/charlm/data.py: train, "
                    "validation and test modules) with stateful truncated BPTT, keep the "
                    "parameters with the best validation bits per character, and score them on "
                    "the test modules next to an interpolated Kneser-Ney n-gram (order chosen on "
                    "validation) and gzip / bz2 / lzma. Prints one JSON line per seed and "
                    "appends it to OUT/results.jsonl; weights go to OUT/charlm/<run>/ as "
                    "model.safetensors + model.json. Re-running the same command resumes.",
        epilog="presets: quick (the default) = H=128, 500 steps (about a minute on one core); "
               "default = H=256, 2000 steps (about an hour; docs/applications_charlm.md)."
               "\nexample: lstm charlm --preset default --seeds 0,1,2 --out results")
    c.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                   help="settings the options below override")
    c.add_argument("--seed", type=int, default=0, help="seed of the weights")
    c.add_argument("--seeds", type=_seeds, default=None,
                   help="comma-separated seeds, one run each (overrides --seed)")
    sizes = {"embedding_size": "embedding width", "hidden_size": "LSTM hidden units",
             "num_layers": "stacked LSTM layers", "batch_size": "parallel training streams",
             "bptt": "characters per truncated-BPTT chunk", "steps": "training steps (chunks)",
             "eval_every": "steps between validation evaluations",
             "valid_chars": "validation characters scored at each evaluation",
             "ngram_max_order": "largest n-gram order tried on validation"}
    for name, text in sizes.items():
        c.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                       help=f"{text} (default: the preset's)")
    c.add_argument("--patience", type=int, default=None,
                   help="stop after this many evaluations without improvement (default: never)")
    c.add_argument("--checkpoint-every", type=int, default=None,
                   help="steps between checkpoints (default: 500)")
    c.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the "
                                                           "preset's)")
    c.add_argument("--dropout", type=float, default=None,
                   help="dropout between LSTM layers (default: 0)")
    c.add_argument("--clip-value", type=float, default=None,
                   help="gradient-norm clipping threshold (default: 1)")
    add_run_options(c, run, impl=False)

    g = subparsers.add_parser(
        "generate", formatter_class=Formatter, help="sample text from a saved character model",
        description="Feed --prime through a model saved by `lstm charlm`, then draw --length "
                    "characters one at a time from softmax(logits / temperature). Prints one "
                    "JSON line with the sample (--text: the prime and sample as plain text).",
        epilog='example: lstm generate --checkpoint results/charlm/<run> --prime "def " '
               "--temperature 0.8 --length 300")
    g.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="a run directory of `lstm charlm` or its model.safetensors")
    g.add_argument("--prime", default="def ",
                   help="text the sample continues; characters outside the model's vocabulary "
                        "are refused (exit 2, listing them)")
    g.add_argument("--temperature", type=float, default=0.8,
                   help="softmax temperature: lower is more conservative")
    g.add_argument("--length", type=int, default=300, help="characters to draw")
    g.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    g.add_argument("--text", action="store_true", help="print plain text instead of JSON")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="also append the JSON line to DIR/results.jsonl")
    g.set_defaults(func=run_generate)
