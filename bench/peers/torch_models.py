"""PyTorch eager's side of the comparison: the recorded-op microbenchmark, the same composed
LSTM, and torch.nn.RNN/LSTM/GRU (oneDNN kernels on the CPU)."""

from __future__ import annotations

from . import (
    Prepared,
    Unavailable,
    case_arrays,
    checksums,
    mul_chain,
    recurrent_weights,
    sequence_input,
    tape_step,
    worker_threads,
)

STARTUP_SNIPPET = (
    "import torch; x = torch.ones((32, 128), requires_grad=True); (x * x).tanh().sum().backward()"
)


def load_torch():
    try:
        import torch
    except ImportError as e:
        raise Unavailable(f"torch not installed ({e})") from None
    torch.set_num_threads(worker_threads())
    return torch


def build(case: dict) -> Prepared:
    torch = load_torch()
    kind = case["kind"]
    if kind == "op":
        return _op_chain(torch, case)
    if kind == "composed_lstm":
        return _composed_lstm(torch, case)
    if kind == "train_step":
        return _train_step(torch, case)
    raise ValueError(f"torch_models.build: unknown case kind {kind!r}")


def _op_chain(torch, case: dict) -> Prepared:
    ops = mul_chain(case, lambda array: torch.from_numpy(array).requires_grad_(), torch.ones,
                    torch.no_grad)
    return Prepared(
        step=ops.forward_backward,
        variants={"forward": ops.forward, "forward_no_grad": ops.forward_no_grad},
        check=lambda: checksums(0.0, {"a": ops.a.grad.numpy(), "w": ops.w.grad.numpy()}),
    )


def composed_lstm_loss(torch, x, w_ih, w_hh, b_ih, b_hh):
    """Sum over t of h_t for an LSTM written from primitives (PyTorch gate order)."""
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    w_ih_t, w_hh_t = w_ih.t(), w_hh.t()
    h = torch.zeros((B, H))
    c = torch.zeros((B, H))
    hs = []
    for t in range(T):
        gates = x[t] @ w_ih_t + b_ih + h @ w_hh_t + b_hh
        i, f, g, o = torch.chunk(gates, 4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        hs.append(h)
    return torch.stack(hs).sum()


def _composed_lstm(torch, case: dict) -> Prepared:
    weights, x = case_arrays(case)
    params = [torch.from_numpy(w).requires_grad_() for w in weights]
    x = torch.from_numpy(x)
    step, last = tape_step(params, lambda: composed_lstm_loss(torch, x, *params))

    def check():
        return checksums(
            last["loss"].item(),
            {"weight_hh": params[1].grad.numpy(), "weight_ih": params[0].grad.numpy()},
        )

    return Prepared(step=step, check=check)


def _train_step(torch, case: dict) -> Prepared:
    """forward + backward of out.sum() through torch.nn.{RNN,LSTM,GRU}, x requiring a gradient."""
    model, I, H = case["model"], case["I"], case["H"]
    layer_class = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[model]
    layer = layer_class(I, H)
    layer.load_state_dict(
        {k: torch.from_numpy(v) for k, v in recurrent_weights(model, I, H).items()}
    )
    x = torch.from_numpy(sequence_input(case["T"], case["B"], I)).requires_grad_()
    last = {}

    def step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        out = layer(x)[0]
        loss = out.sum()
        loss.backward()
        last["loss"] = loss

    def check():
        return checksums(
            last["loss"].item(), {"weight_hh": layer.weight_hh_l0.grad.numpy(), "x": x.grad.numpy()}
        )

    return Prepared(step=step, check=check)
