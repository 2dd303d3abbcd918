"""Fixtures of the cell compiler's tests: a layer's forward and backward against the same layer
composed, and a layer's gradient-norm sink against a manual unroll of its cell."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


def _run(module, x, state, lengths, weights):
    """Outputs, final states and the input and state gradients of sum(output * weight), and the
    parameters' gradients by name."""
    xm = mg.tensor(x, requires_grad=True)
    states = [mg.tensor(s, requires_grad=True) for s in state]
    given = states[0] if len(states) == 1 else tuple(states)
    out, finals = module(xm, given, lengths=lengths)
    finals = finals if isinstance(finals, tuple) else (finals,)
    loss = (out * weights[0]).sum()
    for f, w in zip(finals, weights[1:]):
        loss = loss + (f * w).sum()
    module.zero_grad()
    loss.backward()
    grads = {n: p.grad.copy() for n, p in module.named_parameters()}
    return [out.numpy(), *[f.numpy() for f in finals], xm.grad, *[s.grad for s in states]], grads


@pytest.fixture
def assert_same_layer():
    """assert_same_layer(fused, composed, x, state, lengths, weights, tol): both layers give the
    same outputs, final states and gradients (inputs, states, every parameter) to tol."""

    def check(fused, composed, x, state, lengths, weights, tol):
        a, grads_a = _run(fused, x, state, lengths, weights)
        b, grads_b = _run(composed, x, state, lengths, weights)
        for k, (u, v) in enumerate(zip(a, b)):
            np.testing.assert_allclose(u, v, rtol=tol, atol=tol, err_msg=f"output {k}")
        assert grads_a.keys() == grads_b.keys()
        for name in grads_a:
            np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=tol, atol=tol,
                                       err_msg=name)

    return check


@pytest.fixture
def grad_norms_and_unroll():
    """grad_norms_and_unroll(m, x, w): the grad_norms sink of layer m's first layer for the loss
    sum(out * w) (float64, zero initial h and c), and the same norms, {"h": (T, B), "c": (T, B)},
    of the gradients reaching each step's states in a manual unroll of its cell."""

    def measure(m, x, w):
        sink = {}
        out, _ = m(mg.tensor(x), grad_norms=sink)
        (out * w).sum().backward()
        cell = m.cell("_l0")
        steps, batch, hidden = w.shape
        h, c = mg.zeros(batch, hidden, dtype=np.float64), mg.zeros(batch, hidden,
                                                                   dtype=np.float64)
        hs, cs, loss = [], [], 0.0
        for t in range(steps):
            h, c = cell(mg.tensor(x[t]), (h, c))
            h.retain_grad()
            c.retain_grad()
            hs.append(h)
            cs.append(c)
            loss = loss + (h * w[t]).sum()
        loss.backward()
        return sink["l0"], {name: np.stack([np.linalg.norm(s.grad, axis=1) for s in states])
                            for name, states in (("h", hs), ("c", cs))}

    return measure


@pytest.fixture
def two_processes(tmp_path):
    """two_processes(script, between=None): the JSON of the last line `script` prints, run in
    two fresh Python processes one after the other with one MINIGRAD_CACHE_DIR (tmp_path): the
    first finds it empty, the second finds what the first cached (after between())."""
    import json
    import os
    import subprocess
    import sys

    def run(script, between=None):
        """between(): called after the first process (to damage what it cached)."""
        env = dict(os.environ, MINIGRAD_CACHE_DIR=str(tmp_path), PYTHONPATH=os.getcwd())
        runs = []
        for n in range(2):
            if n == 1 and between is not None:
                between()
            done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                                  text=True, timeout=900)
            assert done.returncode == 0, done.stderr[-2000:]
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return runs

    return run
