"""einsum and outer, composed of transpose, reshape, sum, diagonal and batched matmul.

Each pair of operands becomes one batched GEMM (batch letters, kept letters, contracted letters),
so einsum runs on every backend and its gradient is the parts' gradients. Ellipses are not
supported (a clear error); repeated letters in one operand take its diagonal.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .linalg import matmul
from .reduce import sum as sum_
from .shape import reshape, transpose
from .shape_more import diagonal


def _parse(subscripts: str, count: int):
    text = subscripts.replace(" ", "")
    if "." in text:
        raise ValueError(f"einsum: ellipsis ('...') is not supported, got {subscripts!r}")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != count:
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got {count}")
    letters = "".join(terms)
    if not all(c.isalpha() for c in letters + output):
        raise ValueError(f"einsum: subscripts must be letters, got {subscripts!r}")
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for c in output:
        if c not in letters or output.count(c) > 1:
            raise ValueError(f"einsum: output letter {c!r} must appear once and in an input "
                             f"({subscripts!r})")
    return terms, output


def _undiagonal(t: Tensor, term: str):
    """Take the diagonal of repeated letters: 'ii' -> 'i'."""
    while len(set(term)) < len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        t = diagonal(t, 0, i, j)
        term = "".join(x for k, x in enumerate(term) if k not in (i, j)) + c
    return t, term


def _sum_out(t: Tensor, term: str, keep: set):
    axes = tuple(i for i, c in enumerate(term) if c not in keep)
    if not axes:
        return t, term
    return sum_(t, axis=axes), "".join(c for c in term if c in keep)


def _permute(t: Tensor, term: str, order: str) -> Tensor:
    if term == order:
        return t
    return transpose(t, tuple(term.index(c) for c in order))


def _contract(a, sa, b, sb, keep, sizes):
    a, sa = _sum_out(a, sa, keep | set(sb))
    b, sb = _sum_out(b, sb, keep | set(sa))
    batch = "".join(c for c in sa if c in sb and c in keep)
    inner = "".join(c for c in sa if c in sb and c not in keep)
    left = "".join(c for c in sa if c not in sb)
    right = "".join(c for c in sb if c not in sa)

    def size(letters):
        return int(np.prod([sizes[c] for c in letters])) if letters else 1

    a3 = reshape(_permute(a, sa, batch + left + inner),
                 (size(batch), size(left), size(inner)))
    b3 = reshape(_permute(b, sb, batch + inner + right),
                 (size(batch), size(inner), size(right)))
    out = matmul(a3, b3)
    term = batch + left + right
    return reshape(out, tuple(sizes[c] for c in term)), term


def einsum(subscripts: str, *operands) -> Tensor:
    """Sum of products over the letters missing from the output ('ij,jk->ik', 'bij,bjk->bik',
    'i,i->', 'ij->ji', 'ii->i', ...), as numpy.einsum, differentiable."""
    terms, output = _parse(subscripts, len(operands))
    tensors, sizes = [], {}
    for k, (t, term) in enumerate(zip(operands, terms)):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum: operand {k} must be a Tensor, got {type(t).__name__}")
        if t.ndim != len(term):
            raise ValueError(f"einsum: operand {k} has {t.ndim} dims but {term!r} names "
                             f"{len(term)}")
        for c, n in zip(term, t.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: letter {c!r} has size {sizes[c]} and {n}")
        tensors.append(_undiagonal(t, term))
    t, term = tensors[0]
    for k in range(1, len(tensors)):
        later = set(output).union(*(set(s) for _, s in tensors[k + 1:]))
        t, term = _contract(t, term, *tensors[k], later, sizes)
    t, term = _sum_out(t, term, set(output))
    return _permute(t, term, output)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """a_i b_j for 1-d a and b (flattened otherwise, as numpy.outer)."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))
