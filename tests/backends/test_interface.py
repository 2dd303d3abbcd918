"""The CPU backend module satisfies the Backend contract (backends/interface.py) and has no public
function outside it; tests/cuda/test_backend_interface.py holds the CUDA module to it too."""

from __future__ import annotations

import inspect

import numpy as np

from minigrad.backends import cpu, interface


def _public_callables(module):
    out = {}
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("_") or isinstance(value, type) or not callable(value):
            continue
        if getattr(value, "__module__", "").endswith(("cpu_kernels", "cpu_blas", "memory")):
            continue  # numba/BLAS helpers imported into cpu.py, not the interface
        out[name] = value
    return out


def test_cpu_backend_has_every_member_with_its_parameters():
    for name, parameters in interface.members().items():
        assert hasattr(cpu, name), f"cpu backend lacks {name}"
        fn = getattr(cpu, name)
        if isinstance(fn, np.ufunc):
            assert fn.nin == len(parameters), f"{name}: ufunc arity"
            continue
        assert list(inspect.signature(fn).parameters) == parameters, name


def test_cpu_backend_exports_nothing_outside_the_contract():
    extra = sorted(set(_public_callables(cpu)) - set(interface.members()))
    assert not extra, f"public cpu backend functions missing from interface.Backend: {extra}"


def test_every_member_has_a_one_line_doc():
    for name, fn in vars(interface.Backend).items():
        if callable(fn) and not name.startswith("_"):
            assert (fn.__doc__ or "").strip(), f"{name} has no doc"
