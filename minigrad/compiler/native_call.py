"""Calls from a generated kernel to another compiled function through its address, not linked.

When an ``@njit`` function calls another, Numba links the callee's LLVM module into the caller's
and LLVM optimises and compiles the callee's body again inside the caller. A row chain's kernel
(chain_emit.py) calls the step's fused kernels and ``cpu_blas.gemm_packed``, each already
compiled on its own: linked, they made every chain kernel's cold compile 2-3 s of CPU (docs/
compiler.md, "How a chain kernel calls what it calls"). ``native(f, (a, b, ...))`` in a
kernel's source calls ``f``'s compiled code for those argument types instead: the caller's
module holds only a declaration of an external symbol and calls it with Numba's own calling
convention (status, return slot, exception slot, the flattened arguments: what a linked call
does), so an exception raised in ``f`` propagates as from any call. A call per (step, row block)
costs a few nanoseconds more than an inlined one; a call per element would not be cheap.

The symbol (``minigrad.native.<module>.<function>.<hash of the signature>``) is bound to the
callee's entry with llvmlite's ``add_symbol`` (as ``cpu_blas``'s ``numba_xxgemm`` is) when the
caller is typed, and in a later process before a caller cached on disk is loaded: typing also
writes the callee's argument types under ``<cache dir>/native/`` and ``bind(f)`` (called by the
program that holds the caller, before its first call) compiles or loads ``f`` for each of them
and binds the symbols. The symbol's name holds the return type too, so a callee whose result
changed is never called by an old caller under the same name.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile

from llvmlite import binding
from numba import types
from numba.core import cgutils
from numba.core.errors import NumbaError
from numba.extending import intrinsic

from .cache import cache_dir

_BOUND: dict[str, int] = {}  # symbol -> the address bound in this process


def _name(dispatcher) -> str:
    function = dispatcher.py_func
    return f"{function.__module__}.{function.__qualname__}"


def _symbol(dispatcher, signature) -> str:
    digest = hashlib.sha256(str(signature).encode()).hexdigest()[:16]
    return f"minigrad.native.{_name(dispatcher)}.{digest}"


def _folder(dispatcher):
    return cache_dir().parent / "native" / _name(dispatcher)


def _bind(dispatcher, args):
    """(symbol, signature) of dispatcher's code for args, compiled or loaded and bound."""
    result = dispatcher.overloads.get(args)
    if result is None:
        dispatcher.compile(args)
        result = dispatcher.overloads[args]
    symbol = _symbol(dispatcher, result.signature)
    address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
    if not address:
        raise RuntimeError(f"native: no entry {result.fndesc.llvm_func_name} in "
                           f"{_name(dispatcher)}'s code")
    if _BOUND.get(symbol) != address:
        binding.add_symbol(symbol, address)
        _BOUND[symbol] = address
    return symbol, result.signature


def _remember(dispatcher, args):
    """Write args under the callee's folder (once), for bind() in a later process."""
    folder = _folder(dispatcher)
    path = folder / (hashlib.sha256(str(args).encode()).hexdigest()[:20] + ".pkl")
    if path.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "wb") as f:
        pickle.dump(args, f)
    os.replace(temporary, path)


def bind(dispatcher) -> bool:
    """Bind the symbols of every signature a caller was typed with for dispatcher (before a
    caller cached on disk is loaded: an unbound symbol would stop the process). False when
    there is no record or one could not be read: a caller cached on disk may then need a
    symbol nobody binds, and must be compiled again (chain_emit drops its cache)."""
    folder = _folder(dispatcher)
    if not folder.is_dir():
        return False
    complete = True
    for path in sorted(folder.glob("*.pkl")):
        try:
            with open(path, "rb") as f:
                args = pickle.load(f)
        except Exception:  # torn, or written by another Numba version
            complete = False
            continue
        try:
            _bind(dispatcher, args)
        except (NumbaError, TypeError):  # types it no longer takes: no caller can call it so
            continue
    return complete


@intrinsic
def native(typingctx, function, args):
    """function(*args) through its compiled entry (the module's docstring); function is a
    global ``@njit`` dispatcher, args a tuple."""
    if not isinstance(function, types.Dispatcher) or not isinstance(args, types.BaseTuple):
        return None
    dispatcher = function.dispatcher
    called = function.get_call_type(typingctx, tuple(args), {})
    symbol, signature = _bind(dispatcher, called.args)
    _remember(dispatcher, called.args)

    def codegen(context, builder, sig, values):
        items = cgutils.unpack_tuple(builder, values[1], len(sig.args[1]))
        items = [context.cast(builder, v, t, want)
                 for v, t, want in zip(items, sig.args[1], signature.args)]
        type_ = context.call_conv.get_function_type(signature.return_type, signature.args)
        callee = cgutils.get_or_insert_function(builder.module, type_, symbol)
        status, result = context.call_conv.call_function(
            builder, callee, signature.return_type, signature.args, items)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return result

    return signature.return_type(function, args), codegen
