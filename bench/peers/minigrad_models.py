"""minigrad's side of the comparison: the recorded-op microbenchmark, the LSTM composed from
public primitives, and the sequence layers of `lstm` (fused or composed)."""

from __future__ import annotations

import gc

import numpy as np

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

# The first op after a cold interpreter start: import, one recorded op chain, one backward.
STARTUP_SNIPPET = (
    "import numpy as np, minigrad as mg; "
    "x = mg.tensor(np.ones((32, 128), np.float32), requires_grad=True); "
    "(x * x).tanh().sum().backward()"
)


def pin_threads() -> None:
    """The fused recurrences run their own thread pool (not BLAS's): give it the worker's count."""
    import minigrad as mg

    if hasattr(mg, "set_num_threads"):
        mg.set_num_threads(worker_threads())
        return
    try:  # commits before mg.set_num_threads (asv measures old commits too)
        from minigrad.backends import cpu_recurrent
    except ImportError:
        return
    if hasattr(cpu_recurrent, "set_num_threads"):
        cpu_recurrent.set_num_threads(worker_threads())


def build(case: dict, impl: str = "fused") -> Prepared:
    pin_threads()
    kind = case["kind"]
    if kind == "op":
        return _op_chain(case)
    if kind == "composed_lstm":
        return _composed_lstm(case)
    if kind == "train_step":
        return _train_step(case, impl)
    raise ValueError(f"minigrad_models.build: unknown case kind {kind!r}")


def _op_chain(case: dict) -> Prepared:
    """`chain` recorded muls y = y * w on (shape) float32 tensors, forward and forward+backward."""
    import minigrad as mg

    ops = mul_chain(case, lambda array: mg.tensor(array, requires_grad=True),
                    lambda shape: np.ones(shape, np.float32), mg.no_grad)

    def numpy_ufunc():
        y = ops.a_np
        for _ in range(case["chain"]):
            y = np.multiply(y, ops.w_np)

    return Prepared(
        step=ops.forward_backward,
        variants={
            "forward": ops.forward,
            "forward_no_grad": ops.forward_no_grad,
            "numpy_ufunc": numpy_ufunc,
        },
        check=lambda: checksums(0.0, {"a": ops.a.grad, "w": ops.w.grad}),
        numpy_memory=True,
    )


def composed_lstm_loss(mg, x, w_ih, w_hh, b_ih, b_hh):
    """Sum over t of h_t for an LSTM written from public primitives (PyTorch gate order)."""
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    w_ih_t, w_hh_t = w_ih.T, w_hh.T
    h = mg.zeros((B, H))
    c = mg.zeros((B, H))
    hs = []
    for t in range(T):
        gates = x[t] @ w_ih_t + b_ih + h @ w_hh_t + b_hh
        i, f, g, o = gates.split(4, axis=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        hs.append(h)
    return mg.stack(hs).sum()


def _composed_lstm(case: dict) -> Prepared:
    import minigrad as mg

    weights, x = case_arrays(case)
    params = [mg.tensor(w, requires_grad=True) for w in weights]
    x = mg.tensor(x)
    step, last = tape_step(params, lambda: composed_lstm_loss(mg, x, *params))

    def step_without_gc():
        enabled = gc.isenabled()
        gc.disable()  # what Python's cyclic collector costs the tape (torch's lives in C++)
        try:
            step()
        finally:
            if enabled:
                gc.enable()

    def check():
        return checksums(
            last["loss"].item(), {"weight_hh": params[1].grad, "weight_ih": params[0].grad}
        )

    return Prepared(
        step=step, check=check, numpy_memory=True, variants={"gc disabled": step_without_gc}
    )


def _train_step(case: dict, impl: str) -> Prepared:
    """forward + backward of out.sum() through `lstm`'s layer, x requiring a gradient."""
    import minigrad as mg

    try:
        import lstm

        layer_class = {"lstm": lstm.LSTM, "gru": lstm.GRU, "rnn": lstm.RNN}[case["model"]]
    except (ImportError, AttributeError) as e:
        raise Unavailable(f"lstm layers not importable yet ({type(e).__name__}: {e})") from None
    model, I, H = case["model"], case["I"], case["H"]
    try:
        layer = layer_class(I, H, impl=impl)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise Unavailable(f"lstm.{layer_class.__name__}(impl={impl!r}): {e}") from None
    layer.load_state_dict(recurrent_weights(model, I, H))
    x = mg.tensor(sequence_input(case["T"], case["B"], I), requires_grad=True)
    weight_hh = dict(layer.named_parameters())["weight_hh_l0"]
    last = {}

    def step():
        layer.zero_grad()
        x.grad = None
        out = layer(x)[0]
        loss = out.sum()
        loss.backward()
        last["loss"] = loss

    def check():
        return checksums(last["loss"].item(), {"weight_hh": weight_hh.grad, "x": x.grad})

    return Prepared(step=step, check=check, numpy_memory=True)
