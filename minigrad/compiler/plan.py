"""Plan the fused kernels of a traced step: lanes, GEMM slots, what backward saves.

1. **Lanes.** Every row value is cut into pieces of L columns (L the gcd of all widths and slice
   bounds, H for the built-in cells), so the elementwise work of a step is one loop over j < L
   with one scalar per piece: a split or slice just picks pieces, and the generated loop indexes
   one view per piece (per-gate views, which LLVM vectorises).
2. **Slots.** The products x @ W_x.T (hoisted: one GEMM over all steps) and h @ W_h.T (per step)
   write into one buffer of L-wide slots. A piece of each whose gradients are equal (both reach
   the same sum through additions only, as the LSTM's gates do) shares one slot: BLAS adds the
   per-step product into the hoisted one, and one weight-gradient GEMM serves both. Slots are
   ordered [x only | shared | h only], so the x window and the h window are contiguous (the
   GRU's [n | r | z | W_hn h] layout falls out of this).
3. **Saved values** (saved.py): what backward reads, recomputes or finds stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .saved import OPS, row_phases, saved_values, stages
from .trace import CellCompileError, Graph, unsupported


@dataclass
class Plan:
    """Everything the code generators and the runtime need, independent of sizes but L."""

    values: list                 # ("slot", s) ("state", k, p) ("param", name, p) ("const", v)
    outputs: list                # per state: the value id of each piece   ("rule", name, *args)
    state_pieces: tuple          # pieces per state
    n_slots: int
    x_slots: int                 # the x window is slots [0, x_slots)
    h_first: int                 # the h window is slots [h_first, n_slots) (empty: no h product)
    x_rows: list                 # W_x row block per slot of the x window
    h_rows: list                 # W_h row block per slot of the h window
    weight_x: str | None
    weight_h: str | None
    rec_state: int               # the state multiplied by W_h (0 when there is none)
    vectors: dict                # vector parameter -> pieces
    lane_width: int
    mid_operand: list = field(default_factory=list)  # stage 2: the intermediate's pieces
    weight_mid: str | None = None                    # ... multiplied by this weight's .T
    mid_pieces: int = 0                              # ... into this many slot2 pieces
    stage: list = field(default_factory=list)        # per value: 1 or 2
    carried: list = field(default_factory=list)      # stage-1 values stage 2 reads
    stored: dict = field(default_factory=dict)     # value -> (slot|slot2|extra, index)
    n_extra: int = 0
    recompute: set = field(default_factory=set)    # values backward recomputes
    raw_slots: set = field(default_factory=set)    # slots whose raw product backward reads
    phase: list = field(default_factory=list)      # per value: row reductions it lies behind
    row_scalars: set = field(default_factory=set)  # per-row scalar values (row sums, ...)
    stats: dict = field(default_factory=dict)      # row scalar -> column after the extra lanes

    @property
    def n_stats(self) -> int:
        return len(self.stats)

    @property
    def n_phases(self) -> int:
        return max(self.phase, default=0) + 1

    @property
    def all_shared(self) -> bool:
        return self.weight_h is not None and self.x_slots == self.n_slots and self.h_first == 0


class _Values:
    """Hash-consed scalar values in topological order."""

    def __init__(self):
        self.values, self.index = [], {}

    def get(self, key) -> int:
        if key not in self.index:
            self.index[key] = len(self.values)
            self.values.append(key)
        return self.index[key]


def plan(graph: Graph) -> Plan:
    """Lanes, slots and saved values for a traced step (CellCompileError if it cannot fuse)."""
    live = _live(graph)
    L = _lane_width(graph, live)
    vals = _Values()
    pieces, gemms, mid = {}, [], None
    for i in sorted(live):
        node = graph.nodes[i]
        if node.kind == "input":
            continue
        n = node.width // L
        if node.kind == "state":
            pieces[i] = [vals.get(("state", node.attrs["index"], p)) for p in range(n)]
        elif node.kind == "param":
            pieces[i] = [vals.get(("param", node.attrs["name"], p)) for p in range(n)]
        elif node.kind == "const":
            pieces[i] = vals.get(("const", node.attrs["value"]))
        elif node.kind == "rowsum":
            source = pieces[node.args[0]]
            if not isinstance(source, list):
                raise unsupported("a row sum of a number")
            pieces[i] = vals.get(("rowsum", "sum", *source))
        elif node.kind == "slice":
            source = pieces[node.args[0]]
            pieces[i] = source[node.attrs["start"] // L:node.attrs["stop"] // L]
        elif node.kind == "matmul":
            operand = graph.nodes[node.args[0]]
            if operand.kind not in ("input", "state"):
                if mid is not None:
                    raise unsupported("more than one matrix product of an intermediate value "
                                      f"(a step with three stages: {node.attrs['weight']!r})")
                operand_ids = pieces[node.args[0]]
                if any(_depends_on_mid(vals.values, v) for v in operand_ids):
                    raise unsupported("a product of a product of an intermediate value")
                mid = (list(operand_ids), node.attrs["weight"])
                pieces[i] = [vals.get(("gemm", "mid", p)) for p in range(n)]
                continue
            which = "x" if operand.kind == "input" else operand.attrs["index"]
            if any(g[0] == which or (which != "x" and g[0] != "x") for g in gemms):
                raise unsupported("more than one product with the input or with the states "
                                  "per step")
            gemms.append((which, node.attrs["weight"]))
            pieces[i] = [vals.get(("gemm", which, p)) for p in range(node.width // L)]
        else:
            args = [pieces[a] for a in node.args]
            n = max((len(a) for a in args if isinstance(a, list)), default=0)
            if n == 0:
                pieces[i] = vals.get(("rule", node.attrs["rule"], *args))
            else:
                pieces[i] = [vals.get(("rule", node.attrs["rule"],
                                       *[a[p] if isinstance(a, list) else a for a in args]))
                             for p in range(n)]
    outputs = []
    for o in graph.outputs:
        if not isinstance(pieces[o], list):
            raise CellCompileError("a new state is a number, not a row value")
        outputs.append(list(pieces[o]))
    weight_x = next((w for g, w in gemms if g == "x"), None)
    rec = next(((g, w) for g, w in gemms if g != "x"), None)
    if weight_x is None:
        raise unsupported("a step without the input product x @ W.T")
    weights = [w for _, w in gemms] + ([mid[1]] if mid else [])
    if len(set(weights)) != len(weights):
        raise unsupported(f"one weight in several matrix products ({weights})")
    vectors = {graph.nodes[i].attrs["name"]: graph.nodes[i].width // L
               for i in live if graph.nodes[i].kind == "param"}
    if mid is not None and any(key[0] == "rowsum" for key in vals.values):
        raise unsupported("a row reduction in a step with a product of an intermediate value "
                          "(two stages)")
    result = _slots(vals.values, outputs, weight_x, rec, vectors, graph, L, mid)
    stages(result)
    row_phases(result)
    saved_values(result)
    return result


def _depends_on_mid(values, v) -> bool:
    stack = [v]
    while stack:
        key = values[stack.pop()]
        if key[:2] == ("gemm", "mid"):
            return True
        if key[0] in OPS:
            stack.extend(key[2:])
    return False



def _live(graph: Graph) -> set:
    live, stack = set(), list(graph.outputs)
    while stack:
        i = stack.pop()
        if i not in live:
            live.add(i)
            stack.extend(graph.nodes[i].args)
    return live


def _lane_width(graph: Graph, live) -> int:
    widths = [graph.nodes[i].width for i in live if graph.nodes[i].kind not in ("input", "const")]
    for i in live:
        node = graph.nodes[i]
        if node.kind == "slice":
            widths += [node.attrs["start"], node.attrs["stop"]]
    L = 0
    for w in widths:
        L = math.gcd(L, w)
    return L


def _consumers(values, outputs):
    users = [[] for _ in values]
    for v, key in enumerate(values):
        if key[0] in OPS:
            for a in key[2:]:
                users[a].append(v)
    for piece_ids in outputs:
        for v in piece_ids:
            users[v].append(-1)
    return users


def _slots(values, outputs, weight_x, rec, vectors, graph, L, mid) -> Plan:
    """Pair x and h pieces with equal gradients, lay out slots, rewrite gemm pieces to slots."""
    users = _consumers(values, outputs)

    def up(v):
        while len(users[v]) == 1 and users[v][0] >= 0 and values[users[v][0]][:2] == ("rule",
                                                                                       "add"):
            v = users[v][0]
        return v

    x_pieces = sorted(key[2] for key in values if key[:2] == ("gemm", "x"))
    h_pieces = sorted(key[2] for key in values if key[0] == "gemm" and key[1] not in ("x", "mid"))
    index = {key: v for v, key in enumerate(values)}
    roots = {}
    for kind, ps in (("x", x_pieces), ("h", h_pieces)):
        for p in ps:
            key = ("gemm", "x" if kind == "x" else rec[0], p)
            roots.setdefault(up(index[key]), []).append((kind, p))
    pairs = {}  # root -> (x piece, h piece)
    for root, members in roots.items():
        kinds = sorted(m[0] for m in members)
        if kinds == ["h", "x"]:
            pairs[root] = (next(p for k, p in members if k == "x"),
                           next(p for k, p in members if k == "h"))
    shared_x = {px for px, _ in pairs.values()}
    shared_h = {ph for _, ph in pairs.values()}
    x_only = [p for p in x_pieces if p not in shared_x]
    shared = sorted(pairs.values())
    h_only = [p for p in h_pieces if p not in shared_h]
    slot_of = {}
    for s, p in enumerate(x_only):
        slot_of[("x", p)] = s
    for s, (px, ph) in enumerate(shared, start=len(x_only)):
        slot_of[("x", px)] = slot_of[("h", ph)] = s
    for s, p in enumerate(h_only, start=len(x_only) + len(shared)):
        slot_of[("h", p)] = s
    n_slots = len(x_only) + len(shared) + len(h_only)

    out = _Values()
    new_id = {}

    def flatten(v, root):
        key = values[v]
        if key[:2] == ("rule", "add") and (v == root or len(users[v]) == 1):
            return flatten(key[2], root) + flatten(key[3], root)
        return [v]

    for v, key in enumerate(values):
        if key[:2] == ("gemm", "mid"):
            new_id[v] = out.get(("slot2", key[2]))
        elif key[0] == "gemm":
            kind = "x" if key[1] == "x" else "h"
            new_id[v] = out.get(("slot", slot_of[(kind, key[2])]))
        elif v in pairs:
            px, ph = pairs[v]
            skip = {index[("gemm", "x", px)], index[("gemm", rec[0], ph)]}
            total = out.get(("slot", slot_of[("x", px)]))
            for leaf in flatten(v, v):
                if leaf not in skip:
                    total = out.get(("rule", "add", total, new_id[leaf]))
            new_id[v] = total
        elif key[0] in OPS:
            new_id[v] = out.get(key[:2] + tuple(new_id[a] for a in key[2:]))
        else:
            new_id[v] = out.get(key)
    new_outputs = [[new_id[v] for v in piece_ids] for piece_ids in outputs]
    operand = [new_id[v] for v in mid[0]] if mid else []
    final, remap = _prune(out.values, new_outputs, operand)
    return Plan(
        mid_operand=[remap[v] for v in operand], weight_mid=mid[1] if mid else None,
        mid_pieces=sum(1 for key in final if key[0] == "slot2"),
        values=final, outputs=[[remap[v] for v in ids] for ids in new_outputs],
        state_pieces=tuple(size // L for size in graph.state_sizes), n_slots=n_slots,
        x_slots=len(x_only) + len(shared), h_first=len(x_only) if rec else n_slots,
        x_rows=x_only + [px for px, _ in shared], h_rows=[ph for _, ph in shared] + h_only,
        weight_x=weight_x, weight_h=rec[1] if rec else None, rec_state=rec[0] if rec else 0,
        vectors=vectors, lane_width=L)


def _prune(values, outputs, operand):
    """Keep the values the outputs and the operand of the stage-2 product reach (and every
    slot), renumbered in topological order."""
    keep = set()
    stack = [v for ids in outputs for v in ids] + list(operand)
    stack += [v for v, key in enumerate(values) if key[0] in ("slot", "slot2")]
    while stack:
        v = stack.pop()
        if v not in keep:
            keep.add(v)
            if values[v][0] in OPS:
                stack.extend(values[v][2:])
    remap, final = {}, []
    for v in sorted(keep):
        key = values[v]
        remap[v] = len(final)
        final.append(key[:2] + tuple(remap[a] for a in key[2:]) if key[0] in OPS else key)
    return final, remap
