"""Issue 20's answers on CUDA equal the CPU's: relu and its derivative at NaN, NaN first in a
descending sort and topk, max's gradient with a NaN, std of a constant, pad with inf, the masked
attention row, 0-d softmax and scans."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.cuda

NAN = np.nan
X = np.array([[3.0, NAN, 1.0, 2.0], [0.5, -1.0, NAN, NAN], [2.0, 2.0, 2.0, 2.0]])

CASES = {
    "relu": lambda t: t.relu(),
    "max_nan": lambda t: t.max(axis=1),
    "min_nan": lambda t: t.min(axis=1),
    "topk_nan": lambda t: t.topk(2, axis=1)[0],
    "sort_desc_nan": lambda t: t.sort(axis=1, descending=True)[0],
    "std_constant": lambda t: mg.where(mg.isnan(t), 2.0, t)[2:].std(axis=1),
    "pad_inf": lambda t: mg.pad(mg.where(mg.isnan(t), 0.0, t), ((1, 1), (0, 0)), value=np.inf),
    "attention_masked_row": lambda t: mg.functional.scaled_dot_product_attention(
        mg.where(mg.isnan(t), 0.0, t), mg.where(mg.isnan(t), 1.0, t), mg.where(mg.isnan(t), 1.0, t),
        attn_mask=np.array([[True, True, False], [False, False, False], [True, False, True]])),
    "softmax_0d": lambda t: mg.where(mg.isnan(t), 0.0, t)[0, 0].softmax(),
    "cumsum_0d": lambda t: mg.where(mg.isnan(t), 0.0, t)[0, 0].cumsum(),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_edge_answers_on_cuda_match_cpu(name, dtype):
    fn = CASES[name]
    data = X.astype(dtype)
    results = []
    for device in ("cpu", "cuda"):
        x = mg.tensor(data, device=device, requires_grad=True)
        y = fn(x)
        y.backward(mg.tensor(np.ones(y.shape, dtype), device=device))
        results.append((y.numpy(), x.grad if device == "cpu" else mg.tensor(x.grad).numpy()))
    (y_cpu, g_cpu), (y_cuda, g_cuda) = results
    assert y_cuda.shape == y_cpu.shape
    np.testing.assert_allclose(y_cuda, y_cpu, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g_cuda, g_cpu, rtol=1e-6, atol=1e-7)
