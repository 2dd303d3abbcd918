"""A real full disk: a 2 MiB tmpfs filled to the brim (skipped where mounting is not allowed)."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from lstm.cli import main
from lstm.runs import results_io

TRAIN = ["train", "--task", "adding", "--model", "gru", "--seq-len", "5", "--hidden-size", "4",
         "--batch-size", "4", "--steps", "4", "--eval-every", "2", "--test-size", "8",
         "--checkpoint-every", "2", "--quiet"]


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk):
    """Write a filler file until the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    with open(disk / "filler-tail", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:  # the last bytes of a partly used page
            f.write(b"\0")
    return filler


def test_a_full_disk_under_lstm_train_loses_nothing(small_disk, capsys):
    out = small_disk / "out"
    assert main([*TRAIN, "--out", str(out)]) == 0
    results = out / "results.jsonl"
    before = results.read_bytes()
    filler = _fill(small_disk)
    capsys.readouterr()
    assert main([*TRAIN, "--seed", "1", "--out", str(out)]) == 1  # its first checkpoint fails
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and str(out) in err
    assert results.read_bytes() == before
    with pytest.raises(OSError, match="No space left"):  # and the append path on its own
        results_io.append_row(str(results), {"key": "x" * 20000, "kind": "t", "config": {},
                                             "result": {}})
    assert results.read_bytes() == before
    filler.unlink()
    assert main([*TRAIN, "--seed", "1", "--out", str(out)]) == 0  # the same command again
    assert [r["config"]["seed"] for r in results_io.read_rows(str(results))] == [0, 1]
    assert not os.path.exists(str(results) + results_io.DAMAGED_SUFFIX)
