"""The ops added for issue 11 against the same numpy expression on (256, 256) float32.

    PYTHONPATH=. python -m bench.engine_ops_speed [--repeats 30] [--only name,name]

Per op: minigrad's forward, and forward + backward (a recorded op, then backward with a given
upstream), against numpy's forward and numpy's forward plus the hand-written gradient expression.
Medians of interleaved repeats in one process (the machine is shared: read the ratios, not the
times). The issue's bar: no new op more than 2x slower than numpy. (minigrad is imported inside the
functions: asv imports every module of bench/ and nothing heavy may load then.)
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from bench.peers import median_seconds

SHAPE = (256, 256)
X = np.random.default_rng(0).uniform(-3, 3, SHAPE).astype(np.float32)
POS = np.abs(X) + np.float32(0.1)
UNIT = np.clip(X / 3, -0.95, 0.95).astype(np.float32)
G = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
ERF = np.vectorize(math.erf, otypes=[np.float32])


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _sort_with_indices(x):
    order = np.argsort(x, 1)
    return np.take_along_axis(x, order, 1), order


def _logsumexp(x):
    m = x.max(1, keepdims=True)
    return m[:, 0] + np.log(np.exp(x - m).sum(1))


def cases() -> dict:
    """name -> (input, minigrad op, numpy forward, numpy forward + gradient given upstream g)."""
    import minigrad as mg

    return _cases(mg)


def _cases(mg):
    return {
        "sqrt": (POS, mg.sqrt, np.sqrt, lambda x, g: (np.sqrt(x), g * 0.5 / np.sqrt(x))),
        "rsqrt": (POS, mg.rsqrt, lambda x: 1 / np.sqrt(x),
                  lambda x, g: (lambda y: (y, g * -0.5 * y * y * y))(1 / np.sqrt(x))),
        "square": (X, mg.square, np.square, lambda x, g: (np.square(x), g * 2 * x)),
        "sin": (X, mg.sin, np.sin, lambda x, g: (np.sin(x), g * np.cos(x))),
        "cos": (X, mg.cos, np.cos, lambda x, g: (np.cos(x), -g * np.sin(x))),
        "tan": (UNIT, mg.tan, np.tan, lambda x, g: (lambda y: (y, g * (1 + y * y)))(np.tan(x))),
        "asin": (UNIT, mg.asin, np.arcsin, lambda x, g: (np.arcsin(x), g / np.sqrt(1 - x * x))),
        "atan": (X, mg.atan, np.arctan, lambda x, g: (np.arctan(x), g / (1 + x * x))),
        "sinh": (X, mg.sinh, np.sinh, lambda x, g: (np.sinh(x), g * np.cosh(x))),
        "atanh": (UNIT, mg.atanh, np.arctanh, lambda x, g: (np.arctanh(x), g / (1 - x * x))),
        "log1p": (POS, mg.log1p, np.log1p, lambda x, g: (np.log1p(x), g / (1 + x))),
        "expm1": (X, mg.expm1, np.expm1, lambda x, g: (lambda y: (y, g * (y + 1)))(np.expm1(x))),
        "log2": (POS, mg.log2, np.log2, lambda x, g: (np.log2(x), g / (x * np.log(2)))),
        "exp2": (X, mg.exp2, np.exp2, lambda x, g: (lambda y: (y, g * y * np.log(2)))(np.exp2(x))),
        "erf": (X, mg.erf, ERF, lambda x, g: (ERF(x), g * 2 / np.sqrt(np.pi) * np.exp(-x * x))),
        "floor": (X, mg.floor, np.floor, lambda x, g: (np.floor(x), np.zeros_like(g))),
        "round": (X, mg.round, np.rint, lambda x, g: (np.rint(x), np.zeros_like(g))),
        "sign": (X, mg.sign, np.sign, lambda x, g: (np.sign(x), np.zeros_like(g))),
        "gelu": (X, mg.gelu, lambda x: 0.5 * x * (1 + ERF(x / np.sqrt(2))),
                 lambda x, g: (0.5 * x * (1 + ERF(x / np.sqrt(2))),
                               g * (0.5 * (1 + ERF(x / np.sqrt(2)))
                                    + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)))),
        "gelu_tanh": (X, lambda t: mg.gelu(t, "tanh"),
                      lambda x: 0.5 * x * (1 + np.tanh(0.7978846 * (x + 0.044715 * x ** 3))), None),
        "silu": (X, mg.silu, lambda x: x * _sig(x),
                 lambda x, g: (lambda s: (x * s, g * s * (1 + x * (1 - s))))(_sig(x))),
        "mish": (X, mg.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), None),
        "leaky_relu": (X, mg.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
                       lambda x, g: (np.where(x > 0, x, 0.01 * x), np.where(x > 0, g, 0.01 * g))),
        "elu": (X, mg.elu, lambda x: np.where(x > 0, x, np.expm1(x)),
                lambda x, g: (lambda y: (y, np.where(x > 0, g, g * (y + 1))))(
                    np.where(x > 0, x, np.expm1(x)))),
        "softplus": (X, mg.softplus, lambda x: np.logaddexp(0, x),
                     lambda x, g: (np.logaddexp(0, x), g * _sig(x))),
        "logsigmoid": (X, mg.logsigmoid, lambda x: -np.logaddexp(0, -x),
                       lambda x, g: (-np.logaddexp(0, -x), g * _sig(-x))),
        "softsign": (X, mg.softsign, lambda x: x / (1 + np.abs(x)),
                     lambda x, g: (x / (1 + np.abs(x)), g / (1 + np.abs(x)) ** 2)),
        "hardtanh": (X, mg.hardtanh, lambda x: np.clip(x, -1, 1),
                     lambda x, g: (np.clip(x, -1, 1), np.where((x > -1) & (x < 1), g, 0))),
        "relu6": (X, mg.relu6, lambda x: np.clip(x, 0, 6),
                  lambda x, g: (np.clip(x, 0, 6), np.where((x > 0) & (x < 6), g, 0))),
        "maximum": (X, lambda t: mg.maximum(t, 0.5), lambda x: np.maximum(x, 0.5),
                    lambda x, g: (np.maximum(x, 0.5), np.where(x > 0.5, g, 0))),
        "logaddexp": (X, lambda t: mg.logaddexp(t, t * 0.5), lambda x: np.logaddexp(x, x * 0.5),
                      None),
        "remainder": (X, lambda t: t % 0.7, lambda x: np.remainder(x, 0.7), None),
        "cumsum": (X, lambda t: t.cumsum(axis=1), lambda x: np.cumsum(x, 1),
                   lambda x, g: (np.cumsum(x, 1), np.cumsum(g[:, ::-1], 1)[:, ::-1])),
        "cumprod": (X, lambda t: t.cumprod(axis=1), lambda x: np.cumprod(x, 1), None),
        "logsumexp": (X, lambda t: t.logsumexp(axis=1), lambda x: _logsumexp(x), None),
        "var": (X, lambda t: t.var(axis=1), lambda x: x.var(1), None),
        "norm": (X, lambda t: t.norm(axis=1), lambda x: np.sqrt((x * x).sum(1)), None),
        "sort": (X, lambda t: t.sort(axis=1)[0], lambda x: _sort_with_indices(x), None),
        "flip": (X, lambda t: t.flip(1), lambda x: np.ascontiguousarray(x[:, ::-1]), None),
        "pad": (X, lambda t: mg.pad(t, 1), lambda x: np.pad(x, 1), None),
        "gather": (X, lambda t: t.gather(1, IDX), lambda x: np.take_along_axis(x, IDX, 1), None),
        "einsum_ij_jk": (X, lambda t: mg.einsum("ij,jk->ik", t, t), lambda x: x @ x, None),
        "layer_norm": (X, lambda t: mg.functional.layer_norm(t, 256),
                       lambda x: (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True)
                                                                         + 1e-5), None),
    }
IDX = np.random.default_rng(2).integers(0, 256, SHAPE)


def measure(name, repeats=30, table=None):
    """(ours forward, numpy forward, ours forward+backward, numpy forward+backward) in seconds."""
    import minigrad as mg

    x, op, np_forward, np_both = (table or cases())[name]
    t = mg.tensor(x, requires_grad=True)
    upstream = np.ones(op(t).shape, np.float32)

    def forward():
        with mg.no_grad():
            op(t)

    def both():
        op(t).backward(upstream)

    def ref_forward():
        np_forward(x)

    def ref_both():
        np_both(x, G)

    forward(), both()  # compile
    row = [float("nan")] * 4
    for _ in range(3):  # interleave ours and numpy's
        row[0] = median_seconds(forward, repeats // 3 + 1)
        row[1] = median_seconds(ref_forward, repeats // 3 + 1)
        row[2] = median_seconds(both, repeats // 3 + 1)
        if np_both is not None:
            row[3] = median_seconds(ref_both, repeats // 3 + 1)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", default="", help="comma-separated op names")
    args = parser.parse_args(argv)
    table = cases()
    names = args.only.split(",") if args.only else list(table)
    print(f"{'op':14s} {'fwd us':>8s} {'numpy':>8s} {'ratio':>6s}   {'f+b us':>8s} {'numpy':>8s} "
          f"{'ratio':>6s}")
    for name in names:
        f, nf, b, nb = measure(name, args.repeats, table)
        print(f"{name:14s} {f * 1e6:8.0f} {nf * 1e6:8.0f} {f / nf:6.2f}   {b * 1e6:8.0f} "
              f"{nb * 1e6:8.0f} {b / nb:6.2f}")


if __name__ == "__main__":
    main()
