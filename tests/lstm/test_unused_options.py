"""A training setting the chosen optimizer, clipping or task does not read (--momentum with
Adam, --betas with SGD, --alpha with Adam, --clip-value with --clip none, --n-copy or
--n-symbols with adding) is refused naming both
options: it was silently ignored, yet gave the run another key (another directory and row)."""

from __future__ import annotations

import pytest

from lstm.cli import main
from lstm.runs.config import TrainConfig


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizer", "adam", "--momentum", "0.9"],
     "momentum is read with optimizer rmsprop or sgd only, got momentum=0.9 with optimizer "
     "'adam' (options --momentum, --optimizer)"),
    (["--optimizer", "sgd", "--betas", "0.5,0.9"],
     "betas is read with optimizer adam only, got betas=(0.5, 0.9) with optimizer 'sgd'"),
    (["--optimizer", "adam", "--alpha", "0.5"], "alpha is read with optimizer rmsprop only"),
    (["--clip", "none", "--clip-value", "3"],
     "clip_value is read with clip norm or value only, got clip_value=3.0 with clip 'none' "
     "(options --clip-value, --clip)"),
    # the adding task reads neither (session 12: accepted, ignored, another run key)
    (["--task", "adding", "--n-copy", "3"],
     "n_copy is read with task copy or selective-copy or mqar only, got n_copy=3 with task "
     "'adding' (options --n-copy, --task)"),
    (["--task", "adding", "--n-symbols", "4"], "n_symbols is read with task copy or "
                                                "selective-copy or mqar only"),
])
def test_a_setting_the_choice_does_not_read_is_named(tmp_path, capsys, args, message):
    code = main(["train", "--task", "mqar", "--model", "mingru", "--steps", "1", *args,
                 "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("settings", [
    {"optimizer": "sgd", "momentum": 0.9}, {"optimizer": "rmsprop", "momentum": 0.5, "alpha": 0.5},
    {"optimizer": "adam", "betas": (0.5, 0.9)}, {"clip": "value", "clip_value": 0.5},
    {"optimizer": "adam", "clip": "none"},  # defaults of the others stay allowed
    {"task": "copy", "n_copy": 3}, {"task": "mqar", "variant": "scaled", "n_symbols": 16},
])
def test_settings_the_choice_reads_are_accepted(settings):
    TrainConfig(**{"task": "adding", "model": "gru", **settings})
