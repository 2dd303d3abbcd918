"""The Python examples of README.md and of the engine pages (docs/compiler.md, docs/ops.md,
docs/cells.md) run as written; a block any page marks as quoted source is that source.

Each page's ```python blocks run in order in one fresh interpreter (a subprocess), as a reader
pasting them into one session would: a later block may use an earlier one's names. A block is
left out only behind an HTML comment on the line before it, `<!-- not run: REASON -->`; where
the reason is `quoted from PATH`, the block must be a verbatim excerpt of that file instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The pages whose examples run (docs/ops.md's two blocks are quoted source, docs/cells.md has none).
RUN = ["README.md", "docs/compiler.md"]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\s*$")
QUOTED = re.compile(r"quoted from (\S+)$")

# Runs the blocks given as JSON [[label, source], ...] on stdin in one namespace; each block is
# compiled under its page and line, so a traceback names where the failing example is.
RUNNER = """
import json, sys
scope = {"__name__": "__main__"}
for label, source in json.load(sys.stdin):
    exec(compile(source, label, "exec"), scope)
checks = {name: repr(eval(expr, scope)) for name, expr in json.loads(sys.argv[1]).items()}
print("CHECKS " + json.dumps(checks))
"""

# What the pages say their examples print or hold, checked on the namespace after the run.
STATED = {
    "README.md": {
        "grad shape": ("model.weight_hh_l0.grad.shape", "(256, 64)"),
        "cache info": ("(step.cache_info().traces, step.cache_info().hits)", "(1, 2)"),
        "own cell out": ("out.shape", "(100, 32, 128)"),
        "own cell h_n": ("h_n.shape", "(4, 32, 64)"),
        "own cell fused": ("layer.impl", "'fused'"),
    },
    "docs/compiler.md": {
        "cache info": ("step.cache_info()",
                       "CacheInfo(traces=1, hits=99, misses=1, size=1, max_size=8)"),
    },
}


def blocks(page: str) -> list[tuple[int, str, str | None]]:
    """(line, source, the not-run reason or None) of every ```python block of the page."""
    text = (ROOT / page).read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = NOT_RUN.search(before)
        found.append((text.count("\n", 0, match.start()) + 2, match.group(1),
                      mark.group(1) if mark else None))
    return found


def test_the_pages_have_examples_to_run():
    """The extraction finds the examples (a broken fence would hide them), and every block of
    the engine pages runs or says why not."""
    assert len([b for b in blocks("README.md") if b[2] is None]) >= 3
    assert len([b for b in blocks("docs/compiler.md") if b[2] is None]) >= 1
    for page in ["docs/ops.md", "docs/cells.md"]:
        for line, _, reason in blocks(page):
            assert reason, f"{page}:{line}: a python block neither run nor marked not run"


def test_quoted_blocks_are_the_source():
    quotes = 0
    for page in PAGES:
        for line, source, reason in blocks(page):
            quoted = QUOTED.search(reason or "")
            if quoted:
                quotes += 1
                path = ROOT / quoted.group(1)
                assert path.is_file(), f"{page}:{line} quotes {quoted.group(1)}: no such file"
                assert source in path.read_text(), (
                    f"{page}:{line}: the block is no longer a verbatim excerpt of "
                    f"{quoted.group(1)}")
    assert quotes >= 2  # docs/ops.md's two scalar rules


@pytest.mark.parametrize("page", RUN)
def test_python_examples_run_as_written(page, tmp_path):
    runnable = [(f"{page}:{line}", source) for line, source, reason in blocks(page)
                if reason is None]
    stated = STATED.get(page, {})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps({k: e for k, (e, _) in stated.items()})],
        input=json.dumps(runnable), capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=600)
    assert done.returncode == 0, f"an example of {page} raised:\n{done.stderr[-3000:]}"
    line = [s for s in done.stdout.splitlines() if s.startswith("CHECKS ")][-1]
    got = json.loads(line[len("CHECKS "):])
    for name, (expr, expected) in stated.items():
        assert got[name] == expected, f"{page}: {expr} is {got[name]}, the page says {expected}"
