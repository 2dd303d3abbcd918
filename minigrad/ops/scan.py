"""linear_scan: every state of the linear recurrence h_t = a_t h_{t-1} + b_t along one axis.

The primitive behind the recurrences whose coefficients do not depend on the state (minGRU and
minLSTM, Feng et al. 2024; mLSTM's parallel form): the whole sequence in one kernel, parallel over
the other axes, and its VJP one reverse scan. ``log_space=True`` takes log a_t and log b_t
(b_t >= 0: log b_t = -inf is b_t = 0) and returns h_t itself (the log-space form of Heinsen 2023
and Feng et al. 2024), on the CPU as the same recurrence on exp(log a_t), exp(log b_t)
(backends/cpu_scan.py says why: no cancellation, O(T eps)).

gated_scan: the same recurrence with the gate math inside it: a_t and b_t come from a gate map
(``backends/scan_gates``: minGRU, minLSTM) of each step's pre-activations, so a minGRU layer is
one GEMM and one pass over the sequence forward, one reverse pass and the GEMMs backward.
"""

from __future__ import annotations

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..backends.scan_gates import GATES
from ..tensor import Tensor
from .reductions import axis_index


def _check(a, b, h0, axis):
    for name, t in (("a", a), ("b", b)) + ((("h0", h0),) if h0 is not None else ()):
        if not isinstance(t, Tensor):
            raise TypeError(f"linear_scan: {name} must be a Tensor, got {type(t).__name__}")
    if a.ndim == 0:
        raise ValueError("linear_scan: a must have at least one axis (the scan axis), got a "
                         "0-d tensor")
    if a.shape != b.shape:
        raise ValueError(f"linear_scan: a and b must have the same shape, got a {a.shape} and "
                         f"b {b.shape}")
    if a.dtype != b.dtype or a.dtype.kind != "f":
        raise ValueError(f"linear_scan: a and b must share one float dtype, got a {a.dtype} and "
                         f"b {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"linear_scan: a is on {a.device}, b on {b.device}")
    ax = axis_index("linear_scan", axis, a.ndim)
    state_shape = a.shape[:ax] + a.shape[ax + 1:]
    if h0 is not None:
        if h0.dtype != a.dtype or h0.device != a.device:
            raise ValueError(f"linear_scan: h0 ({h0.dtype} on {h0.device}) must match a "
                             f"({a.dtype} on {a.device})")
        broadcastable = h0.ndim <= len(state_shape) and all(
            n in (1, m) for n, m in zip(h0.shape[::-1], state_shape[::-1]))
        if not broadcastable:
            raise ValueError(f"linear_scan: h0 of shape {h0.shape} does not broadcast to the "
                             f"state shape {state_shape} (a {a.shape} without axis {ax})")
    return ax, state_shape


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, axis: int = 0,
                log_space: bool = False) -> Tensor:
    """h_t = a_t h_{t-1} + b_t for every t along axis (h_{-1} = h0, zeros when None).

    a and b have one shape; h0 broadcasts to that shape without `axis`. With log_space, a and b
    are log a_t and log b_t and the result is h_t (h0 stays linear, of any sign). VJP: one
    reverse scan, g_h_t = g_t + a_{t+1} g_h_{t+1}; d b_t = g_h_t, d a_t = g_h_t h_{t-1},
    d h0 = a_0 g_h_0 (in log space times a_t and b_t).
    """
    ax, state_shape = _check(a, b, h0, axis)
    be = backend_of(a.data)
    h0_data = (be.zeros(state_shape, a.dtype) if h0 is None
               else be.broadcast_to(h0.data, state_shape))
    h = be.linear_scan(a.data, b.data, h0_data, ax, bool(log_space))
    a_data, b_data = a.data, b.data

    def backward(g):
        grad_a, grad_b, grad_h0 = be.linear_scan_backward(a_data, b_data, h, h0_data, g, ax,
                                                          bool(log_space))
        return (grad_a, grad_b) + (() if h0 is None else (grad_h0,))

    inputs = (a, b) if h0 is None else (a, b, h0)
    return record("linear_scan", h, inputs, backward)


def _check_gated(pre, h0, gate, bias, valid, weight):
    if gate not in GATES:
        raise ValueError(f"gated_scan: unknown gate {gate!r}; choose from {sorted(GATES)}")
    blocks = GATES[gate].blocks
    for name, t in (("pre", pre), ("h0", h0), ("bias", bias), ("weight", weight)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"gated_scan: {name} must be a Tensor, got {type(t).__name__}")
    if weight is not None:
        if pre.ndim < 2 or pre.dtype.kind != "f":
            raise ValueError(f"gated_scan: with a weight, pre must be a float tensor (T, ..., I) "
                             f"of the inputs, got {pre.shape} {pre.dtype}")
        if weight.ndim != 2 or weight.shape[0] % blocks or weight.shape[1] != pre.shape[-1]:
            raise ValueError(f"gated_scan: weight must have shape ({blocks}*H, "
                             f"{pre.shape[-1]}) (the {gate} gates' {blocks} blocks by pre's "
                             f"last axis), got {weight.shape}")
    elif pre.ndim < 2 or pre.shape[-1] % blocks or pre.dtype.kind != "f":
        raise ValueError(f"gated_scan: pre must be a float tensor (T, ..., {blocks}*H) of the "
                         f"{gate} gates' {blocks} blocks along the last axis, got {pre.shape} "
                         f"{pre.dtype}")
    width = pre.shape[-1] if weight is None else weight.shape[0]
    state_shape = pre.shape[1:-1] + (width // blocks,)
    for name, t in (("h0", h0), ("bias", bias), ("weight", weight)):
        if t is not None and (t.dtype != pre.dtype or t.device != pre.device):
            raise ValueError(f"gated_scan: {name} ({t.dtype} on {t.device}) must match pre "
                             f"({pre.dtype} on {pre.device})")
    if bias is not None and bias.shape != (width,):
        raise ValueError(f"gated_scan: bias must have shape {(width,)} (the pre-activations' "
                         f"last axis), got {bias.shape}")
    if h0 is not None:
        if h0.ndim > len(state_shape) or not all(
                n in (1, m) for n, m in zip(h0.shape[::-1], state_shape[::-1])):
            raise ValueError(f"gated_scan: h0 of shape {h0.shape} does not broadcast to the "
                             f"state shape {state_shape}")
    if valid is not None:
        if isinstance(valid, Tensor):  # a bool Tensor: its array (a mask is data, not a graph)
            valid = backend_of(valid.data).to_host(valid.data)
        valid = np.asarray(valid)
        if valid.dtype != np.bool_ or valid.shape != pre.shape[:-1]:
            raise ValueError(f"gated_scan: valid must be a bool array of shape "
                             f"{pre.shape[:-1]} (pre without its last axis), got {valid.dtype} "
                             f"{valid.shape}")
    return state_shape, width, valid


def gated_scan(pre: Tensor, h0: Tensor | None = None, gate: str = "mingru",
               bias: Tensor | None = None, valid=None, weight: Tensor | None = None) -> Tensor:
    """h_t = a_t h_{t-1} + b_t along axis 0, (a_t, b_t) the gate map `gate` of pre_t's blocks.

    pre (T, ..., G*H): every step's gate pre-activations, G blocks along the last axis ("mingru":
    [k | p], a = sigmoid(-k), b = sigmoid(k) g(p); "minlstm": [f | i | p], a = f / (f + i),
    b = i g(p) / (f + i); Feng et al. 2024), plus bias (G*H,) when given (added in the kernel:
    no pass of its own). Returns h (T, ..., H); h0 broadcasts to (..., H) (zeros when None).
    valid (T, ...) bool, optional: where False the state holds (a = 1, b = 0) and pre gets no
    gradient. VJP: one reverse pass, the gate map's derivative at each step.

    weight (G*H, I), optional: then pre is the input x (T, ..., I) and the pre-activations are
    x W^T, formed inside the op: on the CPU (backends/cpu_gated_scan, ``gated_scan_projected``)
    each thread forms its rows' pre-activations a block of steps at a time in its core's cache
    with BLAS and scans them there, and the backward forms them again the same way and takes
    dL/dpre to dL/dx and dL/dW from cache: no (T, ..., G*H) array is stored either way, and the
    GEMMs run on the scan kernels' own threads (numpy's BLAS threads spin after each call and
    took the scan's second core).
    """
    state_shape, width, valid = _check_gated(pre, h0, gate, bias, valid, weight)
    be = backend_of(pre.data)
    steps = pre.shape[0]
    rows = int(np.prod(state_shape[:-1], dtype=np.int64))
    h0_data = (be.zeros((rows, state_shape[-1]), pre.dtype) if h0 is None else
               be.reshape(be.broadcast_to(h0.data, state_shape), (rows, state_shape[-1])))
    valid2 = None if valid is None else valid.reshape(steps, rows)
    bias_data = None if bias is None else bias.data
    if weight is None:
        pre3 = be.reshape(pre.data, (steps, rows, width))
        h = be.gated_scan(pre3, bias_data, h0_data, valid2, gate)
    else:
        x3 = be.reshape(pre.data, (steps, rows, pre.shape[-1]))
        h = be.gated_scan_projected(x3, weight.data, bias_data, h0_data, valid2, gate)

    def backward(g):
        g3 = be.reshape(be.broadcast_to(g, (steps,) + state_shape), h.shape)
        grad_weight = None
        if weight is None:
            grad_pre, grad_h0, grad_bias = be.gated_scan_backward(pre3, bias_data, h0_data,
                                                                  valid2, h, g3, gate)
        else:
            grad_pre, grad_h0, grad_bias, grad_weight = be.gated_scan_projected_backward(
                x3, weight.data, bias_data, h0_data, valid2, h, g3, gate, pre.requires_grad)
        grads = (None if grad_pre is None else be.reshape(grad_pre, pre.shape),
                 be.reshape(grad_h0, state_shape), grad_bias, grad_weight)
        return tuple(d for d, t in zip(grads, (pre, h0, bias, weight)) if t is not None)

    inputs = tuple(t for t in (pre, h0, bias, weight) if t is not None)
    return record("gated_scan", be.reshape(h, (steps,) + state_shape), inputs, backward)


__all__ = ["gated_scan", "linear_scan"]
