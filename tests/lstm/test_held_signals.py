"""lstm.runs.signals.held_signals: a SIGTERM inside the block waits for its end (the row appended
and its line printed as one), then reaches the handler outside (term_as_interrupt: a
KeyboardInterrupt with the signal named); the applications' runner holds it there."""

from __future__ import annotations

import os
import signal

import pytest

from lstm.apps.common.runs import run_missing
from lstm.runs.signals import held_signals, term_as_interrupt


def test_a_signal_in_the_block_waits_for_its_end():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with term_as_interrupt() as caught:
            with held_signals():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("after the signal")  # still runs: the signal is held
            done.append("after the block")  # never: the held signal stops here
    assert done == ["after the signal"] and caught["signum"] == signal.SIGTERM


class _Config:
    def __init__(self, n):
        self.n = n

    def to_dict(self):
        return {"n": self.n}


def test_a_stop_while_a_row_is_written_still_announces_it(tmp_path, monkeypatch):
    """SIGTERM arriving while the first row is appended: the row is in the file and announced
    (it was appended, then the stop came before its line)."""
    import lstm.apps.common.runs as runs

    real_append = runs.append_row

    def append_then_stop(path, row):
        real_append(path, row)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runs, "append_row", append_then_stop)
    announced, path = [], str(tmp_path / "results.jsonl")
    with pytest.raises(KeyboardInterrupt):
        with term_as_interrupt():
            run_missing([_Config(0), _Config(1)], path, "test",
                        lambda config, key: {"kind": "test", "key": key, "n": config.n},
                        on_result=lambda row, reused: announced.append(row["n"]))
    assert announced == [0] and len(open(path).read().splitlines()) == 1
