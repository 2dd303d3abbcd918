"""What the asv benchmarks run: one recurrent layer's forward and training step, for minigrad's
layers (fused or composed) and for the peers (torch, JAX, HIPS autograd), built once per process
and warmed up before anything is timed, so no timing includes Numba's or JAX's compilation.

A training step is one layer's forward over x (T, B, I) with the tape on and the backward of
out.sum() (weights and x get gradients), no optimizer update: the definition of bench.compare.
A forward is the same layer's inference: minigrad under mg.no_grad(), torch under no_grad(), JAX
jit(forward), HIPS autograd plain numpy. Inputs and weights are bench.peers' fixed draws, so every
library computes the same function. Sizes: B=32, I=32, H=128, float32.

Anything a commit or an environment cannot run raises NotImplementedError, which asv reports as
skipped: a peer that is not installed, the fused path before it existed, runs too slow to be
worth their time (composed and HIPS autograd above seq_len 256).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bench.peers import PARAM_NAMES, THREADS, Unavailable, recurrent_weights, sequence_input

BATCH, INPUT, HIDDEN = 32, 32, 128
SEQ_LENS = [16, 64, 256, 1024]
MODELS = ["rnn", "lstm", "gru"]
IMPLS = ["fused", "composed"]
PEERS = ["torch", "jax", "autograd"]


def registered_models(names: list[str], variant: bool | None = None) -> list[str]:
    """The model names of lstm.zoo, the registry (only its cell variants with variant=True),
    written out: asv imports every benchmark module to list its parameters before it knows
    whether the commit has lstm, so nothing here may import it (tests/bench/test_asv_suite.py
    checks each list against the registry). `variant` documents which part of it a list is."""
    return list(names)


COMPOSED_MAX_SEQ_LEN = 256  # one composed LSTM step at T=1024 takes over a second
# HIPS autograd's GRU step at T=1024 took 80 s on a loaded machine (its LSTM 29 s): skipped
PEER_MAX_SEQ_LEN = {"autograd": 256}
WARM_SEQ_LEN, WARM_BATCH = 2, 2  # the tiny input that compiles the kernels for peakmem cases


@dataclass
class Case:
    """A prepared layer: `forward()` and `train_step()` each block until their result exists."""

    forward: Callable[[], object]
    train_step: Callable[[], object]


_CASES: dict[tuple, Case] = {}  # one process runs one parameter combination; setup is re-run


def skip(reason: str):
    """Tell asv this parameter combination cannot run here (it shows as skipped, not failed)."""
    raise NotImplementedError(reason)


class TimedSamples:
    """asv's sampling for a case built and warmed once per process (a base of timing suites):
    one call a sample (the slowest cases take seconds, the fastest over 100 us), at least 3 and
    at most 30 samples or 4 s of them, one round (one process) per parameter combination."""

    number = 1
    repeat = (3, 30, 4.0)
    rounds = 1
    timeout = 600


class CachedResults:
    """A base of track_ suites that read what their setup_cache computed once: one round, and
    the whole suite skipped where setup_cache returned {"unavailable": reason}."""

    rounds = 1
    timeout = 120

    def setup(self, results, *params):
        if "unavailable" in results:
            skip(results["unavailable"])


def unavailable(module: str, reason: str) -> dict | None:
    """What a setup_cache returns at a commit without the fused recurrent primitives or without
    `module` ({"unavailable": reason and the import error}); None where both are there."""
    if not fused_available():
        return {"unavailable": "no fused recurrent primitives at this commit"}
    try:
        importlib.import_module(module)
    except ImportError as e:
        return {"unavailable": f"{reason} ({e})"}
    return None


def warmed_train_step(layer, seq_len: int, batch: int = BATCH, input_size: int = INPUT,
                      seed: int = 1) -> Callable[[], None]:
    """`layer`'s training step on bench.peers' fixed x (seq_len, batch, input_size): its forward
    with the tape on and the backward of out.sum() (weights and x get gradients, no optimizer),
    run once before it is returned (that compiles the kernels)."""
    import minigrad as mg

    x = mg.tensor(sequence_input(seq_len, batch, input_size, seed), requires_grad=True)

    def train_step():
        layer.zero_grad()
        x.grad = None
        layer(x)[0].sum().backward()

    train_step()
    return train_step


def layer_class(model: str):
    """lstm.RNN / LSTM / GRU, or a skip when this commit's `lstm` lacks them."""
    try:
        import lstm

        return {"rnn": lstm.RNN, "lstm": lstm.LSTM, "gru": lstm.GRU}[model]
    except (ImportError, AttributeError) as e:
        skip(f"lstm layers not importable at this commit ({type(e).__name__}: {e})")


def fused_available() -> bool:
    """Whether this commit has the fused recurrent primitives (minigrad.ops.recurrent)."""
    try:
        importlib.import_module("minigrad.ops.recurrent")
    except ImportError:
        return False
    return True


def check_runnable(impl: str, seq_len: int) -> None:
    """Skip composed runs above COMPOSED_MAX_SEQ_LEN, and fused ones before the fused kernels."""
    if impl == "composed" and seq_len > COMPOSED_MAX_SEQ_LEN:
        skip(f"composed runs stop at seq_len {COMPOSED_MAX_SEQ_LEN} (asked {seq_len})")
    if impl == "fused" and not fused_available():
        skip("no fused recurrent primitives (minigrad.ops.recurrent) at this commit")


def minigrad_case(model: str, impl: str, seq_len: int, warm_full: bool = True) -> Case:
    """Our layer at (B, I, H) = (32, 32, 128) on a (seq_len, 32, 32) input.

    warm_full: warm up with one full-size forward and training step (for timings); otherwise with
    one training step on a tiny input of the same dtypes, which needs the same kernels while
    keeping the process's peak resident memory below the full step's (for peakmem_ benchmarks).
    """
    key = ("minigrad", model, impl, seq_len, warm_full)
    if key in _CASES:
        return _CASES[key]
    check_runnable(impl, seq_len)
    cls = layer_class(model)
    import minigrad as mg

    layer = cls(INPUT, HIDDEN, impl=impl)
    layer.load_state_dict(recurrent_weights(model, INPUT, HIDDEN))

    def prepare(x: mg.Tensor) -> Case:
        def forward():
            with mg.no_grad():
                return layer(x)[0]

        def train_step():
            layer.zero_grad()
            x.grad = None
            layer(x)[0].sum().backward()

        return Case(forward, train_step)

    full = prepare(mg.tensor(sequence_input(seq_len, BATCH, INPUT), requires_grad=True))
    warm = full if warm_full else prepare(
        mg.tensor(sequence_input(WARM_SEQ_LEN, WARM_BATCH, INPUT), requires_grad=True))
    if warm_full:
        warm.forward()
    warm.train_step()
    _CASES[key] = full
    return full


def layer_snippet(model: str, impl: str, seq_len: int = 16, batch: int = BATCH) -> str:
    """Python code that imports minigrad and lstm and runs one training step of a layer."""
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[model]
    return ("import numpy as np, minigrad as mg, lstm\n"
            f"layer = lstm.{cls}({INPUT}, {HIDDEN}, impl={impl!r})\n"
            f"x = mg.tensor(np.ones(({seq_len}, {batch}, {INPUT}), np.float32), "
            "requires_grad=True)\n"
            "layer(x)[0].sum().backward()\n")


def run_python(code: str) -> None:
    """Run `code` in a fresh interpreter (this one's): fills Numba's on-disk cache for it."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"this code failed in a fresh process:\n{code}\n{done.stderr[-2000:]}")


def peer_case(library: str, model: str, seq_len: int) -> Case:
    """A peer's layer: its training step from bench.peers.<library>_models, its forward here."""
    key = (library, model, seq_len)
    if key in _CASES:
        return _CASES[key]
    if library not in PEERS:
        raise ValueError(f"library must be one of {PEERS}, got {library!r}")
    if seq_len > PEER_MAX_SEQ_LEN.get(library, seq_len):
        skip(f"{library} runs stop at seq_len {PEER_MAX_SEQ_LEN[library]} (asked {seq_len})")
    module = importlib.import_module(f"bench.peers.{library}_models")
    spec = {"kind": "train_step", "model": model, "B": BATCH, "T": seq_len, "I": INPUT,
            "H": HIDDEN}
    try:
        prepared = module.build(spec)
    except Unavailable as e:
        skip(str(e))
    case = Case(PEER_FORWARDS[library](model, seq_len), prepared.step)
    case.forward()
    case.train_step()
    _CASES[key] = case
    return case


# ---- the peers' inference forwards (their training steps come from bench.peers) ----------------
def _torch_forward(model: str, seq_len: int) -> Callable[[], object]:
    import torch

    torch.set_num_threads(THREADS)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model](INPUT, HIDDEN)
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in
                           recurrent_weights(model, INPUT, HIDDEN).items()})
    x = torch.from_numpy(sequence_input(seq_len, BATCH, INPUT))

    def forward():
        with torch.no_grad():
            return layer(x)[0]

    return forward


def _jax_forward(model: str, seq_len: int) -> Callable[[], object]:
    """jit of lax.scan over the cells of bench.peers.jax_models (input projection in one GEMM)."""
    from bench.peers import jax_models

    jax, jnp = jax_models.load_jax()
    cell = jax_models.cells(jax, jnp, model)
    weights = recurrent_weights(model, INPUT, HIDDEN)
    w_ih, w_hh, b_ih, b_hh = (jnp.asarray(weights[k]) for k in PARAM_NAMES)
    x = jnp.asarray(sequence_input(seq_len, BATCH, INPUT))

    @jax.jit
    def outputs(x):
        h0 = jnp.zeros((BATCH, HIDDEN), jnp.float32)
        carry = (h0, h0) if model == "lstm" else h0
        _, out = jax.lax.scan(lambda c, xp_t: cell(c, xp_t, w_hh, b_hh), carry, x @ w_ih.T + b_ih)
        return out

    return lambda: outputs(x).block_until_ready()


def _autograd_forward(model: str, seq_len: int) -> Callable[[], object]:
    """bench.peers.autograd_models' sequence loss called on plain arrays: numpy, no tracing."""
    from bench.peers import autograd_models

    _, anp = autograd_models.load_autograd()
    weights = recurrent_weights(model, INPUT, HIDDEN)
    params = tuple(weights[k] for k in PARAM_NAMES)
    x = sequence_input(seq_len, BATCH, INPUT)
    return lambda: autograd_models.sequence_loss(anp, model, params, x)


PEER_FORWARDS = {"torch": _torch_forward, "jax": _jax_forward, "autograd": _autograd_forward}
