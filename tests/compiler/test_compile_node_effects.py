"""A compiled function whose outputs keep a graph (it does not call backward() on them) runs its
traced forward twice on the first call (the trace, then the program whose buffers its node
keeps). Its effects must still happen once, as eager's: the random draws of dropout and an
optimizer step taken inside."""

from __future__ import annotations

import numpy as np

import minigrad as mg


def _dropout_outputs(compiled):
    rng = np.random.default_rng(0)
    w = mg.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    x = mg.tensor(np.random.default_rng(2).standard_normal((5, 3)))

    def forward(x):
        return mg.dropout(x @ w, 0.5, rng).tanh()

    run = mg.compile(forward) if compiled else forward
    outs, grads = [], []
    for _ in range(3):
        w.grad = None
        y = run(x)
        (y * y).sum().backward()
        outs.append(y.numpy())
        grads.append(w.grad.copy())
    return outs, grads, rng.random()


def test_dropout_in_a_function_with_live_outputs_draws_as_eager():
    eager, compiled = _dropout_outputs(False), _dropout_outputs(True)
    for a, b in zip(compiled[0] + compiled[1], eager[0] + eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert compiled[2] == eager[2]  # the generator ends where eager's does


def _step_then_live_output(compiled, optimizer):
    w = mg.tensor(np.random.default_rng(1).standard_normal((3, 2)), requires_grad=True)
    v = mg.tensor(np.random.default_rng(2).standard_normal((3, 2)), requires_grad=True)
    x = mg.tensor(np.random.default_rng(3).standard_normal((4, 3)))
    opt = optimizer([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        ((x @ w).tanh() ** 2).sum().backward()
        opt.step()
        return x @ (w * v)  # a live output, made from the updated weight

    run = mg.compile(step) if compiled else step
    outs = []
    for _ in range(3):
        v.grad = None
        out = run(x)
        out.sum().backward()
        outs.append((out.numpy(), v.grad.copy()))
    return w.numpy().copy(), opt.state_dict(), outs


def test_an_optimizer_step_in_a_function_with_live_outputs_is_taken_once():
    for optimizer in (mg.optim.SGD, mg.optim.Adam):
        (w_e, state_e, outs_e), (w_c, state_c, outs_c) = (
            _step_then_live_output(False, optimizer), _step_then_live_output(True, optimizer))
        np.testing.assert_allclose(w_c, w_e, rtol=1e-10, atol=1e-12)
        assert state_c.keys() == state_e.keys()
        for key, value in state_e.items():
            np.testing.assert_allclose(state_c[key], value, rtol=1e-10, atol=1e-12, err_msg=key)
        for (out_c, g_c), (out_e, g_e) in zip(outs_c, outs_e):
            np.testing.assert_allclose(out_c, out_e, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(g_c, g_e, rtol=1e-10, atol=1e-12)


def test_a_read_only_argument_array_is_left_alone():
    """A broadcast view (read-only) as the argument of a function with live outputs: the first
    call's rewind does not write into it."""
    x = mg.broadcast_to(mg.tensor(np.arange(3.0)), (2, 3))
    w = mg.tensor(np.ones(3), requires_grad=True)
    run = mg.compile(lambda x: x * w)
    for _ in range(2):
        w.grad = None
        run(x).sum().backward()
        np.testing.assert_array_equal(w.grad, [0.0, 2.0, 4.0])
