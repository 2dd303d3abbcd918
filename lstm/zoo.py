"""The one registry of models: model name -> builder, label, colour, family, default init, paper.

Every command's `--model` choices and help, the sweeps' presets, the report's legends and
colours, the asv parameter lists and the docs' table of cells read it. A new cell is its class
(a `lstm.Cell` subclass) and one line:

    register_cell("mgu", MGUCell, label="MGU", colour="#8ca252", family="gru",
                  paper="Zhou et al. 2016")

A user's own cell needs no line at all: wherever a model name is taken, `module:Class` or
`path/to/file.py:Class` names a Cell subclass (`resolve`), and it runs like a built-in (label:
its class name; colour: drawn from a fixed palette by its name).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minigrad import init

from .cell_zoo import CIFGCell, JANETCell, LayerNormLSTMCell, PeepholeLSTMCell
from .cell_zoo_gru import GRUChoCell, IndRNNCell, MGUCell
from .cell_zoo_min import MinGRUCell, MinLSTMCell
from .cell_zoo_xlstm import SLSTMCell
from .cells import Cell
from .layers import GRU, LSTM, RNN, Recurrent
from .xlstm_parallel import MLSTM

IRNN_INPUT_STD = 1e-3  # Le et al. 2015: input weights N(0, 0.001), W_hh = I, biases 0
FAMILIES = ("rnn", "lstm", "gru", "user")
# colours for models registered without one and for users' cells (matplotlib's tab20b/c)
PALETTE = ("#843c39", "#ad494a", "#d6616b", "#7b4173", "#a55194", "#ce6dbd", "#de9ed6",
           "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")

# build(input_size, hidden_size, seq_len, rng, impl, dtype) -> the recurrent layer
Builder = Callable[..., object]


@dataclass(frozen=True)
class ModelSpec:
    """One model name: how to build its recurrent layer and how to show it.

    `cell` is the Cell class of a registered cell (None for the built-in layers, whose fused
    kernels are the primitives'): a model with a cell is checked against the cell compiler
    and runs composed, with a warning, where the compiler cannot fuse its step. `min_seq_len`
    is the shortest T its builder accepts (chrono init needs T_max >= 3); `glorot`: whether
    Arjovsky et al. 2016's Glorot init is defined for it; `variant`: one of the literature's
    cell variants (the docs' second table, the gradient-flow preset's list).
    """

    name: str
    build: Builder
    label: str
    short: str
    colour: str
    family: str
    init: str
    paper: str
    cell: type | None = None
    glorot: bool = False
    variant: bool = False
    min_seq_len: int = 2
    source: str = ""  # a user's cell: "file.py" or "module" it was loaded from

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")


_REGISTRY: dict[str, ModelSpec] = {}
_USER: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model; its name must be new and must not contain ':' (kept for user cells)."""
    if ":" in spec.name or not spec.name:
        raise ValueError(f"model name must be non-empty without ':', got {spec.name!r}")
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered already")
    _REGISTRY[spec.name] = spec
    return spec


def _check_cell(cell, name: str) -> None:
    if not (isinstance(cell, type) and issubclass(cell, Cell)):
        raise ValueError(f"model {name!r}: expected a lstm.Cell subclass, got "
                         f"{cell!r} ({type(cell).__name__})")


def layer_builder(layer, *args, chrono: bool = False, **options) -> Builder:
    """The builder of `layer(*args, input_size, hidden_size, ..., **options)`; `chrono`: chrono
    init with T_max = the run's seq_len."""
    def build(input_size, hidden_size, seq_len, rng, impl, dtype):
        extra = {"chrono_t_max": seq_len} if chrono else {}
        return layer(*args, input_size, hidden_size, impl=impl, rng=rng, dtype=dtype, **options,
                     **extra)
    return build


def cell_builder(cell: type, **options) -> Builder:
    """The builder of `Recurrent(cell, ...)`: any Cell subclass as a one-layer model."""
    return layer_builder(Recurrent, cell, **options)


def register_cell(name: str, cell: type, *, label: str, family: str, paper: str,
                  colour: str | None = None, short: str | None = None,
                  init: str = "torch's U(+-1/sqrt(H))", **options) -> ModelSpec:
    """One line per cell: `name` runs `Recurrent(cell, ...)` (cell options in `options`)."""
    _check_cell(cell, name)
    return register(ModelSpec(name, cell_builder(cell, **options), label, short or label,
                              colour or PALETTE[len(_REGISTRY) % len(PALETTE)], family, init,
                              paper, cell=cell, variant=True))


# ---- the built-in models -----------------------------------------------------------------------
def _irnn(input_size, hidden_size, seq_len, rng, impl, dtype):
    layer = RNN(input_size, hidden_size, nonlinearity="relu", init_hh="identity", impl=impl,
                rng=rng, dtype=dtype)
    init.normal_(layer.weight_ih_l0, 0.0, IRNN_INPUT_STD, rng)
    init.zeros_(layer.bias_ih_l0)
    init.zeros_(layer.bias_hh_l0)
    return layer


def _lstm_proj(input_size, hidden_size, seq_len, rng, impl, dtype):
    if hidden_size < 2:
        raise ValueError(f"lstm-proj needs hidden_size >= 2 (it projects to hidden_size // 2), "
                         f"got {hidden_size}")
    return LSTM(input_size, hidden_size, impl=impl, rng=rng, dtype=dtype,
                proj_size=hidden_size // 2)


_TORCH = "torch's U(+-1/sqrt(H))"
register(ModelSpec("rnn", layer_builder(RNN, nonlinearity="tanh"), "tanh-RNN", "RNN",
                   "#d62728", "rnn", _TORCH, "Elman 1990", glorot=True))
register(ModelSpec("rnn-orth", layer_builder(RNN, nonlinearity="tanh", init_hh="orthogonal"),
                   "tanh-RNN, orthogonal W_hh", "RNN orth", "#ff7f0e", "rnn", "orthogonal W_hh",
                   "Saxe et al. 2014"))
register(ModelSpec("irnn", _irnn, "IRNN", "IRNN", "#8c564b", "rnn",
                   "W_hh = I, W_ih N(0, 1e-3), biases 0", "Le et al. 2015"))
register(ModelSpec("lstm", layer_builder(LSTM), "LSTM", "LSTM", "#17becf", "lstm", _TORCH,
                   "Hochreiter & Schmidhuber 1997", glorot=True))
register(ModelSpec("lstm-fb1", layer_builder(LSTM, forget_bias=1.0), "LSTM, forget bias 1",
                   "LSTM fb1", "#1f77b4", "lstm", "forget-gate bias 1", "Jozefowicz et al. 2015",
                   glorot=True))
register(ModelSpec("lstm-chrono", layer_builder(LSTM, chrono=True), "LSTM, chrono",
                   "LSTM chrono", "#9467bd", "lstm", "chrono, T_max = seq_len",
                   "Tallec & Ollivier 2018", min_seq_len=3))
register(ModelSpec("gru", layer_builder(GRU), "GRU", "GRU", "#2ca02c", "gru", _TORCH,
                   "Cho et al. 2014", glorot=True))
register_cell("lstm-peephole", PeepholeLSTMCell, label="LSTM, peepholes", short="peephole",
              colour="#393b79", family="lstm", paper="Gers & Schmidhuber 2000")
register(ModelSpec("lstm-proj", _lstm_proj, "LSTM, projection H/2", "LSTMP", "#6b6ecf",
                   "lstm", _TORCH, "Sak et al. 2014", variant=True))
register_cell("lstm-ln", LayerNormLSTMCell, label="LSTM, layer norm", short="LN-LSTM",
              colour="#9c9ede", family="lstm", paper="Ba et al. 2016")
register_cell("cifg", CIFGCell, label="CIFG LSTM", short="CIFG", colour="#637939",
              family="lstm", paper="Greff et al. 2017")
register(ModelSpec("janet", cell_builder(JANETCell, chrono=True), "JANET (chrono)", "JANET",
                   "#b5cf6b", "lstm", "chrono, T_max = seq_len",
                   "van der Westhuizen & Lasenby 2018", cell=JANETCell, variant=True,
                   min_seq_len=3))
register_cell("indrnn", IndRNNCell, label="IndRNN", colour="#e7969c", family="rnn",
              paper="Li et al. 2018", init="recurrent weights u U(0, 1)")
register_cell("mgu", MGUCell, label="MGU", colour="#8ca252", family="gru",
              paper="Zhou et al. 2016")
register_cell("gru-cho", GRUChoCell, label="GRU, Cho et al. 2014", short="GRU Cho",
              colour="#98df8a", family="gru", paper="Cho et al. 2014")


# ---- the LSTM's successors (issue 21): in every command, gradient flow and the report, not in
# the variants' table and benchmarks (variant=False) ----------------------------------------------
_XLSTM_INIT = "forget biases linspace(3, 6), 4 heads"
register(ModelSpec("slstm", cell_builder(SLSTMCell), "sLSTM (xLSTM)", "sLSTM", "#e377c2", "lstm",
                   _XLSTM_INIT, "Beck et al. 2024", cell=SLSTMCell))
register(ModelSpec("mlstm", layer_builder(MLSTM), "mLSTM (xLSTM)", "mLSTM", "#7f7f7f", "lstm",
                   _XLSTM_INIT, "Beck et al. 2024"))  # fused: the parallel form
# trained by a parallel scan (mg.linear_scan); no cell= here: their fused path is the scan, not
# the cell compiler, so build_recurrent has no step to check
register(ModelSpec("mingru", cell_builder(MinGRUCell), "minGRU (scan)", "minGRU", "#bcbd22",
                   "gru", _TORCH, "Feng et al. 2024"))
register(ModelSpec("minlstm", cell_builder(MinLSTMCell), "minLSTM (scan)", "minLSTM", "#dbdb8d",
                   "lstm", _TORCH, "Feng et al. 2024"))


# ---- reading the registry ----------------------------------------------------------------------
def names(*, variant: bool | None = None) -> tuple[str, ...]:
    """Registered model names in registration order (only the variants, or only the others)."""
    return tuple(n for n, s in _REGISTRY.items() if variant is None or s.variant == variant)


def registered() -> tuple[ModelSpec, ...]:
    return tuple(_REGISTRY.values())


def is_user_model(name: str) -> bool:
    """Whether `name` names a user's cell (`module:Class` or `file.py:Class`)."""
    return isinstance(name, str) and ":" in name


def spec(name: str) -> ModelSpec:
    """The ModelSpec of a registered name or a user's cell (loaded on first use); a ValueError
    naming the choices (or what is wrong with the cell) otherwise."""
    if not isinstance(name, str):
        raise ValueError(f"model must be a string, got {type(name).__name__}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    if is_user_model(name):
        if name not in _USER:
            _USER[name] = _user_spec(name)
        return _USER[name]
    raise ValueError(f"model must be one of {names()} or module:Class / path/to/file.py:Class "
                     f"(a lstm.Cell subclass), got {name!r}")


def label(name: str) -> str:
    """The legend label of a model: a user's cell's is its class name (its name where nothing
    is known about it)."""
    found = _lookup(name)
    return found.label if found is not None else _untold(name)


def short_label(name: str) -> str:
    found = _lookup(name)
    return found.short if found is not None else _untold(name)


def _untold(name: str) -> str:
    return name.rpartition(":")[2] if is_user_model(name) else name


def colour(name: str) -> str:
    found = _lookup(name)
    return found.colour if found is not None else _palette_colour(name)


def display_order(models) -> list[str]:
    """The given model names: registered ones in registry order, then the others sorted."""
    models = set(models)
    return [n for n in _REGISTRY if n in models] + sorted(models - set(_REGISTRY))


def help_text() -> str:
    """The --model help: every registered name with its label, and how to bring a cell."""
    listed = ", ".join(f"{s.name} ({s.label})" if s.label.lower() != s.name else s.name
                       for s in _REGISTRY.values())
    return (f"{listed}; or your own cell: module:Class or path/to/file.py:Class "
            "(a lstm.Cell subclass)")


def _lookup(name) -> ModelSpec | None:
    """A registered model's spec, or a user's cell's once loaded (a report names a cell it
    does not need to load: its label is its class name)."""
    if not isinstance(name, str):
        return None
    return _REGISTRY.get(name) or _USER.get(name)


def _palette_colour(name: str) -> str:
    digest = hashlib.sha256(str(name).encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


# ---- users' cells --------------------------------------------------------------------------------
def load_cell(name: str) -> type:
    """The class `module:Class` or `path/to/file.py:Class` names, checked to be a Cell."""
    where, _, attr = name.rpartition(":")
    if not where or not attr.isidentifier():
        raise ValueError(f"model {name!r}: expected module:Class or path/to/file.py:Class")
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise ValueError(f"model {name!r}: no file {where!r} (from {os.getcwd()})")
        module_name = "lstm_user_cell_" + hashlib.sha256(path.encode()).hexdigest()[:12]
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module  # dataclasses and pickling look it up there
        try:
            loader.loader.exec_module(module)  # the file as it is now (spec() caches the class)
        except BaseException:
            del sys.modules[module_name]
            raise
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise ValueError(f"model {name!r}: cannot import module {where!r} ({e})") from None
    cell = getattr(module, attr, None)
    if cell is None:
        raise ValueError(f"model {name!r}: {where!r} defines no {attr!r}")
    _check_cell(cell, name)
    return cell


def cell_digest(name: str) -> str | None:
    """A hash of a user's cell's source (its run key changes when the cell does); None for a
    registered model or a cell whose source cannot be read."""
    if not is_user_model(name):
        return None
    cell = spec(name).cell
    try:
        with open(inspect.getsourcefile(cell), "rb") as f:  # the file, not a cached copy
            text = f.read()
    except (OSError, TypeError):
        return None
    return hashlib.sha256(text).hexdigest()[:16]


def _user_spec(name: str) -> ModelSpec:
    cell = load_cell(name)
    title = name.rpartition(":")[2]
    return ModelSpec(name, cell_builder(cell), title, title, _palette_colour(name), "user",
                     "the cell's own", (inspect.getdoc(cell) or "").split("\n")[0], cell=cell,
                     source=name.rpartition(":")[0])


def build_layer(name: str, input_size: int, hidden_size: int, seq_len: int, rng=None,
                impl: str = "fused", dtype=np.float32):
    """The recurrent layer model `name` stands for, its checks on the sizes first."""
    model = spec(name)
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"hidden_size must be an integer >= 1, got {hidden_size!r}")
    if seq_len < model.min_seq_len:
        raise ValueError(f"{name} needs seq_len >= {model.min_seq_len} (chrono T_max), got "
                         f"{seq_len}")
    return model.build(input_size, hidden_size, seq_len, np.random.default_rng(rng), impl, dtype)


def markdown_table() -> str:
    """The docs' table of every registered model (docs/cells.md holds it; a test compares)."""
    lines = ["| model name | label | family | default init | paper | cell |",
             "|---|---|---|---|---|---|"]
    for s in _REGISTRY.values():
        cell = f"`{s.cell.__name__}`" if s.cell is not None else "built-in layer"
        lines.append(f"| `{s.name}` | {s.label} | {s.family} | {s.init} | {s.paper} | {cell} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m lstm.zoo: the table for docs/cells.md
    print(markdown_table())
