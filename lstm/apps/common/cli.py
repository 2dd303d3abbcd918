"""The options every application command shares, and its one way of saying it was interrupted."""

from __future__ import annotations

import argparse
import os
import sys


def add_run_options(parser, run) -> None:
    """--compile/--no-compile, --out and --quiet, and `run` as the command's function."""
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False,
                        help="run the training step through mg.compile (traced once per batch "
                             "shape; equal to eager to float rounding, so not part of a run's "
                             "identity)")
    parser.add_argument("--out", default="results", metavar="DIR", help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def interrupted(command: str, out_dir: str) -> int:
    """Say where a command's finished runs are after Ctrl-C; the exit status 130."""
    print(f"lstm {command}: interrupted; the finished runs are in "
          f"{os.path.join(out_dir, 'results.jsonl')} and will not run again.", file=sys.stderr)
    return 130
