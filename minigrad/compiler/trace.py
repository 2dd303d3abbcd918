"""Trace a recurrent step into a small graph of primitives.

The step runs once on symbolic values (``Sym``) in place of tensors: the input x (B, I), the states
(B, S_k) and the parameters. Every operation appends a ``Node`` to the graph. What can be traced:
matrix products of a row value by a transposed parameter matrix (``x @ W.T``), the elementwise
rules of ``minigrad.backends.scalar_rules`` by name (``a + b``, ``a * 2``, ``a.sigmoid()``, any
unary rule as a method, any binary one as ``a.maximum(b)``), with numpy broadcasting of (B, n)
rows, (n,) parameter vectors and Python numbers, slices and equal splits along the last axis, and
row sums and means over the last axis with keepdims (per-row scalars, which broadcast like
numbers). Anything else raises CellCompileError naming it.
"""

from __future__ import annotations

import inspect
import numbers
import os
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..backends.scalar_rules import INTERNAL_RULES, RULES, python


class CellCompileError(ValueError):
    """The step uses something the cell compiler cannot fuse (impl='composed' still works)."""


class UntracedAttribute(CellCompileError):
    """A traced value asked for what only a Tensor has (an op the tracer does not know looked at
    .data or .ndim): trace() names the op that asked."""



def unsupported(what: str) -> CellCompileError:
    """The error for a step the compiler cannot fuse, naming `what`."""
    return CellCompileError(f"the cell compiler cannot fuse {what}; impl='composed' runs this "
                            "cell op by op")


@dataclass
class Node:
    """One traced operation. kind: input, state, param, const, matmul, rule, slice, rowsum."""

    kind: str
    args: tuple = ()
    width: int = 0          # last-axis size (rows and vectors); 0 for numbers, row scalars
    rows: bool = False      # True for (B, width) values, False for parameter vectors / scalars
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    """The traced step: nodes in creation order, the new states' node ids, parameter shapes."""

    nodes: list
    outputs: tuple
    params: dict             # name -> shape of every parameter offered to the step
    input_size: int
    state_sizes: tuple


class Sym:
    """A symbolic tensor standing for a row value, a parameter or a number during tracing."""

    __slots__ = ("tracer", "id", "matrix", "transposed")

    def __init__(self, tracer, node_id, matrix=None, transposed=False):
        self.tracer, self.id, self.matrix, self.transposed = tracer, node_id, matrix, transposed

    @property
    def node(self) -> Node:
        return self.tracer.nodes[self.id]

    @property
    def T(self):  # noqa: N802 - mirrors Tensor.T
        if self.matrix is None:
            raise unsupported("a transpose of anything but a parameter matrix")
        return Sym(self.tracer, self.id, self.matrix, not self.transposed)

    @property
    def shape(self):
        if self.matrix is not None:
            shape = self.tracer.params[self.matrix]
            return shape[::-1] if self.transposed else shape
        node = self.node
        if node.rows:
            return (self.tracer.batch, node.width or 1)
        return (node.width,) if node.width else ()

    def __matmul__(self, other):
        return self.tracer.matmul(self, other)

    def __rmatmul__(self, other):
        return self.tracer.matmul(other, self)

    def __add__(self, other):
        return self.tracer.rule("add", self, other)

    def __radd__(self, other):
        return self.tracer.rule("add", other, self)

    def __sub__(self, other):
        return self.tracer.rule("sub", self, other)

    def __rsub__(self, other):
        return self.tracer.rule("sub", other, self)

    def __mul__(self, other):
        return self.tracer.rule("mul", self, other)

    def __rmul__(self, other):
        return self.tracer.rule("mul", other, self)

    def __truediv__(self, other):
        return self.tracer.rule("div", self, other)

    def __rtruediv__(self, other):
        return self.tracer.rule("div", other, self)

    def __neg__(self):
        return self.tracer.rule("neg", self)

    def __pow__(self, other):
        return self.tracer.rule("pow", self, other)

    def __rpow__(self, other):
        return self.tracer.rule("pow", other, self)

    def sum(self, axis=None, keepdims=False):
        """Row sum over the last axis with keepdims (a per-row scalar)."""
        return self.tracer.rowsum(self, axis, keepdims, "sum")

    def mean(self, axis=None, keepdims=False):
        """Row mean over the last axis with keepdims: the row sum times 1 / width."""
        total = self.tracer.rowsum(self, axis, keepdims, "mean")
        return total * (1.0 / self.node.width)

    def __getitem__(self, index):
        return self.tracer.getitem(self, index)

    def split(self, sections, axis=0):
        """Equal parts along the last axis (as Tensor.split with an int)."""
        return self.tracer.split(self, sections, axis)

    def __getattr__(self, name):
        if name in RULES and name not in INTERNAL_RULES:  # every rule is a Tensor method too
            return lambda *args, **kwargs: self.tracer.call(name, (self, *args), kwargs)
        raise UntracedAttribute(f"the cell compiler cannot fuse the tensor method or attribute "
                                f"{name!r}; impl='composed' runs this cell op by op")

    def __minigrad_function__(self, name, args, kwargs):
        """mg.<name>(...) given a traced operand (the hook of ``minigrad.ops.dispatch``): the rule
        of that name, as the method."""
        return self.tracer.call(name, args, kwargs)

    def __bool__(self):
        raise unsupported("control flow on a traced value (if/while on a tensor)")


class Tracer:
    """Builds the graph while the step runs on Syms."""

    def __init__(self, params: dict, batch: int = 1):
        self.nodes: list[Node] = []
        self.params = dict(params)
        self.batch = batch
        self._consts: dict = {}

    def add(self, node: Node) -> Sym:
        self.nodes.append(node)
        return Sym(self, len(self.nodes) - 1)

    def param(self, name: str) -> Sym:
        shape = self.params[name]
        if len(shape) == 2:
            return Sym(self, -1, matrix=name)
        if len(shape) != 1:
            raise unsupported(f"parameter {name!r} of shape {shape} (only vectors and matrices)")
        return self.add(Node("param", (), shape[0], False, {"name": name}))

    def operand(self, value) -> Sym:
        if isinstance(value, Sym):
            if value.matrix is not None:
                raise unsupported(f"parameter matrix {value.matrix!r} used outside a matrix "
                                  "product")
            return value
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            key = float(value)
            if key not in self._consts:
                self._consts[key] = self.add(Node("const", (), 0, False, {"value": key}))
            return self._consts[key]
        raise unsupported(f"an operand of type {type(value).__name__}")

    def call(self, name: str, args: tuple, kwargs: dict) -> Sym:
        """mg.<name>(*args, **kwargs) or the method of that name: its rule, with the rule's
        parameters at their defaults (the generated kernels call the rules without them)."""
        kwargs = dict(kwargs)
        rule_name = name
        if name == "gelu":
            approximate = kwargs.pop("approximate", args[1] if len(args) > 1 else "none")
            if approximate not in ("none", "tanh"):
                raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got "
                                 f"{approximate!r}")
            args, rule_name = args[:1], "gelu" if approximate == "none" else "gelu_tanh"
        rule = RULES.get(rule_name)
        if rule is None or name in INTERNAL_RULES:
            raise unsupported(f"mg.{name}")
        if len(args) < rule.arity:
            raise CellCompileError(f"{name}: needs {rule.arity} operands, got {len(args)}")
        operands, extra = args[:rule.arity], args[rule.arity:]
        if len(extra) > len(rule.params):
            raise CellCompileError(f"{name}: takes {len(rule.params)} parameters "
                                   f"{rule.params}, got {len(extra)}")
        given = dict(zip(rule.params, extra))
        for key, value in kwargs.items():
            if key not in rule.params:
                raise unsupported(f"{name} with {key}={value!r}")
            given[key] = value
        defaults = _param_defaults(rule_name)
        for key, value in given.items():
            if float(value) != defaults[key]:
                raise unsupported(f"{name} with {key}={value!r} (a fused step takes the "
                                  f"parameters at their defaults, {defaults})")
        return self.rule(rule_name, *operands)

    def rule(self, name: str, *operands) -> Sym:
        syms = [self.operand(v) for v in operands]
        nodes = [s.node for s in syms]
        widths = {n.width for n in nodes if n.width}  # numbers and row scalars broadcast
        if len(widths) > 1:
            shapes = [s.shape for s in syms]
            raise unsupported(f"{name} of shapes {shapes} (broadcasting beyond rows, vectors "
                              "and numbers)")
        width = widths.pop() if widths else 0
        if any(n.kind == "input" for n in nodes):
            raise unsupported(f"the input x used in {name} (x may only enter through x @ W.T)")
        rows = any(n.rows for n in nodes)
        return self.add(Node("rule", tuple(s.id for s in syms), width, rows, {"rule": name}))

    def matmul(self, a, b) -> Sym:
        if not (isinstance(a, Sym) and isinstance(b, Sym) and b.matrix is not None
                and b.transposed and a.matrix is None and a.node.rows):
            raise unsupported("a matrix product other than rows @ W.T with W a parameter "
                              "matrix (out_features, in_features)")
        out_features, in_features = self.params[b.matrix]
        if a.node.width != in_features:
            raise CellCompileError(f"matmul: {a.shape} @ {b.matrix}.T of shape "
                                   f"{(in_features, out_features)} do not match")
        return self.add(Node("matmul", (a.id,), out_features, True, {"weight": b.matrix}))

    def rowsum(self, s: Sym, axis, keepdims, what: str) -> Sym:
        node = s.node
        if not node.rows or not node.width:
            raise unsupported(f"{what} of {s.shape} (only row reductions of (batch, n) values)")
        if axis not in (-1, 1) or not keepdims:
            raise unsupported(f"{what}(axis={axis!r}, keepdims={keepdims!r}) (only row "
                              "reductions over the last axis with keepdims=True)")
        if node.kind == "input":
            raise unsupported(f"the input x used in {what} (x may only enter through x @ W.T)")
        return self.add(Node("rowsum", (s.id,), 0, True))

    def slice(self, s: Sym, start: int, stop: int) -> Sym:
        return self.add(Node("slice", (s.id,), stop - start, s.node.rows,
                             {"start": start, "stop": stop}))

    def split(self, s: Sym, sections, axis) -> list:
        node = s.node
        last = 1 if node.rows else 0
        if not node.width:
            raise unsupported("a split of a row reduction or a number")
        if not isinstance(sections, int) or axis not in (-1, last):
            raise unsupported("split other than into equal parts along the last axis")
        if sections < 1 or node.width % sections:
            raise CellCompileError(f"split: width {node.width} does not divide into "
                                   f"{sections} equal parts")
        size = node.width // sections
        return [self.slice(s, k * size, (k + 1) * size) for k in range(sections)]

    def getitem(self, s: Sym, index):
        node = s.node
        if node.rows and isinstance(index, tuple) and len(index) == 2 and \
                index[0] in (slice(None), Ellipsis):
            index = index[1]
        if not node.width:
            raise unsupported("indexing a row reduction")
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise unsupported(f"indexing with {index!r} (only slices of the last axis)")
        start, stop, _ = index.indices(node.width)
        if stop <= start:
            raise CellCompileError(f"empty slice {index!r} of width {node.width}")
        return self.slice(s, start, stop)


def _param_defaults(rule_name: str) -> dict:
    """The defaults of a rule's scalar parameters, read from its plain Python form."""
    signature = inspect.signature(getattr(python(np.float64), rule_name))
    return {name: float(p.default) for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COMPILER = os.path.join(_PACKAGE, "compiler")
_DISPATCH = os.path.join(_PACKAGE, "ops", "dispatch.py")


def _name_the_op(error: Exception) -> CellCompileError:
    """The error naming the minigrad function the step called that could not take a traced value
    (mg.softmax looking at .ndim), with the step's line; the error itself when none did."""
    frames = traceback.extract_tb(error.__traceback__)
    for caller, frame in zip(frames, frames[1:]):
        path = os.path.abspath(frame.filename)
        if (path.startswith(_PACKAGE + os.sep) and not path.startswith(_COMPILER + os.sep)
                and path != _DISPATCH):
            where = f"{os.path.basename(caller.filename)}:{caller.lineno}: {caller.line}"
            return unsupported(f"mg.{frame.name} (called at {where})")
    if isinstance(error, CellCompileError):
        return error
    return unsupported(f"a call the tracer could not follow ({type(error).__name__}: {error})")


def trace(step, input_size: int, state_sizes, params: dict) -> Graph:
    """Run step(x, states, params) on symbols; params maps name -> shape."""
    tracer = Tracer(params)
    x = tracer.add(Node("input", (), input_size, True))
    states = tuple(tracer.add(Node("state", (), size, True, {"index": k}))
                   for k, size in enumerate(state_sizes))
    symbols = {name: tracer.param(name) for name in params}
    try:
        new = step(x, states, symbols)
    except UntracedAttribute as error:  # an op the tracer does not know looked inside a Sym
        raise _name_the_op(error) from error
    except CellCompileError:
        raise
    except Exception as error:  # a primitive given a Sym: name it
        raise _name_the_op(error) from error
    new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
    if len(new) != len(state_sizes):
        raise CellCompileError(f"step returned {len(new)} states, expected {len(state_sizes)}")
    outputs = []
    for k, (value, size) in enumerate(zip(new, state_sizes)):
        sym = tracer.operand(value)
        if not sym.node.rows or sym.node.width != size:
            raise CellCompileError(f"step's new state {k} has shape {sym.shape}, expected "
                                   f"(batch, {size})")
        outputs.append(sym.id)
    return Graph(tracer.nodes, tuple(outputs), dict(params), input_size,
                 tuple(state_sizes))

