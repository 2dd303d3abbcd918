"""minigrad's side of the comparison: the recorded-op microbenchmark, the LSTM composed from
public primitives, and the sequence layers of `lstm` (fused or composed)."""

from __future__ import annotations

import gc

import numpy as np

from . import (
    PARAM_NAMES,
    Prepared,
    Unavailable,
    checksums,
    recurrent_weights,
    sequence_input,
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

    rng = np.random.default_rng(0)
    shape, chain = tuple(case["shape"]), case["chain"]
    a_np = rng.standard_normal(shape).astype(np.float32)
    w_np = (1 + 1e-3 * rng.standard_normal(shape)).astype(np.float32)
    a = mg.tensor(a_np, requires_grad=True)
    w = mg.tensor(w_np, requires_grad=True)
    seed_grad = np.ones(shape, np.float32)

    def forward():
        y = a
        for _ in range(chain):
            y = y * w
        return y

    def forward_backward():
        a.grad = w.grad = None
        forward().backward(seed_grad)

    def forward_no_grad():
        with mg.no_grad():
            forward()

    def numpy_ufunc():
        y = a_np
        for _ in range(chain):
            y = np.multiply(y, w_np)

    return Prepared(
        step=forward_backward,
        variants={
            "forward": forward,
            "forward_no_grad": forward_no_grad,
            "numpy_ufunc": numpy_ufunc,
        },
        check=lambda: checksums(0.0, {"a": a.grad, "w": w.grad}),
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

    w = recurrent_weights("lstm", case["I"], case["H"])
    params = [
        mg.tensor(w[k], requires_grad=True)
        for k in PARAM_NAMES
    ]
    x = mg.tensor(sequence_input(case["T"], case["B"], case["I"]))
    last = {}

    def step():
        for p in params:
            p.grad = None
        loss = composed_lstm_loss(mg, x, *params)
        loss.backward()
        last["loss"] = loss

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
