"""Compile every CUDA kernel of the backend to PTX for a real GPU, without a GPU, and count float64
instructions in the float32 specialisations (a Python float constant or an untyped literal in a
kernel promotes float32 arithmetic to float64: the simulator, which runs kernels as Python over
numpy scalars, cannot see that).

Run as a script in a process WITHOUT NUMBA_ENABLE_CUDASIM (tests/cuda/test_kernels_compile.py does).
Needs libNVVM (the CUDA toolkit) and NVRTC (pip nvidia-cuda-nvrtc) but no driver. Prints one JSON
object: {"kernels": {name: number of f64 instruction lines}, "error": null or a message}.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys

assert not os.environ.get("NUMBA_ENABLE_CUDASIM"), "run without the simulator"

from numba import cuda  # noqa: E402 - after the check: the simulator must be off

F64_INSTRUCTION = re.compile(r"^\s*[a-z][\w.]*\.f64\b", re.MULTILINE)


def signatures():
    from numba import types
    from numba.cuda.random import xoroshiro128p_type

    from minigrad.backends import cuda_block_kernels as bk
    from minigrad.backends import cuda_kernels as k

    f32 = types.float32
    v32, vi64, vb = types.float32[::1], types.int64[::1], types.boolean[::1]
    i64, b = types.int64, types.boolean
    t2 = types.UniTuple(types.int64, 2)
    states = xoroshiro128p_type[::1]
    return {
        "fill": (k.fill, (v32, f32)),
        "cast_bool": (k.cast, (vb, v32)),
        "gather": (k.gather, (v32, i64, t2, t2, v32)),
        "scatter": (k.scatter, (v32, i64, t2, t2, v32)),
        "gather_rows": (k.gather_rows, (v32, vi64, i64, v32)),
        "scatter_add_rows": (k.scatter_add_rows, (v32, vi64, i64, v32)),
        "gather_map": (k.gather_map, (v32, vi64, v32)),
        "scatter_add_map": (k.scatter_add_map, (v32, vi64, v32)),
        "unary": (k.unary, (i64, v32, v32)),
        "clip": (k.clip, (v32, f32, f32, v32)),
        "clip_backward": (k.clip_backward, (v32, f32, f32, v32, v32)),
        "binary_same": (k.binary_same, (i64, v32, v32, v32)),
        "binary_scalar": (k.binary_scalar, (i64, v32, f32, b, v32)),
        "binary_broadcast": (k.binary_broadcast, (i64, v32, t2, v32, t2, t2, v32)),
        "compare_same": (k.compare_same, (i64, v32, v32, vb)),
        "compare_scalar": (k.compare_scalar, (i64, v32, f32, b, vb)),
        "compare_broadcast": (k.compare_broadcast, (i64, v32, t2, v32, t2, t2, vb)),
        "where": (k.where, (vb, t2, v32, t2, v32, t2, t2, v32)),
        "cross_entropy_backward": (k.cross_entropy_backward,
                                   (v32, vi64, i64, v32, v32, i64, v32)),
        "seed_generators": (k.seed_generators, (states, types.uint64)),
        "dropout_mask": (k.dropout_mask, (states, types.uint64, f32, v32)),
        "sgd_update": (k.sgd_update, (v32, v32, v32, f32, f32, f32, f32, b, b)),
        "adam_update": (k.adam_update, (v32, v32, v32, v32, f32, f32, f32, f32, f32, f32)),
        "rmsprop_update": (k.rmsprop_update, (v32, v32, v32, v32, v32, f32, f32, f32, f32, f32, b)),
        "reduce_rows": (bk.reduce_rows["float32"], (i64, v32, t2, t2, t2, t2, i64, i64, f32, v32)),
        "softmax_rows": (bk.softmax_rows["float32"], (v32, i64, b, v32)),
        "softmax_backward_rows": (bk.softmax_backward_rows["float32"], (v32, v32, i64, b, v32)),
        "cross_entropy_rows": (bk.cross_entropy_rows["float32"],
                               (v32, vi64, i64, i64, v32, v32, v32)),
        "matmul_tiled": (bk.matmul_tiled["float32"], (v32, i64, i64, i64, t2, v32, i64, i64, i64,
                                                      t2, t2, i64, i64, i64, v32, i64, i64, b)),
        **recurrent_signatures(),
        **generated_signatures(),
        **fused_signatures(),
        "control_promotes": (promoting_control, (v32, v32)),  # must count > 0: the check works
        "control_libdevice_sinf": (libdevice_sinf, (v32, v32)),
    }


def generated_signatures():
    """The float32 kernels the cell compiler generates for every cell it fuses."""
    import numpy as np
    from numba import types

    import lstm
    from lstm.fused import compiled_step

    f32 = types.float32
    kinds = {"a3": f32[:, :, ::1], "a2": f32[:, ::1], "a1": f32[::1], "i1": types.int64[::1],
             "i": types.int64}
    cells = {"lstm": lstm.LSTMCell(3, 8), "gru": lstm.GRUCell(3, 8),
             "rnn_tanh": lstm.RNNCell(3, 8), "rnn_relu": lstm.RNNCell(3, 8, nonlinearity="relu"),
             "peephole": lstm.PeepholeLSTMCell(3, 8), "proj": lstm.ProjLSTMCell(3, 8, proj_size=4),
             "cifg": lstm.CIFGCell(3, 8), "janet": lstm.JANETCell(3, 8),
             "indrnn": lstm.IndRNNCell(3, 8), "mgu": lstm.MGUCell(3, 8),
             "gru_cho": lstm.GRUChoCell(3, 8)}
    found = {}
    for name, cell in cells.items():
        module, _ = compiled_step(cell, np.float32).cuda()
        for kernel, args in module.KINDS.items():
            found[f"generated_{name}_{kernel}"] = (getattr(module, kernel),
                                                   tuple(kinds[a] for a in args))
    return found


def fused_signatures():
    """The float32 kernel mg.compile generates for a CUDA run (compiler/whole_cuda.py) with each
    kind of operand: a split's column slice read in place, a (N,) bias, a 0-d scalar, a row
    reduction's (B, 1), a rule's derivative, outputs kept and one written into a concat's
    columns."""
    import inspect

    import numpy as np
    from numba import types

    from minigrad.backends import scalar_rules
    from minigrad.compiler import whole_cuda
    from minigrad.compiler.record import Slot

    class Device:  # what whole_cuda reads of a device array at generation
        __cuda_array_interface__ = {}

        def __init__(self, shape):
            self.shape, self.dtype = shape, np.dtype(np.float32)
            self.ndim, self.size = len(shape), math.prod(shape)

    shapes = {0: (4, 12), 1: (3,), 2: (), 3: (4, 3), 4: (4, 3), 5: (4, 3), 6: (4, 6), 7: (4, 3),
              8: (4, 3), 10: (4, 3), 11: (4, 1)}
    values = {i: Device(shape) for i, shape in shapes.items()}
    steps = [("cuda.add", (Slot(10), Slot(1)), 3, None), ("cuda.tanh", (Slot(3),), 4, None),
             ("cuda.mul", (Slot(4), Slot(2)), 5, None),
             ("cuda.rule_unary_backward", (Slot(5), Slot(4), Slot(10)), 7,
              scalar_rules.RULES["sigmoid"]), ("cuda.div", (Slot(7), Slot(11)), 8, None)]
    host, _, _ = whole_cuda.kernel(steps, values, [10, 1, 2, 11], [5, 7, 8], {10: (0, 3)},
                                   {7: (6, 0)})
    # a run whose exp is summed over the last axis by the kernel (one block per row) and
    # written too
    values.update({20: Device((4, 6)), 21: Device((6,)), 22: Device((4, 6)), 23: Device((4, 6)),
                   24: Device((4,))})
    steps = [("cuda.add", (Slot(20), Slot(21)), 22, None), ("cuda.exp", (Slot(22),), 23, None)]
    summing, _, _ = whole_cuda.kernel(steps, values, [20, 21], [22, 23], sums={23: (24, True)})
    found = {}
    for name, made in (("generated_compile_run", host), ("generated_compile_row_sum", summing)):
        kernel = made.__globals__["fused_kernel"]
        names = inspect.signature(kernel.py_func).parameters
        argtypes = tuple(types.float32[::1] if n[0] in "ios" else types.int64 for n in names)
        found[name] = (kernel, argtypes)
    return found


def promoting_control(a, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a[i] * 0.1  # a Python float: float64 arithmetic


def libdevice_sinf(a, out):
    """math.sin of a float32: libdevice's __nv_sinf, whose slow path for huge |x| (Payne-Hanek)
    converts through float64: the baseline for the sin/cos/tan rule kernels."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = math.sin(a[i])


def recurrent_signatures():
    from minigrad.backends import (
        cuda_axis,
        cuda_cumulative,
        cuda_elementwise,
        cuda_foreach,
        cuda_gated_scan,
        cuda_scan,
    )
    from minigrad.compiler import cuda_runtime

    # the engine-ops kernels: generated from every scalar rule, the along-axis kernels and
    # issue 20's scans
    return {**cuda_runtime.ptx_signatures(), **cuda_elementwise.ptx_signatures(),
            **cuda_axis.ptx_signatures(), **cuda_cumulative.ptx_signatures(),
            **cuda_scan.ptx_signatures(), **cuda_gated_scan.ptx_signatures(),
            **cuda_foreach.ptx_signatures()}


def main():
    import numba.cuda.dispatcher as dispatcher

    class Device:  # device functions ask the current device for its compute capability
        compute_capability = (8, 0)

    dispatcher.get_current_device = Device
    result = {"kernels": {}, "error": None}
    try:
        for name, (kernel, argtypes) in signatures().items():
            function = getattr(kernel, "py_func", kernel)
            ptx, _ = cuda.compile_ptx(function, argtypes, cc=(8, 0))
            result["kernels"][name] = len(F64_INSTRUCTION.findall(ptx))
    except Exception as e:  # noqa: BLE001 - reported to the test, which decides
        result["error"] = f"{type(e).__name__}: {e}"
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
