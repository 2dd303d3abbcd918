"""A host read that happens inside one of minigrad's own ops (mg.sort, mg.nonzero read their
input on the host) is named by that op, the user's call, not by the .numpy() inside it."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize(("fn", "op", "source"), [
    (lambda x: mg.sort(x, axis=0)[0], "sort()", "mg.sort(x, axis=0)[0]"),
    (lambda x: mg.nonzero(x > 0), "nonzero()", "mg.nonzero(x > 0)"),
])
def test_a_host_read_inside_an_op_names_the_op_and_the_line(fn, op, source):
    step = mg.compile(fn)
    x = mg.tensor(np.random.default_rng(0).normal(size=(4, 3)))
    with pytest.raises(mg.CompileError) as info:
        step(x)
    message = str(info.value)
    assert message.startswith(f"mg.compile: cannot compile {op} (it reads .numpy() on the host)")
    assert "test_compile_error_names.py" in message and source in message
    assert "call the function without mg.compile to run it eagerly" in message


def test_a_direct_read_is_still_named_as_written():
    step = mg.compile(lambda x: x.sum().item())
    with pytest.raises(mg.CompileError, match=r"cannot compile \.item\(\) in \S*<lambda> at "):
        step(mg.tensor(np.ones(3)))


def _helper_reading_the_host(x):
    return x * x.sum().item()


def _step_calling_a_helper(x):
    y = x * 2
    return _helper_reading_the_host(y)


def test_a_read_in_called_code_also_names_the_compiled_function_s_line():
    """The op's line is the helper's; the message also names the line of the compiled function
    that called it (a layer's internals would otherwise be all the user sees)."""
    step = mg.compile(_step_calling_a_helper)
    with pytest.raises(mg.CompileError) as info:
        step(mg.tensor(np.ones(3)))
    message = str(info.value)
    assert "cannot compile .item() in _step_calling_a_helper at " in message
    assert "'return x * x.sum().item()'" in message
    assert "reached from _step_calling_a_helper at " in message
    assert "'return _helper_reading_the_host(y)'" in message
    direct = mg.compile(lambda x: x.sum().item())
    with pytest.raises(mg.CompileError) as info:  # the op in fn itself: no "reached from"
        direct(mg.tensor(np.ones(3)))
    assert "reached from" not in str(info.value)
