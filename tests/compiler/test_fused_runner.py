"""The CPU runner's two layouts of the forward input projection, and the backward lane loop's
bias-gradient sums (docs/fused_kernels.md): both equal the composed step."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.compiler import compile_step
from minigrad.compiler.cpu_runtime import FUSED_PROJECTION_MAX_INPUT
from minigrad.ops.recurrent import _step, lstm_sequence, rnn_sequence


def _composed(model, x, states, params):
    step, outs = _step(model), []
    for t in range(x.shape[0]):
        states = step(x[t], states, params)
        outs.append(states[0])
    return mg.stack(outs), states


@pytest.mark.parametrize("model", ["lstm", "rnn_tanh"])
@pytest.mark.parametrize("input_size", [2, FUSED_PROJECTION_MAX_INPUT,
                                        FUSED_PROJECTION_MAX_INPUT + 1])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_equals_composed_on_both_sides_of_the_projection_cut(model, input_size, reverse):
    """Up to FUSED_PROJECTION_MAX_INPUT the projection is inside the per-step GEMM, above it one
    GEMM over all steps; float64, a random upstream gradient, outputs and every gradient."""
    rng = np.random.default_rng(input_size)
    T, B, H = 5, 3, 6
    G = 4 * H if model == "lstm" else H
    shapes = {"weight_ih": (G, input_size), "weight_hh": (G, H), "bias_ih": (G,),
              "bias_hh": (G,)}

    def leaves():
        params = {k: mg.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)
                  for k, s in shapes.items()}
        x = mg.tensor(rng.standard_normal((T, B, input_size)), requires_grad=True)
        n_states = 2 if model == "lstm" else 1
        states = tuple(mg.tensor(rng.standard_normal((B, H)), requires_grad=True)
                       for _ in range(n_states))
        return x, states, params

    x, states, params = leaves()
    upstream = rng.standard_normal((T, B, H))
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    if model == "lstm":
        out, *finals = lstm_sequence(x, *states, *[params[n] for n in names], reverse=reverse)
    else:
        out, *finals = rnn_sequence(x, *states, *[params[n] for n in names], reverse=reverse)
    (out * mg.tensor(upstream)).sum().backward()
    fused = [out.data, *[f.data for f in finals], x.grad, *[s.grad for s in states],
             *[params[n].grad for n in names]]

    xs = x.data[::-1].copy() if reverse else x.data
    x2 = mg.tensor(xs, requires_grad=True)
    states2 = tuple(mg.tensor(s.data, requires_grad=True) for s in states)
    params2 = {k: mg.tensor(v.data, requires_grad=True) for k, v in params.items()}
    out2, finals2 = _composed(model, x2, states2, params2)
    up2 = upstream[::-1].copy() if reverse else upstream
    (out2 * mg.tensor(up2)).sum().backward()
    composed = [out2.data[::-1] if reverse else out2.data, *[f.data for f in finals2],
                x2.grad[::-1] if reverse else x2.grad, *[s.grad for s in states2],
                *[params2[n].grad for n in names]]
    for got, want in zip(fused, composed):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_the_backward_lane_loop_holds_no_float64_sums():
    """The bias gradients of an LSTM are its gate slots' gradients: the generated backward adds
    the stored slots into the float64 columns in a loop of its own, so the lane loop (the one
    with the rules) has no accumulator line and vectorises at the float32 width."""
    shapes = {"weight_ih": (32, 3), "weight_hh": (32, 8), "bias_ih": (32,), "bias_hh": (32,)}
    source = compile_step(_step("lstm"), 3, (8, 8), shapes, np.float32).source
    backward = source[source.index("def backward("):]
    loops = backward.split("for j in range(L):")[1:]
    rule_loops = [loop for loop in loops if "R_" in loop]
    sum_loops = [loop for loop in loops if "acc" in loop and "R_" not in loop]
    assert len(rule_loops) == 1 and "acc" not in rule_loops[0]
    assert len(sum_loops) == 1
    assert sorted(line.strip() for line in sum_loops[0].strip().splitlines()
                  if "+=" in line) == [f"acc{a}[j] += sl{a}[j]" for a in range(4)]
