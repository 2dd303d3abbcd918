"""A user's own cell against what a user would pick instead: the peephole LSTM (Gers &
Schmidhuber 2000) trained one step (forward + backward) in minigrad fused and composed, torch eager,
torch.compile of the step, and JAX jit(value_and_grad(scan)).

Every library runs the same step on the same weights with the input projection of all steps
hoisted into one GEMM and the step loop in its fast eager form (torch: over ``unbind(0)``;
minigrad composed: ``mg.unstack``), each in its own process, pinned to the same thread count;
the loss and gradient checksums must agree. The first call of torch.compile, JAX and minigrad
fused (their compile) is timed and reported beside the step times.

    python -m bench.cell_peers [--B 32 --T 100 --I 32 --H 128] [--threads 2] [--rounds 3]
                               [--libraries minigrad,minigrad-composed,torch,torch-compile,jax]

Equations (diagonal peepholes p_i, p_f on c_{t-1}, p_o on c_t; gate order i, f, g, o):
    [i|f|g|o] = x W_ih^T + h W_hh^T + b;  i = s(i + p_i c), f = s(f + p_f c),
    c' = f c + i tanh(g);  h' = s(o + p_o c') tanh(c').
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from .peers import checksums, run_timed, thread_env

LIBRARIES = ("minigrad", "minigrad-composed", "torch", "torch-compile", "jax")
NAMES = ("weight_ih", "weight_hh", "bias", "peephole")


def weights(I: int, H: int, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 weights U(-1/sqrt(H), 1/sqrt(H)), the shapes of the peephole cell."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)
    shapes = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H), "bias": (4 * H,),
              "peephole": (3 * H,)}
    return {n: rng.uniform(-k, k, s).astype(np.float32) for n, s in shapes.items()}


def inputs(T: int, B: int, I: int, H: int, seed: int = 1):
    """x (T, B, I) and the fixed readout r (T, B, H): loss = sum(out * r)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((T, B, I)).astype(np.float32),
            rng.standard_normal((T, B, H)).astype(np.float32))


# ---- the libraries -----------------------------------------------------------------------------


def build_minigrad(case, impl):
    import minigrad as mg
    from lstm import Recurrent
    from lstm.cell_zoo import PeepholeLSTMCell

    T, B, I, H = case["T"], case["B"], case["I"], case["H"]
    layer = Recurrent(PeepholeLSTMCell, I, H, impl=impl)
    # the bench's one bias is the cell's bias_ih (bias_hh zero), its peepholes weight_ch
    names = {"weight_ih": "weight_ih_l0", "weight_hh": "weight_hh_l0", "bias": "bias_ih_l0",
             "peephole": "weight_ch_l0"}
    for name, value in weights(I, H).items():
        getattr(layer, names[name]).data[...] = value
    layer.bias_hh_l0.data[...] = 0.0
    x_np, r_np = inputs(T, B, I, H)
    x, r = mg.tensor(x_np, requires_grad=True), mg.tensor(r_np)
    params = {n: getattr(layer, names[n]) for n in NAMES}
    last = {}

    def step():
        for p in layer.parameters():
            p.grad = None
        out = layer(x)[0]
        loss = (out * r).sum()
        loss.backward()
        last["loss"] = loss.item()

    compile_s = None
    if impl == "fused":
        started = time.perf_counter()
        step()
        compile_s = time.perf_counter() - started

    def check():
        return checksums(last["loss"], {n: p.grad for n, p in params.items()})

    return step, check, {"compile_s": compile_s}


def _torch_step(torch):
    def step(xp_t, h, c, w_hh_t, bias, p_i, p_f, p_o):
        i, f, g, o = (xp_t + h @ w_hh_t + bias).chunk(4, dim=1)
        i = torch.sigmoid(i + p_i * c)
        f = torch.sigmoid(f + p_f * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + p_o * c) * torch.tanh(c)
        return h, c
    return step


def build_torch(case, compiled):
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    T, B, I, H = case["T"], case["B"], case["I"], case["H"]
    params = {n: torch.tensor(v, requires_grad=True) for n, v in weights(I, H).items()}
    x_np, r_np = inputs(T, B, I, H)
    x, r = torch.tensor(x_np, requires_grad=True), torch.tensor(r_np)
    cell = _torch_step(torch)
    if compiled:
        cell = torch.compile(cell)
    last = {}

    def step():
        for p in params.values():
            p.grad = None
        p_i, p_f, p_o = params["peephole"].chunk(3)
        xp = x @ params["weight_ih"].T
        w_hh_t = params["weight_hh"].T
        h = torch.zeros(B, H)
        c = torch.zeros(B, H)
        outs = []
        for xp_t in xp.unbind(0):
            h, c = cell(xp_t, h, c, w_hh_t, params["bias"], p_i, p_f, p_o)
            outs.append(h)
        loss = (torch.stack(outs) * r).sum()
        loss.backward()
        last["loss"] = loss.item()

    compile_s = None
    if compiled:
        started = time.perf_counter()
        step()
        compile_s = time.perf_counter() - started

    def check():
        return checksums(last["loss"], {n: p.grad.numpy() for n, p in params.items()})

    return step, check, {"compile_s": compile_s}


def build_jax(case):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    T, B, I, H = case["T"], case["B"], case["I"], case["H"]
    params = {n: jnp.asarray(v) for n, v in weights(I, H).items()}
    x_np, r_np = inputs(T, B, I, H)
    x, r = jnp.asarray(x_np), jnp.asarray(r_np)
    sigmoid = jax.nn.sigmoid

    def loss_fn(p):
        p_i, p_f, p_o = jnp.split(p["peephole"], 3)
        xp = x @ p["weight_ih"].T
        w_hh_t = p["weight_hh"].T

        def cell(carry, xp_t):
            h, c = carry
            i, f, g, o = jnp.split(xp_t + h @ w_hh_t + p["bias"], 4, axis=1)
            i, f = sigmoid(i + p_i * c), sigmoid(f + p_f * c)
            c = f * c + i * jnp.tanh(g)
            h = sigmoid(o + p_o * c) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((B, H), jnp.float32)
        _, hs = jax.lax.scan(cell, (zeros, zeros), xp)
        return (hs * r).sum()

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))
    started = time.perf_counter()
    jax.block_until_ready(value_and_grad(params))
    compile_s = time.perf_counter() - started
    last = {}

    def step():
        last["out"] = jax.block_until_ready(value_and_grad(params))

    def check():
        loss, grads = last["out"]
        return checksums(loss, {n: np.asarray(g) for n, g in grads.items()})

    return step, check, {"compile_s": compile_s}


def build(label: str, case: dict):
    """(step, check, extra) for one library."""
    if label in ("minigrad", "minigrad-composed"):
        return build_minigrad(case, "fused" if label == "minigrad" else "composed")
    if label in ("torch", "torch-compile"):
        return build_torch(case, label == "torch-compile")
    if label == "jax":
        return build_jax(case)
    raise ValueError(f"cell_peers: unknown library {label!r}; choose from {LIBRARIES}")


def worker(label: str, case: dict, budget_s: float) -> dict:
    """Time one library's step in this process; a library that cannot run reports why."""
    try:
        step, check, extra = build(label, case)
    except ImportError as e:
        return {"library": label, "status": "skipped", "reason": str(e)}
    timing = run_timed(step, repeats=50, warmup=3, budget_s=budget_s)
    return {"library": label, "status": "ok", "time": timing, "check": check(), **extra}


# ---- the side-by-side run ----------------------------------------------------------------------


def _spawn(label, case, threads, budget_s):
    env = dict(os.environ, **thread_env(threads), MINIGRAD_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "bench.cell_peers", "--worker", label, "--case", json.dumps(case),
           "--budget", str(budget_s)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"library": label, "status": "error", "reason": done.stderr.strip()[-800:]}
    return json.loads(lines[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cell_peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for dim, default in (("B", 32), ("T", 100), ("I", 32), ("H", 128)):
        parser.add_argument(f"--{dim}", type=int, default=default, help=f"default {default}")
    parser.add_argument("--threads", type=int, default=2, help="threads per library (default 2)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, libraries interleaved within each (default 3)")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds of timing per library and round (default 10)")
    parser.add_argument("--libraries", default=",".join(LIBRARIES),
                        help=f"comma-separated, from {','.join(LIBRARIES)}")
    parser.add_argument("--json", help="also write every record to this JSON-lines file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.case), args.budget)), flush=True)
        return 0
    labels = [name for name in args.libraries.split(",") if name]
    unknown = sorted(set(labels) - set(LIBRARIES))
    if unknown:
        parser.error(f"--libraries: unknown {unknown}; choose from {','.join(LIBRARIES)}")
    case = {"B": args.B, "T": args.T, "I": args.I, "H": args.H}
    records = []
    for round_ in range(args.rounds):
        for label in labels:
            record = _spawn(label, case, args.threads, args.budget)
            record["round"] = round_
            records.append(record)
            print(json.dumps({k: v for k, v in record.items() if k != "check"}), file=sys.stderr,
                  flush=True)
    if args.json:
        with open(args.json, "a") as f:
            for record in records:
                f.write(json.dumps(dict(record, case=case)) + "\n")
    print(table(records, labels, case))
    return 0


def table(records, labels, case) -> str:
    """Median over rounds of each library's median step time, and ratios to minigrad fused."""
    rows = {}
    for label in labels:
        ok = [r for r in records if r["library"] == label and r["status"] == "ok"]
        if ok:
            rows[label] = (statistics.median(r["time"]["median_s"] for r in ok) * 1e3,
                           ok[-1].get("compile_s"), ok[-1]["check"])
        else:
            bad = [r for r in records if r["library"] == label]
            rows[label] = (None, None, bad[-1].get("reason", "") if bad else "")
    ours = rows.get("minigrad", (None,))[0]
    reference = next((check for ms, _, check in rows.values() if ms is not None), None)
    lines = [f"peephole LSTM B={case['B']} T={case['T']} I={case['I']} H={case['H']}, "
             "forward + backward, median ms over rounds",
             "| library | ms | compile s | minigrad fused / library | loss | largest relative "
             "difference of a checksum from the first library's |", "|---|---|---|---|---|---|"]
    for label, (ms, compile_s, check) in rows.items():
        if ms is None:
            lines.append(f"| {label} | not run: {check} | | | | |")
            continue
        ratio = f"{ours / ms:.2f}" if ours else ""
        compiled = f"{compile_s:.1f}" if compile_s else ""
        spread = max(abs(check[k] - reference[k]) / max(abs(reference[k]), 1e-12)
                     for k in reference)
        lines.append(f"| {label} | {ms:.1f} | {compiled} | {ratio} | {check['loss']:.6g} | "
                     f"{spread:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
