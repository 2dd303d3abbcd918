"""Bring your own cell: the README's LeakyRNNCell, in a file outside the package, run through
`lstm train`, `lstm gradflow`, a one-rung horizon sweep and `lstm report` by its path, with its
class name in the figures' legends and tables."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from lstm import report, zoo
from lstm.cli import main
from lstm.runs.results_io import read_rows

ROOT = Path(__file__).resolve().parents[2]


def readme_cell() -> str:
    """The imports and the class of the README's own-cell example (not its usage lines)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- readme-user-cell -->\n```python\n")[1].split("```")[0]
    return block.split("\n\nx = ")[0] + "\n"


@pytest.fixture
def leaky(tmp_path):
    folder = tmp_path / "research"
    folder.mkdir()
    (folder / "leaky.py").write_text(readme_cell())
    return f"{folder / 'leaky.py'}:LeakyRNNCell"


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_own_cell_through_train_gradflow_sweep_and_report(leaky, tmp_path, capsys,
                                                          tiny_presets):
    out = tmp_path / "results"
    where = ["--quiet", "--out", str(out)]
    tiny = ["--hidden-size", "4", *where]
    assert main(["train", "--model", leaky, "--seq-len", "6", "--batch-size", "4", "--steps",
                 "4", "--eval-every", "2", "--test-size", "8", *tiny]) == 0
    (row,) = lines(capsys)
    assert row["model"] == leaky and row["steps"] == 4
    (stored,) = read_rows(str(out / "results.jsonl"))
    assert stored["config"]["model"] == leaky and stored["cell_source"] == zoo.cell_digest(leaky)

    assert main(["gradflow", "--models", f"rnn,{leaky}", "--seq-len", "8", "--batch-size", "2",
                 "--steps", "0,2", *tiny]) == 0
    records = lines(capsys)
    assert {r["model"] for r in records} == {"rnn", leaky}
    assert all(r["per_step_factor"] is None or r["per_step_factor"] > 0 for r in records)

    assert main(["sweep", "--preset", "horizon", "--tasks", "adding", "--models", leaky,
                 "--seq-lens", "6", "--seeds", "0", "--steps", "3", "--workers", "1",
                 *where]) == 0
    shown = lines(capsys)
    (horizon,) = [r for r in shown if r["kind"] == "horizon"]
    assert horizon["model"] == leaky and list(horizon["rungs"]) == ["6"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = report.build_report(str(tmp_path / "report"), "quick", str(out), None, False,
                                   models=(leaky,))
    html = Path(page).read_text()
    # the tables under the figures carry the legends' labels: the class name, never the path
    for anchor in ("gradient-flow", "horizon", "training-curves"):
        section = html.split(f'id="{anchor}"')[1].split("<section")[0]
        assert "LeakyRNNCell" in section, anchor
    assert zoo.label(leaky) == "LeakyRNNCell"
    assert re.search(r"LeakyRNNCell", html) and "research/leaky.py" not in html.split(
        "<pre")[0]


def test_an_edited_cell_is_another_run(leaky, tmp_path, capsys):
    """The run's identity holds the cell's source: after an edit `lstm train` trains again (in
    a new run directory) and replaces the row, instead of printing the old cell's result."""
    out = tmp_path / "results"
    command = ["train", "--model", leaky, "--seq-len", "6", "--hidden-size", "4", "--steps",
               "2", "--eval-every", "2", "--test-size", "8", "--quiet", "--out", str(out)]
    assert main(command) == 0
    assert main(command) == 0
    assert "has finished" in capsys.readouterr().err
    path = Path(leaky.rpartition(":")[0])
    path.write_text(path.read_text().replace("(1.0 - a) * new", "(1.0 - a) * new * 0.5"))
    zoo._USER.clear()  # a new process would load the file afresh
    assert main(command) == 0
    assert "has finished" not in capsys.readouterr().err
    (row,) = read_rows(str(out / "results.jsonl"))
    assert row["cell_source"] == zoo.cell_digest(leaky)
    assert len(list((out / "runs").iterdir())) == 2

    sweep = ["sweep", "--preset", "horizon", "--tasks", "adding", "--models", leaky,
             "--seq-lens", "6", "--seeds", "0", "--steps", "2", "--workers", "1", "--quiet",
             "--out", str(out / "sweep")]
    results = out / "sweep" / "results.jsonl"
    from lstm.experiments.presets import LR_GRIDS

    tuning = len(LR_GRIDS["adding"])  # the ladder's first rung runs once per learning rate
    assert main(sweep) == 0
    assert main(sweep) == 0  # finished: nothing runs again
    assert len(read_rows(str(results))) == tuning
    path.write_text(path.read_text().replace("new * 0.5", "new * 0.25"))
    zoo._USER.clear()
    before = read_rows(str(results))[0]["cell_source"]
    capsys.readouterr()
    assert main(sweep) == 0  # the edited cell runs again, its rows replacing the old ones
    assert "duplicate" not in capsys.readouterr().err
    rows = read_rows(str(results))
    assert len(rows) == tuning
    assert {row["cell_source"] for row in rows} == {zoo.cell_digest(leaky)} != {before}


def test_the_report_command_takes_own_cells(leaky, capsys):
    from lstm.cli import build_parser

    args = build_parser().parse_args(["report", "--models", f"gru,{leaky}"])
    assert args.models == ("gru", leaky)
