"""clip_grad_norm_ then Adam's multi-tensor step over about 0.88 M float32 gradients (the
character model's shapes), as a compiled program runs them: the two calls (clip_scaled writes
scaled copies, Adam reads them) against the fold (optim.clipped_step: Adam scales as it reads).
Each process times one variant (a fresh gradient per step, as backward makes, in both):

    python -m bench.clip_adam_step two|folded

and prints its median wall and CPU milliseconds; alternate the two, each in its own process.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(mode: str) -> None:
    import minigrad as mg  # here, not at module level: asv imports every bench module light
    from minigrad import optim_kernels

    if mode not in ("two", "folded"):
        raise SystemExit(f"clip_adam_step: mode must be two or folded, got {mode!r}")
    r = np.random.default_rng(0)
    shapes = [(65, 64), (1024, 64), (1024, 256), (1024,), (1024,), (1024, 256), (1024, 256),
              (1024,), (1024,), (65, 256), (65,)]
    params = [mg.tensor(r.standard_normal(s).astype(np.float32), requires_grad=True)
              for s in shapes]
    opt = mg.optim.Adam(params, lr=1e-3)
    grads0 = [r.standard_normal(s).astype(np.float32) for s in shapes]

    def one():
        grads = tuple(g.copy() for g in grads0)  # a fresh gradient per step, as backward makes
        total = optim_kernels.grad_norm(grads)
        if mode == "two":
            for p, g in zip(params, optim_kernels.clip_scaled(grads, total, 1.0)):
                p.grad = g
            opt.step()
        else:
            for p, g in zip(params, grads):
                p.grad = g
            mg.optim.clipped_step(opt, total, 1.0, grads)

    for _ in range(20):
        one()
    ts, cs = [], []
    for _ in range(200):
        t, c = time.perf_counter(), time.process_time()
        one()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    print(f"{mode} median wall ms {1e3 * np.median(ts):.3f} cpu ms {1e3 * np.median(cs):.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "folded")
