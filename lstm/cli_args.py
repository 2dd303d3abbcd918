"""What every `lstm` command's parser shares: the help layout (defaults shown, paragraphs kept),
parsers of comma-separated values and names, and the one way a command prints a JSON line.
The command line (lstm/cli.py) and each application's command import these; none of them
imports the command line."""

from __future__ import annotations

import argparse
import json


def csv_list(kind):
    """A parser of comma-separated values of type `kind` (at least one)."""
    def parse(text: str):
        try:
            values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got "
                                             f"{text!r}") from e
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one value, got {text!r}")
        return values
    return parse


def name_list(kind: str, allowed):
    """A parser of comma-separated names, each one of `allowed`."""
    def parse(text: str):
        names = csv_list(str)(text)
        bad = [n for n in names if n not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {kind} {bad}; choose from {allowed}")
        return names
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_threads_option(parser) -> None:
    """--threads, the same on every command that computes (lstm.runs.threads)."""
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="threads to compute with: the fused recurrences, Numba's loops and "
                             "BLAS; in a sweep, each worker's (default: MINIGRAD_NUM_THREADS if "
                             "set, else every CPU this process may use, split between a sweep's "
                             "--workers)")


def subcommand(sub, name: str, help: str, description: str,
               epilog: str) -> argparse.ArgumentParser:
    """A command's parser with the shared help layout."""
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=Formatter)


class Formatter(argparse.HelpFormatter):
    """Each option's default after its help (unless the help already says it); descriptions and
    epilogs wrapped paragraph by paragraph, so their line breaks stay."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" not in text and action.option_strings and not any(
                action.default is unset for unset in (None, False, argparse.SUPPRESS))):
            text += " (default: %(default)s)"
        return text

    def _fill_text(self, text, width, indent):
        return "\n".join(super(Formatter, self)._fill_text(part, width, indent)
                         for part in text.split("\n"))


def emit(row: dict) -> None:
    """Print one JSON line (sorted keys) and flush: what every command prints per result."""
    print(json.dumps(row, sort_keys=True), flush=True)
