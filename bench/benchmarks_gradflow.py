"""asv: the per-step factor of the gradient flow at initialisation, per model.

rho is lstm.experiments.gradient_flow's least-squares fit of ||dL/dh_{T-1-k}|| ~ rho^k over the
lag k, on the adding problem (T=200, H=128, B=32, seed 0), measured once for every model in
setup_cache (float64, read from the fused primitive's backward). rho < 1: gradients vanish by
that factor per step; rho > 1: they explode. It changes only when initialisation or the models'
equations change, which is what this benchmark guards.
"""

from __future__ import annotations

import math

from bench.asv_cases import registered_models, skip, unavailable

# every registered model (lstm.zoo); the list is the registry's of issue 19 at older commits
GRADFLOW_MODELS = registered_models(
    ["rnn", "rnn-orth", "irnn", "lstm", "lstm-fb1", "lstm-chrono", "gru", "lstm-peephole",
     "lstm-proj", "lstm-ln", "cifg", "janet", "indrnn", "mgu", "gru-cho", "slstm", "mlstm",
     "mingru", "minlstm"])
SEQ_LEN, HIDDEN, BATCH = 200, 128, 32


def factor_at_init(model: str, seq_len: int = SEQ_LEN, hidden_size: int = HIDDEN,
                   batch_size: int = BATCH) -> float:
    """rho of `model` at initialisation on the adding problem (nan if the fit had too few lags)."""
    from lstm.experiments.gradient_flow import run_gradient_flow

    record = run_gradient_flow(model, "adding", seq_len, hidden_size, batch_size, steps=(0,),
                               progress=False)[0]
    rho = record["per_step_factor"]
    return math.nan if rho is None else float(rho)


def measure_factors(*_) -> dict:
    """{model: rho at init} for every model, or {"unavailable": reason} at an older commit."""
    missing = unavailable("lstm.experiments.gradient_flow",
                          "lstm.experiments.gradient_flow not importable")
    if missing:
        return missing
    from lstm.models import MODEL_NAMES

    return {model: factor_at_init(model) if model in MODEL_NAMES else None
            for model in GRADFLOW_MODELS}


measure_factors.timeout = 600


class GradientFlowAtInit:
    """rho per model at initialisation (adding, T=200, H=128, B=32)."""

    setup_cache = measure_factors
    params = [GRADFLOW_MODELS]
    param_names = ["model"]
    timeout = 120

    def setup(self, factors, model):
        if "unavailable" in factors:
            skip(factors["unavailable"])
        if factors.get(model) is None:
            skip(f"no model {model!r} at this commit")

    def track_per_step_factor(self, factors, model):
        return factors[model]

    track_per_step_factor.unit = "factor per step"
