"""compiler/native_call.py: a kernel calls another compiled function through a bound symbol,
not linked into its own module. The right function is called with the right arguments (two
callees of one signature, one callee at two signatures), exceptions propagate, the caller's code
holds no copy of the callee, and a caller cached on disk runs in a second process after bind()."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from minigrad.compiler.native_call import bind, native


@njit
def _scaled_sum(a, b, k):
    return a + b * k, a - b


@njit
def _scaled_difference(a, b, k):
    return a - b * k, a * b


@njit
def _checked_total(a):
    if a.shape[0] > 3:
        raise ValueError("_checked_total: at most 3 values")
    return a.sum()


@njit
def _both(a, b):
    first = native(_scaled_sum, (a, b, 2.0))
    second = native(_scaled_difference, (a, b, 3.0))
    return first[0], first[1], second[0], second[1]


@njit
def _total(a):
    return native(_checked_total, (a,))


def test_each_call_reaches_its_own_function_with_its_arguments():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 4.0])
    s0, s1, d0, d1 = _both(a, b)
    np.testing.assert_array_equal(s0, a + b * 2.0)
    np.testing.assert_array_equal(s1, a - b)
    np.testing.assert_array_equal(d0, a - b * 3.0)
    np.testing.assert_array_equal(d1, a * b)


def test_one_function_at_two_signatures():
    for dtype in (np.float32, np.float64):
        assert _total(np.array([0.25, 0.5, 2.0], dtype)) == 2.75
    symbols = set()
    for signature in _total.signatures:
        symbols |= {line.split("@")[1].split("(")[0]
                    for line in _total.inspect_llvm(signature).splitlines()
                    if line.startswith("declare") and "minigrad.native." in line}
    assert len(_total.signatures) == 2 and len(symbols) == 2  # a symbol per signature


def test_an_exception_in_the_callee_reaches_the_caller():
    with pytest.raises(ValueError, match="at most 3 values"):
        _total(np.arange(5.0))
    assert _total(np.arange(3.0)) == 3.0  # and the caller still works after it


def test_the_caller_holds_no_copy_of_the_callee():
    a = np.ones(3)
    _both(a, a)
    ir = _both.inspect_llvm(_both.signatures[0])
    defined = [line for line in ir.splitlines() if line.startswith("define")]
    assert not any("_scaled_sum" in line or "_scaled_difference" in line for line in defined)
    declared = [line for line in ir.splitlines()
                if line.startswith("declare") and "minigrad.native." in line]
    assert len(declared) == 2  # one symbol per callee


def test_bind_without_a_record_does_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path))

    @njit
    def never_called_natively(x):
        return x

    bind(never_called_natively)
    assert never_called_natively.signatures == []


def test_bind_skips_a_record_the_function_no_longer_takes(tmp_path, monkeypatch):
    """A record of argument types the function cannot be compiled for (its code changed since)
    is passed over; the valid record beside it is bound."""
    import pickle

    from numba import types

    from minigrad.compiler import native_call

    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path))

    @njit
    def halve(a):
        return a * 0.5

    folder = native_call._folder(halve)
    folder.mkdir(parents=True)
    for name, args in (("arity", (types.float64[::1], types.float64[::1])),
                       ("typing", (types.unicode_type,)), ("good", (types.float64[::1],))):
        with open(folder / f"{name}.pkl", "wb") as f:
            pickle.dump(args, f)
    bind(halve)
    assert halve.signatures == [(types.float64[::1],)]


CACHED_SCRIPT = """
import json
import numpy as np
from minigrad.compiler.cache import load
from minigrad.compiler.native_call import bind
callee = load('''
from numba import njit
@njit(cache=True)
def weighted(a, w):
    return (a * w).sum(), a.shape[0]
''', "test_native_callee")
caller = load('''
from numba import njit
from minigrad.compiler.native_call import native
from %s import weighted
@njit(cache=True)
def run(a, w):
    out = native(weighted, (a, w))
    return out[0] + out[1]
''' % callee.__name__, "test_native_caller")
bind(callee.weighted)  # what a row chain's program does before its kernel's first call
value = caller.run(np.arange(4.0), 0.5)
print(json.dumps({"value": value, "hits": sum(caller.run.stats.cache_hits.values()),
                  "misses": sum(caller.run.stats.cache_misses.values())}))
"""


def test_a_cached_caller_runs_in_a_second_process(two_processes):
    first, second = two_processes(CACHED_SCRIPT)
    assert first["value"] == second["value"] == 0.5 * 6 + 4
    assert first["misses"] == 1
    assert second["hits"] == 1 and second["misses"] == 0
