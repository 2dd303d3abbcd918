"""Every application command's help: an example, a help line for each option; every training
command has the shared options (--compile, --out, --quiet)."""

from __future__ import annotations

import pytest

from lstm.cli import build_parser, main

COMMANDS = ("forecast", "classify", "charlm", "generate", "translate", "export")
TRAINING = ("forecast", "classify", "charlm", "translate")


def _parser(command):
    return build_parser()._subparsers._group_actions[0].choices[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "example: lstm " + command in capsys.readouterr().out
    for action in _parser(command)._actions:
        assert action.help, f"lstm {command} {action.option_strings} has no help"


@pytest.mark.parametrize("command", TRAINING)
def test_training_commands_share_their_run_options(command):
    flags = {f for action in _parser(command)._actions for f in action.option_strings}
    assert {"--compile", "--no-compile", "--out", "--quiet"} <= flags
    assert ("--impl" in flags) == (command != "charlm")  # charlm's model has no impl choice
