"""HIPS autograd's side of the comparison: the composed LSTM and the three recurrent models as
numpy loops with PyTorch's equations and gate order."""

from __future__ import annotations

from . import Prepared, Unavailable, array_lstm_loss, by_kind, case_arrays, checksums

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
    return by_kind(case, {"composed_lstm": _composed_lstm, "train_step": _train_step},
                   *load_autograd(), missing="autograd: no {kind!r} case (it records only "
                   "inside grad())")


def _sigmoid(anp, z):
    return 1 / (1 + anp.exp(-z))


def _composed_lstm(autograd, anp, case: dict) -> Prepared:
    weights, x = case_arrays(case)
    sigmoid = lambda z: _sigmoid(anp, z)  # noqa: E731
    value_and_grad = autograd.value_and_grad(lambda p: array_lstm_loss(anp, sigmoid, p, x))
    return _timed_value_and_grad(value_and_grad, tuple(weights), {"weight_hh": 1,
                                                                  "weight_ih": 0})


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
    weights, x = case_arrays(case, model)
    args = (*weights, x)
    value_and_grad = autograd.value_and_grad(lambda a: sequence_loss(anp, model, a[:4], a[4]))
    return _timed_value_and_grad(value_and_grad, args, {"weight_hh": 1, "x": 4})


def _timed_value_and_grad(value_and_grad, args, checked: dict[str, int]) -> Prepared:
    """A step of value_and_grad(args); its check the loss and the gradients of the arguments
    `checked` names ({name: position in args})."""
    last = {}

    def step():
        last["out"] = value_and_grad(args)

    def check():
        loss, grads = last["out"]
        return checksums(loss, {name: grads[i] for name, i in checked.items()})

    return Prepared(step=step, check=check, numpy_memory=True)
