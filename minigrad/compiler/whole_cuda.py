"""CUDA emission of ``mg.compile``'s fused elementwise runs (the CPU's is ``fuse.py``).

A run of consecutive recorded CUDA calls of elementwise functions (add, sub, mul, div, neg, exp,
tanh, sigmoid and a scalar rule's backward, ``rule_unary_backward``) of one float dtype and one
shape (0-d operands act as scalars) becomes one numba.cuda kernel generated for the run: a
grid-stride loop over the elements, each intermediate a register, only the values used after the
run written to new device arrays. ``fuse.fuse`` finds the runs and their inputs and outputs for
both targets; this module says which CUDA calls may join one and writes the kernel.

Every scalar expression is a compiled scalar rule (``scalar_rules.compiled("cuda", dtype)``):
the forward of ``add`` ... ``sigmoid`` and a rule's derivative ``<name>_d``, the functions the
backend's generated rule kernels call. The unfused CUDA program calls the backend's own unary
kernels (libdevice's tanh and exp), so a fused run equals it to float rounding (1e-10 in float64,
tested under the simulator). The host wrapper allocates through the backend Protocol
(``backends.get("cuda")``) and launches on the compiler's grid (``cuda_runtime.grid``); device
arrays of the CUDA backend are C-contiguous, so every operand is read as a flat view.
Kernels are cached on disk by their source, as the CPU's.
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np

from ..backends import scalar_rules
from .cache import load

# recorded CUDA backend function -> (arity, scalar rule computing it)
FORWARD = {"cuda.add": (2, "add"), "cuda.sub": (2, "sub"), "cuda.mul": (2, "mul"),
           "cuda.div": (2, "div"), "cuda.neg": (1, "neg"), "cuda.exp": (1, "exp"),
           "cuda.tanh": (1, "tanh"), "cuda.sigmoid": (1, "sigmoid")}
HEADER = (
    "import numpy as np\n"
    "from numba import cuda\n\n"
    "from minigrad.backends import get\n"
    "from minigrad.backends.scalar_rules import compiled\n"
    "from minigrad.compiler.cuda_runtime import grid\n\n"
    "be = get('cuda')\n"
    "_lib = compiled('cuda', np.{dtype})\n"
)


def _is_device_array(v) -> bool:
    return hasattr(v, "__cuda_array_interface__") or hasattr(v, "__cuda_ndarray__")


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
    if not _is_device_array(result) or result.dtype not in (np.float32, np.float64) or \
            result.size == 0:
        return None
    shape = tuple(result.shape)
    for a in args:
        v = values[a.i]
        if not _is_device_array(v) or v.dtype != result.dtype or \
                (tuple(v.shape) != shape and v.ndim != 0):
            return None
    return shape, result.dtype, "cuda"


def kernel(steps, values, inputs, outputs):
    """The host function of a generated kernel for one run: fused(*inputs) -> outputs (device
    arrays). steps: (recorded name, operand slots, result slot, rule or None) per call."""
    dtype = values[steps[0][2]].dtype
    ndim = values[steps[0][2]].ndim
    like = next(k for k, i in enumerate(inputs) if values[i].ndim == ndim)
    names = {i: (f"x{k}" if values[i].ndim else f"c{k}") for k, i in enumerate(inputs)}
    used = set()
    body = [f"        x{k} = i{k}[q]" for k, i in enumerate(inputs) if values[i].ndim]
    for n, (name, args, result, rule) in enumerate(steps):
        operands = [names[a.i] for a in args]
        if rule is not None:
            function = f"{rule.name}_d"
            expression = f"{operands[2]} * {function}({operands[0]}, {operands[1]})"
        else:
            function = FORWARD[name][1]
            expression = f"{function}({', '.join(operands)})"
        used.add(function)
        body.append(f"        t{n} = {expression}")
        names[result] = f"t{n}"
        if result in outputs:
            body.append(f"        o{outputs.index(result)}[q] = t{n}")
    ins = [f"i{k}" for k in range(len(inputs))]
    outs = [f"o{m}" for m in range(len(outputs))]
    lines = [_bindings(used), "", "", "@cuda.jit(cache=True)",
             f"def fused_kernel({', '.join(ins + outs)}, n):"]
    lines += [f"    c{k} = i{k}[0]" for k, i in enumerate(inputs) if not values[i].ndim]
    lines.append("    for q in range(cuda.grid(1), n, cuda.gridsize(1)):")
    lines += body
    lines += ["", "", f"def fused({', '.join(ins)}):", f"    shape = i{like}.shape",
              f"    n = i{like}.size"]
    lines += [f"    o{m} = be.empty(shape, i{like}.dtype)" for m in range(len(outputs))]
    flat = [f"be.reshape({v}, ({v}.size,))" for v in ins + outs]
    lines += ["    if n:", f"        fused_kernel[grid(n)]({', '.join(flat)}, n)",
              f"    return ({''.join(f'{o}, ' for o in outs)})"]
    source = HEADER.format(dtype=dtype.name) + "\n".join(lines) + "\n"
    return load(source, "cudafused").fused


def _bindings(functions) -> str:
    """Each rule function the kernel calls bound as a global (Numba resolves globals, not
    attributes), with a hash of its rule's source: an edited rule gives a new file."""
    lines = []
    for function in sorted(functions):
        rule = scalar_rules.RULES[function[:-2] if function.endswith("_d") else function]
        digest = hashlib.sha256(inspect.getsource(rule.factory).encode()).hexdigest()[:12]
        lines.append(f"{function} = _lib.{function}  # rule {digest}")
    return "\n".join(lines)
