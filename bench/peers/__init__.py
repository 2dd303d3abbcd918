"""Shared pieces of the side-by-side comparison: the library registry, cases' inputs and weights,
the timing loop, flop counts and memory lower bounds.

Each library lives in its own module (``<name>_models``) exposing ``build(case, **options)`` that
returns a :class:`Prepared`. Those modules import their library inside functions, never at
import time: asv imports every module under ``bench/`` to find benchmarks, and torch and JAX
loaded into one process slow each other down.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# label -> (module under bench.peers, keyword options passed to its build())
LIBRARIES: dict[str, tuple[str, dict]] = {
    "minigrad": ("minigrad_models", {"impl": "fused"}),
    "minigrad-composed": ("minigrad_models", {"impl": "composed"}),
    "torch": ("torch_models", {}),
    "jax": ("jax_models", {}),
    "autograd": ("autograd_models", {}),
    # the compile suite (issue 18): each mode in its own process
    "minigrad-eager": ("compiled_models", {"library": "minigrad", "compiled": False}),
    "minigrad-compile": ("compiled_models", {"library": "minigrad", "compiled": True}),
    "torch-eager": ("compiled_models", {"library": "torch", "compiled": False}),
    "torch-compile": ("compiled_models", {"library": "torch", "compiled": True}),
}

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# one layer's parameters in torch.nn's names, in the order every peer's functions take them
PARAM_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
THREADS = 2


class Unavailable(Exception):
    """A library (or the part of it a case needs) cannot run here: the case is skipped."""


@dataclass
class Prepared:
    """What a library built for one case.

    step: one timed unit of work (it must block until the result exists).
    check: values from the last step (loss, gradient checksums) to confirm every library
        computed the same function.
    variants: further callables timed the same way and reported under their names.
    numpy_memory: whether tracemalloc sees the step's arrays (numpy-based libraries).
    info: numbers the worker reports beside the timings (the first call's seconds).
    """

    step: Callable[[], object]
    check: Callable[[], dict] = dict
    variants: dict[str, Callable[[], object]] = field(default_factory=dict)
    numpy_memory: bool = False
    info: dict = field(default_factory=dict)  # reported as is (a compile suite's first call)


def thread_env(threads: int = THREADS) -> dict[str, str]:
    """Environment variables that pin BLAS, OpenMP, Numba (and torch, via BENCH_THREADS) to
    `threads` threads in a worker process."""
    n = str(threads)
    return {
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "NUMBA_NUM_THREADS": n,
        "VECLIB_MAXIMUM_THREADS": n,
        "BENCH_THREADS": n,
    }


def worker_threads() -> int:
    """The thread count this worker was started with."""
    return int(os.environ.get("BENCH_THREADS", THREADS))


def summarize(seconds: list[float], cpu_seconds: list[float] | None = None) -> dict:
    """Median, min, max, interquartile range and count of wall-clock timings (seconds), and the
    median and min of the matching process CPU times when given."""
    if not seconds:
        raise ValueError("summarize: seconds must not be empty")
    q = (
        statistics.quantiles(seconds, n=4, method="inclusive")
        if len(seconds) > 1
        else [seconds[0]] * 3
    )
    out = {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "iqr_s": q[2] - q[0],
        "repeats": len(seconds),
    }
    if cpu_seconds:
        out.update(cpu_median_s=statistics.median(cpu_seconds), cpu_min_s=min(cpu_seconds))
    return out


def run_timed(
    fn: Callable[[], object],
    repeats: int,
    warmup: int = 2,
    budget_s: float = 20.0,
    min_repeats: int = 3,
    warmup_s: float = 1.0,
    max_warmup: int = 50,
) -> dict:
    """Warm up untimed, then make up to `repeats` timed calls of fn.

    Each call is timed by the wall clock (time.perf_counter) and by the process's CPU time
    (time.process_time, all threads): with one thread per library the CPU time is what the call
    costs even when other processes share the cores, so it is the steadier clock on a loaded
    machine. Warm-up is at least `warmup` calls and goes on until `warmup_s` seconds have passed
    (at most `max_warmup` calls): JIT compilation, caches and thread pools settle before timing
    (torch's first few calls of a small nn.LSTM here are 100x slower than the rest). Timing stops
    early once `budget_s` seconds have passed and `min_repeats` calls are done, so slow libraries
    get fewer repeats; the count used is reported.
    """
    if repeats < 1:
        raise ValueError(f"run_timed: repeats must be >= 1, got {repeats}")
    warm_until = time.perf_counter() + warmup_s
    calls = 0
    while calls < warmup or (calls < max_warmup and time.perf_counter() < warm_until):
        fn()
        calls += 1
    gc.collect()
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        if len(seconds) >= min(min_repeats, repeats) and time.perf_counter() > deadline:
            break
    return summarize(seconds, cpu_seconds)


def step_times(fn: Callable[[], object], repeats: int, warmup: int = 0,
               clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """The seconds (wall clock, or `clock`, e.g. time.process_time) of each of `repeats` calls
    of fn, after `warmup` untimed calls (they compile kernels and fill caches)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def median_seconds(fn: Callable[[], object], repeats: int, warm: bool = False,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """The median of step_times (after one untimed call if warm)."""
    return float(np.median(step_times(fn, repeats, int(warm), clock)))


def case_id(case: dict) -> str:
    """A short, stable, readable name for a case."""
    kind = case["kind"]
    if kind == "op":
        return f"mul {tuple(case['shape'])} x{case['chain']}"
    dims = f"B={case['B']} T={case['T']} I={case.get('I', 2)} H={case['H']}"
    if kind == "composed_lstm":
        return f"composed lstm {dims}"
    if kind in ("compile_lstm", "adding_step", "ln_adding_step"):
        return f"{kind.replace('_', ' ')} {dims}"
    if kind in ("charlm_step", "adam_step"):
        return f"{kind.replace('_', ' ')} ({case['preset']} preset: {dims})"
    sweep = " (T sweep)" if case.get("suite") == "scaling" else ""
    return f"{case['model']} {dims}{sweep}"


def flops_per_step(model: str, B: int, T: int, I: int, H: int) -> int:
    """Flops of one training step: 3 GEMM passes (forward, dX, dW) of 2*B*T*(I+H)*gates*H."""
    return 3 * 2 * B * T * (I + H) * GATES[model] * H


def saved_bytes_lower_bound(model: str, B: int, T: int, H: int, itemsize: int = 4) -> int:
    """Bytes of activations backward must read, per step and sample, for all T steps.

    LSTM: gates i,f,g,o (4H), cell states (H), outputs h (H). GRU: gates r,z,n (3H), the
    recurrent candidate term W_hn h + b_hn (H), outputs (H). RNN: outputs (H) (tanh' from them).
    """
    per_step = {"lstm": 6 * H, "gru": 5 * H, "rnn": H}[model]
    return T * B * per_step * itemsize


def recurrent_weights(model: str, I: int, H: int, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 weights in torch.nn's names and layout, drawn U(-1/sqrt(H), 1/sqrt(H)) as torch."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)
    G = GATES[model] * H
    shapes = {
        "weight_ih_l0": (G, I),
        "weight_hh_l0": (G, H),
        "bias_ih_l0": (G,),
        "bias_hh_l0": (G,),
    }
    return {name: rng.uniform(-k, k, shape).astype(np.float32) for name, shape in shapes.items()}


def sequence_input(T: int, B: int, I: int, seed: int = 1) -> np.ndarray:
    """A float32 (T, B, I) standard normal input."""
    return np.random.default_rng(seed).standard_normal((T, B, I)).astype(np.float32)


def case_arrays(case: dict, model: str = "lstm") -> tuple[list[np.ndarray], np.ndarray]:
    """A case's fixed weights of `model` in PARAM_NAMES' order (w_ih, w_hh, b_ih, b_hh) for
    its I and H, and its input x (T, B, I)."""
    w = recurrent_weights(model, case["I"], case["H"])
    return [w[k] for k in PARAM_NAMES], sequence_input(case["T"], case["B"], case["I"])


def array_lstm_loss(xp, sigmoid: Callable, params, x):
    """Sum over t of h_t of an LSTM written op by op in a numpy-like namespace `xp`
    (autograd.numpy, jax.numpy) with its `sigmoid` (PyTorch gate order, zero initial state)."""
    w_ih, w_hh, b_ih, b_hh = params
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    w_ih_t, w_hh_t = w_ih.T, w_hh.T
    h = xp.zeros((B, H), xp.float32)
    c = xp.zeros((B, H), xp.float32)
    hs = []
    for t in range(T):
        gates = x[t] @ w_ih_t + b_ih + h @ w_hh_t + b_hh
        i, f, g, o = xp.split(gates, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * xp.tanh(g)
        h = sigmoid(o) * xp.tanh(c)
        hs.append(h)
    return xp.stack(hs).sum()


def tape_step(params: list, loss_of: Callable[[], object]) -> tuple[Callable[[], None], dict]:
    """A tape library's (minigrad's, torch's) step: the params' gradients cleared, loss_of()
    recorded and its backward run; and the dict that keeps the last loss under "loss"."""
    last = {}

    def step():
        for p in params:
            p.grad = None
        loss = loss_of()
        loss.backward()
        last["loss"] = loss

    return step, last


def checksums(loss, grads: dict[str, np.ndarray]) -> dict:
    """The loss and the sum of |gradient| per named input, as Python floats."""
    out = {"loss": float(loss)}
    for name, g in grads.items():
        out[f"abs_grad_{name}"] = float(np.abs(np.asarray(g, dtype=np.float64)).sum())
    return out


def by_kind(case: dict, builders: dict, *modules, missing: str) -> Prepared:
    """builders[case["kind"]](*modules, case): a library's Prepared of one case; Unavailable
    (`missing`, formatted with the kind) for a kind the library has no case of."""
    kind = case["kind"]
    if kind not in builders:
        raise Unavailable(missing.format(kind=kind))
    return builders[kind](*modules, case)


@dataclass
class MulChain:
    """The recorded-op microbenchmark of a tape library: `chain` muls y = y * w on (shape)
    float32 leaves a and w drawn with seed 0 (a_np, w_np the arrays), timed three ways."""

    a_np: np.ndarray
    w_np: np.ndarray
    a: object
    w: object
    forward: Callable[[], object]
    forward_backward: Callable[[], None]
    forward_no_grad: Callable[[], None]


def mul_chain(case: dict, leaf: Callable, ones: Callable, no_grad: Callable) -> MulChain:
    """A MulChain of case "op" in a library given its leaf(array) tensor that requires grad,
    ones(shape) (the backward's seed gradient) and its no_grad() context."""
    rng = np.random.default_rng(0)
    shape, chain = tuple(case["shape"]), case["chain"]
    a_np = rng.standard_normal(shape).astype(np.float32)
    w_np = (1 + 1e-3 * rng.standard_normal(shape)).astype(np.float32)
    a, w = leaf(a_np), leaf(w_np)
    seed_grad = ones(shape)

    def forward():
        y = a
        for _ in range(chain):
            y = y * w
        return y

    def forward_backward():
        a.grad = w.grad = None
        forward().backward(seed_grad)

    def forward_no_grad():
        with no_grad():
            forward()

    return MulChain(a_np, w_np, a, w, forward, forward_backward, forward_no_grad)

