"""Shared fixtures: seeded generators, the torch reference and a forward+gradient comparator.

Test files import nothing from here (pytest runs with --import-mode=importlib, so same-named test
files in different folders do not clash); everything shared is a fixture.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minigrad as mg

settings.register_profile(
    "minigrad",
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("minigrad")

# Tolerances against torch on the same inputs: float32 is compared to float32 rounding.
TOLERANCES = {np.float32: (1e-5, 1e-6), np.float64: (1e-10, 1e-12)}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def torch():
    module = pytest.importorskip("torch")
    module.set_num_threads(1)  # the machine is shared; small tensors gain nothing from threads
    return module


def away_from_zero(a: np.ndarray, margin: float = 0.2) -> np.ndarray:
    """Values with |v| >= margin, so kinks (relu, abs, clip) stay outside the finite differences."""
    return np.where(a >= 0, a + margin, a - margin)


CELL_SCRIPT = """
import json, os, sys
import numpy as np
import minigrad as mg
from lstm import Cell, Recurrent
from lstm.cells import make_uniform
from lstm.fused import compiled_step

class Cell1(Cell):
    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (2 * hidden_size, input_size),
                            "weight_hh": (2 * hidden_size, hidden_size)}, hidden_size, "",
                     self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        a, b = (x @ self.weight_ih.T + h @ self.weight_hh.T).split(2, axis=-1)
        return (a.sigmoid() * h + b.OPERATION(),)
"""


@pytest.fixture
def run_cell_script():
    """run_cell_script(cache_dir, operation, script, **env): in a new Python process (the
    repository first on its path, MINIGRAD_CACHE_DIR=cache_dir and `env`), the definition of
    a user's cell Cell1 (h' = sigmoid(a) h + OPERATION(b), [a|b] = x W_ih^T + h W_hh^T) and then
    `script`; the JSON its last line prints. The kernel cache tests run it twice to see what a
    second process compiles."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def run(cache_dir, operation, script, **env):
        code = (CELL_SCRIPT + script).replace("OPERATION", operation)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=dict(os.environ, MINIGRAD_CACHE_DIR=str(cache_dir),
                                       PYTHONPATH=str(root), **env),
                              timeout=600, cwd=root)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def peephole_cell():
    """A user's cell (lstm.Cell): LSTM with diagonal peepholes on c, its parameters weight_ih,
    weight_hh, bias and peephole (3H: p_i, p_f, p_o)."""
    from lstm import Cell
    from lstm.cells import make_uniform

    class PeepholeCell(Cell):
        states = ("h", "c")

        def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
            super().__init__(input_size, hidden_size, bias, rng, dtype)
            H = hidden_size
            make_uniform(self, {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, H),
                                "bias": (4 * H,), "peephole": (3 * H,)}, H, "", self.rng,
                         self.dtype)

        def step(self, x, state):
            h, c = state
            gates = x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias
            i, f, g, o = gates.split(4, axis=-1)
            p_i, p_f, p_o = self.peephole.split(3)
            i, f = (i + p_i * c).sigmoid(), (f + p_f * c).sigmoid()
            c = f * c + i * g.tanh()
            return (o + p_o * c).sigmoid() * c.tanh(), c

    return PeepholeCell


@pytest.fixture
def nonzero():
    return away_from_zero


def _compare_with_torch(
    torch, mg_fn, torch_fn, arrays, dtype=np.float32, rtol=None, atol=None, seed=0
):
    """Run mg_fn and torch_fn on the same arrays; compare outputs and gradients of <out, u>.

    Floating arrays become inputs that require gradients; others (integer targets) pass through
    unchanged. u is a random upstream gradient. Returns the minigrad output for extra checks.
    """
    default_rtol, default_atol = TOLERANCES[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    arrays = [a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a for a in arrays]
    is_float = [np.issubdtype(a.dtype, np.floating) for a in arrays]
    ours = [mg.tensor(a, requires_grad=f) for a, f in zip(arrays, is_float)]
    theirs = [
        torch.tensor(a, requires_grad=f) if f else torch.tensor(a) for a, f in zip(arrays, is_float)
    ]
    out = mg_fn(*ours)
    expected = torch_fn(*theirs)
    assert out.dtype == dtype, f"output promoted to {out.dtype}"
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)

    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (x, t, f) in enumerate(zip(ours, theirs, is_float)):
        if not f:
            continue
        assert x.grad is not None, f"input {i} got no gradient"
        assert isinstance(x.grad, np.ndarray), f"input {i}: grad is {type(x.grad).__name__}"
        assert x.grad.dtype == dtype, f"input {i}: grad promoted to {x.grad.dtype}"
        assert x.grad.shape == x.shape
        np.testing.assert_allclose(
            x.grad, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
        )
    return out


@pytest.fixture
def compare_with_torch(torch):
    """compare_with_torch(mg_fn, torch_fn, arrays, dtype=np.float32, rtol=None, atol=None)."""

    def compare(mg_fn, torch_fn, arrays, dtype=np.float32, rtol=None, atol=None, seed=0):
        return _compare_with_torch(torch, mg_fn, torch_fn, arrays, dtype, rtol, atol, seed)

    return compare
