"""CUDA emission of ``mg.compile``'s fused elementwise runs (the CPU's is ``fuse.py``).

A run of consecutive recorded CUDA calls of elementwise functions (add, sub, mul, div, neg, exp,
tanh, sigmoid and a scalar rule's backward, ``rule_unary_backward``) of one float dtype and one
shape becomes one numba.cuda kernel generated for the run: a grid-stride loop over the elements,
each intermediate a register, only the values used after the run written to new device arrays
(or into a concat's columns). Operands broadcast as on the CPU: a one-element array is read
once, a (N,) or (1, N) bias of a (B, N) run at the flat index modulo its size; a split's column
slice is read from its base array in place, a row reduction's (B, 1) at the flat index divided
by the row length. A sum over the last axis of an output is computed by the kernel, one block
per row (the output written too only when something else reads it). ``fuse.fuse`` finds the
runs, their inputs and outputs, the split columns, concat destinations and row sums for both
targets; this module says which CUDA calls may join one and writes the kernel.

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
from .batch import constants
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
    "from minigrad.backends.cuda_block_kernels import SUM, THREADS, block_reduce\n"
    "from minigrad.backends.cuda_kernels import MAX_ROW_BLOCKS\n"
    "from minigrad.backends.scalar_rules import compiled\n"
    "from minigrad.compiler.cuda_runtime import grid\n\n"
    "be = get('cuda')\n"
    "_lib = compiled('cuda', np.{dtype})\n"
)


def on_device(v) -> bool:
    return hasattr(v, "__cuda_array_interface__") or hasattr(v, "__cuda_ndarray__")


def _read(v, shape):
    """How a run of this shape reads operand v (numpy's broadcasting), or None when it cannot:
    "all" (v has the run's shape), "one" (a single element: a 0-d scalar), "suffix" (v's shape
    without leading 1s ends the run's: a bias (N,) or (1, N) of a (B, N) run, read at the flat
    index modulo v's size), "prefix" (v's shape, padded with 1s on the left, is the run's first
    axes then 1s: a row reduction's (B, 1) in a (B, N) run, read at the flat index divided by
    the run's size over v's)."""
    own = tuple(v.shape)
    if own == shape:
        return "all"
    if v.size == 1:
        return "one"
    if len(own) > len(shape):
        return None
    padded = (1,) * (len(shape) - len(own)) + own
    for k in range(1, len(shape)):
        if padded[:k] == (1,) * k and padded[k:] == shape[k:]:
            return "suffix"
        if padded[:k] == shape[:k] and padded[k:] == (1,) * (len(shape) - k):
            return "prefix"
    return None


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
        if not on_device(v) or v.dtype != result.dtype or _read(v, shape) is None:
            return None
    return shape, result.dtype, "cuda"


def sums_last_axis(op, slot, values) -> bool:
    """op is a recorded CUDA sum of slot over its last axis alone (keepdims or not)."""
    if op[0] != "call" or len(op) < 6 or op[5] != "cuda.sum" or type(op[4]) is not Slot or \
            len(op[2]) != 1 or type(op[2][0]) is not Slot or op[2][0].i != slot or \
            set(op[3]) - {"axis", "keepdims"}:
        return False
    ndim = values[slot].ndim
    axis = constants(op[3].get("axis"))
    axis = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    return ndim >= 1 and len(axis) == 1 and type(axis[0]) is int and \
        axis[0] % ndim == ndim - 1 and constants(op[3].get("keepdims", False)) in (True, False)


def buffer(shape, dtype):
    """A new device array: the destination a run writes a concat's columns into."""
    return get("cuda").empty(shape, dtype)


def kernel(steps, values, inputs, outputs, columns=None, dests=None, sums=None):
    """(host function, its operands, the outputs it returns) of a generated kernel for one run.
    steps: (recorded name, operand slots, result slot, rule or None) per call; inputs: the slots
    it reads; outputs: the slots used after it; columns: {input slot: (base slot, first column)}
    for a column slice of a 2-d array read in place (a split's piece); dests: {output slot:
    (destination slot, first column)} for an output written into a concat's columns (the
    destination made before the call); sums: {output slot: (slot of its sum over the last
    axis, whether the output is written too)}, the sum computed by the kernel (one block per
    row, the sum in registers and then through shared memory). The host function takes the
    operands (device arrays and constants, none of the shapes in the source: runs of other sizes
    share the kernel) and returns the arrays of the slots it returns."""
    columns, dests, sums = columns or {}, dests or {}, sums or {}
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
            continue
        read, p = _read(v, shape), param(Slot(i))
        array(f"i{k}", p)
        if read == "all":
            loads.append(f"x{k} = i{k}[q]")
        elif read == "one":
            head.append(f"    c{k} = i{k}[0]")
            names[i] = f"c{k}"
        elif read == "suffix":
            scalar(f"m{k}", f"{p}.size")
            loads.append(f"x{k} = i{k}[q % m{k}]")
        else:  # prefix
            scalar(f"m{k}", f"n // {p}.size")
            loads.append(f"x{k} = i{k}[q // m{k}]")
    kept = [m for m, i in enumerate(outputs) if i not in dests and sums.get(i, (0, True))[1]]
    summed = [m for m, i in enumerate(outputs) if i in sums]
    stores = {i: [] for i in outputs}
    for m, i in enumerate(outputs):
        if i in dests:
            stores[i].append(in_columns(f"o{m}", *dests[i]) + " = {}")
        elif m in kept:
            host.append(f"    o{m} = be.empty({size}, np.{dtype.name})")
            array(f"o{m}", f"o{m}")
            stores[i].append(f"o{m}[q] = {{}}")
        if i in sums:
            reduced = param(Const(tuple(values[sums[i][0]].shape)))
            host.append(f"    s{m} = be.empty({reduced}, np.{dtype.name})")
            array(f"s{m}", f"s{m}")
            stores[i].append(f"a{m} += {{}}")
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
        body.append(f"t{n} = {expression}")
        names[slot] = f"t{n}"
        body += [line.format(f"t{n}") for line in stores.get(slot, ())]
    if summed:  # one block per row: its threads over the columns, then the row's sums
        loop = [f"    shared = cuda.shared.array(THREADS, np.{dtype.name})",
                "    for r in range(cuda.blockIdx.x, n // nc, cuda.gridDim.x):",
                *(f"        a{m} = np.{dtype.name}(0)" for m in summed),
                "        for c in range(cuda.threadIdx.x, nc, cuda.blockDim.x):",
                "            q = r * nc + c", *("            " + line for line in loads + body)]
        for m in summed:
            loop += [f"        a{m} = block_reduce(shared, a{m}, SUM)",
                     "        if cuda.threadIdx.x == 0:", f"            s{m}[r] = a{m}"]
        launch = "fused_kernel[max(1, min(n // nc, MAX_ROW_BLOCKS)), THREADS]"
    else:
        rows = ["r = q // nc", "c = q - r * nc"] if columns or dests else []
        loop = ["    for q in range(cuda.grid(1), n, cuda.gridsize(1)):",
                *("        " + line for line in rows + loads + body)]
        launch = "fused_kernel[grid(n)]"
    parameters = [name for name, _ in arrays] + ["n", "nc"] + scalars
    lines = [_bindings(used), "", "", "@cuda.jit(cache=True)",
             f"def fused_kernel({', '.join(parameters)}):", *head, *loop, "", "",
             f"def fused({', '.join(f'p{k}' for k in range(len(operands)))}):",
             f"    n = math.prod({size})", f"    nc = {size}[-1] if {size} else 1", *host]
    flat = [f"be.reshape({e}, ({e}.size,))" for _, e in arrays] + parameters[len(arrays):]
    lines += ["    if n:", f"        {launch}({', '.join(flat)})",
              f"    return ({''.join(f'o{m}, ' for m in kept)}"
              f"{''.join(f's{m}, ' for m in summed)})"]
    source = HEADER.format(dtype=dtype.name) + "\n".join(lines) + "\n"
    returned = [outputs[m] for m in kept] + [sums[outputs[m]][0] for m in summed]
    return load(source, "cudafused").fused, operands, returned


def _bindings(functions) -> str:
    """Each rule function the kernel calls bound as a global (Numba resolves globals, not
    attributes), with a hash of its rule's source: an edited rule gives a new file."""
    lines = []
    for function in sorted(functions):
        rule = scalar_rules.RULES[function[:-2] if function.endswith("_d") else function]
        digest = hashlib.sha256(inspect.getsource(rule.factory).encode()).hexdigest()[:12]
        lines.append(f"{function} = _lib.{function}  # rule {digest}")
    return "\n".join(lines)
