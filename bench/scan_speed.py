"""minGRU / minLSTM (one mg.gated_scan per layer) against the fused GRU and LSTM across T, and
mg.linear_scan against a bare memory pass; "mingru-step" and "minlstm-step" are the same cells
with scan=False (the cell compiler's sequential kernel).

    python -m bench.scan_speed [--seq-lens 100,400,1000,4000] [--rounds 2] [--repeats 5]
                               [--clock wall|cpu] [--models ...] [--profile]

A training step is one layer's forward over x (T, B, I) with the tape on and the backward of
out.sum() (B 32, I 32, H 128, float32; bench.asv_cases' definition). Each model runs in its own
process, the models alternate, and every round runs them all again: the table gives each model's
best median over the rounds and the ratios of those, all from this one run. The scan primitive is
timed on a and b of shape (T, B*H) against np.add(a, b, out=...), which moves the same bytes
(read a and b, write h); GB/s counts those three arrays. ``--clock cpu`` times the process's CPU
time instead of the wall clock: with one thread per library (OPENBLAS_NUM_THREADS=1
NUMBA_NUM_THREADS=1) it is the work done, which a machine shared with other jobs does not
stretch as it stretches the wall clock (a parallel region waits for its slowest thread).
mg.gated_scan's minGRU kernel (the gate math inside the scan) reads pre (T, B, 2H) and writes
h (T, B, H): the same bytes again. ``--profile`` prints instead where the minGRU / minLSTM
training step goes (the fused op forward and backward, the rest of the step, the GEMMs and the
gate kernels alone) and the op's memory and GEMM floors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.peers import median_seconds

BATCH, INPUT, HIDDEN = 32, 32, 128
MODELS = ("mingru", "minlstm", "gru", "lstm", "mingru-step", "minlstm-step")
PAIRS = (("mingru", "gru"), ("minlstm", "lstm"), ("mingru-step", "gru"), ("minlstm-step", "lstm"))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _median_time(fn, repeats: int) -> float:
    return median_seconds(fn, repeats, warm=True, clock=_clock)


def _train_step(model: str, steps: int):
    """A training step of one layer of `model` at T = steps."""
    import minigrad as mg
    from lstm.models import build_recurrent

    if model.endswith("-step"):  # minGRU / minLSTM through the cell compiler's sequential kernel
        from lstm import MinGRUCell, MinLSTMCell, Recurrent

        cell = {"mingru-step": MinGRUCell, "minlstm-step": MinLSTMCell}[model]
        layer = Recurrent(cell, INPUT, HIDDEN, rng=0, scan=False)
    else:
        layer = build_recurrent(model, INPUT, HIDDEN, steps, rng=0)
    x = mg.tensor(np.random.default_rng(0).standard_normal((steps, BATCH, INPUT))
                  .astype(np.float32), requires_grad=True)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x)[0].sum().backward()

    return step


def train_step_times(model: str, seq_lens, repeats: int) -> dict:
    """{T: median seconds} of one training step of `model` (run in a worker process)."""
    return {steps: _median_time(_train_step(model, steps), repeats) for steps in seq_lens}


def _scan_cases(steps: int) -> dict:
    """name -> a call over a and b of shape (T, B*H) float32 (and the bytes a scan moves)."""
    import minigrad as mg
    from minigrad.backends import cpu

    rng = np.random.default_rng(0)
    shape = (steps, BATCH * HIDDEN)
    a = rng.uniform(0.5, 1.0, shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    h0 = np.zeros(shape[1:], np.float32)
    target = np.empty_like(a)
    h = cpu.linear_scan(a, b, h0, 0)
    log_a, log_b = np.log(a), np.log(np.abs(b))
    ta, tb = mg.tensor(a), mg.tensor(b)
    pre = rng.standard_normal((steps, BATCH, 2 * HIDDEN)).astype(np.float32)
    bias = np.zeros(2 * HIDDEN, np.float32)
    h0_rows = h0.reshape(BATCH, HIDDEN)
    gated = cpu.gated_scan(pre, bias, h0_rows, None, "mingru")
    return {
        "memory_pass": lambda: np.add(a, b, out=target),
        "scan": lambda: cpu.linear_scan(a, b, h0, 0),
        "scan_log": lambda: cpu.linear_scan(log_a, log_b, h0, 0, True),
        "scan_backward": lambda: cpu.linear_scan_backward(a, b, h, h0, b, 0),
        "op_forward": lambda: mg.linear_scan(ta, tb),
        "gated_mingru": lambda: cpu.gated_scan(pre, bias, h0_rows, None, "mingru"),
        "gated_mingru_backward": lambda: cpu.gated_scan_backward(pre, bias, h0_rows, None, gated,
                                                                 gated, "mingru"),
    }, 3 * a.nbytes


def scan_times(seq_lens, repeats: int) -> dict:
    """{T: {memory_pass, scan, scan_log, scan_backward, op_forward, gated_mingru,
    gated_mingru_backward: seconds, bytes}}."""
    out = {}
    for steps in seq_lens:
        cases, moved = _scan_cases(steps)
        out[steps] = {name: _median_time(fn, repeats) for name, fn in cases.items()}
        out[steps]["bytes"] = moved
    return out


def _profile_cases(model: str, steps: int) -> tuple[dict, int]:
    """(name -> a call, steps per chunk): the parts of `model`'s training step at T = steps
    (profile_times); the GEMM and kernel parts run on one chunk of the op, in cache."""
    from minigrad.backends import cpu, cpu_gated_scan
    from minigrad.backends.scan_gates import GATES

    rng = np.random.default_rng(0)
    width = GATES[model].blocks * HIDDEN
    x = rng.standard_normal((steps, BATCH, INPUT)).astype(np.float32)
    weight = rng.normal(0, 0.2, (width, INPUT)).astype(np.float32)
    bias = rng.normal(0, 0.2, width).astype(np.float32)
    h0 = np.zeros((BATCH, HIDDEN), np.float32)
    h = cpu.gated_scan_linear(x, weight, bias, h0, None, model)
    ones = np.broadcast_to(np.ones((1, 1, 1), np.float32), h.shape)  # out.sum()'s upstream
    chunk = min(steps, cpu_gated_scan.chunk_steps(BATCH, width, 4))
    rows = x[:chunk].reshape(chunk * BATCH, INPUT)
    pre = (rows @ weight.T).reshape(chunk, BATCH, width)
    upstream = rng.standard_normal((chunk, BATCH, HIDDEN)).astype(np.float32)
    grad_pre = cpu.gated_scan_backward(pre, bias, h0, None, h[:chunk], upstream, model)[0]
    grad_pre = grad_pre.reshape(-1, width)
    pre_out, grad_x = np.empty_like(pre).reshape(-1, width), np.empty_like(rows)
    a = rng.standard_normal(h.shape).astype(np.float32)
    target = np.empty_like(a)
    return {
        "step": _train_step(model, steps),
        "op_forward": lambda: cpu.gated_scan_linear(x, weight, bias, h0, None, model),
        "op_backward": lambda: cpu.gated_scan_linear_backward(x, weight, bias, h0, None, h, ones,
                                                              model),
        "gemm_forward": lambda: np.matmul(rows, weight.T, out=pre_out),
        "gemm_backward": lambda: (np.matmul(grad_pre, weight, out=grad_x), grad_pre.T @ rows),
        "kernel_forward": lambda: cpu.gated_scan(pre, bias, h0, None, model),
        "kernel_backward": lambda: cpu.gated_scan_backward(pre, bias, h0, None, h[:chunk],
                                                           upstream, model),
        "memory_pass": lambda: np.add(a, a, out=target),
    }, chunk


def profile_times(models, seq_lens, repeats: int) -> dict:
    """{model: {T: {part: seconds, "chunks": T / steps per chunk}}}: the training step, the
    fused op (mg.gated_scan given the weight) forward and backward, its GEMMs (x W^T;
    dL/dpre W and dL/dpre^T x) and its gate kernels alone on one chunk in cache, and a memory
    pass (np.add over (T, B, H): read twice, write once)."""
    other = [m for m in models if m not in ("mingru", "minlstm")]
    if other:
        raise ValueError(f"scan_speed --profile: models must be mingru or minlstm, got {other}")
    out: dict = {}
    for model in models:
        for steps in seq_lens:
            cases, chunk = _profile_cases(model, steps)
            out.setdefault(model, {})[steps] = {name: _median_time(fn, repeats)
                                                for name, fn in cases.items()}
            out[model][steps]["chunks"] = steps / chunk
    return out


def print_profile(times: dict) -> None:
    """The step's parts: the op, the rest of the step (the readout sum, the tape), the op's
    GEMMs and gate kernels (one chunk's time times the chunks) and what is left of the op (the
    chunk loop, the upstream's copy, the bias sum); and its floors: its bytes (forward: read x,
    write h; backward: read x and h, write dL/dx) at the memory pass's GB/s, and its four GEMMs
    in cache (the backward forms x W^T again)."""
    for model, by_steps in times.items():
        for steps, t in sorted(by_steps.items()):
            gbs = 3 * BATCH * HIDDEN * steps * 4 / t["memory_pass"] / 1e9
            moved = steps * BATCH * (3 * INPUT + 2 * HIDDEN) * 4  # x, h; x, h, dL/dx
            ms = {k: v * 1e3 * (t["chunks"] if k.startswith(("gemm", "kernel")) else 1)
                  for k, v in t.items() if k != "chunks"}
            gemms = 2 * ms["gemm_forward"] + ms["gemm_backward"]
            kernels = ms["kernel_forward"] + ms["kernel_backward"]
            op = ms["op_forward"] + ms["op_backward"]
            print(f"{model} T {steps}: step {ms['step']:.1f} ms = op {op:.1f} (forward "
                  f"{ms['op_forward']:.1f}, backward {ms['op_backward']:.1f}) + rest "
                  f"{ms['step'] - op:.1f}; in the op: GEMMs {gemms:.1f} (x W^T "
                  f"{ms['gemm_forward']:.1f} twice, dL/dx and dL/dW {ms['gemm_backward']:.1f}), "
                  f"gate kernels {kernels:.1f} (forward {ms['kernel_forward']:.1f}, backward "
                  f"{ms['kernel_backward']:.1f}), the rest {op - gemms - kernels:.1f} "
                  f"({t['chunks']:.1f} chunks); memory pass {ms['memory_pass']:.2f} ms "
                  f"({gbs:.1f} GB/s): the op's memory floor {moved / gbs / 1e6:.1f} ms, "
                  f"its GEMM floor {gemms:.1f} ms")


def _worker(args) -> None:
    global _clock
    _clock = CLOCKS[args.clock]
    seq_lens = [int(t) for t in args.seq_lens.split(",")]
    if args.worker == "scan":
        result = scan_times(seq_lens, args.repeats)
    elif args.worker == "profile":
        result = profile_times([m for m in args.models.split(",") if m in ("mingru", "minlstm")],
                               seq_lens, args.repeats)
    else:
        result = train_step_times(args.worker, seq_lens, args.repeats)
    print(json.dumps(result))


def _spawn(what: str, args) -> dict:
    command = [sys.executable, "-m", "bench.scan_speed", "--worker", what, "--seq-lens",
               args.seq_lens, "--repeats", str(args.repeats), "--clock", args.clock,
               "--models", args.models]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env=dict(os.environ))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if what == "profile":
        return {m: {int(k): v for k, v in by.items()} for m, by in result.items()}
    return {int(k): v for k, v in result.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-lens", default="100,400,1000,4000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--profile", action="store_true",
                        help="print where minGRU's / minLSTM's step goes and its floors instead")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    if args.profile:
        print(f"load: {os.getloadavg()}; clock: {args.clock}; threads: OPENBLAS "
              f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, NUMBA "
              f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}")
        print_profile(_spawn("profile", args))
        return
    models = args.models.split(",")
    best: dict = {}
    scans: list = []
    for round_ in range(args.rounds):
        order = models if round_ % 2 == 0 else models[::-1]
        for what in [*order, "scan"]:
            result = _spawn(what, args)
            if what == "scan":
                scans.append(result)
                continue
            for steps, seconds in result.items():
                key = (what, steps)
                best[key] = min(best.get(key, np.inf), seconds)
    print(f"load: {os.getloadavg()}; clock: {args.clock}; threads: OPENBLAS "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, NUMBA "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    pairs = [(m, base) for m, base in PAIRS if {m, base} <= set(models)]
    print("T      " + "  ".join(f"{m:>12}" for m in models) + "".join(
        f"  {base}/{m}" for m, base in pairs))
    for steps in sorted({t for _, t in best}):
        row = "  ".join(f"{best[(m, steps)] * 1e3:10.1f}ms" for m in models)
        ratios = "".join(f"  {best[(base, steps)] / best[(m, steps)]:{len(base) + len(m) + 1}.2f}"
                         for m, base in pairs)
        print(f"{steps:<6} " + row + ratios)
    print("scan primitive on (T, B*H) float32, best of rounds (ms; GB/s of a, b, h):")
    for steps in sorted(scans[0]):
        timing = {k: min(s[steps][k] for s in scans) for k in scans[0][steps] if k != "bytes"}
        gbs = {k: scans[0][steps]["bytes"] / v / 1e9 for k, v in timing.items()}
        print(f"T {steps}: " + ", ".join(f"{k} {v * 1e3:.2f} ms ({gbs[k]:.1f} GB/s)"
                                         for k, v in timing.items())
              + f"; scan / memory pass {timing['scan'] / timing['memory_pass']:.2f}x"
              + f"; gated / memory pass {timing['gated_mingru'] / timing['memory_pass']:.2f}x")


if __name__ == "__main__":
    main()
