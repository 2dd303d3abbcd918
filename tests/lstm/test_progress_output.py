"""Progress bars: redrawn in place on a terminal, plain ASCII lines when piped (a log, CI,
`2>&1 | tee`), nothing with --quiet. Piped output held tqdm's carriage-return redraws and
block characters."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from lstm import progress

TRAIN = ["-m", "lstm", "train", "--steps", "60", "--seq-len", "10", "--hidden-size", "8",
         "--test-size", "20", "--batch-size", "4", "--eval-every", "20", "--no-compile"]


def test_a_piped_bar_writes_whole_ascii_lines(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "0")
    with progress.bar(True, total=50, desc="steps", leave=False) as bar:
        for _ in range(50):
            bar.update(1)
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.isascii()
    lines = text.splitlines()
    assert lines and all(line.startswith("steps:") for line in lines)
    assert "50/50" in lines[-1]


def test_a_piped_bar_redrawn_every_update_keeps_to_its_interval(monkeypatch):
    """A sweep redraws its count after every run: piped, that is a line per interval, not per
    run (it printed one line per refresh); on close the last count is still written."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "3600")
    with progress.bar(True, total=40, desc="sweep") as bar:
        for _ in range(40):
            bar.n += 1
            progress.redraw(bar)
    lines = stream.getvalue().splitlines()
    assert len(lines) <= 3, lines
    assert "40/40" in lines[-1]
    stream.truncate(0)
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "0")
    with progress.bar(True, total=5, desc="sweep") as bar:
        bar._time = lambda: 1000.0  # a clock that stands still
        bar.start_t = bar.last_print_t = 1000.0
        for _ in range(5):
            bar.n += 1
            progress.redraw(bar)
    lines = [line for line in stream.getvalue().splitlines() if "sweep" in line]
    assert len(lines) >= 5 and "5/5" in lines[-1]
    assert lines[-1] != lines[-2], lines  # closed just after its last line: not that line twice


def test_a_disabled_bar_writes_nothing(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress.bar(False, total=5, desc="steps") as bar:
        bar.update(5)
    assert stream.getvalue() == ""


def test_a_bad_interval_falls_back(monkeypatch):
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "soon")
    assert progress.log_every_s() == progress.LOG_EVERY_S
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "2.5")
    assert progress.log_every_s() == 2.5


def _env(tmp_path):
    return dict(os.environ, LSTM_PROGRESS_EVERY="0", NO_COLOR="1")


def test_lstm_train_piped_has_no_redraws(tmp_path):
    done = subprocess.run([sys.executable, *TRAIN, "--out", str(tmp_path)], capture_output=True,
                          timeout=300, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    err = done.stderr.decode()
    assert "\r" not in err and "\x1b" not in err and err.isascii(), err[-1000:]
    assert "it/s" in err  # the bar is there, as lines
    assert done.stdout.decode().count("\n") == 1  # stdout: the result's one JSON line


def test_lstm_train_quiet_writes_no_bar(tmp_path):
    done = subprocess.run([sys.executable, *TRAIN, "--out", str(tmp_path), "--quiet"],
                          capture_output=True, timeout=300, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "it/s" not in done.stderr.decode()


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
def test_lstm_train_on_a_terminal_redraws_in_place(tmp_path):
    leader, follower = pty.openpty()
    # 80 columns: a pseudo-terminal starts with 0, where tqdm draws an empty bar
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        child = subprocess.Popen([sys.executable, *TRAIN, "--out", str(tmp_path)],
                                 stdout=subprocess.PIPE, stderr=follower, env=_env(tmp_path))
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the child
                break
            if not chunk:
                break
            seen += chunk
        child.wait(timeout=300)
    finally:
        os.close(leader)
    assert child.returncode == 0, seen.decode(errors="replace")[-2000:]
    assert b"\r" in seen and b"it/s" in seen


def test_no_stderr_draws_nothing(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    with progress.bar(True, total=3, desc="steps") as bar:
        bar.update(3)


def test_a_piped_bar_keeps_to_its_interval_past_tqdms_monitor(monkeypatch):
    """tqdm's monitor thread, finding no line for maxinterval (10 s) while the bar's adaptive
    miniters held updates back, refreshed the bar and then let the next update print as well:
    `lstm train` piped wrote pairs of lines a second apart (steps 512 and 513). On a fake clock,
    with the monitor's own check run after every slow step, no two lines come within 10 s."""
    from tqdm import TMonitor, tqdm

    clock = [1000.0]
    printed: list[float] = []

    class Lines(io.StringIO):  # stderr, piped: each line's time on the clock
        def write(self, text):
            printed.append(clock[0])
            return super().write(text)

    monkeypatch.setattr(sys, "stderr", Lines())
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "10")

    class OneCheck:  # the monitor's Event: one pass of its check, then stop
        calls = 0

        def wait(self, _):
            OneCheck.calls += 1

        def set(self):
            pass

        def is_set(self):
            return OneCheck.calls > 1

    bar = progress.bar(True, total=2000, desc="steps")
    bar._time = lambda: clock[0]
    bar.start_t = bar.last_print_t = clock[0]
    monitor = TMonitor.__new__(TMonitor)  # its check, run here, not on a thread
    monitor.tqdm_cls, monitor.sleep_interval, monitor._time = tqdm, 0, lambda: clock[0]
    for step in range(600):
        clock[0] += 0.05 if step < 400 else 2.0  # fast, then slow steps
        bar.update(1)
        if step >= 400:
            OneCheck.calls, monitor.was_killed = 0, OneCheck()
            monitor.run()
    lines = printed[:]
    bar.close()  # its last line, the final count, comes whenever the bar ends
    gaps = [b - a for a, b in zip(lines, lines[1:])]
    assert len(lines) > 5 and min(gaps) > 10 - 1e-6, gaps


def test_a_piped_bar_redrawn_after_each_run_prints_once_per_interval(monkeypatch):
    """`lstm sweep` piped, runs of 11 s: after the first redrawn line every run's redraw
    printed one (1/64 and 2/64 both at 00:11): refresh() left the time of the last line."""
    clock = [1000.0]
    printed: list[float] = []

    class Lines(io.StringIO):
        def write(self, text):
            printed.append(clock[0])
            return super().write(text)

    monkeypatch.setattr(sys, "stderr", Lines())
    monkeypatch.setenv("LSTM_PROGRESS_EVERY", "10")
    bar = progress.bar(True, total=60, desc="sweep", unit="run")
    bar._time = lambda: clock[0]
    bar.start_t = bar.last_print_t = clock[0]
    for _ in range(60):
        clock[0] += 3.0
        bar.n += 1
        progress.redraw(bar)
    lines = printed[:]
    bar.close()
    gaps = [b - a for a, b in zip(lines, lines[1:])]
    assert len(lines) > 5 and min(gaps) > 10 - 1e-6, gaps
