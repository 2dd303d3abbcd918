"""The trace of ``mg.compile``: one eager run of the user's function, recorded at the level of
backend kernel calls on raw arrays.

While a ``Recorder`` is active (``recording(rec)``), every function of the backend contract
(``backends/interface.py``) on the loaded backend modules, the fused recurrences' runners
(``compiler/run_cpu.py``, ``run_cuda.py``), clip_grad_norm_'s kernels (``optim_kernels.grad_norm``,
``clip_scaled``) and ``Optimizer.step`` are replaced by wrappers that
run the original and append one operation to the recorder; ``Tensor.data`` and ``Tensor.grad``
become properties that see every read and write of those attributes. So the forward ops, the
VJP closures the tape calls during ``backward()`` and the optimizer's kernels are all captured as
they run. Only the outermost call is recorded (``depth``): a backend function calling another,
or anything inside a recorded runner, is part of its caller.

Arrays are named by identity: an array returned by a recorded call gets a slot; an array read
from an attribute of a tensor that existed before the call (an argument or a parameter) is a
``load`` of that attribute; a write of ``.grad``/``.data`` on such a tensor is a ``set``. Every
other object in an argument is a constant of the program. A host read (``to_host``: ``.numpy()``,
``.item()``, ``bool(tensor)``, ``float(...)``; ``all_finite``) raises ``CompileError`` naming the
op and the user's source line: its value would be baked into the program.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import threading
from threading import get_ident

import numpy as np

from .. import autograd
from ..backends import backend_of, interface

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# one trace at a time in a process: a trace patches module state (the backends' functions,
# Tensor's attributes), and two interleaved ones restored each other's wrappers for good
_TRACING = threading.RLock()
_HOST_READS = {"to_host": "a host read", "all_finite": "a host read (anomaly detection)"}
_TENSOR_READS = {"numpy": ".numpy()", "item": ".item()", "tolist": ".tolist()",
                 "__bool__": "bool(tensor)", "__repr__": "repr(tensor)", "__len__": "len()"}


class CompileError(RuntimeError):
    """The function cannot be compiled: names the op, the user's line and the way out."""


class Slot:
    """A program variable (``s<i>``) in an operation's argument or result template."""

    __slots__ = ("i", "scalar")

    def __init__(self, i, scalar=False):
        self.i, self.scalar = i, scalar


class Const:
    """A constant object of the program (a Python value, a dtype, a plan, a parameter tensor)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def is_array(x) -> bool:
    return type(x) is np.ndarray or (not isinstance(x, np.generic) and (
        hasattr(x, "__cuda_array_interface__") or hasattr(x, "__cuda_ndarray__")))


def user_frame():
    """(file, line, source, op) of the innermost frame outside minigrad and the minigrad call
    (the outermost Tensor conversion method, else the outermost minigrad function) that led to
    it."""
    frame, op, outer = sys._getframe(1), None, None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if path.startswith(_PACKAGE + os.sep):
            name = frame.f_code.co_name
            if path.endswith(os.path.join("minigrad", "tensor.py")) and name in _TENSOR_READS:
                op = _TENSOR_READS[name]
            outer = name
        else:
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            if op and outer not in (None, *_TENSOR_READS):  # mg.sort's own .numpy(): name sort
                op = f"{outer}() (it reads {op} on the host)"
            return frame.f_code.co_filename, frame.f_lineno, line, op or (outer and f"{outer}()")
        frame = frame.f_back
    return "?", 0, "", op


def compile_error(fn_name: str, op: str, reason: str, from_stack: bool = True) -> CompileError:
    path, line, source, found = user_frame()
    what = (found if from_stack else None) or op
    return CompileError(
        f"mg.compile: cannot compile {what} in {fn_name} at {path}:{line} ({source!r})"
        f"{_reached_from(fn_name, path, line)}: {reason}. "
        f"Nothing was compiled; call the function without mg.compile to run it eagerly."
    )


def _reached_from(fn_name: str, path: str, line: int) -> str:
    """The line of the compiled function itself that led to the op, where the op's own line is
    in code it called (a layer's, a helper's): ", reached from fn at file:line (source)"."""
    frame = sys._getframe(2)
    while frame is not None:
        if getattr(frame.f_code, "co_qualname", None) == fn_name:
            here = (frame.f_code.co_filename, frame.f_lineno)
            if here == (path, line):
                return ""
            source = linecache.getline(here[0], here[1]).strip()
            return f", reached from {fn_name} at {here[0]}:{here[1]} ({source!r})"
        frame = frame.f_back
    return ""


class Recorder:
    """The operations of one traced call, in order, and the names of the arrays they touch."""

    def __init__(self, fn_name: str, arg_tensors):
        self.fn_name = fn_name
        self.ops: list[tuple] = []
        self.slot_of: dict[int, int] = {}
        self.keep: list = []  # every named object stays alive: ids are never reused in a trace
        self.counter = [0]  # slots made (shared with a fork)
        self.values: list = []  # the array of each slot in this trace
        self.depth = 0
        self.args = {id(t): i for i, t in reversed(list(enumerate(arg_tensors)))}
        self.held: list = []  # tensors the program reads or writes (parameters, ...)
        self.held_index: dict[int, int] = {}
        self.born: set[int] = set()  # tensors created during the trace
        self.known: set = set()  # (id(tensor), attr) already loaded or set by the program
        self.shadow: dict | None = None  # a backward trace: .grad of older tensors lands here
        self.shadowed: list = []  # those tensors, in the order their gradient arrived
        self.generators: dict = {}  # id -> (numpy Generator, its state before its first draw)
        # what the trace found before it changed it (Recorder.rewind): arrays loaded from
        # tensors (by id: the array and a copy), attributes written (the tensor, the name, the
        # value), optimizers stepped (the optimizer, its step count, its state dicts' items)
        self.before_arrays: dict = {}
        self.before_attrs: dict = {}
        self.before_optimizers: dict = {}

    @property
    def n_slots(self) -> int:
        return self.counter[0]

    def fork(self) -> Recorder:
        """A recorder for the backward of this trace: the same names (the forward's arrays are
        its residuals), its own operations, gradients of older tensors shadowed, not written."""
        other = Recorder.__new__(Recorder)
        other.__dict__.update(self.__dict__)
        other.ops, other.known, other.depth = [], set(), 0
        other.shadow, other.shadowed = {}, []
        return other

    # ---- naming ------------------------------------------------------------------------------
    def new_slot(self, value, scalar=False) -> Slot:
        i = self.counter[0]
        self.counter[0] += 1
        self.slot_of[id(value)] = i
        self.values.append(value)
        return Slot(i, scalar)

    def holder(self, t):
        i = self.args.get(id(t))
        if i is not None:
            return ("arg", i)
        k = self.held_index.get(id(t))
        if k is None:
            k = self.held_index[id(t)] = len(self.held)
            self.held.append(t)
        return ("obj", k)

    def template(self, x):
        i = self.slot_of.get(id(x))
        if i is not None:
            return Slot(i)
        kind = type(x)
        if kind is tuple or kind is list:
            return kind(self.template(y) for y in x)
        if kind is dict:
            return {k: self.template(v) for k, v in x.items()}
        if type(x) is np.ndarray:
            base = x.base
            while base is not None:
                if id(base) in self.slot_of:
                    raise compile_error(self.fn_name, "an array computed outside the backend",
                                        "a view of a computed array was made by code the "
                                        "compiler does not record")
                base = getattr(base, "base", None)
        return Const(x)

    def bind(self, out, top=True):
        """Slots for the arrays a recorded call returned; numbers at its top level become 0-d
        arrays (a count the backward reads must be a program value, not a constant)."""
        if is_array(out):
            return self.new_slot(out), out
        kind = type(out)
        if top and (isinstance(out, np.generic) or kind is int or kind is float):
            value = np.asarray(out)
            return self.new_slot(value, scalar=True), value
        if kind is tuple or kind is list:
            pairs = [self.bind(y, top) for y in out]
            return kind(p[0] for p in pairs), kind(p[1] for p in pairs)
        if kind is dict:
            pairs = {k: self.bind(v, False) for k, v in out.items()}
            return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
        return None, out

    # ---- what the wrappers call --------------------------------------------------------------
    def call(self, fn, args, kwargs, scalars=True, name=None):
        for a in (*args, *kwargs.values()):  # a dropout mask's Generator: its first state
            if isinstance(a, np.random.Generator) and id(a) not in self.generators:
                self.generators[id(a)] = (a, a.bit_generator.state)
        self.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        args_t = self.template(args)
        kwargs_t = self.template(kwargs)
        out_t, out = self.bind(out, scalars)
        self.ops.append(("call", fn, args_t, kwargs_t, out_t, name))
        return out

    def _keep_array(self, value) -> None:
        if is_array(value) and id(value) not in self.before_arrays:
            self.depth += 1  # the copy is not part of the trace
            try:
                self.before_arrays[id(value)] = (value, backend_of(value).copy(value))
            finally:
                self.depth -= 1

    def rewind(self) -> None:
        """The state the trace started from, back, for the program about to run the traced
        calls again (a compiled node's first call): the attributes written get their objects
        back, the arrays the trace loaded their values (in place: the program and the
        optimizers hold them), the optimizers their step counts and state, and every
        Generator a recorded call drew from its state (the program then draws what the trace
        drew). The call's effects then happen once, as eager's."""
        for t, attr, value in self.before_attrs.values():
            setattr(t, attr, value)
        for optimizer, step_count, states in self.before_optimizers.values():
            optimizer.step_count = step_count
            for state, items in zip(optimizer.state, states):
                state.clear()
                state.update(items)
        for array, copy in self.before_arrays.values():
            if hasattr(array, "copy_to_device"):
                array.copy_to_device(copy)
            elif array.flags.writeable:  # a read-only one was not changed either
                np.copyto(array, copy)
        for generator, state in self.generators.values():
            generator.bit_generator.state = state

    def opaque(self, fn, args):
        """fn(*args) replayed as a Python call (its own state: an optimizer's step counts)."""
        optimizer = args[0] if args else None
        if id(optimizer) not in self.before_optimizers and hasattr(optimizer, "step_count"):
            states = [dict(state) for state in optimizer.state]
            for items in states:
                for value in items.values():
                    self._keep_array(value)
            self.before_optimizers[id(optimizer)] = (optimizer, optimizer.step_count, states)
        self.depth += 1
        try:
            out = fn(*args)
        finally:
            self.depth -= 1
        self.ops.append(("opaque", fn, self.template(args)))
        return out

    def read(self, t, attr, value):
        if id(t) in self.born:
            return value
        if self.shadow is not None and attr == "grad":
            return self.shadow.get(id(t))
        key = (id(t), attr)
        if key in self.known:
            return value
        self.known.add(key)
        self._keep_array(value)
        if value is None:
            self.ops.append(("guard_none", self.holder(t), attr))
        elif is_array(value) and id(value) not in self.slot_of:
            slot = self.new_slot(value)
            self.ops.append(("load", self.holder(t), attr, slot, (
                type(value), tuple(value.shape), value.dtype, t.requires_grad)))
        return value

    def write(self, t, attr, value, descriptor) -> bool:
        """Record a write; True when it is shadowed (the attribute is left as it was)."""
        if id(t) in self.born:
            return False
        try:
            descriptor.__get__(t, type(t))
        except AttributeError:  # a tensor being built: made during the trace
            self.born.add(id(t))
            self.keep.append(t)
            return False
        if self.shadow is not None and attr == "grad":
            if id(t) not in self.shadow:
                self.shadowed.append(t)
            self.shadow[id(t)] = value
            return True
        if is_array(value):
            self._check_set(t, attr, value, descriptor)
        if (id(t), attr) not in self.before_attrs:
            self.before_attrs[(id(t), attr)] = (t, attr, descriptor.__get__(t, type(t)))
        self.known.add((id(t), attr))
        self.ops.append(("set", self.holder(t), attr, self.template(value)))
        return False

    def _check_set(self, t, attr, value, descriptor):
        """An array written to .data/.grad must be one the program makes or loads: numpy's
        arithmetic on a tensor's array (``p.data = p.data - lr * p.grad``) would be frozen, an
        in-place one (``p.data -= ...``: Python assigns the same array back) lost."""
        if id(value) not in self.slot_of:
            raise compile_error(self.fn_name, f"an array assigned to .{attr}",
                                "the array was computed outside minigrad's ops (numpy on a "
                                "tensor's .data or .grad?), so the program could not compute "
                                "it again: its value would be frozen. Compute it with tensor "
                                "ops (under mg.no_grad()) or use an mg.optim optimizer",
                                from_stack=False)
        if descriptor.__get__(t, type(t)) is value:
            raise compile_error(self.fn_name, f"an in-place update of .{attr}",
                                f"the same array was assigned back to .{attr} (an augmented "
                                f"assignment such as p.{attr} -= ... runs in numpy, outside "
                                f"the program, and would be lost). Assign the result of tensor "
                                f"ops instead (p.{attr} = (p - lr * g).data under "
                                f"mg.no_grad()) or use an mg.optim optimizer",
                                from_stack=False)


def _recorded(box, fn, scalars=True, name=None):
    def wrapper(*args, **kwargs):
        rec = box[0]
        if rec.depth or get_ident() != box[1]:  # inside a recorded call, or another thread
            return fn(*args, **kwargs)
        return rec.call(fn, args, kwargs, scalars, name)

    wrapper.__wrapped__ = fn
    return wrapper


def _host_read(box, name, fn):
    def wrapper(*args, **kwargs):
        rec = box[0]
        if rec.depth or get_ident() != box[1]:
            return fn(*args, **kwargs)
        raise compile_error(rec.fn_name, f"{name}()",
                            f"{_HOST_READS[name]} inside the compiled function would freeze a "
                            "value that depends on the data (a data-dependent branch or number)")

    return wrapper


def _attribute(box, attr, descriptor):
    from ..tensor import grad_array

    def get(t):
        value = descriptor.__get__(t, type(t))
        rec = box[0]
        return value if rec.depth or get_ident() != box[1] else rec.read(t, attr, value)

    def put(t, value):
        rec = box[0]
        if attr == "grad" and value is not None:  # what the property would store: its checks
            value = grad_array(t, value)
        if rec.depth or get_ident() != box[1] or not rec.write(t, attr, value, descriptor):
            descriptor.__set__(t, value)

    return property(get, put)


@contextlib.contextmanager
def recording(rec: Recorder):
    """Patch the backends, the runners, Optimizer.step and Tensor's attributes for rec, one
    trace at a time in the process; yields a list whose first item is the active recorder
    (assign a fork to trace a backward)."""
    with _TRACING, _patched(rec) as box:
        yield box


@contextlib.contextmanager
def _patched(rec: Recorder):
    from .. import backends, optim, optim_kernels
    from ..tensor import Tensor
    from . import run_cpu

    box = [rec, get_ident()]  # the recorder, the tracing thread (other threads run unrecorded)
    patched = []

    def patch(owner, name, value):
        patched.append((owner, name, owner.__dict__[name] if isinstance(owner, type)
                        else getattr(owner, name)))
        setattr(owner, name, value)

    modules = [backends.cpu] + [sys.modules[m] for m in ("minigrad.backends.cuda",)
                                if m in sys.modules]
    names = list(interface.members())
    for module in modules:
        for name in names:
            fn = getattr(module, name, None)
            if fn is None:
                continue
            patch(module, name, _host_read(box, name, fn) if name in _HOST_READS
                  else _recorded(box, fn, name=f"{module.name}.{name}"))
    runners = [run_cpu]
    if "minigrad.compiler.run_cuda" in sys.modules:
        runners.append(sys.modules["minigrad.compiler.run_cuda"])
    for runner in runners:
        short = runner.__name__.rsplit(".", 1)[-1]
        for name in ("forward", "backward"):
            patch(runner, name, _recorded(box, getattr(runner, name), scalars=False,
                                          name=f"{short}.{name}"))
    for name in ("grad_norm", "clip_scaled"):  # clip_grad_norm_'s one-pass kernels
        patch(optim_kernels, name, _recorded(box, getattr(optim_kernels, name),
                                             name=f"optim.{name}"))
    step = optim.Optimizer.__dict__["step"]

    def opaque_step(self):
        if box[0].depth or get_ident() != box[1]:
            return step(self)
        return box[0].opaque(step, (self,))

    patch(optim.Optimizer, "step", opaque_step)
    for attr in ("data", "grad"):
        patch(Tensor, attr, _attribute(box, attr, Tensor.__dict__[attr]))
    previous = autograd.state.compiling, autograd.state.host_check
    autograd.state.compiling = True
    autograd.state.host_check = lambda check, args: box[0].opaque(check, args)
    try:
        yield box
    finally:
        autograd.state.compiling, autograd.state.host_check = previous
        for owner, name, value in reversed(patched):
            setattr(owner, name, value)
