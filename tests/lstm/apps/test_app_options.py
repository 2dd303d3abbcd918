"""The applications' configs on the config base (lstm.runs.options): every config field has
its option and every option of the command is a field or one of the command's own; a value is
checked once, naming the option, what it expects and what it got; the preset fills what the
command line leaves out, one run per combination of the swept options."""

from __future__ import annotations

import dataclasses

import pytest

from lstm.apps.charlm.train import CharLMConfig
from lstm.apps.classify.train import ClassifyConfig
from lstm.apps.forecast.train import ForecastConfig
from lstm.apps.translate.train import TranslateConfig
from lstm.cli import build_parser, main

SHARED = {"help", "preset", "compile", "out", "quiet", "threads"}  # every application command's
APPS = {  # command: (config class, its options that are not config fields, swept fields)
    "forecast": (ForecastConfig, set(), ("dataset", "model", "seed")),
    "classify": (ClassifyConfig, {"baseline", "dtw_mode", "dtw_window"}, ("pooling", "seed")),
    "charlm": (CharLMConfig, {"ngram_max_order", "resume"}, ("seed",)),
    "translate": (TranslateConfig, set(), ("attention", "seed")),
}


def _parser(command):
    return build_parser()._subparsers._group_actions[0].choices[command]


@pytest.mark.parametrize("command", APPS)
def test_every_field_has_an_option_and_every_option_a_field(command):
    cls, own, swept = APPS[command]
    dests = {a.dest for a in _parser(command)._actions} - SHARED - own
    assert "seed" in swept and {"seed", "seeds"} <= dests  # --seeds N,M and --seed N
    dests = dests - {"seeds"} | {"seed"}
    assert dests == {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("command", APPS)
def test_the_preset_fills_what_the_command_line_leaves_out(command):
    from importlib import import_module

    cls, _, swept = APPS[command]
    cli = import_module(f"lstm.apps.{command}.cli")
    presets = getattr(cli, "PRESETS", None) or import_module(f"lstm.apps.{command}.train").PRESETS
    args = build_parser().parse_args([command, "--hidden-size", "7", "--seeds", "3,4"])
    configs = cli.configs_from_args(cls, presets, args, swept)
    assert {c.hidden_size for c in configs} == {7} and [c.seed for c in configs[:2]] == [3, 4]
    quick = {k: v for k, v in presets["quick"].items() if k in cls.__dataclass_fields__
             and k not in swept and k != "hidden_size"}
    assert all(getattr(configs[0], k) == v for k, v in quick.items())
    assert len(configs) % 2 == 0  # one per combination: the seeds innermost


@pytest.mark.parametrize("command, flag, value, expected", [
    ("charlm", "--bptt", "0", "an integer >= 1"),
    ("classify", "--val-fraction", "1", "a number in [0, 1)"),
    ("translate", "--held-out-fraction", "0.5", "a number in (0, 0.5)"),
    ("forecast", "--lr", "nan", "a finite number > 0"),
    ("translate", "--source", "xx", "one of ("),
])
def test_a_bad_value_names_the_option_the_expected_and_the_actual(command, flag, value,
                                                                  expected, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {flag}: expected {expected}" in err and f"got '{value}'" in err


@pytest.mark.parametrize("command", APPS)
def test_a_config_built_in_code_is_checked_the_same_way(command):
    cls = APPS[command][0]
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0 "
                                         r"\(option --batch-size\)"):
        cls(batch_size=0)


def test_seed_and_seeds_together_are_refused(capsys):
    assert main(["classify", "--seed", "1", "--seeds", "2", "--baseline", "none"]) == 2
    assert "give --seed or --seeds, not both" in capsys.readouterr().err


def test_parser_of_many_takes_comma_separated_values_each_checked():
    import argparse

    from lstm.runs.options import parser_of

    parse = parser_of(ClassifyConfig, "pooling", many=True)
    assert parse("mean, attention") == ("mean", "attention")
    with pytest.raises(argparse.ArgumentTypeError, match="each one of .*got 'mean,max'"):
        parse("mean,max")
    assert parser_of(ClassifyConfig, "seed", many=True)("0,2") == (0, 2)
    with pytest.raises(argparse.ArgumentTypeError, match="each an integer >= 0"):
        parser_of(ClassifyConfig, "seed", many=True)("1,-1")


@pytest.mark.parametrize("command", sorted(APPS))
@pytest.mark.parametrize("where", ["file", "below_a_file"])
def test_out_in_a_files_way_is_refused_before_any_run(command, where, tmp_path, capsys):
    """--out naming a file (or a path below one) is one line naming --out, exit 2, before any
    training: classify and translate trained a whole run first and then failed saving it,
    naming only `OUT/models`."""
    blocker = tmp_path / "afile"
    blocker.write_text("")
    out = blocker if where == "file" else blocker / "sub"
    assert main([command, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "Traceback" not in err
    if where == "file":
        assert f"--out {blocker} is a file" in err
    assert blocker.read_text() == ""
