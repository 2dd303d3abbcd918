"""The CUDA backend has the CPU backend's interface, and the index helper shared by both targets
(written once, compiled with njit for the CPU and cuda.jit for the device) is right."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from minigrad.backends import cpu, get, indexing

pytestmark = pytest.mark.cuda


def public_functions(module):
    return {name: getattr(module, name) for name in dir(module)
            if not name.startswith("_") and inspect.isfunction(getattr(module, name))}


def test_cuda_backend_has_every_cpu_backend_name_with_the_same_parameters():
    cuda = get("cuda")
    assert cuda.name == "cuda" and cpu.name == "cpu"
    cuda_functions = public_functions(cuda)
    for name, function in public_functions(cpu).items():
        if function.__module__.endswith(("cpu_kernels", "cpu_blas")):
            continue  # numba/BLAS helpers imported into cpu.py, not the interface
        assert name in cuda_functions, f"cuda backend lacks {name}"
        expected = list(inspect.signature(function).parameters)
        got = list(inspect.signature(cuda_functions[name]).parameters)
        assert got == expected, f"{name}: cuda takes {got}, cpu takes {expected}"


def test_cuda_backend_has_every_member_of_the_contract():
    from minigrad.backends import interface

    cuda = get("cuda")
    for name, parameters in interface.members().items():
        assert callable(getattr(cuda, name, None)), f"cuda backend lacks {name}"
        got = list(inspect.signature(getattr(cuda, name)).parameters)
        assert got == parameters, f"{name}: cuda takes {got}, the contract {parameters}"


@pytest.mark.parametrize("shape", [(1,), (5,), (2, 3), (3, 1, 4), (2, 3, 2, 2)])
def test_strided_offset_compiled_for_the_cpu_matches_numpy(shape):
    rng = np.random.default_rng(len(shape))
    strides = tuple(int(s) for s in rng.integers(-3, 7, len(shape)))
    for position in range(int(np.prod(shape))):
        index = np.unravel_index(position, shape)
        expected = int(np.dot(index, strides))
        assert indexing.strided_offset_cpu(position, shape, strides) == expected
        assert indexing.strided_offset(position, shape, strides) == expected


INDEXES = [1, -1, (1, 2), (slice(None), None, 1), (Ellipsis, 2), (slice(None, None, -1), 1),
           (None,), (1, Ellipsis, None, slice(0, 4, 2)), (slice(1, None), slice(None, None, -2))]


@pytest.mark.parametrize("index", INDEXES, ids=str)
def test_basic_view_gives_numpys_view(index):
    a = np.arange(24).reshape(2, 3, 4)
    shape, offset, strides = indexing.basic_view(a.shape, index)
    expected = a[index]
    assert shape == expected.shape
    shape1, strides1 = indexing.at_least_1d(shape, strides)
    got = [a.reshape(-1)[offset + indexing.strided_offset_cpu(i, shape1, strides1)]
           for i in range(int(np.prod(shape)))]
    np.testing.assert_array_equal(np.array(got).reshape(shape), expected)


@pytest.mark.parametrize("index", [(1, 2, 3, 4), (5,), (Ellipsis, Ellipsis)], ids=str)
def test_basic_view_raises_numpys_index_errors(index):
    with pytest.raises(IndexError):
        indexing.basic_view((2, 3, 4), index)


@pytest.mark.parametrize("shape", [(3, 1), (1,), (4,), (), (2, 3, 4), (2, 1, 4)], ids=str)
def test_broadcast_strides_read_numpys_broadcast(shape):
    target = (2, 3, 4)
    strides = indexing.broadcast_strides(shape, target)
    source = np.arange(int(np.prod(shape))).reshape(shape)
    got = [source.reshape(-1)[indexing.strided_offset_cpu(i, target, strides)] for i in range(24)]
    np.testing.assert_array_equal(np.array(got).reshape(target), np.broadcast_to(source, target))


def test_broadcast_strides_reject_incompatible_shapes():
    with pytest.raises(ValueError, match="does not broadcast"):
        indexing.broadcast_strides((3,), (2, 4))


@pytest.mark.parametrize("accumulate", [False, True])
def test_gemm_strided_on_the_device_equals_the_cpu(accumulate, rng):
    """The Protocol's GEMM into a window of a flat buffer (the fused recurrences' per-step GEMM),
    with a strided A and a transposed B, on both backends."""
    cuda = get("cuda")
    m, n, inner = 5, 4, 3
    a = rng.standard_normal((m, inner + 2))
    b = rng.standard_normal((n, inner))
    out = rng.standard_normal((m + 2, 9))
    args = (1, inner + 2, 1), (0, 1, inner), (2 * 9 + 3, m, n, inner)
    expected = out.copy().reshape(-1)
    cpu.gemm_strided(a.reshape(-1), *args[0], b.reshape(-1), *args[1], expected, *args[2],
                     accumulate=accumulate, out_row=9)
    got = cuda.from_host(out.reshape(-1).copy())
    cuda.gemm_strided(cuda.from_host(a.reshape(-1)), *args[0], cuda.from_host(b.reshape(-1)),
                      *args[1], got, *args[2], accumulate=accumulate, out_row=9)
    np.testing.assert_allclose(cuda.to_host(got), expected, rtol=1e-12)
