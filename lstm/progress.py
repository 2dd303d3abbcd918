"""The progress bars of every command: tqdm on stderr, redrawn in place on a terminal only.

Piped or redirected (a log file, a CI job, ``2>&1 | tee``) a bar is written as plain lines, one
every ``LOG_EVERY_S`` seconds at most, in ASCII: no carriage-return redraws, no block
characters, no cursor movement, so the log reads line by line. ``--quiet`` draws nothing.
"""

from __future__ import annotations

import os
import sys

LOG_EVERY_S = 10.0  # seconds between a piped bar's lines (LSTM_PROGRESS_EVERY overrides)


class _Lines:
    """A stream that turns tqdm's redraws ('\\r' + status, padded) into whole lines."""

    def __init__(self, stream):
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        # a bar cleared on close (leave=False) writes only blanks: nothing; one closed just
        # after its last line (a sweep's final count) would write that line again: nothing
        if text and text != self.last:
            self.stream.write(text + "\n")
            self.last = text

    def flush(self) -> None:
        self.stream.flush()


def log_every_s() -> float:
    value = os.environ.get("LSTM_PROGRESS_EVERY", "")
    try:
        return max(0.0, float(value)) if value else LOG_EVERY_S
    except ValueError:
        return LOG_EVERY_S


def bar(progress: bool, **kwargs):
    """A tqdm bar (its arguments) on stderr; disabled when `progress` is False."""
    from tqdm import tqdm

    stream = sys.stderr
    if not progress or stream is None:  # None: no stderr at all (a daemon, pythonw)
        return tqdm(disable=True, **kwargs)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(file=stream, **kwargs)
    # miniters=1: every update checks the clock against mininterval. tqdm's adaptive miniters
    # let its monitor thread refresh a bar silent for maxinterval, after which the next update
    # printed too: two lines a second apart.
    piped = tqdm(file=_Lines(stream), mininterval=log_every_s(), miniters=1, ascii=True,
                 **kwargs)
    piped.piped = True
    return piped


def redraw(progress_bar) -> None:
    """progress_bar.refresh(), which a piped bar (plain lines) takes only once its interval has
    passed since its last line: tqdm's own updates keep to ``mininterval``, an explicit refresh
    (a sweep's count after every run) would otherwise print a line each time."""
    piped = getattr(progress_bar, "piped", False) and not progress_bar.disable
    if piped and progress_bar._time() - progress_bar.last_print_t < progress_bar.mininterval:
        return
    progress_bar.refresh()
    if piped:  # refresh() leaves the time of the last line alone: every later redraw printed
        progress_bar.last_print_t = progress_bar._time()
        progress_bar.last_print_n = progress_bar.n
