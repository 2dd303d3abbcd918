"""The config base (lstm.runs.options): `lstm train`, `gradflow` and `sweep` take one option per
config field and no other setting, a bad value is refused naming its option, and the run key
hashes exactly the fields marked as changing the result."""

from __future__ import annotations

import dataclasses

import pytest

from lstm.cli import build_parser, main
from lstm.runs.commands import GradflowConfig, SweepConfig
from lstm.runs.config import RESUMABLE_FIELDS, TrainConfig
from lstm.runs.options import fields, key_fields, not_in_key

# what each command takes besides its config's settings: where and how to run, not what
COMMAND_ONLY = {"train": {"resume", "restart", "force", "no_wait", "out", "quiet", "threads"},
                "gradflow": {"out", "quiet", "threads"}, "sweep": {"out", "quiet", "threads"}}
CONFIGS = {"train": TrainConfig, "gradflow": GradflowConfig, "sweep": SweepConfig}


def command_parser(name):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[name]


@pytest.mark.parametrize("command", CONFIGS)
def test_every_field_has_an_option_and_every_option_a_field(command):
    parser = command_parser(command)
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    names = {f.name for f in dataclasses.fields(CONFIGS[command])}
    assert dests - COMMAND_ONLY[command] == names
    help_text = parser.format_help()
    for f in fields(CONFIGS[command]):
        assert f.flag in help_text
        assert "(default: (" not in help_text and "(default: [" not in help_text  # no Python


def bad_values(f) -> list[str]:
    """Command-line values the field must refuse."""
    out = ["x1"] if f.kind in (int, float) or f.choices() is not None else []
    if f.choices() is None and f.option.low is not None:
        out.append(str(f.option.low if f.option.strict else f.option.low - 1))
    if f.option.high is not None:
        out.append(str(f.option.high + (0 if f.option.high_open else 1)))
    if f.kind is int:
        out.append("1.5")
    if f.kind is float:
        out.append("nan")
    if f.count is not None and f.count > 0:
        out = [",".join([v] * f.count) for v in out] + [",".join(["0.5"] * (f.count + 1))]
    return out


CASES = [(command, f.flag, value) for command, cls in CONFIGS.items() for f in fields(cls)
         for value in bad_values(f)]


@pytest.mark.parametrize(("command", "flag", "value"), CASES)
def test_a_bad_value_names_its_option(command, flag, value, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([command, f"{flag}={value}", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}: " in err and repr(value) in err and "expected" in err, err


def test_a_bad_model_names_the_option(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["gradflow", "--models", "rnn,nope", "--out", str(tmp_path)])
    assert "argument --models: model must be one of" in capsys.readouterr().err


@pytest.mark.parametrize(("changes", "message"), [
    ({"seq_len": 1}, r"seq_len must be an integer >= 2, got 1 \(option --seq-len\)"),
    ({"betas": (0.9, 1.0)}, r"betas must be 2 values, each a number in \[0, 1\), got "),
    ({"lr": -1.0}, r"lr must be a finite number > 0, got -1.0 \(option --lr\)"),
    ({"variant": "zoology"}, r"variant must be one of .* for task 'adding', got 'zoology' "
                             r"\(option --variant\)"),
])
def test_a_config_built_in_python_names_the_field_and_its_option(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_gradflow_and_sweep_configs_check_their_fields():
    with pytest.raises(ValueError, match=r"steps must be one or more values, each an integer "
                                         r">= 0, got \(\) \(option --steps\)"):
        GradflowConfig(steps=())
    with pytest.raises(ValueError, match=r"tasks must be one or more values, each one of "):
        SweepConfig(tasks=("adding", "speed"))


def test_the_run_key_is_the_fields_marked_so():
    assert set(not_in_key(TrainConfig)) == {"checkpoint_every", "compile"}
    assert set(RESUMABLE_FIELDS) == {"steps", "checkpoint_every", "compile"}
    base = TrainConfig()
    for name in not_in_key(TrainConfig):
        other = {"checkpoint_every": 7, "compile": False}[name]
        assert base.replace(**{name: other}).run_name() == base.run_name()
    for name in ("lr", "seed", "eval_batch_size", "min_delta", "stop_when_solved"):
        value = getattr(base, name)
        changed = (not value) if isinstance(value, bool) else value + 1
        assert base.replace(**{name: changed}).run_name() != base.run_name(), name
    assert "model" not in key_fields(GradflowConfig)  # one run per model: its own "model"
    runs = GradflowConfig(models=("rnn", "gru"), steps=(0, 5)).run_configs()
    assert [r["model"] for r in runs] == ["rnn", "gru"] and runs[0]["steps"] == [0, 5]
    assert "compile" not in runs[0] and "workers" not in runs[0]


def test_options_build_the_config_the_command_runs():
    args = build_parser().parse_args(["train", "--lr", "0.01", "--optimizer", "adam",
                                      "--betas", "0.5,0.6",
                                      "--no-compile", "--no-stop-when-solved"])
    from lstm.runs.options import from_args

    config = from_args(TrainConfig, args)
    assert (config.lr, config.betas, config.compile, config.stop_when_solved) == (
        0.01, (0.5, 0.6), False, False)
    assert config.checkpoint_every == 500  # the command line's own default
    defaults = from_args(TrainConfig, build_parser().parse_args(["train"]))
    assert defaults.replace(checkpoint_every=None) == TrainConfig()
