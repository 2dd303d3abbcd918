"""`lstm train` on the successors' tasks with sizes they cannot take: one line naming the
command's options, exit status 2, and no run directory left behind for a task that cannot be
built (the check runs with the config's, before the run is created)."""

from __future__ import annotations

import pytest

from lstm.cli import main
from lstm.runs.config import TrainConfig


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "mqar", "--seq-len", "5"],
     "seq_len (5) at least 3 n_pairs (24) (options --seq-len, --n-symbols, --n-copy; mqar's "
     "n_keys is --n-symbols, its n_pairs --n-copy)"),
    (["--task", "mqar", "--n-symbols", "4", "--n-copy", "6"],
     "n_pairs (6) must be at most n_keys (4)"),
    (["--task", "selective-copy", "--seq-len", "5"],
     "n_copy (10) must be at most seq_len (5): the symbols take distinct positions (options "
     "--seq-len, --n-symbols, --n-copy)"),
])
def test_a_task_too_small_for_its_tokens_names_the_options(tmp_path, capsys, args, message):
    code = main(["train", "--model", "mingru", "--steps", "1", *args, "--out", str(tmp_path),
                 "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_the_config_checks_the_task_before_anything_runs():
    with pytest.raises(ValueError, match=r"mqar: n_pairs .* \(options --seq-len"):
        TrainConfig(task="mqar", model="mingru", seq_len=10)


@pytest.mark.parametrize("model", ["slstm", "mlstm"])
def test_a_hidden_size_the_heads_do_not_divide_names_the_option(tmp_path, capsys, model):
    code = main(["train", "--task", "mqar", "--model", model, "--hidden-size", "30", "--steps",
                 "1", "--out", str(tmp_path), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "num_heads must be an integer >= 1 dividing hidden_size (30), got 4" in err
    assert f"(model '{model}', options --model, --hidden-size)" in err
    # the run never began: no run directory is left holding only its lock file
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
