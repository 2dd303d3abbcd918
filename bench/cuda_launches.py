"""Kernel launches per CUDA training step, eager and under ``mg.compile``, and how many of them are
clipping and the optimizer (a count, not a time: it is the same on a GPU and under the simulator).

    NUMBA_ENABLE_CUDASIM=1 python -m bench.cuda_launches      # without a GPU
    python -m bench.cuda_launches                             # on a GPU

Steps (float64, small shapes so the simulator is quick): ``linear`` (two Linear layers, tanh,
MSE), ``plain_lstm`` (a user's LSTM as a Python loop over 3 steps, a readout), ``fused_lstm``
(lstm's two-layer LSTM on the cell compiler's fused path, a readout), each with
``clip_grad_norm_`` and Adam. Prints one row per step: the launches of an eager step, of a
compiled step, of clip_grad_norm_ + Adam alone (eager), and the parameter count.
"""

from __future__ import annotations

import contextlib

import numpy as np


@contextlib.contextmanager
def counting():
    """Yields a one-item list counting the kernel launches made inside the block (a simulated
    kernel's launch, or a real launch configuration's call); device functions are not counted."""
    import numba  # here, not at module level: asv imports every bench module light

    box = [0]
    if numba.config.ENABLE_CUDASIM:
        from numba.cuda.simulator import kernel as owner

        cls, original = owner.FakeCUDAKernel, owner.FakeCUDAKernel.__call__

        def call(self, *args):
            if not self._device and owner._kernel_context is None:
                box[0] += 1
            return original(self, *args)
    else:
        from numba.cuda import dispatcher as owner

        cls, original = owner._LaunchConfiguration, owner._LaunchConfiguration.__call__

        def call(self, *args):
            box[0] += 1
            return original(self, *args)

    cls.__call__ = call
    try:
        yield box
    finally:
        cls.__call__ = original


def build(name: str, clip: bool = True, **adam):
    """(step, params, data) of one of the steps above, on CUDA arrays; step(x, y) -> loss."""
    import minigrad as mg
    from minigrad import nn, optim

    rng = np.random.default_rng(0)
    if name == "linear":
        hidden = nn.Linear(3, 5, rng=rng, dtype=np.float64).to("cuda")
        out = nn.Linear(5, 2, rng=rng, dtype=np.float64).to("cuda")
        params = hidden.parameters() + out.parameters()

        def forward(x):
            return out(hidden(x).tanh())

        data = [(rng.standard_normal((4, 3)), rng.standard_normal((4, 2))) for _ in range(3)]
    elif name == "plain_lstm":
        T, B, I, H = 3, 2, 2, 3
        params = [mg.tensor(rng.standard_normal(s) * 0.5, requires_grad=True, device="cuda")
                  for s in ((I, 4 * H), (H, 4 * H), (4 * H,), (H, 1))]
        w_ih, w_hh, b, w_out = params
        h0 = mg.tensor(np.zeros((B, H)), device="cuda")

        def forward(x):
            h = c = h0
            for x_t in x:
                i, f, g, o = (x_t @ w_ih + h @ w_hh + b).split(4, axis=-1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
            return h @ w_out

        data = [(rng.standard_normal((T, B, I)), rng.standard_normal((B, 1))) for _ in range(3)]
    elif name == "fused_lstm":
        from lstm import LSTM

        model = LSTM(2, 3, num_layers=2, forget_bias=1.0, rng=0, dtype=np.float64).to("cuda")
        readout = nn.Linear(3, 1, rng=1, dtype=np.float64).to("cuda")
        params = model.parameters() + readout.parameters()

        def forward(x):
            return readout(model(x)[0][-1])

        data = [(rng.standard_normal((4, 2, 2)), rng.standard_normal((2, 1))) for _ in range(3)]
    else:
        raise ValueError(f"bench.cuda_launches: step must be linear, plain_lstm or fused_lstm, "
                         f"got {name!r}")
    opt = optim.Adam(params, lr=0.05, **adam)

    def step(x, y):
        loss = mg.mse_loss(forward(x), y)
        opt.zero_grad()
        loss.backward()
        if clip:
            optim.clip_grad_norm_(params, 0.5)
        opt.step()
        return loss

    return step, params, opt, data


def measure(name: str) -> dict:
    """Launches of one eager step, one compiled step (after its trace) and of clipping + Adam."""
    import minigrad as mg
    from minigrad import optim

    step, params, opt, data = build(name)
    x, y = (mg.tensor(a, device="cuda") for a in data[0])
    step(x, y)
    with counting() as eager:
        step(x, y)
    with counting() as tail:
        optim.clip_grad_norm_(params, 0.5)
        opt.step()
    compiled = mg.compile(build(name)[0])
    compiled(x, y)
    with counting() as program:
        compiled(x, y)
    return {"step": name, "eager": eager[0], "compiled": program[0], "clip_adam": tail[0],
            "params": len(params)}


def main():
    print(f"{'step':<12}{'eager':>8}{'compiled':>10}{'clip+Adam':>11}{'params':>8}")
    for name in ("linear", "plain_lstm", "fused_lstm"):
        row = measure(name)
        print(f"{row['step']:<12}{row['eager']:>8}{row['compiled']:>10}{row['clip_adam']:>11}"
              f"{row['params']:>8}")


if __name__ == "__main__":
    main()
