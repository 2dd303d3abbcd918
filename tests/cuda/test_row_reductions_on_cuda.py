"""Row reductions (layer norm) fuse on the CPU only: on CUDA the fused path refuses them with the
compiler's named error (rather than running kernels without the reduction passes), and the
composed path runs."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import Recurrent
from lstm.cell_zoo import LayerNormLSTMCell
from minigrad.compiler import CellCompileError

pytestmark = pytest.mark.cuda


def test_layer_norm_lstm_on_cuda_names_row_reductions_and_composed_runs():
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32))
    fused = Recurrent(LayerNormLSTMCell, 3, 4, impl="fused", rng=0).to("cuda")
    with pytest.raises(CellCompileError, match=r"row reductions.*CUDA.*impl='composed'"):
        fused(x.to("cuda"))
    composed = Recurrent(LayerNormLSTMCell, 3, 4, impl="composed", rng=0)
    cpu_out = composed(x)[0].numpy()
    out = composed.to("cuda")(x.to("cuda"))[0]
    np.testing.assert_allclose(out.numpy(), cpu_out, rtol=1e-5, atol=1e-6)
