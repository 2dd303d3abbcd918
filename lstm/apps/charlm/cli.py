"""`lstm charlm` (train the character language model on the stdlib's source, score it next to the
n-gram and the compressors) and `lstm generate` (sample from a saved model)."""

from __future__ import annotations

import os
import sys

from ...cli_args import Formatter, add_threads_option, emit
from ...cli_errors import check_out_dir
from ...runs.signals import term_as_interrupt
from ..common.cli import add_config_options, add_run_options, configs_from_args, interrupted
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


def settings_for(args) -> tuple[list[CharLMConfig], int]:
    """The run configs (one per seed) and the n-gram's largest order, preset then options."""
    max_order = args.ngram_max_order
    if max_order is None:
        max_order = PRESETS[args.preset]["ngram_max_order"]
    if max_order < 1:
        raise ValueError(f"--ngram-max-order must be >= 1, got {max_order}")
    return configs_from_args(CharLMConfig, PRESETS, args, ("seed",)), max_order


def run_charlm(config: CharLMConfig, corpus, out_dir: str, max_order: int, preset: str,
               progress: bool = True, compile: bool = False) -> dict:  # noqa: A002
    """Train (or resume) one run under OUT/charlm/, save its best model there, add the baselines
    (cached in OUT) and append the results row to OUT/results.jsonl; returns the row. A
    finished run is reported, never trained again; one process trains a run at a time."""
    from ...experiments.sweep import versions
    from ..common.runs import run_missing
    from .baselines import cached_baselines
    from .store import save_model
    from .train import train_charlm

    def train_row(config, key):
        run_dir = os.path.join(out_dir, "charlm", config.run_name())
        result, trainer = train_charlm(config, corpus, run_dir, progress=progress,
                                       compile=compile)
        save_model(run_dir, trainer.model, trainer.vocab,
                   {"valid_bits_per_char": result["valid_bits_per_char"],
                    "bits_per_char": result["bits_per_char"], "step": result["best_step"]})
        if progress:
            print(f"lstm charlm: n-gram (orders 1..{max_order}) and compressor baselines",
                  file=sys.stderr, flush=True)
        baselines = cached_baselines(corpus, trainer.vocab, max_order, out_dir)
        return {"key": key, "kind": "charlm", "preset": preset, "config": config.to_dict(),
                "result": {**result, **baselines, "checkpoint": run_dir},
                "versions": versions()}

    def reported(row, reused):
        if reused:
            print(f"lstm charlm: {config.run_name()} has finished; its result is in "
                  f"{os.path.join(out_dir, 'results.jsonl')}", file=sys.stderr, flush=True)

    (row,) = run_missing([config], os.path.join(out_dir, "results.jsonl"), "charlm",
                         train_row, reported,
                         lambda c: os.path.join(out_dir, "charlm", c.run_name()))
    return row


def run(args) -> int:
    """lstm charlm: one training run per seed, each printed and appended as one JSON line."""
    from ...runs.train import Interrupted
    from .data import load_corpus

    configs, max_order = settings_for(args)
    if args.resume:
        _check_resumable(configs, args.out)  # every seed's, before any trains
    os.makedirs(args.out, exist_ok=True)
    rows = []
    # SIGTERM as Ctrl-C outside the training loops too (loading the text, the baselines):
    # it was the default action there, the process gone without a word
    with term_as_interrupt() as caught:
        try:
            corpus = load_corpus()
            for config in configs:
                rows.append(run_charlm(config, corpus, args.out, max_order, args.preset,
                                       not args.quiet, args.compile))
                emit(summary(rows[-1]))
            from .figures import draw_learning_curve

            figure = draw_learning_curve(rows, args.out)
        except Interrupted as e:
            print(f"lstm charlm: interrupted at step {e.step}; everything up to it is in "
                  f"{e.checkpoint}. Run the same command again to resume.", file=sys.stderr)
            return 128 + int(e.signum)
        except KeyboardInterrupt:
            return interrupted("charlm", os.path.join(args.out, "results.jsonl"), len(rows),
                               len(configs), caught["signum"])
    if not args.quiet:
        print(f"lstm charlm: drew {figure}", file=sys.stderr)
    return 0


def _check_resumable(configs: list[CharLMConfig], out: str) -> None:
    """--resume: ValueError unless every run asked for has finished or has a checkpoint under
    OUT/charlm, naming the runs there and the settings they differ in."""
    from ...runs.keys import run_key
    from ...runs.results_io import read_rows
    from ...runs.resume import nothing_to_resume
    from .train import CHECKPOINT_NAME

    finished = {row.get("key") for row in read_rows(os.path.join(out, "results.jsonl"))
                if row.get("kind") == "charlm"}
    root = os.path.join(out, "charlm")
    for config in configs:
        run_dir = os.path.join(root, config.run_name())
        if (run_key("charlm", config.to_dict()) not in finished
                and not os.path.exists(os.path.join(run_dir, CHECKPOINT_NAME))):
            raise nothing_to_resume(root, run_dir, config.to_dict(), CHECKPOINT_NAME)


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
    if not 0 < args.temperature < float("inf"):
        raise ValueError(f"--temperature must be a finite number > 0, got {args.temperature}")
    if args.length < 0:
        raise ValueError(f"--length must be >= 0, got {args.length}")
    if args.seed < 0:  # numpy's own refusal named no option
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.out:
        check_out_dir(args.out)  # before the sample: a file in the way named as --out
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
    add_config_options(c, CharLMConfig, PRESETS, ("seed",))
    c.add_argument("--resume", action="store_true",
                   help="carry on interrupted runs of exactly these settings (each seed's "
                        "checkpoint under OUT/charlm; finished ones are reported); with none, "
                        "exit 2 naming the runs there and the settings they differ in. Without "
                        "--resume the same command resumes as well, and starts what it does "
                        "not find")
    c.add_argument("--ngram-max-order", type=int, default=None,
                   help="largest n-gram order tried on validation (default: "
                   + ", ".join(f"{v['ngram_max_order']} in preset {k}"
                               for k, v in PRESETS.items()) + ")")
    add_run_options(c, run)

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
    add_threads_option(g)
    g.set_defaults(func=run_generate)
