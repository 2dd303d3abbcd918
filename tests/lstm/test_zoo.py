"""lstm.zoo, the one registry of models: what it promises every reader, and users' cells."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lstm import zoo
from lstm.cells import Cell
from lstm.cli import build_parser
from lstm.models import MODEL_NAMES, build_model
from lstm.runs.config import TrainConfig
from lstm.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
LEAKY = textwrap.dedent('''
    import numpy as np
    from lstm import Cell
    from lstm.cells import make_uniform


    class LeakyRNNCell(Cell):
        """h' = a h + (1 - a) tanh(x W_ih^T + h W_hh^T + b), a = sigmoid(leak)."""

        def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
            super().__init__(input_size, hidden_size, bias, rng, dtype)
            H = hidden_size
            make_uniform(self, {"weight_ih": (H, input_size), "weight_hh": (H, H),
                                "bias_ih": (H,), "leak": (H,)}, H, "", self.rng, self.dtype)

        def step(self, x, state):
            (h,) = state
            a = self.leak.sigmoid()
            new = (x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias_ih).tanh()
            return (a * h + (1.0 - a) * new,)


    class NotACell:
        pass
''')


@pytest.fixture
def leaky_file(tmp_path):
    path = tmp_path / "my_cells" / "leaky.py"
    path.parent.mkdir()
    path.write_text(LEAKY)
    return path


def test_every_model_has_a_distinct_label_colour_and_a_paper():
    specs = zoo.registered()
    assert tuple(s.name for s in specs) == MODEL_NAMES
    for field in ("label", "short", "colour"):
        values = [getattr(s, field) for s in specs]
        assert len(set(values)) == len(values), field
    assert all(s.paper and s.init and s.family in zoo.FAMILIES for s in specs)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", s.colour) for s in specs)


def test_the_command_line_help_names_every_model():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse's own registry
    for command in ("train", "gradflow", "sweep"):
        help_text = " ".join(sub.choices[command].format_help().split())
        for name in MODEL_NAMES:
            assert name in help_text.replace("- ", "-"), (command, name)
        assert "path/to/file.py:Class" in help_text.replace("- ", "-")


def test_the_docs_table_of_models_is_the_registrys():
    text = (ROOT / "docs" / "cells.md").read_text()
    copied = text.split("<!-- zoo-table -->\n")[1].split("\n<!-- /zoo-table -->")[0]
    assert copied == zoo.markdown_table(), "run python -m lstm.zoo and paste into docs/cells.md"


def test_one_registration_line_makes_a_model_every_command_knows(monkeypatch):
    from lstm.cell_zoo_gru import MGUCell

    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    zoo.register_cell("mgu-twin", MGUCell, label="MGU twin", family="gru", paper="a test")
    assert zoo.label("mgu-twin") == "MGU twin" and "mgu-twin" in zoo.names(variant=True)
    config = TrainConfig(model="mgu-twin", seq_len=5, hidden_size=3, steps=1)
    model = build_model(config.model, get_task("adding", 5), 3, rng=0)
    assert type(model.recurrent.cell("_l0")).__name__ == "MGUCell"
    with pytest.raises(ValueError, match="registered already"):
        zoo.register_cell("mgu-twin", MGUCell, label="x", family="gru", paper="x")


def test_a_users_cell_from_a_file(leaky_file):
    name = f"{leaky_file}:LeakyRNNCell"
    spec = zoo.spec(name)
    assert issubclass(spec.cell, Cell) and spec.family == "user"
    assert zoo.label(name) == "LeakyRNNCell" and zoo.colour(name) in zoo.PALETTE
    model = build_model(name, get_task("adding", 6), 4, rng=0)
    out, _ = model(np.random.default_rng(0).random((6, 2, 2)).astype(np.float32))
    assert out.shape == (2, 1)
    assert TrainConfig(model=name, seq_len=6).model == name
    assert zoo.cell_digest(name) is not None


def test_a_users_cell_from_a_module(leaky_file, monkeypatch):
    monkeypatch.syspath_prepend(str(leaky_file.parent))
    assert zoo.spec("leaky:LeakyRNNCell").cell.__name__ == "LeakyRNNCell"


@pytest.mark.parametrize(("suffix", "message"), [
    (":NotACell", "expected a lstm.Cell subclass"),
    (":Missing", "defines no 'Missing'"),
    ("x:LeakyRNNCell", "no file"),
])
def test_a_bad_cell_is_one_clear_error(leaky_file, suffix, message):
    with pytest.raises(ValueError, match=message):
        zoo.spec(f"{leaky_file}{suffix}")


def test_a_bad_cell_is_a_usage_error_on_the_command_line(leaky_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--model", f"{leaky_file}:NotACell"])
    assert exit_info.value.code == 2
    assert "expected a lstm.Cell subclass" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "no_such_module_xyz:Cell"])
    assert "cannot import module 'no_such_module_xyz'" in capsys.readouterr().err
