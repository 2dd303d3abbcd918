"""The backend contract: every function a backend module provides, with one line of docs each.

``cpu.py`` (numpy arrays) and ``cuda.py`` (numba device arrays) are modules that satisfy
``Backend``; ops and the tape call only these names, through ``backend_of(array)``. Arguments are
raw arrays of the backend (never Tensors) or Python/numpy scalars where a name says so; results
are new arrays unless a name says ``_into``/``_add``/``_update`` (in place). Binary elementwise
functions broadcast like numpy. tests/backends/test_interface.py checks both modules against this
class: the same names with the same parameters, and no public function outside it.
"""

from __future__ import annotations

from typing import Any, Protocol

Array = Any  # numpy.ndarray on the CPU, a numba device array on CUDA


class Backend(Protocol):
    """What a device module provides (module attributes; ``name`` is "cpu" or "cuda")."""

    name: str

    # ---- creation and movement
    def asarray(self, x, dtype=None) -> Array: """x (host data or an array) as an array here."""
    def to_host(self, a) -> Array: """a as a numpy array (a copy from the device on CUDA)."""
    def from_host(self, a) -> Array: """A numpy array as this backend's array."""
    def empty(self, shape, dtype) -> Array: """An uninitialised array."""
    def zeros(self, shape, dtype) -> Array: """An array of zeros."""
    def ones(self, shape, dtype) -> Array: """An array of ones."""
    def full(self, shape, value, dtype) -> Array: """An array filled with value."""
    def copy(self, a) -> Array: """A copy of a."""
    def astype(self, a, dtype) -> Array: """a cast to dtype (numpy's casting)."""
    def all_finite(self, a) -> bool: """True when no element is NaN or +-inf (a host bool)."""

    # ---- elementwise
    def add(self, a, b) -> Array: """a + b."""
    def sub(self, a, b) -> Array: """a - b."""
    def mul(self, a, b) -> Array: """a * b."""
    def div(self, a, b) -> Array: """a / b (true division)."""
    def neg(self, a) -> Array: """-a."""
    def power(self, a, b) -> Array: """a ** b."""
    def maximum(self, a, b) -> Array: """max(a, b), NaN propagating as np.maximum."""
    def exp(self, a) -> Array: """exp(a)."""
    def log(self, a) -> Array: """log(a)."""
    def absolute(self, a) -> Array: """|a|."""
    def relu(self, a) -> Array: """max(a, 0)."""
    def tanh(self, x) -> Array: """tanh(x); float32 through the clamped rational form."""
    def sigmoid(self, x) -> Array: """1 / (1 + exp(-x)) through tanh."""
    def clip(self, a, lo, hi) -> Array: """min(max(a, lo), hi)."""
    def where(self, cond, a, b) -> Array: """a where the bool cond else b."""
    def equal(self, a, b) -> Array: """a == b as a bool array."""
    def compare(self, op, a, b) -> Array: """a <op> b as a bool array, op in lt le gt ge eq ne."""
    def logical(self, op, a, b) -> Array: """a <op> b as a bool array, op in and or xor."""
    def logical_not(self, a) -> Array: """a == 0 as a bool array."""
    def add_into(self, out, g) -> None: """out += g in place (g broadcasts to out)."""

    # ---- clip's backward (the other elementwise backwards are the rules': rule_*_backward)
    def clip_backward(self, x, lo, hi, g) -> Array: """g where lo <= x <= hi, else 0."""

    # ---- reductions
    def sum(self, a, axis=None, keepdims=False) -> Array: """Sum over axis (a tuple), a's dtype."""
    def amax(self, a, axis=None, keepdims=False) -> Array: """Maximum over axis."""
    def amin(self, a, axis=None, keepdims=False) -> Array: """Minimum over axis."""
    def any(self, a, axis=None, keepdims=False) -> Array: """Any nonzero over axis (bool)."""
    def all(self, a, axis=None, keepdims=False) -> Array: """All nonzero over axis (bool)."""
    def sum_to(self, g, shape) -> Array: """g summed over the axes broadcasting added to shape."""
    def broadcast_to(self, a, shape) -> Array: """a broadcast to shape (numpy's rules)."""

    # ---- linear algebra
    def matmul(self, a, b) -> Array: """a @ b over the last two axes, batch axes broadcast."""
    def matmul_nt(self, a, b) -> Array: """a @ b^T over the last two axes."""
    def matmul_tn(self, a, b) -> Array: """a^T @ b over the last two axes."""
    def gemm_strided(self, a, a_offset, a_row, a_col, b, b_offset, b_row, b_col, out, out_offset,
                     m, n, inner, accumulate=False, out_row=None) -> None:
        """out[m, n] (+)= A[m, inner] @ B[inner, n] in place on flat arrays, each matrix an
        offset and row and column strides in elements (out's rows out_row apart, n when None):
        the fused recurrences' per-step GEMMs into windows of their buffers."""

    # ---- shape and indexing
    def reshape(self, a, shape) -> Array: """a with a new shape (a view where possible)."""
    def transpose(self, a, axes) -> Array: """a with its axes permuted."""
    def getitem(self, a, index) -> Array: """a[index]: basic or integer-array indexing."""
    def index_add(self, shape, index, g, dtype) -> Array: """Zeros with g added at index."""
    def slice_set(self, shape, index, g, dtype) -> Array:
        """Zeros of shape with g written at a basic (slice/int) index (pad)."""
    def slice_add(self, out, index, g) -> None: """out[index] += g in place, basic index."""
    def concat(self, arrays, axis) -> Array: """Join along an existing axis."""
    def stack(self, arrays, axis) -> Array: """Join along a new axis."""
    def split(self, a, indices, axis) -> list: """Cut a at indices along axis."""

    # ---- softmax family and losses (over the last axis)
    def softmax(self, x) -> Array: """exp(x - max) / sum(exp(x - max)) per row."""
    def log_softmax(self, x) -> Array: """(x - max) - log(sum(exp(x - max))) per row."""
    def softmax_backward(self, y, g) -> Array: """y * (g - sum(g * y)) per row."""
    def log_softmax_backward(self, y, g) -> Array: """g - exp(y) * sum(g) per row."""
    def cross_entropy(self, logits, targets, ignore_index) -> tuple:
        """(mean loss, log-probabilities, counted rows) of rows of logits and int targets."""
    def cross_entropy_backward(self, log_probs, targets, ignore_index, g, count) -> Array:
        """d logits of the mean loss times the upstream 0-d gradient g."""

    # ---- random
    def dropout_mask(self, shape, p, rng, dtype) -> Array: """0 with probability p, else 1/(1-p)."""

    # ---- optimizer updates, in place (optimizer_rules: one formula for both backends)
    def sgd_update(self, param, grad, velocity, lr, momentum, weight_decay, dampening, nesterov,
                   first) -> None: """torch.optim.SGD's step."""
    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, weight_decay,
                    step) -> None: """torch.optim.Adam's step."""
    def rmsprop_update(self, param, grad, square_avg, grad_avg, velocity, lr, alpha, eps,
                       weight_decay, momentum, centered) -> None: """torch.optim.RMSprop's step."""

    # ---- elementwise ops generated from the scalar rules (backends/scalar_rules*.py)
    def rule_unary(self, name, x, params=()) -> Array: """The rule's forward over x."""
    def rule_unary_backward(self, name, x, y, g, params=()) -> Array:
        """g * d/dx of the rule, from the saved input x and output y."""
    def rule_binary(self, name, a, b, params=()) -> Array:
        """The rule's forward over a and b broadcast together."""
    def rule_binary_backward(self, name, a, b, y, g, need_a=True, need_b=True,
                             params=()) -> tuple: """(g * d/da, g * d/db), None where not needed."""

    # ---- along one axis (scans, sorting, gathers)
    def argmax(self, a, axis) -> Array: """Index of the first largest value along axis."""
    def argmin(self, a, axis) -> Array: """Index of the first smallest value along axis."""
    def argsort(self, a, axis, descending=False, stable=False) -> Array:
        """Sort order along axis (int64)."""
    def cumsum(self, a, axis) -> Array: """Running sums along axis."""
    def cumprod(self, a, axis) -> Array: """Running products along axis."""
    def cumprod_backward(self, x, g, axis) -> Array:
        """The input gradient of cumprod along axis, exact at zeros."""
    def take_along_axis(self, a, indices, axis) -> Array:
        """out[..., i, ...] = a[..., indices[..., i, ...], ...]."""
    def scatter_add_along_axis(self, shape, indices, src, axis, dtype) -> Array:
        """Zeros of shape with src added at the indices along axis."""

    # ---- linear recurrences (mg.linear_scan): a, b one shape, h0 that shape without axis
    def linear_scan(self, a, b, h0, axis, log_space=False) -> Array:
        """Every h_t = a_t h_{t-1} + b_t along axis (log_space: a, b hold log a_t, log b_t)."""
    def linear_scan_backward(self, a, b, h, h0, g, axis, log_space=False) -> tuple:
        """(d a, d b, d h0) of linear_scan's output h for upstream g (log_space: d log a/b)."""
    def gated_scan(self, pre, bias, h0, valid, gate) -> Array:
        """h (T, N, H) of the gate map `gate` over pre (T, N, G*H) + bias (G*H,) or None, from
        h0 (N, H); valid (T, N) host bool array or None (False: the state holds)."""
    def gated_scan_backward(self, pre, bias, h0, valid, h, g, gate) -> tuple:
        """(d pre, d h0, d bias or None) of gated_scan's output h for upstream g."""
    def projection(self, x, weight) -> Array:
        """x (M, K) @ weight (N, K)^T: mg.gated_scan's input GEMM (on the scan's threads)."""
    def projection_backward(self, x, weight, g, input_grad) -> tuple:
        """(d x, or None when not input_grad, d weight) of projection for upstream g (M, N)."""
    def gated_scan_projected(self, x, weight, bias, h0, valid, gate) -> Array:
        """gated_scan over pre = x (T, N, I) @ weight (G*H, I)^T (on the CPU never stored)."""
    def gated_scan_projected_backward(self, x, weight, bias, h0, valid, h, g, gate,
                                      input_grad) -> tuple:
        """(d x or None when not input_grad, d h0, d bias or None, d weight) of
        gated_scan_projected's output h for upstream g."""
    # ---- scans with torch's edge semantics, integer bitwise ops (issue 20)
    def cumextreme_index(self, a, axis, largest) -> Array:
        """int64 index of the running max (largest) or min along axis; ties and NaNs take the
        later index, a NaN stays once seen (torch's cummax/cummin)."""
    def logcumsumexp(self, a, axis) -> Array: """Running log-sum-exp along axis (float a)."""
    def bitwise(self, op, a, b) -> Array:
        """a <op> b bitwise, op in and or xor lshift rshift; shifts past the width: 0 / sign."""
    def bitwise_not(self, a) -> Array: """~a bitwise (integers)."""

    # The fused recurrences are not part of the contract: on both devices their kernels are
    # generated per cell by minigrad.compiler (emit_cpu / emit_cuda).


def members() -> dict:
    """name -> parameter names (without self) of every function of the contract."""
    import inspect

    out = {}
    for name, fn in vars(Backend).items():
        if callable(fn) and not name.startswith("_"):
            out[name] = list(inspect.signature(fn).parameters)[1:]
    return out
