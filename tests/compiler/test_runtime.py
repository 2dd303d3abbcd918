"""The compiler's runtime goes through the backend Protocol or owns what it calls (issue 18): no
private name of another module, no CUDA backend module imported directly; `gemm_strided`, the
Protocol's GEMM into windows of flat buffers, equals numpy."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from minigrad.backends import cpu

COMPILER = Path(__file__).parents[2] / "minigrad" / "compiler"


def _imports(path):
    """(module, names) of every `from ... import ...` in a file."""
    tree = ast.parse(path.read_text())
    return [("." * node.level + (node.module or ""), [a.name for a in node.names])
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]


@pytest.mark.parametrize("path", sorted(COMPILER.glob("*.py")), ids=lambda p: p.name)
def test_no_private_name_of_another_module(path):
    for module, names in _imports(path):
        private = [n for n in names if n.startswith("_") and n != "__future__"]
        assert not private, f"{path.name} imports {private} from {module}"


@pytest.mark.parametrize("name", ["run_cpu.py", "run_cuda.py", "cpu_runtime.py",
                                  "cuda_runtime.py"])
def test_runtime_reaches_the_cuda_device_only_through_the_protocol(name):
    for module, names in _imports(COMPILER / name):
        assert not module.startswith("..backends.cuda"), f"{name} imports {names} from {module}"
        if module == "..backends":
            assert set(names) <= {"get", "backend_of"}, f"{name} imports {names} from backends"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("accumulate", [False, True])
def test_gemm_strided_writes_a_window_of_a_flat_buffer(dtype, accumulate, rng):
    """out[rows 2.., columns 3..3+n] of a (m + 2, 9) buffer (+)= A @ B^T, A a column window of a
    wider matrix, B read transposed through its strides."""
    m, n, inner = 5, 4, 3
    a_full = rng.standard_normal((m, inner + 2)).astype(dtype)
    b = rng.standard_normal((n, inner)).astype(dtype)
    out = rng.standard_normal((m + 2, 9)).astype(dtype)
    expected = out.copy()
    window = expected[2:, 3:3 + n]
    product = a_full[:, 1:1 + inner] @ b.T
    window[...] = window + product if accumulate else product
    cpu.gemm_strided(a_full.reshape(-1), 1, inner + 2, 1, b.reshape(-1), 0, 1, inner,
                     out.reshape(-1), 2 * 9 + 3, m, n, inner, accumulate=accumulate, out_row=9)
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
