"""Integer bitwise ops: ``& | ^ ~ << >>`` and their torch names (``bitwise_and``, ...).

Operands promote by the rule of ``dtypes.py`` (a Python int is weak: ``int8_tensor & 3`` stays
int8). ``& | ^`` take integers or bools (on bools they are the logical ops), ``~`` flips every bit
of an integer and negates a bool, the shifts take integers only; a float operand is a TypeError,
as in numpy and torch. A shift by the operand's width or more (or by a negative amount) gives 0,
or -1 for a right shift of a negative value: torch's answers (C leaves them undefined). No
gradient: the results are integers.
"""

from __future__ import annotations

from ..backends import backend_of
from ..tensor import Tensor
from .dispatch import binary_family
from .elementwise import binary_operands, broadcast_apply

_SYMBOL = {"and": "&", "or": "|", "xor": "^", "lshift": "<<", "rshift": ">>"}


def _bitwise(op: str, name: str, a, b) -> Tensor:
    a, b = binary_operands(name, a, b)
    kind = a.dtype.kind
    if kind not in "iub" or (kind == "b" and op in ("lshift", "rshift")):
        wanted = "integer" if op in ("lshift", "rshift") else "integer or bool"
        raise TypeError(f"{name} ({_SYMBOL[op]}): needs {wanted} operands, got {a.dtype}")
    be = backend_of(a.data)
    return Tensor._wrap(broadcast_apply(name, lambda x, y: be.bitwise(op, x, y), a, b))


bitwise_and = binary_family(_bitwise, "and", "bitwise_and", "a & b bitwise (logical and of bools).")
bitwise_or = binary_family(_bitwise, "or", "bitwise_or", "a | b bitwise (logical or of bools).")
bitwise_xor = binary_family(_bitwise, "xor", "bitwise_xor", "a ^ b bitwise (logical xor of bools).")
bitwise_left_shift = binary_family(_bitwise, "lshift", "bitwise_left_shift",
                                   "a << b on integers (0 when b >= the width or b < 0).")
bitwise_right_shift = binary_family(
    _bitwise, "rshift", "bitwise_right_shift",
    "a >> b on integers, arithmetic for signed ones (0 or -1 when b >= the width or b < 0).")


def bitwise_not(a) -> Tensor:
    """~a: every bit flipped (integers), logical not (bools)."""
    if not isinstance(a, Tensor):
        raise TypeError(f"bitwise_not (~): expected a Tensor, got {type(a).__name__}")
    be = backend_of(a.data)
    if a.dtype.kind == "b":
        return Tensor._wrap(be.logical_not(a.data))
    if a.dtype.kind not in "iu":
        raise TypeError(f"bitwise_not (~): needs an integer or bool tensor, got {a.dtype}; use "
                        "mg.logical_not for a truth test")
    return Tensor._wrap(be.bitwise_not(a.data))
