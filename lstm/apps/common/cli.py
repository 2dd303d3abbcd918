"""The options every application command shares, and one way of being stopped: Ctrl-C or
SIGTERM between runs says how many runs are kept and exits 128 + the signal's number."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .config import IMPLS


def add_run_options(parser, run, impl: bool = True) -> None:
    """--impl (with `impl`), --compile/--no-compile, --out and --quiet, and `run` as the
    command's function."""
    if impl:
        parser.add_argument("--impl", choices=IMPLS, default=None,
                            help="fused whole-sequence recurrent kernels or the composed cell "
                                 "(default: fused)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False,
                        help="run the training step through mg.compile (traced once per batch "
                             "shape; equal to eager to float rounding, so not part of a run's "
                             "identity)")
    parser.add_argument("--out", default="results", metavar="DIR", help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def add_overrides(parser, options, default=lambda flag: "default: the preset's") -> None:
    """One option per (flag, type, text), default None (the preset's value), its help the text
    and `default(flag)` in parentheses."""
    for flag, kind, text in options:
        parser.add_argument(flag, type=kind, default=None, help=f"{text} ({default(flag)})")


def presets_epilog(presets: dict) -> str:
    """"presets: quick = a=1, b=2; default = ...." and a line break, for a command's epilog."""
    return "presets: " + "; ".join(f"{k} = " + ", ".join(f"{a}={b}" for a, b in v.items())
                                   for k, v in presets.items()) + ".\n"


@contextlib.contextmanager
def stopped_by_signals(caught: dict):
    """Inside the block SIGTERM raises KeyboardInterrupt as Ctrl-C does; caught["signum"] says
    which signal it was (SIGINT unless SIGTERM came). Main thread only."""
    caught["signum"] = signal.SIGINT
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        caught["signum"] = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(command: str, path: str, done: int, total: int, signum: int) -> int:
    """Say how many runs are kept in `path` after a stop; the exit status 128 + signum."""
    print(f"lstm {command}: interrupted; {done} of {total} runs are in {path}. Run the same "
          "command again to run the rest (finished runs do not run again).", file=sys.stderr)
    return 128 + int(signum)
