"""The options every application command shares, and one way of being stopped: Ctrl-C or
SIGTERM between runs says how many runs are kept and exits 128 + the signal's number."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable

from ...cli_args import add_threads_option, emit
from ...cli_errors import check_out_dir
from ...runs.options import fields, parser_of
from ...runs.signals import term_as_interrupt


def add_run_options(parser, run) -> None:
    """--compile/--no-compile, --out, --quiet and --threads, and `run` as the command's
    function."""
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="run the training step through mg.compile (default; traced once "
                             "per batch shape, variable-length batches padded to a few bucket "
                             "lengths; equal to eager to float rounding, so not part of a run's "
                             "identity; a step that cannot compile says so and runs eager); "
                             "--no-compile: eager")
    parser.add_argument("--out", default="results", metavar="DIR", help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads_option(parser)

    def checked(args) -> int:
        check_out_dir(args.out)  # before any training: a file in the way was found at the end
        return run(args)

    parser.set_defaults(func=checked)


def _dest(name: str) -> str:
    """The option of a field that takes one value per run: its own, `seed`'s is `--seeds`."""
    return "seeds" if name == "seed" else name


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple | list) else str(value)


def add_config_options(parser, cls, presets: dict, sweep: tuple = (),
                       preset: str = "quick") -> None:
    """--preset and one option per setting of the config class `cls` (lstm.runs.options): its
    flag, help and value check from the field, default None (the preset's value, else the
    field's: said in the help). A field in `sweep` takes comma-separated values, one run each
    (`seed` as --seeds, with --seed for one). `preset`: --preset's default."""
    parser.add_argument("--preset", choices=tuple(presets), default=preset,
                        help="fills the options left out")
    for f in fields(cls):
        many = f.name in sweep
        flag = "--" + _dest(f.name) if many else f.flag
        text = f.option.help.replace("%", "%%") + (", comma-separated: one run each" if many
                                                    else "")
        if "default" not in text:
            shown = {k: _shown(p.get(_dest(f.name), p.get(f.name, f.default)))
                     for k, p in presets.items()}
            text += (f" (default: {next(iter(shown.values()))})" if len(set(shown.values()))
                     == 1 else " (default: " + ", ".join(f"{v} in preset {k}"
                                                          for k, v in shown.items()) + ")")
        choices = f.choices()
        metavar = f.option.metavar or ("{" + ",".join(map(str, choices)) + "}" if choices
                                       else None)
        parser.add_argument(flag, dest=_dest(f.name) if many else f.name, default=None,
                            type=parser_of(cls, f.name, many=many), metavar=metavar,
                            help=text)
    if "seed" in sweep:
        parser.add_argument("--seed", type=parser_of(cls, "seed"), default=None,
                            help="one seed (same as --seeds N)")


def configs_from_args(cls, presets: dict, args, sweep: tuple = ()) -> list:
    """The configs a command line asks for (see add_config_options): the preset's settings,
    then the options given; one config per combination of the `sweep` fields' values, the
    first field's outermost. `args` may lack options (argparse.Namespace(preset=...): the
    preset's configs)."""
    preset, names = presets[args.preset], {f.name for f in fields(cls)}
    chosen = {k: v for k, v in preset.items() if k in names and k not in sweep}
    chosen.update({name: getattr(args, name, None) for name in names - set(sweep)
                   if getattr(args, name, None) is not None})
    defaults = {f.name: f.default for f in fields(cls)}
    runs = []
    for name in sweep:
        values = getattr(args, _dest(name), None)
        if name == "seed" and getattr(args, "seed", None) is not None:
            if values is not None:
                raise ValueError("give --seed or --seeds, not both")
            values = (args.seed,)
        runs.append(values if values is not None
                    else preset.get(_dest(name), preset.get(name, (defaults[name],))))
    return [cls(**chosen, **dict(zip(sweep, combo))) for combo in itertools.product(*runs)]


def presets_epilog(presets: dict) -> str:
    """"presets: quick = a=1, b=2; default = ...." and a line break, for a command's epilog."""
    return "presets: " + "; ".join(f"{k} = " + ", ".join(f"{a}={b}" for a, b in v.items())
                                   for k, v in presets.items()) + ".\n"


def run_all(command: str, out: str, total: int, run_rows: Callable, line: Callable,
            after: Callable | None = None) -> int:
    """`lstm <command>`'s runs: run_rows(on_result) runs them (the resumable runner calls
    on_result(row, reused) as each row comes), each row's line(row) printed as a JSON line;
    then after(rows) (the figures). Ctrl-C or SIGTERM: says how many of the `total` runs are
    kept in OUT/results.jsonl; the exit status."""
    finished = []

    def show(row, reused=False):
        finished.append(row)
        emit(line(row, reused))

    try:
        with term_as_interrupt() as caught:
            rows = run_rows(show)
            if after is not None:
                after(rows)
    except KeyboardInterrupt:
        return interrupted(command, os.path.join(out, "results.jsonl"), len(finished), total,
                           caught["signum"])
    return 0


def interrupted(command: str, path: str, done: int, total: int, signum: int) -> int:
    """Say how many runs are kept in `path` after a stop; the exit status 128 + signum."""
    print(f"lstm {command}: interrupted; {done} of {total} runs are in {path}. Run the same "
          "command again to run the rest (finished runs do not run again).", file=sys.stderr)
    return 128 + int(signum)
