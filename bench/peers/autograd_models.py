"""HIPS autograd's side of the comparison: the composed LSTM and the three recurrent models as
numpy loops with PyTorch's equations and gate order."""

from __future__ import annotations

from . import PARAM_NAMES, Prepared, Unavailable, checksums, recurrent_weights, sequence_input

STARTUP_SNIPPET = (
    "import numpy as np, autograd, autograd.numpy as anp; "
    "autograd.grad(lambda x: anp.tanh(x * x).sum())(np.ones((32, 128), np.float32))"
)

def load_autograd():
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError as e:
        raise Unavailable(f"autograd not installed ({e})") from None
    return autograd, anp


def build(case: dict) -> Prepared:
    autograd, anp = load_autograd()
    kind = case["kind"]
    if kind == "composed_lstm":
        return _composed_lstm(autograd, anp, case)
    if kind == "train_step":
        return _train_step(autograd, anp, case)
    raise Unavailable(f"autograd: no {kind!r} case (it records only inside grad())")


def _sigmoid(anp, z):
    return 1 / (1 + anp.exp(-z))


def _composed_loss(anp, params, x):
    """Sum over t of h_t for an LSTM written from primitives (PyTorch gate order)."""
    w_ih, w_hh, b_ih, b_hh = params
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    w_ih_t, w_hh_t = w_ih.T, w_hh.T
    h = anp.zeros((B, H), anp.float32)
    c = anp.zeros((B, H), anp.float32)
    hs = []
    for t in range(T):
        gates = x[t] @ w_ih_t + b_ih + h @ w_hh_t + b_hh
        i, f, g, o = anp.split(gates, 4, axis=1)
        c = _sigmoid(anp, f) * c + _sigmoid(anp, i) * anp.tanh(g)
        h = _sigmoid(anp, o) * anp.tanh(c)
        hs.append(h)
    return anp.stack(hs).sum()


def _composed_lstm(autograd, anp, case: dict) -> Prepared:
    w = recurrent_weights("lstm", case["I"], case["H"])
    params = tuple(w[k] for k in PARAM_NAMES)
    x = sequence_input(case["T"], case["B"], case["I"])
    value_and_grad = autograd.value_and_grad(lambda p: _composed_loss(anp, p, x))
    last = {}

    def step():
        last["out"] = value_and_grad(params)

    def check():
        loss, grads = last["out"]
        return checksums(loss, {"weight_hh": grads[1], "weight_ih": grads[0]})

    return Prepared(step=step, check=check, numpy_memory=True)


def sequence_loss(anp, model: str, params, x):
    """out.sum() of one layer over x (T,B,I), the input projection of all steps in one GEMM."""
    w_ih, w_hh, b_ih, b_hh = params
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    xp = x @ w_ih.T + b_ih
    h = anp.zeros((B, H), anp.float32)
    c = h
    hs = []
    for t in range(T):
        hp = h @ w_hh.T + b_hh
        if model == "rnn":
            h = anp.tanh(xp[t] + hp)
        elif model == "lstm":
            i, f, g, o = anp.split(xp[t] + hp, 4, axis=1)
            c = _sigmoid(anp, f) * c + _sigmoid(anp, i) * anp.tanh(g)
            h = _sigmoid(anp, o) * anp.tanh(c)
        else:
            x_r, x_z, x_n = anp.split(xp[t], 3, axis=1)
            h_r, h_z, h_n = anp.split(hp, 3, axis=1)
            r = _sigmoid(anp, x_r + h_r)
            z = _sigmoid(anp, x_z + h_z)
            n = anp.tanh(x_n + r * h_n)
            h = (1 - z) * n + z * h
        hs.append(h)
    return anp.stack(hs).sum()


def _train_step(autograd, anp, case: dict) -> Prepared:
    """value_and_grad of out.sum() for the weights and x."""
    model = case["model"]
    w = recurrent_weights(model, case["I"], case["H"])
    args = tuple(w[k] for k in PARAM_NAMES) + (sequence_input(case["T"], case["B"], case["I"]),)
    value_and_grad = autograd.value_and_grad(lambda a: sequence_loss(anp, model, a[:4], a[4]))
    last = {}

    def step():
        last["out"] = value_and_grad(args)

    def check():
        loss, grads = last["out"]
        return checksums(loss, {"weight_hh": grads[1], "x": grads[4]})

    return Prepared(step=step, check=check, numpy_memory=True)
