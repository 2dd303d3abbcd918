"""Generated fused kernels side by side in one process: a user's cell against the built-in LSTM,
and each against its own composed path.

python -m bench.compiler_ab [--rounds N] [--configs B,T,I,H;...] [--cells lstm,peephole,layernorm]
Forward + backward of (out * w).sum(), float32, the variants interleaved round by round; prints
median milliseconds and the ratios to the built-in fused LSTM. `peephole` is the README's example
cell (diagonal peepholes, Gers & Schmidhuber 2000), `layernorm` the layer-normalised LSTM.
"""

from __future__ import annotations

import argparse
import statistics
import time

CONFIGS = [(32, 100, 32, 128), (16, 1000, 2, 128), (64, 200, 64, 256)]


def peephole_cell_class():
    """The README's example cell: LSTM with diagonal peepholes (Gers & Schmidhuber 2000).
    Built on call: asv imports bench/ modules without minigrad or lstm."""
    import numpy as np

    from lstm import Cell
    from lstm.cells import make_uniform

    class PeepholeLSTMCell(Cell):
        states = ("h", "c")

        def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
            super().__init__(input_size, hidden_size, bias, rng, dtype)
            H = hidden_size
            make_uniform(self, {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, H),
                                "bias": (4 * H,), "peephole": (3 * H,)}, H, "", self.rng,
                         self.dtype)

        def step(self, x, state):
            h, c = state
            gates = x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias
            i, f, g, o = gates.split(4, axis=-1)
            p_i, p_f, p_o = self.peephole.split(3)
            i, f = (i + p_i * c).sigmoid(), (f + p_f * c).sigmoid()
            c = f * c + i * g.tanh()
            return (o + p_o * c).sigmoid() * c.tanh(), c

    return PeepholeLSTMCell


def layer_norm_cell_class():
    """The layer-normalised LSTM (Ba, Kiros & Hinton 2016) as branch `cells` defines lstm-ln:
    layer norm of h W_hh^T and of x W_ih^T over the 4H pre-activations and of c, gains and
    biases; its row reductions fuse as one lane pass per reduction depth."""
    import numpy as np

    from lstm import Cell
    from lstm.cells import make_uniform

    def layer_norm(z, gain, bias=None):
        centred = z - z.mean(axis=-1, keepdims=True)
        scaled = centred * ((centred * centred).mean(axis=-1, keepdims=True) + 1e-5) ** -0.5
        return scaled * gain if bias is None else scaled * gain + bias

    class LayerNormLSTMCell(Cell):
        states = ("h", "c")

        def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
            super().__init__(input_size, hidden_size, bias, rng, dtype)
            H = hidden_size
            make_uniform(self, {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, H),
                                "bias_gates": (4 * H,), "ln_ih_weight": (4 * H,),
                                "ln_hh_weight": (4 * H,), "ln_c_weight": (H,),
                                "ln_c_bias": (H,)}, H, "", self.rng, self.dtype)

        def step(self, x, state):
            h, c = state
            gates = layer_norm(h @ self.weight_hh.T, self.ln_hh_weight) + \
                layer_norm(x @ self.weight_ih.T, self.ln_ih_weight) + self.bias_gates
            i, f, g, o = gates.split(4, axis=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            return o.sigmoid() * layer_norm(c, self.ln_c_weight, self.ln_c_bias).tanh(), c

    return LayerNormLSTMCell


def _layer(cell: str, impl: str, I: int, H: int):
    from lstm import LSTM, Recurrent

    if cell == "lstm":
        return LSTM(I, H, impl=impl, rng=0)
    if cell == "layernorm":
        return Recurrent(layer_norm_cell_class(), I, H, impl=impl, rng=0)
    return Recurrent(peephole_cell_class(), I, H, impl=impl, rng=0)


def measure(cells, config, rounds: int, composed: bool) -> dict:
    """Median ms per variant (cell, impl), interleaved round by round."""
    import numpy as np

    import minigrad as mg

    B, T, I, H = config
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32))
    w = mg.tensor(rng.standard_normal((T, B, H)).astype(np.float32))
    variants = {(c, impl): _layer(c, impl, I, H) for c in cells
                for impl in (("fused", "composed") if composed else ("fused",))}
    times = {key: [] for key in variants}
    for _ in range(rounds):
        for key, layer in variants.items():
            out, _ = layer(x)
            (out * w).sum().backward()  # warm (compiles on first use)
            start = time.perf_counter()
            out, _ = layer(x)
            (out * w).sum().backward()
            times[key].append((time.perf_counter() - start) * 1e3)
    return {key: statistics.median(v) for key, v in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cells", default="lstm,peephole")
    parser.add_argument("--composed", action="store_true", help="also time impl='composed'")
    parser.add_argument("--configs", default=";".join(",".join(map(str, c)) for c in CONFIGS),
                        help="B,T,I,H;B,T,I,H;...")
    args = parser.parse_args(argv)
    for config in [tuple(int(v) for v in c.split(",")) for c in args.configs.split(";")]:
        medians = measure(args.cells.split(","), config, args.rounds, args.composed)
        base = medians[("lstm", "fused")] if ("lstm", "fused") in medians else None
        for (cell, impl), ms in medians.items():
            ratio = f"  {ms / base:.2f}x the fused LSTM" if base else ""
            print(f"B,T,I,H={config} {cell:9s} {impl:8s} {ms:8.2f} ms{ratio}", flush=True)


if __name__ == "__main__":
    main()
