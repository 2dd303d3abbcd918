"""Batching of a program's GEMMs and row sums that do not depend on the recurrence around them.

An unrolled loop repeats small kernel calls whose operands are all known before (or after) the
loop. Two rewrites of the recorded CPU operations turn T of them into one larger call:

- **map**: calls ``matmul(X[t], W)`` on slices ``X[t]`` (``getitem`` with an int) of one 3-d
  array and one W become one ``matmul`` of X's rows (T*B, I) @ W at the first of them; each
  result is then the slice ``Y[t]`` of the (T, B, N) product (the plain loop's input projection
  x_t @ W_ih for all t);
- **reduce**: a gradient accumulated by the walk as ``add(F(a_1), F(a_2))`` and then
  ``add_into(acc, F(a_k))`` for k = 3.., with F one of ``matmul_tn`` (a^T @ d) and ``sum_to`` (a
  bias's row sum), becomes one F over the operands stacked along rows at the last of them:
  dW = sum_t h_t^T dg_t is H^T dG, one GEMM (what the fused recurrences' own backward does). The
  stacked operand is a reshape of X when the a_k are the slices X[t]; the d_k that are
  ``concat`` outputs (an LSTM's gate gradient) are written by their concat straight into rows of
  one buffer (no copy); others are concatenated once.

Both change only the order of float additions (a GEMM over T*B rows sums what T GEMMs and T - 1
additions summed), so results equal the unbatched program to float rounding (1e-10 in float64,
tested). A rewrite is skipped when an operand could be written in place (``add_into``,
``slice_add``, an optimizer update, an opaque call, a call the pass does not know) between the
first and the last of its calls. CPU (numpy) arrays only.
"""

from __future__ import annotations

import bisect

import numpy as np

from .program import slots_in, slots_read
from .record import Const, Slot

# results that never alias an operand (a new array every call)
FRESH = {"cpu." + n for n in (
    "matmul", "matmul_nt", "matmul_tn", "add", "sub", "mul", "div", "neg", "exp", "log", "tanh",
    "sigmoid", "tanh_backward", "sigmoid_backward", "concat", "stack", "copy", "zeros", "ones",
    "full", "empty", "power", "absolute", "maximum", "clip", "relu", "relu_backward")} | {
    "fused", "contiguous", "buffer"}
# calls without side effects (a view at most): dropped when nothing reads their result
PURE = FRESH | {"cpu." + n for n in ("reshape", "transpose", "getitem", "split", "broadcast_to",
                                     "sum_to", "sum", "astype", "asarray")} | {"view"} | {
    "cuda." + n for n in ("matmul", "matmul_nt", "matmul_tn", "reshape", "transpose", "getitem",
                          "split", "concat", "sum_to", "sum")}  # on CUDA too: fuse.py's runs
IN_PLACE = {"cpu.add_into", "cpu.slice_add", "cpu.sgd_update", "cpu.adam_update",
            "cpu.rmsprop_update"}
REDUCE = ("cpu.matmul_tn", "cpu.sum_to")
# the calls fusion takes into a run (compiler/fuse.py)
ELEMENTWISE = tuple("cpu." + n for n in ("add", "sub", "mul", "div", "neg", "exp", "log",
                                         "power", "tanh", "sigmoid", "rule_unary_backward"))
MIN_TERMS = 4


def constants(t):
    """A template of constants as its values."""
    if type(t) is Const:
        return t.value
    return type(t)(constants(x) for x in t) if type(t) in (tuple, list) else t


def _transposed(a):
    """a^T as a new C-contiguous array (what the walk's transpose and add made)."""
    return np.ascontiguousarray(a.T)


def _rows(x):
    """x (T, B, I) as rows (T*B, I) (a view of a contiguous x)."""
    return x.reshape(-1, x.shape[-1])


def _unrows(y, n):
    return y.reshape(n, -1, y.shape[-1])


def take(y, t):
    """y[t] (a step's slice of a batched product, a row block of a buffer)."""
    return y[t]


def _stack_rows(arrays):
    return np.concatenate(arrays, axis=0)


def _concat_into(out, k, arrays, axis):
    """concat(arrays, axis) written into out[k] (a row block of the batched operand)."""
    view = out[k]
    np.concatenate(arrays, axis=axis, out=view)
    return view


def _out_slots(op) -> set:
    return slots_in(op[4], set()) if op[0] == "call" else set()


class _Graph:
    """Who defines and reads each slot, which slots share memory (roots) and where each root may
    be written in place."""

    def __init__(self, ops, values):
        self.ops, self.values = ops, values
        self.definer: dict[int, int] = {}
        self.readers: dict[int, list] = {}
        self.roots: dict[int, frozenset] = {}
        self.writes: list = []  # (index, roots written or None for "anything")
        self._write_at: list | None = None
        self.canon: dict[int, int] = {}  # a repeated view (w.T in every step) -> its first
        seen: dict = {}
        for j, op in enumerate(ops):
            if len(op) > 5 and op[5] in ("cpu.transpose", "cpu.getitem") and \
                    type(op[2][0]) is Slot and type(op[4]) is Slot and \
                    not slots_in(op[2][1:], set()):
                key = (op[5], self.canon.get(op[2][0].i, op[2][0].i),
                       repr(constants(op[2][1:])))
                self.canon[op[4].i] = seen.setdefault(key, op[4].i)
            ins = slots_read(op)
            for i in ins:
                self.readers.setdefault(i, []).append(j)
            for i in _out_slots(op):
                self.definer[i] = j
            if op[0] == "load":
                self.roots[op[3].i] = frozenset((op[3].i,))
                continue
            if op[0] == "opaque":
                self.writes.append((j, None))
                continue
            if op[0] != "call":
                continue
            name = op[5] if len(op) > 5 else None
            in_roots = frozenset().union(*(self.root(i) for i in ins)) if ins else frozenset()
            for i in _out_slots(op):
                self.roots[i] = frozenset((i,)) if name in FRESH else in_roots | {i}
            if name in IN_PLACE:
                self.writes.append((j, self.root(op[2][0].i) if type(op[2][0]) is Slot
                                    else None))
            elif name not in PURE:
                self.writes.append((j, in_roots))

    def root(self, i) -> frozenset:
        return self.roots.get(i, frozenset((i,)))

    def written(self, slots, start, end) -> bool:
        """True when any of slots' memory may be written by an op in (start, end)."""
        if self._write_at is None:  # the writes' indices, ascending (as they were appended)
            self._write_at = [j for j, _ in self.writes]
        lo, hi = bisect.bisect_right(self._write_at, start), bisect.bisect_left(self._write_at, end)
        if lo >= hi:
            return False
        roots = frozenset().union(*(self.root(i) for i in slots))
        return any(w is None or w & roots for _, w in self.writes[lo:hi])

    def name(self, j):
        op = self.ops[j]
        return op[5] if op[0] == "call" and len(op) > 5 else None

    def slice_of(self, i):
        """(X slot, t) when slot i is getitem(X, t) of a 3-d CPU array with an int t."""
        j = self.definer.get(i)
        if j is None or self.name(j) != "cpu.getitem":
            return None
        args = self.ops[j][2]
        if len(args) != 2 or type(args[0]) is not Slot or type(args[1]) is not Const:
            return None
        t, x = args[1].value, self.values[args[0].i]
        if type(t) is not int or type(x) is not np.ndarray or x.ndim != 3:
            return None
        return args[0].i, t


def batch(ops, values, keep: set, new_slot):
    """ops with the map and reduce rewrites applied (new_slot(value) names a new buffer)."""
    ops = _map(list(ops), values, new_slot)
    ops = _reduce(ops, values, new_slot)
    ops = _contiguous_weights(ops, values, new_slot)
    ops = _constant_operands(ops, values, new_slot)
    return drop_unread(ops, keep)


def constant(x):
    """x itself: a constant array named by a slot."""
    return x


def _scalar(a, op, values):
    """A Python or numpy number an elementwise call with a float array result reads, as the 0-d
    array of the result's dtype numpy converts it to (NEP 50: a Python number takes the array's
    dtype; a numpy one of another dtype would have changed the result's), else None."""
    value = a.value
    if type(value) not in (int, float) and not isinstance(value, np.floating | np.integer):
        return None
    out = values[op[4].i] if type(op[4]) is Slot else None
    if type(out) is not np.ndarray or out.dtype not in (np.float32, np.float64):
        return None
    return np.asarray(value, dtype=out.dtype)


def _constant_operands(ops, values, new_slot):
    """Each constant array an elementwise call reads (a zero initial state made outside the
    trace) named by a slot where it is first read, so fusion takes the call into its run: the
    first step of a loop then runs the kernels of the others. A number it reads (a mean's 1/n, a
    layer norm's eps or exponent) likewise, as a 0-d array of the result's dtype."""
    slots: dict = {}
    out = []
    for op in ops:
        if op[0] == "call" and len(op) > 5 and op[5] in ELEMENTWISE and type(op[2]) is tuple:
            args = []
            for a in op[2]:
                if type(a) is Const and type(a.value) is np.ndarray:
                    if id(a.value) not in slots:
                        slots[id(a.value)] = new_slot(a.value)
                        out.append(("call", constant, (a,), {}, slots[id(a.value)], "view"))
                    a = slots[id(a.value)]
                elif type(a) is Const and op[5] != "cpu.rule_unary_backward":
                    number = _scalar(a, op, values)
                    key = (number.dtype, number.item()) if number is not None else None
                    if key is not None and key not in slots:
                        slots[key] = new_slot(number)
                        out.append(("call", constant, (Const(number),), {}, slots[key], "view"))
                    a = slots[key] if key is not None else a
                args.append(a)
            op = (op[0], op[1], tuple(args), *op[3:])
        out.append(op)
    return out


# ---- a transposed weight read by many GEMMs, copied once -----------------------------------
def _contiguous_weights(ops, values, new_slot):
    """``matmul(h, W.T)`` in every step reads a transposed view, a slower GEMM than on a C
    array (OpenBLAS, small M): copy W.T once where it is made, if W is not written before the
    last of those GEMMs."""
    g = _Graph(ops, values)
    users: dict[int, list] = {}
    for j, op in enumerate(ops):
        if g.name(j) == "cpu.matmul" and len(op[2]) == 2 and type(op[2][1]) is Slot:
            w = g.canon.get(op[2][1].i, op[2][1].i)
            users.setdefault(w, []).append(j)
    insert, replace = {}, {}
    for w, js in users.items():
        value, made = values[w], g.definer.get(w)
        if len(js) < MIN_TERMS or type(value) is not np.ndarray or value.ndim != 2 or \
                value.flags.c_contiguous or made is None or \
                g.written({w}, made, js[-1] + 1):
            continue
        copy = new_slot(np.ascontiguousarray(value))
        insert[made] = ("call", np.ascontiguousarray, (Slot(w),), {}, copy, "contiguous")
        for j in js:
            op = ops[j]
            replace[j] = (op[0], op[1], (op[2][0], copy), op[3], op[4], *op[5:])
    out = []
    for j, op in enumerate(ops):
        out.append(replace.get(j, op))
        if j in insert:
            out.append(insert[j])
    return out


# ---- map ---------------------------------------------------------------------------------------
def _map(ops, values, new_slot):
    g = _Graph(ops, values)
    groups: dict = {}
    for j, op in enumerate(ops):
        if g.name(j) != "cpu.matmul" or op[3] or len(op[2]) != 2 or \
                any(type(a) is not Slot for a in op[2]) or type(op[4]) is not Slot:
            continue
        found = g.slice_of(op[2][0].i)
        w = values[op[2][1].i]
        if found is None or type(w) is not np.ndarray or w.ndim != 2:
            continue
        key = (g.canon.get(found[0], found[0]), g.canon.get(op[2][1].i, op[2][1].i), op[1])
        groups.setdefault(key, []).append((j, found[1], found[0], op[2][1].i))
    replace, insert = {}, {}
    for (_, _, fn), terms in groups.items():
        ts = [t for _, t, _, _ in terms]
        x, w = terms[0][2], terms[0][3]
        n = values[x].shape[0]
        first, last = terms[0][0], terms[-1][0]
        if len(terms) < MIN_TERMS or len(set(ts)) != len(ts) or 2 * len(ts) < n or \
                g.definer.get(w, -1) > first or g.written({x, w}, first, last + 1):
            continue
        rows = new_slot(_rows(values[x]))
        product = new_slot(fn(_rows(values[x]), values[w]))
        stacked = new_slot(_unrows(values[product.i], n))
        insert[first] = [
            ("call", _rows, (Slot(x),), {}, rows, "view"),
            ("call", fn, (rows, Slot(w)), {}, product, ops[first][5]),
            ("call", _unrows, (product, Const(n)), {}, stacked, "view")]
        for j, t, _, _ in terms:
            replace[j] = ("call", take, (stacked, Const(t)), {}, ops[j][4], "view")
    out = []
    for j, op in enumerate(ops):
        out.extend(insert.get(j, ()))
        out.append(replace.get(j, op))
    return out


# ---- reduce ------------------------------------------------------------------------------------
def _operand(g, a) -> bool:
    """True for an array operand of a call (a slot, or an array constant such as a zero state)."""
    return type(a) is Slot or (type(a) is Const and type(a.value) is np.ndarray)


def _value(g, a):
    if type(a) is Slot:
        return g.values[a.i]
    if type(a) is Const:
        return a.value
    return type(a)(_value(g, x) for x in a) if type(a) in (tuple, list) else a


def _term(g, i):
    """(index of the REDUCE call, index of a transpose after it or None) when slot i is that
    call's only output (or its transpose's), read once; else None."""
    j = g.definer.get(i)
    if j is not None and g.name(j) == "cpu.transpose" and len(g.readers.get(i, ())) == 1:
        op = g.ops[j]
        if type(op[2][0]) is Slot and not slots_in(op[2][1:], set()) and \
                constants(op[2][1]) in ((1, 0), [1, 0]) and g.values[op[2][0].i].ndim == 2:
            core = _core(g, op[2][0].i)
            return None if core is None else (core, j)
    core = _core(g, i)
    return None if core is None else (core, None)


def _core(g, i):
    j = g.definer.get(i)
    if j is None or g.name(j) not in REDUCE or len(g.readers.get(i, ())) != 1:
        return None
    op = g.ops[j]
    if type(op[4]) is not Slot or op[3] or not _operand(g, op[2][0]):
        return None
    arrays = [_value(g, a) for a in op[2] if _operand(g, a)]
    if any(type(a) is not np.ndarray or a.ndim != 2 for a in arrays):
        return None
    if g.name(j) == "cpu.sum_to":  # rows summed: to (N,) or (1, N) from (B, N)
        shape = _value(g, op[2][1]) if len(op[2]) == 2 else None
        if type(shape) is not tuple or not (
                len(shape) == 1 or shape[0] == 1 != arrays[0].shape[0]):
            return None
    return j


def _signature(g, term):
    j, post = term
    op = g.ops[j]
    return (op[1], post is None, tuple(
        ("A", _value(g, a).shape, _value(g, a).dtype.str) if _operand(g, a)
        else ("C", repr(_value(g, a))) for a in op[2]))


def _chains(g):
    """[(acc slot, [term op indices], [chain op indices])] of the walk's accumulations."""
    chains = []
    for j, op in enumerate(g.ops):
        if g.name(j) != "cpu.add" or len(op[2]) != 2 or type(op[4]) is not Slot or \
                any(type(a) is not Slot for a in op[2]):
            continue
        terms = [_term(g, a.i) for a in op[2]]
        if None in terms or _signature(g, terms[0]) != _signature(g, terms[1]):
            continue
        acc, links = op[4].i, [j]
        for r in g.readers.get(acc, ()):
            other = g.ops[r]
            if g.name(r) != "cpu.add_into" or other[2][0].i != acc or \
                    type(other[2][1]) is not Slot:
                break
            term = _term(g, other[2][1].i)
            if term is None or _signature(g, term) != _signature(g, terms[0]):
                break
            terms.append(term)
            links.append(r)
        if len(terms) >= MIN_TERMS:
            chains.append((acc, terms, links))
    return chains


def _reduce(ops, values, new_slot):
    g = _Graph(ops, values)
    drop, insert, replace = set(), {}, {}
    buffers: dict[int, tuple] = {}  # concat output slot -> (buffer slot, row block)
    done: dict = {}  # a batched call's terms -> (its result, where)
    chains = _chains(g)  # those with slices X[t] first: their buffers take t's order
    chains.sort(key=lambda c: not any(g.slice_of(a.i) for a in ops[c[1][0][0]][2]
                                      if type(a) is Slot))
    for acc, terms, links in chains:
        end = links[-1]
        operands = [a.i for j, _ in terms for a in ops[j][2] if type(a) is Slot]
        if g.written(operands, min(j for j, _ in terms), end) or any(
                g.written({acc}, links[k], links[k + 1]) for k in range(len(links) - 1)):
            continue
        posts = [post for _, post in terms if post is not None]
        terms = [j for j, _ in terms]
        order = _order(g, terms, buffers)
        terms = [terms[k] for k in order]
        before, stacked = [], []
        for p, a in enumerate(ops[terms[0]][2]):
            if not _operand(g, a):
                stacked.append(a)
                continue
            operands = [ops[j][2][p] for j in terms]
            stacked.append(_stacked(g, operands, buffers, before, insert, replace, new_slot))
        fn, name, out = ops[terms[0]][1], ops[terms[0]][5], ops[links[0]][4]
        key = (fn, bool(posts), repr([[constants(a) if type(a) is not Slot else ("s", a.i)
                                       for a in ops[j][2]] for j in terms]))
        same = done.get(key)  # the same sum again (db_ih and db_hh): a copy of the first
        if same is not None and same[1] < end and not g.written({same[0].i}, same[1], end + 1):
            insert.setdefault(end, []).append(("call", np.copy, (same[0],), {}, out, "copy"))
            drop.update(terms)
            drop.update(posts)
            drop.update(links)
            continue
        done[key] = (out, end)
        insert.setdefault(end, []).extend(before)
        if posts:  # the walk summed transposes (w.T in every step): transpose the sum
            total = new_slot(values[out.i].T)
            insert[end].append(("call", fn, tuple(stacked), {}, total, name))
            insert[end].append(("call", _transposed, (total,), {}, out, "transpose"))
        else:
            insert[end].append(("call", fn, tuple(stacked), {}, out, name))
        drop.update(terms)
        drop.update(posts)
        drop.update(links)
    out = []
    for j, op in enumerate(ops):
        out.extend(x for x in insert.get(j, ()) if x is not None)  # before the end's removal
        if j not in drop:
            out.append(replace.get(j, op))
    return out


def _order(g, terms, buffers):
    """The terms' order: by t where an operand is the slices X[t], by row block where an operand
    is already in a buffer, else as the walk made them."""
    ops = g.ops
    positions = [[ops[j][2][p].i for j in terms] for p, a in enumerate(ops[terms[0]][2])
                 if all(type(ops[j][2][p]) is Slot for j in terms)]
    for slots in positions:
        if all(s in buffers for s in slots):
            return sorted(range(len(terms)), key=lambda k: buffers[slots[k]][1])
    for slots in positions:
        found = [g.slice_of(s) for s in slots]
        if None not in found and len({x for x, _ in found}) == 1:
            return sorted(range(len(terms)), key=lambda k: found[k][1])
    return list(range(len(terms)))


def _stacked(g, operands, buffers, before, insert, replace, new_slot):
    """A slot holding the operands' rows stacked in their order, made by ops added to before
    (at the batched call) or at their producers."""
    ops, values = g.ops, g.values
    if any(type(a) is not Slot for a in operands):
        rows = new_slot(_stack_rows([_value(g, a) for a in operands]))
        before.append(("call", _stack_rows, (list(operands),), {}, rows, "stack_rows"))
        return rows
    slots = [a.i for a in operands]
    found = [g.slice_of(s) for s in slots]
    if None not in found and len({x for x, _ in found}) == 1 and \
            [t for _, t in found] == list(range(values[found[0][0]].shape[0])):
        rows = new_slot(_rows(values[found[0][0]]))
        before.append(("call", _rows, (Slot(found[0][0]),), {}, rows, "view"))
        return rows
    if all(s in buffers for s in slots):
        buffer = buffers[slots[0]][0]
        if [buffers[s] for s in slots] == [(buffer, k) for k in range(len(slots))] and \
                values[buffer.i].shape[0] == len(slots):  # every row block, in order
            rows = new_slot(_rows(values[buffer.i]))
            before.append(("call", _rows, (buffer,), {}, rows, "view"))
            return rows
    producers = [g.definer.get(s) for s in slots]
    first = values[slots[0]]
    if not any(s in buffers for s in slots) and None not in producers and \
            len(set(producers)) == len(slots) and \
            all(g.name(j) == "cpu.concat" and type(ops[j][4]) is Slot and not ops[j][3]
                for j in producers) and \
            all(values[s].shape == first.shape and values[s].dtype == first.dtype
                for s in slots):
        buffer = new_slot(np.empty((len(slots), *first.shape), first.dtype))
        start = min(producers)
        insert.setdefault(start, []).insert(0, (
            "call", np.empty, (Const((len(slots), *first.shape)),),
            {"dtype": Const(first.dtype)}, buffer, "buffer"))
        for k, (s, j) in enumerate(zip(slots, producers)):
            arrays, axis = ops[j][2]
            replace[j] = ("call", _concat_into, (buffer, Const(k), arrays, axis), {}, Slot(s),
                          "concat_into")
            buffers[s] = (buffer, k)
        rows = new_slot(_rows(values[buffer.i]))
        before.append(("call", _rows, (buffer,), {}, rows, "view"))
        return rows
    rows = new_slot(_stack_rows([values[s] for s in slots]))
    before.append(("call", _stack_rows, (list(operands),), {}, rows, "stack_rows"))
    return rows


def drop_unread(ops, keep):
    """ops without the pure calls whose results nothing reads (a slice the map made unread)."""
    while True:
        read = set(keep)
        for op in ops:
            read |= slots_read(op)
        kept = [op for op in ops if not (op[0] == "call" and len(op) > 5 and op[5] in PURE
                                         and _out_slots(op) and not _out_slots(op) & read)]
        if len(kept) == len(ops):
            return kept
        ops = kept
