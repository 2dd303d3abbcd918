"""The scalar rules are compiled once and inlined by LLVM (``forceinline``), not by Numba: the
generated elementwise loops that call them must still hold no call of a rule and vectorise
(a plain call left the larger float32 rules, erf_f32, as calls and the loops scalar)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from numba import njit

import minigrad as mg


@pytest.mark.parametrize("name", ["erf", "gelu", "sigmoid", "tanh", "softplus", "silu"])
def test_rule_loops_inline_the_rules_and_vectorise(name):
    x = mg.tensor(np.linspace(-3, 3, 1000, dtype=np.float32), requires_grad=True)
    getattr(mg, name)(x).backward(np.ones(1000, np.float32))  # its forward and backward kernels
    module = next(m for n, m in sys.modules.items()
                  if n.startswith(f"minigrad_kernels_cpu_{name}_float32_"))
    for kernel in (module.forward, module.backward):
        # compiled again here (the kernel may come from the disk cache, which keeps no IR)
        options = {k: v for k, v in kernel.targetoptions.items() if k != "cache"}
        fresh = njit(**options)(kernel.py_func)
        fresh.compile(kernel.signatures[0])
        ir = fresh.inspect_llvm(kernel.signatures[0])
        assert re.search(r"<\d+ x float>", ir), f"{name}: the loop is not vectorised"
        called = set(re.findall(r"call [^@\n]*@(\w+)", ir))
        rules = [c for c in called if "scalar_rules" in c or "scalar_float32" in c]
        assert not rules, f"{name}: calls {rules}"
