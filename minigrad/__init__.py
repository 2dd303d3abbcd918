"""minigrad: a tape-based reverse-mode autodiff engine with Numba (CPU) and numba.cuda kernels."""

from . import cuda, init, nn, optim
from .autograd import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .compiler.cpu_runtime import get_num_threads, set_num_threads
from .compiler.whole import CompiledFunction, CompileError, compile
from .gradcheck import GradcheckError, gradcheck
from .ops.elementwise import (
    abs,
    add,
    astype,
    clip,
    div,
    exp,
    log,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sub,
    tanh,
    where,
)
from .ops.linalg import matmul
from .ops.logic import (
    all,
    any,
    equal,
    greater,
    greater_equal,
    isclose,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    not_equal,
)
from .ops.loss import cross_entropy, log_softmax, mse_loss, softmax
from .ops.random import dropout
from .ops.reduce import max, mean, sum
from .ops.shape import concat, getitem, reshape, split, stack, transpose, unstack
from .tensor import Tensor, ones, randn, tensor, zeros

# ---- engine-ops (issue 11): the ops a numpy or torch user reaches for first (listed in ops/public;
# its cross_entropy and mse_loss, with reduction=, replace the fused ones imported above)
_EXTENDED_BY = "engine-ops"
from . import functional  # noqa: E402
from .ops import public as _public  # noqa: E402
from .ops.public import *  # noqa: E402, F403

nn.functional = functional  # mg.nn.functional.layer_norm, as torch.nn.functional
# ---- end of engine-ops block --------------------------------------------------------------------

# Every elementwise rule is a Tensor method and an mg. function that a traced cell step can call
# (issue 20): the methods call the eager functions, the functions hand a traced operand to its
# tracer.
from .ops import dispatch as _dispatch  # noqa: E402

_dispatch.attach_methods(Tensor, globals())
for _name in _dispatch.rule_op_names():
    for _namespace in (globals(), vars(functional)):
        if _name in _namespace:
            _namespace[_name] = _dispatch.traceable(_namespace[_name])
del _name, _namespace

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "randn", "no_grad", "enable_grad", "is_grad_enabled",
    "set_grad_enabled",
    "detect_anomaly", "gradcheck", "GradcheckError", "nn", "optim", "init", "cuda",
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "sigmoid", "relu", "abs",
    "clip", "where", "astype", "matmul", "sum", "mean", "max", "reshape", "transpose", "getitem",
    "concat", "stack", "split", "unstack", "softmax", "log_softmax", "cross_entropy",
    "mse_loss", "dropout", "is_anomaly_enabled", "set_num_threads", "get_num_threads",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_xor", "logical_not", "any", "all", "isnan", "isinf", "isfinite",
    "isclose", "compile", "CompiledFunction", "CompileError",
    *_public.__all__, "functional",
]
