"""CUDA emission of ``mg.compile``'s fused elementwise runs (the CPU's is ``fuse.py``).

A run of consecutive recorded CUDA calls of elementwise functions (add, sub, mul, div, neg, exp,
tanh, sigmoid and a scalar rule's backward, ``rule_unary_backward``) of one float dtype and one
shape becomes one numba.cuda kernel generated for the run: a grid-stride loop over the elements,
each intermediate a register, only the values used after the run written to new device arrays
(or into a concat's columns). Operands broadcast as on the CPU: a one-element array is read
once, a (N,) or (1, N) bias of a (B, N) run at the flat index modulo its size; a split's column
slice is read from its base array in place. ``fuse.fuse`` finds the runs, their inputs and
outputs, the split columns and concat destinations for both targets; this module says which
CUDA calls may join one and writes the kernel.

Every scalar expression is a compiled scalar rule (``scalar_rules.compiled("cuda", dtype)``):
the forward of ``add`` ... ``sigmoid`` and a rule's derivative ``<name>_d``, the functions the
backend's generated rule kernels call. The unfused CUDA program calls the backend's own unary
kernels (libdevice's tanh and exp), so a fused run equals it to float rounding (1e-10 in float64,
tested under the simulator). The host wrapper allocates through the backend Protocol
(``backends.get("cuda")``) and launches on the compiler's grid (``cuda_runtime.grid``); device
arrays of the CUDA backend are C-contiguous, so every operand is read as a flat view.
Kernels are cached on disk by their source (``minigrad_cudafused_*.py``), which holds no size:
shapes, columns and widths are arguments.
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np

from ..backends import get, scalar_rules
from .cache import load
from .program import Parameters
from .record import Const, Slot

# recorded CUDA backend function -> (arity, scalar rule computing it)
FORWARD = {"cuda.add": (2, "add"), "cuda.sub": (2, "sub"), "cuda.mul": (2, "mul"),
           "cuda.div": (2, "div"), "cuda.neg": (1, "neg"), "cuda.exp": (1, "exp"),
           "cuda.tanh": (1, "tanh"), "cuda.sigmoid": (1, "sigmoid")}
HEADER = (
    "import math\n\n"
    "import numpy as np\n"
    "from numba import cuda\n\n"
    "from minigrad.backends import get\n"
    "from minigrad.backends.scalar_rules import compiled\n"
    "from minigrad.compiler.cuda_runtime import grid\n\n"
    "be = get('cuda')\n"
    "_lib = compiled('cuda', np.{dtype})\n"
)


def on_device(v) -> bool:
    return hasattr(v, "__cuda_array_interface__") or hasattr(v, "__cuda_ndarray__")


def _broadcasts(v, shape) -> bool:
    """v is read by every element of a run of this shape: one of its shape, a single element (a
    0-d scalar), or an array whose shape without leading 1s is a suffix of it (a bias (N,) or
    (1, N) in a (B, N) run): read at the flat index modulo its size."""
    own = tuple(v.shape)
    while own and own[0] == 1:
        own = own[1:]
    return own == shape[len(shape) - len(own):] if own else True


def fusable(name, args, out, values, rule):
    """(shape, dtype, "cuda") of a recorded CUDA call that may join a run, else None; args are
    its array operands, rule the scalar rule of a rule_unary_backward call (else None)."""
    if rule is not None:
        arity = 3
    elif name in FORWARD:
        arity = FORWARD[name][0]
    else:
        return None
    if out is None or getattr(out, "scalar", True) or len(args) != arity or \
            any(not hasattr(a, "i") for a in args):
        return None
    result = values[out.i]
    if not on_device(result) or result.dtype not in (np.float32, np.float64) or \
            result.size == 0:
        return None
    shape = tuple(result.shape)
    for a in args:
        v = values[a.i]
        if not on_device(v) or v.dtype != result.dtype or v.ndim > len(shape) or \
                not _broadcasts(v, shape):
            return None
    return shape, result.dtype, "cuda"


def buffer(shape, dtype):
    """A new device array: the destination a run writes a concat's columns into."""
    return get("cuda").empty(shape, dtype)


def kernel(steps, values, inputs, outputs, columns=None, dests=None):
    """(host function, its operands, the outputs it returns) of a generated kernel for one run.
    steps: (recorded name, operand slots, result slot, rule or None) per call; inputs: the slots
    it reads; outputs: the slots used after it; columns: {input slot: (base slot, first column)}
    for a column slice of a 2-d array read in place (a split's piece); dests: {output slot:
    (destination slot, first column)} for an output written into a concat's columns (the
    destination made before the call). The host function takes the operands (device arrays and
    constants, none of the shapes in the source: runs of other sizes share the kernel)."""
    columns, dests = columns or {}, dests or {}
    result = values[steps[0][2]]
    dtype, shape = result.dtype, tuple(result.shape)
    operands = Parameters()  # the host function's parameters p<k>, as the program passes them
    param = operands.name

    size = param(Const(shape))
    arrays, scalars, host, head, loads, names = [], [], [], [], [], {}

    def array(name, expression):  # a flat device array argument of the kernel
        arrays.append((name, expression))

    def scalar(name, expression):  # an integer argument of the kernel, computed on the host
        scalars.append(name)
        host.append(f"    {name} = {expression}")

    def in_columns(name, slot, first) -> str:  # row r's columns first.. of a 2-d array, in place
        p = param(Slot(slot))
        array(name, p)
        scalar(f"w_{name}", f"{p}.shape[1]")
        scalar(f"f_{name}", param(Const(first)))
        return f"{name}[r * w_{name} + f_{name} + c]"

    for k, i in enumerate(inputs):
        v, names[i] = values[i], f"x{k}"
        if i in columns:
            loads.append(f"x{k} = " + in_columns(f"i{k}", *columns[i]))
        elif tuple(v.shape) == shape:
            array(f"i{k}", param(Slot(i)))
            loads.append(f"x{k} = i{k}[q]")
        elif v.size == 1:
            array(f"i{k}", param(Slot(i)))
            head.append(f"    c{k} = i{k}[0]")
            names[i] = f"c{k}"
        else:
            p = param(Slot(i))
            array(f"i{k}", p)
            scalar(f"m{k}", f"{p}.size")
            loads.append(f"x{k} = i{k}[q % m{k}]")
    kept = [i for i in outputs if i not in dests]
    stores = {}
    for m, i in enumerate(outputs):
        if i in dests:
            stores[i] = in_columns(f"o{m}", *dests[i]) + " = {}"
        else:
            host.append(f"    o{m} = be.empty({size}, np.{dtype.name})")
            array(f"o{m}", f"o{m}")
            stores[i] = f"o{m}[q] = {{}}"
    used, body = set(), []
    for n, (name, args, slot, rule) in enumerate(steps):
        ops = [names[a.i] for a in args]
        if rule is not None:
            function = f"{rule.name}_d"
            expression = f"{ops[2]} * {function}({ops[0]}, {ops[1]})"
        else:
            function = FORWARD[name][1]
            expression = f"{function}({', '.join(ops)})"
        used.add(function)
        body.append(f"        t{n} = {expression}")
        names[slot] = f"t{n}"
        if slot in outputs:
            body.append("        " + stores[slot].format(f"t{n}"))
    rows = ["        r = q // nc", "        c = q - r * nc"] if columns or dests else []
    parameters = [name for name, _ in arrays] + ["n", "nc"] + scalars
    lines = [_bindings(used), "", "", "@cuda.jit(cache=True)",
             f"def fused_kernel({', '.join(parameters)}):", *head,
             "    for q in range(cuda.grid(1), n, cuda.gridsize(1)):", *rows,
             *("        " + line for line in loads), *body, "", "",
             f"def fused({', '.join(f'p{k}' for k in range(len(operands)))}):",
             f"    n = math.prod({size})", f"    nc = {size}[-1] if {size} else 1", *host]
    flat = [f"be.reshape({e}, ({e}.size,))" for _, e in arrays] + parameters[len(arrays):]
    lines += ["    if n:", f"        fused_kernel[grid(n)]({', '.join(flat)})",
              f"    return ({''.join(f'o{outputs.index(i)}, ' for i in kept)})"]
    source = HEADER.format(dtype=dtype.name) + "\n".join(lines) + "\n"
    return load(source, "cudafused").fused, operands, kept


def _bindings(functions) -> str:
    """Each rule function the kernel calls bound as a global (Numba resolves globals, not
    attributes), with a hash of its rule's source: an edited rule gives a new file."""
    lines = []
    for function in sorted(functions):
        rule = scalar_rules.RULES[function[:-2] if function.endswith("_d") else function]
        digest = hashlib.sha256(inspect.getsource(rule.factory).encode()).hexdigest()[:12]
        lines.append(f"{function} = _lib.{function}  # rule {digest}")
    return "\n".join(lines)
