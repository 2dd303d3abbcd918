"""``mg.compile(fn)``: a function of tensors traced once per input signature and replayed as a
program of kernel calls (docs/compiler.md).

The first call with a signature runs fn eagerly under a ``Recorder`` (compiler/record.py): its
result and its side effects are eager's. The recorded kernel calls become a generated function
(compiler/program.py) that later calls with the same signature run instead, with no tape, no
Tensor objects in between and no Python of fn. The signature is every argument's shape, dtype,
device and requires_grad (nested in tuples, lists and dicts), the values of Python numbers,
strings and None among the arguments and among the constants fn closes over or reads as
globals (the identity of any other object), whether gradients are enabled, and the aliasing of
the tensor arguments. The program's own guards check the state it reads (a parameter's shape
and dtype, whether a .grad is None); a guard that fails runs before anything else, and the call
traces again.
"""

from __future__ import annotations

import dis
import functools
from collections import OrderedDict, namedtuple

import numpy as np

from .. import autograd
from ..backends import backend_of
from ..backends.cpu_blas import single_threaded_blas
from ..nn import STRUCTURE, Module
from ..tensor import Tensor
from .batch import batch
from .fold_clip import fold_clip
from .fuse import fuse
from .program import MISS, free_slots, generate, result_slots
from .record import CompileError, Const, Recorder, Slot, recording
from .row_chain import chain_rows
from .split_products import split_products

CacheInfo = namedtuple("CacheInfo", "traces hits misses size max_size")
_SIMPLE = (int, float, bool, str, type(None))
_UNBOUND = object()
_CONTAINER = 64  # a closed-over tuple, list or dict up to this many items is read by its items


class CompiledFunction:
    """fn compiled per signature; call it as fn. ``cache_info()`` counts traces and hits."""

    def __init__(self, fn, max_traces: int = 8, fuse: bool = True):
        if not callable(fn):
            raise TypeError(f"mg.compile: fn must be callable, got {type(fn).__name__}")
        if not isinstance(max_traces, int) or max_traces < 1:
            raise ValueError(f"mg.compile: max_traces must be an int >= 1, got {max_traces!r}")
        self.fn = fn
        self.max_traces = max_traces
        self.fuse = fuse
        self.name = getattr(fn, "__qualname__", None) or type(fn).__name__
        self._code = _code_owner(fn)  # the function whose closure, defaults, globals are read
        self._globals = _global_names(self._code)
        self._bound = _bound_objects(fn)  # a bound method's self, a partial's arguments
        self._structure = None  # the modules' part of the last key (docs/compiler.md)
        self._cache: OrderedDict = OrderedDict()  # key -> [(program, kept objects)]
        self.traces = self.hits = self.misses = 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if autograd.state.compiling:  # called while an outer compiled function traces: inline
            return self.fn(*args, **kwargs)
        leaves, objects = [], []
        key = (_walk(args, leaves, objects), _walk(kwargs, leaves, objects),
               self._closure_key(objects), autograd.state.grad_enabled, autograd.state.anomaly,
               _aliasing(leaves))
        key = (key, self._modules_key(objects))
        entries = self._cache.get(key)
        if entries is not None:
            self._cache.move_to_end(key)
            for entry in entries:
                with single_threaded_blas():  # minigrad's threads only (docs/fused_kernels.md)
                    out = entry.program.function(*leaves)
                if out is not MISS:
                    self.hits += 1
                    return out if entry.node is None else entry.node.attach(out, leaves)
        self.misses += 1
        entry, out = self._trace(args, kwargs, leaves, objects)
        self.traces += 1
        self._cache.setdefault(key, []).append(entry)
        while sum(len(v) for v in self._cache.values()) > self.max_traces:
            oldest = next(iter(self._cache))
            self._cache[oldest].pop(0)
            if not self._cache[oldest]:
                del self._cache[oldest]
        return out

    def _trace(self, args, kwargs, leaves, objects):
        # an argument with a graph of its own is traced as a fresh leaf (the program's input)
        stand_ins = {id(t): Tensor._wrap(t.data, True) for t in leaves
                     if t.requires_grad and not t.is_leaf}
        if stand_ins:
            args, kwargs = _substitute(args, stand_ins), _substitute(kwargs, stand_ins)
        rec = Recorder(self.name, [stand_ins.get(id(t), t) for t in leaves])
        with recording(rec) as box:
            out = self.fn(*args, **kwargs)
            live = [(path, t) for path, t in _tensors(out, ()) if _has_graph(t)]
            node = self._trace_backward(rec, live, box, leaves) if live else None
            result = _result(rec, out, {path for path, _ in live})
        for t in leaves:
            if id(t) in stand_ins and stand_ins[id(t)].grad is not None:
                t.grad = stand_ins[id(t)].grad
        if node is None:
            program = generate(rec, len(leaves), result, self.name,
                               ops=self._fused(rec, result_slots(result, set())))
            return Entry(program, None, objects), out
        residuals = sorted(node.residuals)
        arrays = tuple(("array", Slot(i)) for i in node.output_slots)
        saved = tuple(("array", Slot(i)) for i in residuals)
        returned = (result, arrays, saved)
        forward = generate(rec, len(leaves), returned, self.name,
                           ops=self._fused(rec, result_slots(returned, set())))
        # the backward's trace ran on the traced forward's buffers (some kernels overwrite what
        # they read): the first call's outputs and residuals come from the program, run once
        # from the state the trace started from (its effects and random draws happen once)
        rec.rewind()
        returned = forward.function(*leaves)
        if returned is MISS:
            raise RuntimeError(f"mg.compile: {self.name} changed its own state while traced")
        return Entry(forward, node, objects), node.attach(returned, leaves)

    def _trace_backward(self, rec, live, box, leaves):
        """Trace the backward of fn's live outputs from upstream gradients that are inputs of
        a second program; it returns the gradient of every older tensor the walk reached."""
        back = rec.fork()
        box[0] = back
        upstream, seeds = [], []
        for _, t in live:
            back.depth += 1  # the seeds are the backward program's inputs, not its ops
            data = t.data
            seed = backend_of(data).ones(data.shape, data.dtype)
            back.depth -= 1
            upstream.append(back.new_slot(seed))
            seeds.append(seed)
        for k, (_, t) in enumerate(live):
            t.backward(Tensor._wrap(seeds[k]), retain_graph=k < len(live) - 1)
        box[0] = rec
        grads = tuple(("array", back.template(back.shadow[id(t)])) for t in back.shadowed)
        ops = self._batched(back, result_slots(grads, set()))
        residuals = free_slots(ops, grads) - {s.i for s in upstream}
        binds = [(s, f"G[{k}]") for k, s in enumerate(upstream)]
        binds += [(Slot(i), f"R[{k}]") for k, i in enumerate(sorted(residuals))]
        program = generate(back, len(leaves), grads, self.name + " backward",
                           inputs=("G", "R"), binds=binds,
                           ops=self._fused(back, result_slots(grads, set()), ops))
        output_slots = [rec.slot_of[id(t.data)] for _, t in live]
        holders = [rec.holder(t) for t in back.shadowed]
        return Node(self.name, program, [path for path, _ in live], output_slots, residuals,
                    holders, rec.held)

    def _batched(self, rec, keep):
        """rec's operations with the loop's independent GEMMs and row sums batched
        (compiler/batch.py), clipping's scaling folded into the Adam step after it
        (compiler/fold_clip.py) and the large products split over minigrad's threads
        (compiler/split_products.py)."""
        if not self.fuse:
            return rec.ops

        return split_products(fold_clip(batch(rec.ops, rec.values, keep,
                                              lambda value: _new_slot(rec, value)),
                                        rec.values, keep), keep)

    def _fused(self, rec, keep, ops=None):
        """The operations as the program runs them: batched, then elementwise runs fused."""
        if not self.fuse:
            return rec.ops
        fused = fuse(self._batched(rec, keep) if ops is None else ops, rec.values, keep)
        # the row chains find the per-step GEMMs by name (split_products' stand-ins keep it)
        return chain_rows(fused, rec.values, keep, lambda value: _new_slot(rec, value))

    def _closure_key(self, objects):
        fn = self._code
        values = []
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                values.append(("empty",))
                continue
            values.append(_constant(value, objects))
        for value in getattr(fn, "__defaults__", None) or ():
            values.append(_constant(value, objects))
        if self._globals:
            names = fn.__globals__
            for name in self._globals:
                value = names.get(name, _UNBOUND)
                values.append(("unbound",) if value is _UNBOUND else _constant(value, objects))
        return tuple(values)

    def _modules_key(self, objects):
        """The structure of every Module among fn's bound objects and the key's objects (its
        mode, settings and parameter objects: Module.structure), reread only after a Module
        changed anywhere (nn.STRUCTURE moved). A module met inside a container or through
        another object's attributes is not read."""
        found = [o for o in (*self._bound, *objects) if isinstance(o, Module)]
        if not found:
            return ()
        ids = tuple(map(id, found))
        last = self._structure
        if last is not None and last[0] == STRUCTURE[0] and last[1] == ids:
            objects.extend(last[3])
            return last[2]
        kept: list = []
        key = tuple(m.structure(kept) for m in found)
        self._structure = (STRUCTURE[0], ids, key, kept)
        objects.extend(kept)
        return key

    def cache_info(self) -> CacheInfo:
        """(traces, hits, misses, size, max_size): traces made, calls served by a program,
        calls that traced, programs held now and the most it holds."""
        size = sum(len(v) for v in self._cache.values())
        return CacheInfo(self.traces, self.hits, self.misses, size, self.max_traces)

    def cache_clear(self) -> None:
        """Drop every program (the next call traces again); the counters stay."""
        self._cache.clear()

    def programs(self) -> list:
        """The programs held now (their generated source is ``program.source``; a function with
        live outputs also has ``entry.node.backward``)."""
        return [e.program for entries in self._cache.values() for e in entries]


def compile(fn=None, *, max_traces: int = 8, fuse: bool = True):  # noqa: A001 - as torch's
    """Compile fn (forward, loss, backward(), clipping, optimizer step: any function of
    tensors); usable as ``mg.compile(fn)`` or as a decorator, with or without arguments.
    fuse=False keeps every recorded kernel call (no generated elementwise kernels)."""
    if fn is None:
        return lambda f: CompiledFunction(f, max_traces, fuse)
    return CompiledFunction(fn, max_traces, fuse)


def _new_slot(rec, value) -> Slot:
    """A slot for an array a pass makes (value: an array like the one it holds)."""
    i = rec.counter[0]
    rec.counter[0] += 1
    rec.values.append(value)
    return Slot(i)


def _constant(value, objects, depth=0):
    """value's part of the signature: a number, string, bool, None or numpy scalar by value; a
    tuple, list or dict of at most _CONTAINER items (3 levels deep) by its items (a closed-over
    list whose number changed traces again); anything else by identity (kept in objects)."""
    kind = type(value)
    if kind in _SIMPLE:
        return (kind.__name__, value)
    if isinstance(value, np.generic):
        return ("numpy", value.dtype.str, value.item())
    if depth < 3 and kind in (tuple, list, dict) and len(value) <= _CONTAINER:
        if kind is dict:
            return ("dict", tuple((k, _constant(v, objects, depth + 1))
                                  for k, v in value.items()))
        return (kind.__name__, tuple(_constant(v, objects, depth + 1) for v in value))
    if isinstance(value, Tensor):  # a tensor closed over is state: its shape is guarded inside
        objects.append(value)
        return ("tensor", id(value))
    objects.append(value)
    return ("object", id(value))


def _code_owner(fn):
    """The Python function behind fn: a bound method's function, a functools.partial's, a
    callable object's __call__."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not hasattr(fn, "__code__") and not hasattr(fn, "__func__"):
        fn = type(fn).__call__  # fn is callable (checked): its class has __call__
    return getattr(fn, "__func__", fn)


def _bound_objects(fn) -> list:
    """The objects fn carries besides its code: a bound method's self, a callable object
    itself, a functools.partial's arguments."""
    bound = []
    while isinstance(fn, functools.partial):
        bound.extend((*fn.args, *fn.keywords.values()))
        fn = fn.func
    if hasattr(fn, "__self__"):
        bound.append(fn.__self__)
    elif not hasattr(fn, "__code__"):
        bound.append(fn)
    return bound


def _global_names(fn) -> tuple:
    """The global names fn's code (and the code nested in it: lambdas, comprehensions) reads:
    their values are constants of the program, as the closure's are. Only the names loaded as
    globals: co_names also holds attribute names (``opt.step()``'s "step"), and a global that
    happens to share one (a loop's ``step`` counter) must not retrace every call."""
    code = getattr(fn, "__code__", None)
    if code is None or not isinstance(getattr(fn, "__globals__", None), dict):
        return ()
    names, todo = [], [code]
    while todo:
        code = todo.pop()
        names.extend(i.argval for i in dis.get_instructions(code)
                     if i.opname in ("LOAD_GLOBAL", "LOAD_NAME"))
        todo.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    return tuple(dict.fromkeys(names))


def _walk(x, leaves, objects):
    if isinstance(x, Tensor):
        leaves.append(x)
        data = x.data
        return ("T", tuple(data.shape), np.dtype(data.dtype).str, type(data), x.requires_grad)
    kind = type(x)
    if kind in _SIMPLE:
        return (kind.__name__, x)
    if kind is tuple or kind is list:
        return (kind.__name__, tuple(_walk(y, leaves, objects) for y in x))
    if kind is dict:
        return ("dict", tuple((k, _walk(v, leaves, objects)) for k, v in x.items()))
    if isinstance(x, np.generic) and x.ndim == 0 and x.dtype.kind in "biuf":
        return ("numpy", x.dtype.str, x.item())  # a numpy number: a constant, as a Python one
    if isinstance(x, np.ndarray | np.generic):
        raise CompileError(f"mg.compile: an argument is a numpy {type(x).__name__}; pass a "
                           "Tensor (mg.tensor(...)) so the compiled program reads it on every call")
    objects.append(x)
    return ("object", id(x))


def _aliasing(leaves):
    first: dict[int, int] = {}
    return tuple(first.setdefault(id(t), i) for i, t in enumerate(leaves))


def _result(rec: Recorder, out, live, path=()):
    """The template of fn's return value: tensors by their data's slot; None where a live
    output goes (the compiled node's output is placed there)."""
    if path in live:
        return Const(None)
    if isinstance(out, Tensor):
        data = out.data  # through the recorder: an argument's or a parameter's data is loaded
        slot = rec.slot_of.get(id(data))
        return ("tensor", Slot(slot)) if slot is not None else Const(out)
    kind = type(out)
    if kind is tuple or kind is list:
        return kind(_result(rec, x, live, (*path, k)) for k, x in enumerate(out))
    if kind is dict:
        return {k: _result(rec, v, live, (*path, k)) for k, v in out.items()}
    return Const(out)


def _has_graph(t: Tensor) -> bool:
    node = t.grad_fn
    node = node[0] if type(node) is tuple else node
    return node is not None and node.backward is not None


def _tensors(out, path):
    if isinstance(out, Tensor):
        yield path, out
    elif type(out) in (tuple, list):
        for k, x in enumerate(out):
            yield from _tensors(x, (*path, k))
    elif type(out) is dict:
        for k, x in out.items():
            yield from _tensors(x, (*path, k))


def _place(out, values: dict, path=()):
    """out with values[path] put at each path."""
    if path in values:
        return values[path]
    kind = type(out)
    if kind is tuple or kind is list:
        return kind(_place(x, values, (*path, k)) for k, x in enumerate(out))
    if kind is dict:
        return {k: _place(x, values, (*path, k)) for k, x in out.items()}
    return out


def _substitute(x, tensors: dict):
    if isinstance(x, Tensor):
        return tensors.get(id(x), x)
    kind = type(x)
    if kind is tuple or kind is list:
        return kind(_substitute(y, tensors) for y in x)
    if kind is dict:
        return {k: _substitute(v, tensors) for k, v in x.items()}
    return x


class Entry:
    """One trace: its forward program, its backward (a Node) if it returns live outputs, and the
    objects of its signature (kept alive so their ids stay theirs)."""

    __slots__ = ("program", "node", "objects")

    def __init__(self, program, node, objects):
        self.program, self.node, self.objects = program, node, objects


class Node:
    """The backward of a compiled function whose outputs have a graph: one tape node over the
    tensors its backward reached (arguments and parameters), run by the backward program."""

    def __init__(self, name, backward, paths, output_slots, residuals, holders, held):
        self.name, self.backward, self.paths = name, backward, paths
        self.output_slots, self.residuals = output_slots, residuals
        self.holders, self.held = holders, held

    def attach(self, returned, leaves):
        """(result with None at live paths, live output arrays, residuals) -> the result with
        the node's output tensors in place."""
        result, arrays, residuals = returned
        inputs = [leaves[i] if kind == "arg" else self.held[i] for kind, i in self.holders]
        program, name, saved = self.backward.function, self.name, [residuals]

        def backward(grads):
            if saved[0] is None:
                raise RuntimeError(f"mg.compile: a second backward through {name} (the compiled "
                                   "backward reuses its saved buffers); call the function again")
            upstream = tuple(g if g is not None else backend_of(a).zeros(a.shape, a.dtype)
                             for g, a in zip(grads, arrays))
            out = program(*leaves, upstream, saved[0])
            saved[0] = None
            if out is MISS:
                raise RuntimeError(f"mg.compile: a parameter of {name} changed shape or dtype "
                                   "between its forward and its backward")
            return out

        tensors = autograd.record_multi(f"compiled {name}", list(arrays), inputs, backward)
        return _place(result, dict(zip(self.paths, tensors)))

