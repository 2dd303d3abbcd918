"""A table-driven sweep of the public ops against PyTorch over the layouts and call forms the
property test (tests/test_property_ops.py, values and dtypes) does not draw: inputs that reach
the op as non-contiguous views (a transposed leaf, a strided slice), negative axes and
``keepdims``, Python scalars on either side of a binary op, 0-d and size-0 operands, the
functional and loss options (reduction, weight, ignore_index, label smoothing, pos_weight), and
the modules. Per case: the output's dtype, shape and values, and the gradient of <out, u> for a
random u in every float input (float64 to 1e-10 relative, float32 to its rounding).
"""

from __future__ import annotations

import operator
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402
from minigrad import functional as MF  # noqa: E402

F = torch.nn.functional
RNG = np.random.default_rng(20261207)


@pytest.fixture(autouse=True)
def seeded_inputs(request):
    """Every case draws its inputs from a generator seeded by its own name, so a case's inputs do
    not depend on which cases ran before it in the process (pytest-xdist deals cases to workers
    in an order that changes with the machine)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    RNG.bit_generator.state = np.random.PCG64(seed).state


LOOSE = []  # set by a case where torch itself is off the exact float64 answer


def tol(dtype):
    if np.dtype(dtype) == np.float64:
        return (1e-7, 1e-9) if LOOSE else (1e-10, 1e-12)
    return (2e-5, 1e-6)


def to_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.data if isinstance(t, mg.Tensor) else t)


def assert_same(ours, theirs, what):
    o, t = to_numpy(ours), to_numpy(theirs)
    assert o.shape == t.shape, f"{what}: shape {o.shape}, torch {t.shape}"
    assert o.dtype == t.dtype, f"{what}: dtype {o.dtype}, torch {t.dtype}"
    if o.dtype.kind == "f":
        rtol, atol = tol(o.dtype)
        np.testing.assert_allclose(o, t, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(o, t, err_msg=what)


# ---- layouts: how an input reaches the op ------------------------------------------------------
# Each layout gives (the leaf's array, a function of the leaf giving the op's input) for mg and
# torch, so the op sees a view that is not contiguous and the gradient flows back through it.

def layout_plain(a):
    return a, (lambda x: x), (lambda x: x)


def layout_transposed(a):
    """The leaf holds a's transpose; the op sees the leaf transposed back (a strided view)."""
    axes = tuple(reversed(range(a.ndim)))
    return (np.ascontiguousarray(a.transpose(axes)), (lambda x: mg.transpose(x)),
            (lambda x: x.permute(axes)))


def layout_strided(a):
    """The leaf is twice as long on the last axis; the op sees every other element."""
    big = RNG.standard_normal(a.shape[:-1] + (2 * a.shape[-1],)).astype(a.dtype)
    big[..., ::2] = a
    return big, (lambda x: x[..., ::2]), (lambda x: x[..., ::2])


LAYOUTS = {"plain": layout_plain, "transposed": layout_transposed, "strided": layout_strided}


def run(mg_fn, t_fn, arrays, layouts=None, grad=True):
    """Call both with the same values; compare outputs and the gradients of <out, u>."""
    layouts = layouts or ["plain"] * len(arrays)
    leaves_mg, leaves_t, ins_mg, ins_t = [], [], [], []
    for a, name in zip(arrays, layouts):
        a = np.asarray(a)
        if not isinstance(a, np.ndarray) or a.ndim == 0 or name == "plain":
            leaf, via_mg, via_t = layout_plain(a)
        else:
            leaf, via_mg, via_t = LAYOUTS[name](a)
        floating = leaf.dtype.kind == "f" and grad
        lm = mg.tensor(leaf.copy(), requires_grad=floating)
        lt = torch.tensor(leaf.copy(), requires_grad=floating)
        leaves_mg.append(lm)
        leaves_t.append(lt)
        ins_mg.append(via_mg(lm))
        ins_t.append(via_t(lt))
    out_mg, out_t = mg_fn(*ins_mg), t_fn(*ins_t)
    outs_mg = out_mg if isinstance(out_mg, (tuple, list)) else [out_mg]
    outs_t = out_t if isinstance(out_t, (tuple, list)) else [out_t]
    assert len(outs_mg) == len(outs_t)
    for i, (o, t) in enumerate(zip(outs_mg, outs_t)):
        assert_same(o, t, f"output {i}")
    if not any(leaf.requires_grad for leaf in leaves_mg):
        return
    # torch outputs without a graph (an op torch does not differentiate, whose slope is 0 as
    # minigrad's piecewise-constant ops) count as zero gradients
    loss_mg, loss_t = 0, 0
    for o, t in zip(outs_mg, outs_t):
        if to_numpy(o).dtype.kind != "f" or not isinstance(o, mg.Tensor) or not o.requires_grad:
            continue
        u = RNG.standard_normal(to_numpy(o).shape).astype(to_numpy(o).dtype)
        loss_mg = loss_mg + (o * mg.tensor(u)).sum()
        if getattr(t, "requires_grad", False):
            loss_t = loss_t + (t * torch.tensor(u)).sum()
    if isinstance(loss_mg, int):
        return
    loss_mg.backward()
    if not isinstance(loss_t, int):
        loss_t.backward()
    for i, (lm, lt) in enumerate(zip(leaves_mg, leaves_t)):
        if lt.requires_grad and (lt.grad is not None or lm.grad is not None):
            theirs = lt.grad if lt.grad is not None else torch.zeros_like(lt)
            assert lm.grad is not None, f"input {i}: no gradient (torch has one)"
            assert_same(lm.grad, theirs, f"gradient of input {i}")


def normal(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def positive(*shape, dtype=np.float64):
    return (RNG.uniform(0.5, 2.0, shape)).astype(dtype)


# ---- elementwise: every unary op on every layout, both float dtypes ----------------------------

UNARY = {  # name: (torch's function, domain of the input)
    "abs": (torch.abs, normal), "acos": (torch.acos, None), "acosh": (torch.acosh, None),
    "asin": (torch.asin, None), "asinh": (torch.asinh, normal), "atan": (torch.atan, normal),
    "atanh": (torch.atanh, None), "ceil": (torch.ceil, normal), "cos": (torch.cos, normal),
    "cosh": (torch.cosh, normal), "erf": (torch.erf, normal), "exp": (torch.exp, normal),
    "exp2": (torch.exp2, normal), "expm1": (torch.expm1, normal), "floor": (torch.floor, normal),
    "log": (torch.log, positive), "log10": (torch.log10, positive),
    "log1p": (torch.log1p, positive), "log2": (torch.log2, positive), "neg": (torch.neg, normal),
    "relu": (torch.relu, normal), "relu6": (F.relu6, normal), "round": (torch.round, normal),
    "rsqrt": (torch.rsqrt, positive), "sigmoid": (torch.sigmoid, normal),
    "sign": (torch.sign, normal), "sin": (torch.sin, normal), "sinh": (torch.sinh, normal),
    "sqrt": (torch.sqrt, positive), "square": (torch.square, normal), "tan": (torch.tan, normal),
    "tanh": (torch.tanh, normal), "trunc": (torch.trunc, normal), "celu": (F.celu, normal),
    "elu": (F.elu, normal), "gelu": (F.gelu, normal), "hardsigmoid": (F.hardsigmoid, normal),
    "hardswish": (F.hardswish, normal), "hardtanh": (F.hardtanh, normal),
    "leaky_relu": (F.leaky_relu, normal), "logsigmoid": (F.logsigmoid, normal),
    "mish": (F.mish, normal), "selu": (F.selu, normal), "silu": (F.silu, normal),
    "softplus": (F.softplus, normal), "softsign": (F.softsign, normal),
}


def in_unit(*shape, dtype=np.float64):
    return RNG.uniform(-0.9, 0.9, shape).astype(dtype)


def above_one(*shape, dtype=np.float64):
    return RNG.uniform(1.1, 3.0, shape).astype(dtype)


DOMAINS = {"acos": in_unit, "asin": in_unit, "atanh": in_unit, "acosh": above_one}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, dtype, layout):
    t_fn, domain = UNARY[name]
    if name in ("hardsigmoid", "hardswish"):  # torch's float64 forms round 1/6 to float32
        LOOSE.append(name)
    a = (DOMAINS.get(name) or domain)(3, 4, dtype=dtype)
    run(getattr(mg, name), t_fn, [a], [layout])
    # the Tensor method where there is one, on a 0-d and an empty input
    method = getattr(mg.Tensor, name, None) or getattr(mg, name)
    run(method, t_fn, [a[0, 0]])
    run(method, t_fn, [a[:0]])
    LOOSE.clear()


def detached(*xs):
    """torch refuses to differentiate floor division; its slope is 0 (minigrad's, and torch's
    for floor and the other piecewise-constant ops)."""
    return [x.detach() if isinstance(x, torch.Tensor) else x for x in xs]


def remainder_by(s, x):
    """torch's remainder has no slope in its divisor: the same value as a composition that has
    one, -floor(s / x)."""
    return s - x * torch.floor(s / x)


BINARY = {
    "add": (mg.add, torch.add, lambda a, b: a + b), "sub": (mg.sub, torch.sub, lambda a, b: a - b),
    "mul": (mg.mul, torch.mul, lambda a, b: a * b),
    "div": (mg.div, torch.div, lambda a, b: a / b),
    "pow": (mg.pow, torch.pow, lambda a, b: a ** b),
    "maximum": (mg.maximum, torch.maximum, None), "minimum": (mg.minimum, torch.minimum, None),
    "copysign": (mg.copysign, torch.copysign, None), "fmod": (mg.fmod, torch.fmod, None),
    "remainder": (mg.remainder, torch.remainder, lambda a, b: a % b),
    "floor_divide": (mg.floor_divide, lambda a, b: torch.floor_divide(*detached(a, b)),
                     lambda a, b: operator.floordiv(*detached(a, b))),
    "logaddexp": (mg.logaddexp, torch.logaddexp, None),
}
SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (3, 4)), ((2, 3, 4), (3, 1)),
          ((), (3, 4)), ((0, 4), (1, 4)), ((3, 4), ())]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(name, shapes, dtype):
    fn, t_fn, op = BINARY[name]
    a, b = normal(*shapes[0], dtype=dtype), positive(*shapes[1], dtype=dtype)
    if name == "pow":
        a = np.abs(a) + 0.5
    run(fn, t_fn, [a, b])
    if op is not None:
        run(op, op, [a, b])


@pytest.mark.parametrize("layout", ["transposed", "strided"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_views(name, layout):
    fn, t_fn, _ = BINARY[name]
    a, b = positive(3, 4), positive(3, 4)
    run(fn, t_fn, [a, b], [layout, "plain"])
    run(fn, t_fn, [a, b], ["plain", layout])


@pytest.mark.parametrize("scalar", [2, 0.5, -1.5, True], ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_python_scalar_either_side(name, dtype, scalar):
    """A Python scalar is weak: the tensor's float dtype is kept (torch's and NEP 50's)."""
    fn, t_fn, op = BINARY[name]
    if isinstance(scalar, bool) and name in ("pow", "sub", "floor_divide", "fmod", "remainder",
                                             "div"):
        pytest.skip("bool scalars as divisors / exponents: the property test draws bools")
    a = positive(3, 4, dtype=dtype)
    s = scalar

    def scalar_t(x):  # torch's functions take a scalar only second, and some not at all
        return torch.tensor(s, dtype=x.dtype)

    run(lambda x: fn(x, s), lambda x: t_fn(x, scalar_t(x)), [a])
    if name == "remainder":
        run(lambda x: fn(s, x), lambda x: remainder_by(s, x), [a])
    else:
        run(lambda x: fn(s, x), lambda x: t_fn(scalar_t(x), x), [a])
    if op is not None:
        run(lambda x: op(x, s), lambda x: op(x, s), [a])
        if name == "remainder":
            run(lambda x: op(s, x), lambda x: remainder_by(s, x), [a])
        else:
            run(lambda x: op(s, x), lambda x: op(s, x), [a])


# ---- reductions: axes (negative, tuples), keepdims, layouts ------------------------------------

def t_std(x, dim=None, keepdim=False):
    return torch.std(x, dim=dim, keepdim=keepdim, correction=0)


def t_var(x, dim=None, keepdim=False):
    return torch.var(x, dim=dim, keepdim=keepdim, correction=0)


def t_max(x, dim=None, keepdim=False):
    return torch.amax(x, dim=() if dim is None else dim, keepdim=keepdim)


def t_min(x, dim=None, keepdim=False):
    return torch.amin(x, dim=() if dim is None else dim, keepdim=keepdim)


def t_prod(x, dim=None, keepdim=False):
    if dim is None:
        return torch.prod(x)
    for d in sorted((dim,) if isinstance(dim, int) else dim, key=lambda d: d % x.ndim,
                    reverse=True):
        x = torch.prod(x, dim=d, keepdim=keepdim)
    return x


def t_norm(x, dim=None, keepdim=False):
    return torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim)


def t_logsumexp(x, dim=None, keepdim=False):
    return torch.logsumexp(x, dim=tuple(range(x.ndim)) if dim is None else dim, keepdim=keepdim)


REDUCTIONS = {"sum": torch.sum, "mean": torch.mean, "max": t_max, "min": t_min, "prod": t_prod,
              "std": t_std, "var": t_var, "norm": t_norm, "logsumexp": t_logsumexp}
AXES = [None, 0, -1, 1, (0, -1), (-2,)]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction(name, axis, keepdims, layout):
    t_fn = REDUCTIONS[name]
    a = normal(3, 4, 5)
    if name == "prod":
        a = np.abs(a) + 0.5
    kwargs = {} if axis is None else {"dim": axis}

    def ours(x):
        return getattr(mg, name)(x, axis=axis, keepdims=keepdims)

    def torch_(x):
        if axis is None and keepdims:
            return t_fn(x, dim=tuple(range(x.ndim)), keepdim=True)
        return t_fn(x, keepdim=keepdims, **kwargs) if kwargs or keepdims else t_fn(x)

    run(ours, torch_, [a], [layout])
    # the Tensor method takes the same arguments
    run(lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), torch_, [a], [layout])


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_ties_share_the_gradient(name):
    a = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5]])
    run(lambda x: getattr(mg, name)(x, axis=-1), lambda x: REDUCTIONS[name](x, dim=-1), [a])


@pytest.mark.parametrize("name,t_fn", [("argmax", torch.argmax), ("argmin", torch.argmin)])
@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_arg_reductions(name, t_fn, axis, keepdims):
    a = normal(3, 4)
    a[1, 2] = a[0, 1] = a.max() + 1  # a tie: the first index, both libraries
    a[2, 3] = a[1, 0] = a.min() - 1
    if axis is None and keepdims:
        return  # torch keeps every axis; numpy's argmax(axis=None, keepdims=True) too: compared
    run(lambda x: getattr(mg, name)(x, axis=axis, keepdims=keepdims),
        lambda x: t_fn(x, dim=axis, keepdim=keepdims), [a], ["transposed"])


@pytest.mark.parametrize("name,t_fn", [("softmax", F.softmax), ("log_softmax", F.log_softmax),
                                       ("softmin", F.softmin)])
@pytest.mark.parametrize("axis", [0, 1, -1, -3])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_softmax_family(name, t_fn, axis, layout):
    a = normal(2, 3, 4)
    run(lambda x: getattr(mg, name)(x, axis=axis), lambda x: t_fn(x, dim=axis), [a], [layout])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_with_infinities(name):
    a = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, 2.0], [np.inf, 0.0, 1.0]])
    t_fn = {"softmax": F.softmax, "log_softmax": F.log_softmax, "logsumexp": torch.logsumexp}
    run(lambda x: getattr(mg, name)(x, axis=-1), lambda x: t_fn[name](x, dim=-1), [a])


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])
@pytest.mark.parametrize("axis", [0, -1, 1])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_cumulative(name, axis, layout):
    a = normal(3, 4, 2)

    def torch_(x):
        out = getattr(torch, name)(x, dim=axis)
        return tuple(out) if name in ("cummax", "cummin") else out

    run(lambda x: getattr(mg, name)(x, axis=axis), torch_, [a], [layout])


# ---- shape, selection, linear algebra ----------------------------------------------------------

def idx(*values):
    return np.array(values, dtype=np.int64)


SHAPE_CASES = {
    "reshape": (lambda x: mg.reshape(x, (4, -1)), lambda x: x.reshape(4, -1)),
    "flatten": (lambda x: mg.flatten(x, 1, -1), lambda x: x.flatten(1, -1)),
    "unflatten": (lambda x: mg.unflatten(x, -1, (2, 2)), lambda x: x.unflatten(-1, (2, 2))),
    "squeeze": (lambda x: mg.squeeze(mg.unsqueeze(x, -2), -2),
                lambda x: x.unsqueeze(-2).squeeze(-2)),
    "unsqueeze": (lambda x: mg.unsqueeze(x, -1), lambda x: x.unsqueeze(-1)),
    "transpose": (lambda x: mg.transpose(x, (1, 0)), lambda x: x.permute(1, 0)),
    "expand": (lambda x: mg.expand(mg.unsqueeze(x, 0), 2, -1, -1),
               lambda x: x.unsqueeze(0).expand(2, -1, -1)),
    "broadcast_to": (lambda x: mg.broadcast_to(x, (2, 3, 4)), lambda x: x.broadcast_to(2, 3, 4)),
    "concat": (lambda x: mg.concat([x, x * 2], axis=-1), lambda x: torch.cat([x, x * 2], -1)),
    "stack": (lambda x: mg.stack([x, x * 2], axis=-1), lambda x: torch.stack([x, x * 2], -1)),
    "split": (lambda x: mg.split(x, [1, 3], axis=-1), lambda x: torch.split(x, [1, 3], -1)),
    "unstack": (lambda x: mg.unstack(x, axis=-1), lambda x: torch.unbind(x, -1)),
    "flip": (lambda x: mg.flip(x, -1), lambda x: torch.flip(x, (-1,))),
    "roll": (lambda x: mg.roll(x, 2, -1), lambda x: torch.roll(x, 2, -1)),
    "repeat": (lambda x: mg.repeat(x, 2, axis=-1), lambda x: x.repeat_interleave(2, -1)),
    "tile": (lambda x: mg.tile(x, (2, 1)), lambda x: x.tile((2, 1))),
    "pad": (lambda x: mg.pad(x, ((1, 0), (0, 2)), value=1.5),
            lambda x: F.pad(x, (0, 2, 1, 0), value=1.5)),
    "pad_reflect": (lambda x: mg.pad(x, ((0, 0), (1, 2)), mode="reflect"),
                    lambda x: F.pad(x[None], (1, 2), mode="reflect")[0]),
    "diagonal": (lambda x: mg.diagonal(x, 1, -1, -2), lambda x: torch.diagonal(x, 1, -1, -2)),
    "diag": (lambda x: mg.diag(x[0]), lambda x: torch.diag(x[0])),
    "tril": (lambda x: mg.tril(x, -1), lambda x: torch.tril(x, -1)),
    "triu": (lambda x: mg.triu(x, 1), lambda x: torch.triu(x, 1)),
    "getitem": (lambda x: x[1:, 1::2], lambda x: x[1:, 1::2]),
    "getitem_ints": (lambda x: x[idx(2, 0, 2)], lambda x: x[torch.tensor([2, 0, 2])]),
    "getitem_none": (lambda x: x[None, ..., 1], lambda x: x[None, ..., 1]),
    "gather": (lambda x: mg.gather(x, -1, idx(0, 3, 3).reshape(1, 3).repeat(3, 0)),
               lambda x: torch.gather(x, -1, torch.tensor([[0, 3, 3]] * 3))),
    "take_along_axis": (lambda x: mg.take_along_axis(x, idx(2, 0, 1, 1).reshape(1, 4), 0),
                        lambda x: torch.take_along_dim(x, torch.tensor([[2, 0, 1, 1]]), 0)),
    "index_select": (lambda x: mg.index_select(x, -1, idx(3, 0, 3)),
                     lambda x: torch.index_select(x, -1, torch.tensor([3, 0, 3]))),
    "masked_fill": (lambda x: mg.masked_fill(x, np.eye(3, 4, dtype=bool), -2.0),
                    lambda x: x.masked_fill(torch.tensor(np.eye(3, 4, dtype=bool)), -2.0)),
    "masked_select": (lambda x: mg.masked_select(x, np.eye(3, 4, dtype=bool)),
                      lambda x: torch.masked_select(x, torch.tensor(np.eye(3, 4, dtype=bool)))),
    "where": (lambda x: mg.where(np.eye(3, 4, dtype=bool), x, x * -3.0),
              lambda x: torch.where(torch.tensor(np.eye(3, 4, dtype=bool)), x, x * -3.0)),
    "where_scalar": (lambda x: mg.where(np.eye(3, 4, dtype=bool), x, 0.5),
                     lambda x: torch.where(torch.tensor(np.eye(3, 4, dtype=bool)), x, 0.5)),
    "clip": (lambda x: mg.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5)),
    "clip_lo": (lambda x: mg.clip(x, lo=0.0), lambda x: torch.clamp(x, min=0.0)),
    "lerp": (lambda x: mg.lerp(x, x * 2 + 1, 0.3), lambda x: torch.lerp(x, x * 2 + 1, 0.3)),
    "sort": (lambda x: mg.sort(x, -1, descending=True),
             lambda x: tuple(torch.sort(x, -1, descending=True))),
    "argsort": (lambda x: mg.argsort(x, 0), lambda x: torch.argsort(x, 0)),
    "topk": (lambda x: mg.topk(x, 2, -1), lambda x: tuple(torch.topk(x, 2, -1))),
    "topk_smallest": (lambda x: mg.topk(x, 2, 0, largest=False),
                      lambda x: tuple(torch.topk(x, 2, 0, largest=False))),
    "unfold": (lambda x: mg.unfold(x, -1, 2, 1), lambda x: x.unfold(-1, 2, 1)),
    "matmul": (lambda x: x @ mg.transpose(x), lambda x: x @ x.T),
    "matmul_vec": (lambda x: mg.matmul(x, x[0]), lambda x: torch.matmul(x, x[0])),
    "matmul_batched": (lambda x: mg.stack([x, x]) @ mg.transpose(x),
                       lambda x: torch.stack([x, x]) @ x.T),
    "outer": (lambda x: mg.outer(x[0], x[1]), lambda x: torch.outer(x[0], x[1])),
    "einsum": (lambda x: mg.einsum("ij,kj->ik", x, x * 2),
               lambda x: torch.einsum("ij,kj->ik", x, x * 2)),
    "einsum_trace": (lambda x: mg.einsum("ii->", x[:, :3]),
                     lambda x: torch.einsum("ii->", x[:, :3])),
    "normalize": (lambda x: MF.normalize(x, axis=-1), lambda x: F.normalize(x, dim=-1)),
    "layer_norm": (lambda x: MF.layer_norm(x, (4,)), lambda x: F.layer_norm(x, (4,))),
    "one_hot_mul": (lambda x: x * mg.one_hot(idx(0, 3, 1), 4).astype(x.dtype),
                    lambda x: x * F.one_hot(torch.tensor([0, 3, 1]), 4).to(x.dtype)),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_and_selection(name, dtype, layout):
    ours, theirs = SHAPE_CASES[name]
    run(ours, theirs, [normal(3, 4, dtype=dtype)], [layout])


@pytest.mark.parametrize("int_dtype", [np.int8, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_tensor_with_integer_tensor_follows_numpy(dtype, int_dtype):
    """Documented difference (README, "Where minigrad follows numpy"): a float tensor with an
    integer tensor takes numpy's result_type (float32 with int32/int64 is float64; torch keeps
    float32); the values are torch's computed in that dtype, and the float input's gradient
    keeps the input's dtype."""
    x = mg.tensor(normal(3, 4, dtype=dtype), requires_grad=True)
    m = (RNG.integers(0, 2, (3, 4))).astype(int_dtype)
    out = x * mg.tensor(m)
    expected = np.result_type(dtype, int_dtype)
    assert out.dtype == expected
    want = torch.tensor(x.data).to(getattr(torch, expected.name)) * torch.tensor(m)
    assert_same(out, want, "x * mask")
    out.sum().backward()
    assert x.grad.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(x.grad, m.astype(dtype))
