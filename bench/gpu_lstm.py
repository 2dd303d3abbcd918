"""The LSTM training step on a GPU (issue 4): time, achieved GFLOP/s, and the ratio to torch's
cuDNN LSTM when torch with CUDA is present. Expected values are in docs/gpu.md.

A training step is one fused lstm.LSTM layer's forward over x (T, B, I) on the device with the
tape on and the backward of out.sum() (dx and every weight gradient), float32, as in
bench/asv_cases.py; its flops are 24 B H (I + H) per time step. Timings wait for the GPU
(`numba.cuda.synchronize`), are taken after a warm-up step (no compilation is timed) and report the
median of repeats.

asv runs the classes below (setup raises NotImplementedError, which asv reports as skipped, when
there is no GPU or only Numba's simulator); `python -m bench.gpu_lstm` prints a table, or says why
it cannot, and exits 0. Importing this module does no work.
"""

from __future__ import annotations

import os
import statistics
import time

CONFIGS = {  # name -> (B, T, I, H)
    "B64_T200_I64_H256": (64, 200, 64, 256),
    "B256_T100_I128_H512": (256, 100, 128, 512),
}
REPEATS = 5


def gpu_unavailable_reason() -> str | None:
    """Why the GPU benchmark cannot run here, or None when it can."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM"):
        return "Numba's CUDA simulator is on: GPU timings would be meaningless"
    import minigrad as mg

    if not mg.cuda.is_available():
        return "no CUDA GPU visible to numba"
    return None


def step_flops(batch: int, steps: int, inputs: int, hidden: int) -> float:
    """Forward + backward flops of one LSTM layer: 6 B (4H) (I + H) per time step."""
    return 24.0 * batch * hidden * (inputs + hidden) * steps


def _median_seconds(step, synchronize, repeats=REPEATS) -> float:
    step()
    synchronize()  # warm-up: kernels compiled, buffers allocated
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def minigrad_step(config: str):
    """(step function, synchronize) for minigrad's fused LSTM on the GPU."""
    import numpy as np
    from numba import cuda

    import lstm
    import minigrad as mg

    batch, steps, inputs, hidden = CONFIGS[config]
    model = lstm.LSTM(inputs, hidden, impl="fused", rng=0).to("cuda")
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((steps, batch, inputs)).astype(np.float32),
                  requires_grad=True, device="cuda")

    def step():
        model.zero_grad()
        x.grad = None
        out, _ = model(x)
        loss = out.sum()
        loss.backward()
        return loss

    step.model = model  # for tests
    return step, cuda.synchronize


def cudnn_step(config: str):
    """(step function, synchronize) for torch.nn.LSTM on CUDA (cuDNN), or None without it."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    batch, steps, inputs, hidden = CONFIGS[config]
    torch.manual_seed(0)
    model = torch.nn.LSTM(inputs, hidden).cuda()
    x = torch.randn(steps, batch, inputs, device="cuda", requires_grad=True)

    def step():
        model.zero_grad()
        x.grad = None
        out, _ = model(x)
        out.sum().backward()

    return step, torch.cuda.synchronize


class GpuLstmTrainStep:
    """asv: seconds per training step and achieved GFLOP/s, per configuration."""

    params = [list(CONFIGS)]
    param_names = ["config"]
    timeout = 900
    number = 1
    repeat = REPEATS
    warmup_time = 0

    def setup(self, config):
        reason = gpu_unavailable_reason()
        if reason:
            raise NotImplementedError(reason)
        self.step, self.synchronize = minigrad_step(config)
        self.step()
        self.synchronize()

    def time_train_step(self, config):
        self.step()
        self.synchronize()

    def track_gflops(self, config):
        return step_flops(*CONFIGS[config]) / _median_seconds(self.step, self.synchronize) / 1e9

    track_gflops.unit = "GFLOP/s"


class GpuLstmVsCudnn:
    """asv: minigrad's step time over torch's cuDNN LSTM step time (lower is better)."""

    params = [list(CONFIGS)]
    param_names = ["config"]
    timeout = 900

    def setup(self, config):
        reason = gpu_unavailable_reason()
        if reason:
            raise NotImplementedError(reason)
        self.reference = cudnn_step(config)
        if self.reference is None:
            raise NotImplementedError("torch with CUDA is not installed")
        self.ours = minigrad_step(config)

    def track_ratio_to_cudnn(self, config):
        return _median_seconds(*self.ours) / _median_seconds(*self.reference)

    track_ratio_to_cudnn.unit = "x cuDNN"


def main() -> int:
    reason = gpu_unavailable_reason()
    if reason:
        print(f"bench.gpu_lstm: skipped: {reason}")
        return 0
    print(f"{'config':<22} {'ms/step':>9} {'GFLOP/s':>9} {'cuDNN ms':>9} {'ratio':>7}")
    for config in CONFIGS:
        seconds = _median_seconds(*minigrad_step(config))
        gflops = step_flops(*CONFIGS[config]) / seconds / 1e9
        reference = cudnn_step(config)
        ref_seconds = _median_seconds(*reference) if reference else float("nan")
        print(f"{config:<22} {seconds * 1e3:9.2f} {gflops:9.1f} {ref_seconds * 1e3:9.2f} "
              f"{seconds / ref_seconds:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
