"""New ops against the same numpy expression on (256, 256) float32, forward and forward+backward.

    PYTHONPATH=. python -m bench.engine_ops_speed

Prints, per op, minigrad's time and numpy's (the forward, and the forward plus the hand-written
numpy gradient expression), median of interleaved repeats in one process, and the ratio. The
issue's bar: no new op more than 2x slower than numpy.
"""

from __future__ import annotations

import time

import numpy as np

import minigrad as mg

X = np.random.default_rng(0).uniform(0.1, 0.9, (256, 256)).astype(np.float32)
G = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)

# name -> (minigrad op, numpy forward, numpy forward + gradient)
CASES = {
    "sqrt": (mg.sqrt, np.sqrt, lambda x, g: (np.sqrt(x), g * 0.5 / np.sqrt(x))),
    "sin": (mg.sin, np.sin, lambda x, g: (np.sin(x), g * np.cos(x))),
    "log1p": (mg.log1p, np.log1p, lambda x, g: (np.log1p(x), g / (1 + x))),
    "erf": (mg.erf, None, None),
    "gelu": (mg.gelu, None, None),
    "silu": (mg.silu, lambda x: x / (1 + np.exp(-x)),
             lambda x, g: (x / (1 + np.exp(-x)), g * (lambda s: s * (1 + x * (1 - s)))(
                 1 / (1 + np.exp(-x))))),
    "softplus": (mg.softplus, lambda x: np.logaddexp(0, x),
                 lambda x, g: (np.logaddexp(0, x), g / (1 + np.exp(-x)))),
    "leaky_relu": (mg.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
                   lambda x, g: (np.where(x > 0, x, 0.01 * x), np.where(x > 0, g, 0.01 * g))),
    "maximum": (lambda t: mg.maximum(t, 0.5), lambda x: np.maximum(x, 0.5),
                lambda x, g: (np.maximum(x, 0.5), np.where(x > 0.5, g, 0))),
    "cumsum": (lambda t: t.cumsum(axis=1), lambda x: np.cumsum(x, 1),
               lambda x, g: (np.cumsum(x, 1), np.cumsum(g[:, ::-1], 1)[:, ::-1])),
    "logsumexp": (lambda t: t.logsumexp(axis=1), None, None),
    "var": (lambda t: t.var(axis=1), lambda x: x.var(1), None),
}


def _median(fn, repeats=30):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    t = mg.tensor(X, requires_grad=True)
    print(f"{'op':12s} {'fwd us':>8s} {'numpy':>8s} {'ratio':>6s}   {'f+b us':>8s} {'numpy':>8s} "
          f"{'ratio':>6s}")
    for name, (op, np_fwd, np_both) in CASES.items():
        out = op(t)
        upstream = np.ones(out.shape, np.float32)

        def forward():
            op(t)

        def both():
            op(t).backward(upstream)

        forward(), both()  # compile
        ours_f, ours_b = _median(forward), _median(both)
        ref_f = _median(lambda: np_fwd(X)) if np_fwd else float("nan")
        ref_b = _median(lambda: np_both(X, G)) if np_both else float("nan")
        print(f"{name:12s} {ours_f * 1e6:8.0f} {ref_f * 1e6:8.0f} {ours_f / ref_f:6.2f}   "
              f"{ours_b * 1e6:8.0f} {ref_b * 1e6:8.0f} {ours_b / ref_b:6.2f}")


if __name__ == "__main__":
    main()
