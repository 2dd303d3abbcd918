"""asv: the cell variants' training step across sequence lengths, fused and composed.

One layer of each variant model name (lstm-peephole, lstm-proj, lstm-ln, cifg, janet, indrnn,
mgu, gru-cho; lstm.models.build_recurrent) at B=32, I=32, H=128, float32, on bench.peers' fixed
input; a training step is forward and the backward of out.sum() (no optimizer), as in
benchmarks_speed. Skipped: a commit without the variants, a variant the cell compiler does not
fuse at this commit (impl "fused"), composed runs above seq_len 256.
"""

from __future__ import annotations

from bench.asv_cases import (
    COMPOSED_MAX_SEQ_LEN,
    HIDDEN,
    IMPLS,
    INPUT,
    SEQ_LENS,
    TimedSamples,
    registered_models,
    skip,
    warmed_train_step,
)

VARIANTS = registered_models(["lstm-peephole", "lstm-proj", "lstm-ln", "cifg", "janet", "indrnn",
                              "mgu", "gru-cho"], variant=True)  # lstm.zoo's cell variants
_CASES: dict = {}


def variant_step(model: str, impl: str, seq_len: int):
    """A warmed training step of variant `model` (cached per process)."""
    key = (model, impl, seq_len)
    if key in _CASES:
        return _CASES[key]
    if impl == "composed" and seq_len > COMPOSED_MAX_SEQ_LEN:
        skip(f"composed runs stop at seq_len {COMPOSED_MAX_SEQ_LEN} (asked {seq_len})")
    import warnings

    try:
        from lstm.models import MODEL_NAMES, build_recurrent
    except ImportError as e:
        skip(f"lstm.models not importable at this commit ({e})")
    if model not in MODEL_NAMES:
        skip(f"no model {model!r} at this commit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = build_recurrent(model, INPUT, HIDDEN, seq_len, rng=0, impl=impl)
    if layer.impl != impl:
        skip(f"the cell compiler does not fuse {model!r} at this commit")
    _CASES[key] = warmed_train_step(layer, seq_len)
    return _CASES[key]


class Variants(TimedSamples):
    """The variant cells' training step (forward + backward), fused and composed."""

    params = (VARIANTS, IMPLS, SEQ_LENS)
    param_names = ["model", "impl", "seq_len"]

    def setup(self, model, impl, seq_len):
        self.step = variant_step(model, impl, seq_len)

    def time_train_step(self, model, impl, seq_len):
        self.step()
