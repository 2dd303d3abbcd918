"""The `compile` suite (issue 18): whole steps under mg.compile against eager minigrad, torch
eager and torch.compile, each library (and mode) in its own worker process.

Cases: ``compile_lstm``, the LSTM written from public primitives as a plain Python loop (the
engine suite's composed LSTM), forward + backward; ``adding_step``, an `lstm train`-like adding
step (LSTM with forget-gate bias 1, readout, MSE, backward, norm clipping, Adam);
``ln_adding_step``, the same step of lstm-ln's cell (three layer norms per step) run composed, a
plain loop of ops (minigrad only: its row reductions are what mg.compile fuses). The first call
(for a compiled step: the trace or torch.compile's compilation) is timed on its own and reported
as ``info.first_call_s``; then the steps are timed as every other case.
"""

from __future__ import annotations

import time

import numpy as np

from . import (
    PARAM_NAMES,
    Prepared,
    Unavailable,
    checksums,
    minigrad_models,
    recurrent_weights,
    sequence_input,
    torch_models,
    worker_threads,
)


def build(case: dict, library: str, compiled: bool) -> Prepared:
    kind = case["kind"]
    if kind not in ("compile_lstm", "adding_step", "ln_adding_step", "charlm_step", "adam_step"):
        raise ValueError(f"compiled_models.build: unknown case kind {kind!r}")
    if kind in ("charlm_step", "adam_step"):
        return _charlm(case, library, compiled)
    if library == "minigrad":
        minigrad_models.pin_threads()
        return (_mg_lstm if kind == "compile_lstm" else _mg_adding)(case, compiled)
    if kind == "ln_adding_step":
        raise Unavailable("not measured: torch has no layer-norm LSTM of lstm-ln's form")
    torch = torch_models.load_torch()
    if compiled and not hasattr(torch, "compile"):
        raise Unavailable("torch.compile is not in this torch")
    return (_torch_lstm if kind == "compile_lstm" else _torch_adding)(torch, case, compiled)


def _first_call(step, info):
    started = time.perf_counter()
    step()
    info["first_call_s"] = time.perf_counter() - started


def _adding_prepared(fn, batch, numpy_memory=False) -> Prepared:
    """The adding step fn(x, y) on `batch`: its first call timed into info, its check that
    call's loss (later losses depend on how many steps ran)."""
    last, info = {}, {}
    _first_call(lambda: last.update(loss=fn(*batch)), info)
    first = {"loss": float(last["loss"].item())}
    return Prepared(step=lambda: last.update(loss=fn(*batch)), check=lambda: first,
                    numpy_memory=numpy_memory, info=info)


def _adding_weights(case):
    """The LSTM's weights (forget-gate biases 1) and the readout's, the same for every library."""
    H = case["H"]
    w = recurrent_weights("lstm", 2, H)
    w["bias_ih_l0"][H:2 * H] = 1.0
    w["bias_hh_l0"][H:2 * H] = 0.0
    rng = np.random.default_rng(2)
    bound = 1 / np.sqrt(H)
    readout = {"weight": rng.uniform(-bound, bound, (1, H)).astype(np.float32),
               "bias": rng.uniform(-bound, bound, (1,)).astype(np.float32)}
    return w, readout


def _adding_batch(case, seed=0):
    from lstm import tasks

    x, y = tasks.adding(case["B"], case["T"], np.random.default_rng(seed))
    return x.astype(np.float32), y.astype(np.float32)


# ---- minigrad --------------------------------------------------------------------------------
def mg_lstm_step(params):
    """The plain-loop LSTM's step (minigrad_models.composed_lstm_loss of x, then backward), the
    gradients of `params` (w_ih, w_hh, b_ih, b_hh) cleared first; returns the loss."""
    import minigrad as mg

    def step(x):
        for p in params:
            p.grad = None
        loss = minigrad_models.composed_lstm_loss(mg, x, *params)
        loss.backward()
        return loss

    return step


def mg_adding_step(model, readout):
    """An `lstm train`-like adding step of `model` (an lstm layer) and `readout` (a Linear on its
    last output): MSE, backward, norm clipping at 1, Adam 1e-3; returns the loss."""
    import minigrad as mg

    params = model.parameters() + readout.parameters()
    opt = mg.optim.Adam(params, lr=1e-3)

    def step(x, y):
        out, _ = model(x)
        loss = mg.mse_loss(readout(out[-1]), y)
        opt.zero_grad()
        loss.backward()
        mg.optim.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    return step


def _mg_lstm(case, compiled):
    import minigrad as mg

    w = recurrent_weights("lstm", case["I"], case["H"])
    params = [mg.tensor(w[k], requires_grad=True) for k in PARAM_NAMES]
    x = mg.tensor(sequence_input(case["T"], case["B"], case["I"]))

    step = mg_lstm_step(params)
    fn = mg.compile(step) if compiled else step
    last, info = {}, {}
    _first_call(lambda: last.update(loss=fn(x)), info)

    def check():
        return checksums(last["loss"].item(), {"weight_hh": params[1].grad,
                                               "weight_ih": params[0].grad})

    return Prepared(step=lambda: last.update(loss=fn(x)), check=check, numpy_memory=True,
                    info=info)


def _mg_adding(case, compiled):
    import minigrad as mg
    from lstm import LSTM

    readout = mg.nn.Linear(case["H"], 1, rng=1)
    w, r = _adding_weights(case)
    readout.load_state_dict(r)
    if case["kind"] == "ln_adding_step":
        from lstm import LayerNormLSTMCell, Recurrent

        model = Recurrent(LayerNormLSTMCell, 2, case["H"], impl="composed", rng=0)
    else:
        model = LSTM(2, case["H"], rng=0)
        model.load_state_dict(w)
    step = mg_adding_step(model, readout)
    fn = mg.compile(step) if compiled else step
    return _adding_prepared(fn, [mg.tensor(a) for a in _adding_batch(case)], numpy_memory=True)


# ---- torch -----------------------------------------------------------------------------------
def _torch_lstm(torch, case, compiled):
    w = recurrent_weights("lstm", case["I"], case["H"])
    params = [torch.from_numpy(w[k]).requires_grad_() for k in PARAM_NAMES]
    x = torch.from_numpy(sequence_input(case["T"], case["B"], case["I"]))

    def loss_of(x, *params):
        return torch_models.composed_lstm_loss(torch, x, *params)

    forward = torch.compile(loss_of) if compiled else loss_of
    last, info = {}, {}

    def step():
        for p in params:
            p.grad = None
        loss = forward(x, *params)
        loss.backward()
        last["loss"] = loss

    _first_call(step, info)

    def check():
        return checksums(last["loss"].item(), {"weight_hh": params[1].grad.numpy(),
                                               "weight_ih": params[0].grad.numpy()})

    return Prepared(step=step, check=check, info=info)


def _torch_adding(torch, case, compiled):
    lstm = torch.nn.LSTM(2, case["H"])
    readout = torch.nn.Linear(case["H"], 1)
    w, r = _adding_weights(case)
    lstm.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    readout.load_state_dict({k: torch.from_numpy(v) for k, v in r.items()})
    params = list(lstm.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)

    def step(x, y):
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(readout(out[-1]), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    fn = torch.compile(step) if compiled else step
    return _adding_prepared(fn, [torch.from_numpy(a) for a in _adding_batch(case)])


# ---- the character model (bench.charlm_speed's steps) and its Adam step (bench.optim_step) ----
def _charlm(case, library, compiled):
    """charlm_step: one `lstm charlm` training step at the preset (the step's chars/s is
    B * T / its time); adam_step: one Adam step over the model's parameters (minigrad's default
    multi-tensor step against torch.optim.Adam(foreach=True); nothing to compile)."""
    if library == "minigrad":
        minigrad_models.pin_threads()
    else:
        torch_models.load_torch()  # its thread count
    if compiled and (case["kind"] == "adam_step" or library == "torch"):
        raise Unavailable("not measured: " + ("an optimizer step alone" if case["kind"] ==
                                              "adam_step" else "torch.compile of nn.LSTM "
                                              "training with the optimizer"))
    if case["kind"] == "adam_step":
        from bench import optim_step

        mode = "minigrad-foreach" if library == "minigrad" else "torch-foreach"
        opt, _, _ = optim_step.optimizer(mode, case["preset"], worker_threads())
        info = {}
        _first_call(opt.step, info)
        return Prepared(step=opt.step, check=lambda: {}, info=info)
    from bench import charlm_speed
    from lstm.apps.charlm.cli import PRESETS

    config = {k: v for k, v in PRESETS[case["preset"]].items() if k != "ngram_max_order"}
    vocab, inputs, targets = charlm_speed.training_batches(config)
    builder = {"minigrad": charlm_speed.minigrad_compiled_steps if compiled
               else charlm_speed.minigrad_steps, "torch": charlm_speed.torch_steps}[library]
    step, _ = builder(config, vocab, inputs, targets)
    chunks = inputs.shape[0] // config["bptt"]
    count, last, info = [0], {}, {}

    def one():
        last["loss"] = step(count[0] % chunks)
        count[0] += 1

    _first_call(one, info)
    first = {"loss": last["loss"]} if library == "minigrad" else {}  # torch: its own init
    return Prepared(step=one, check=lambda: first, info=info)
