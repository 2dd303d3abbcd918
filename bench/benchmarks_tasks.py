"""asv: what the models learn on the memory tasks within a fixed training budget.

Every (task, model, seq_len) of the grid trains once, in setup_cache, with lstm's Trainer and the
budget below (the `lstm report --preset quick` settings: Adam 1e-2, gradients clipped at norm 1,
H=64, B=32, fused path, seed 0); the benchmarks then read the test metrics on the fixed
1000-sequence test set. "lstm" is trained as lstm-fb1 (forget-gate bias 1), as in the sweeps.
`MemoryHorizon` is the longest seq_len solved (adding: test MSE < 0.01; copy: recall accuracy
>= 99%), 0 if none: how far back the model learned to remember.

`RecallTask` is the recall tasks of issue 21 (selective copy at T = 20, MQAR at T = 32, their
scaled variants: 10 of 8 symbols, 8 pairs of 16 keys) for the horizon preset's recall models
(RECALL_MODELS, written out: asv must not import lstm to discover the benchmarks; a test checks
it against lstm.experiments.horizon), one run each within RECALL_BUDGET (the `lstm report
--preset quick` recall runs: Adam 3e-3, H 64, 600 steps, seed 0).
"""

from __future__ import annotations

import importlib
import math

from bench.asv_cases import CachedResults, fused_available, skip, unavailable

TASKS = ["adding", "copy"]
TASK_MODELS = {"rnn": "rnn", "lstm": "lstm-fb1", "gru": "gru"}  # benchmark name -> model trained
TASK_SEQ_LENS = [10, 25, 50, 100]
BUDGET = {"optimizer": "adam", "lr": 1e-2, "clip": "norm", "clip_value": 1.0, "hidden_size": 64,
          "batch_size": 32, "steps": 600, "eval_every": 100, "test_size": 1000,
          "stop_when_solved": False, "impl": "fused", "seed": 0}


RECALL_TASKS = {"selective-copy": 20, "mqar": 32}  # task -> seq_len
RECALL_MODELS = ["rnn", "lstm-fb1", "lstm-chrono", "gru", "janet", "slstm", "mlstm", "mingru",
                 "minlstm"]
RECALL_BUDGET = {**BUDGET, "lr": 3e-3, "test_size": 256}


def result_key(task: str, model: str, seq_len: int) -> str:
    return f"{task}/{model}/{seq_len}"


def engine(name: str):
    """lstm's run-engine module `name` (config, train, results_io): lstm.runs.<name>, or
    lstm.<name> at the commits before it moved there (asv runs old commits)."""
    try:
        return importlib.import_module(f"lstm.runs.{name}")
    except ImportError:
        return importlib.import_module(f"lstm.{name}")


def train_one(task: str, model: str, seq_len: int, **overrides) -> dict:
    """Train TASK_MODELS[model] (else `model` itself) on `task` within BUDGET (and overrides);
    its test metrics, read
    from the results row every lstm writer makes (schema-checked) where this commit has one."""
    config = engine("config").TrainConfig(task=task, model=TASK_MODELS.get(model, model),
                                          seq_len=seq_len, **{**BUDGET, **overrides})
    result = engine("train").train(config, progress=False)
    try:
        results_io = engine("results_io")
    except ImportError:  # commits before lstm.results_io: the result dict as it was
        pass
    else:
        row = results_io.make_row("train", config.to_dict(), result, versions={})
        result = results_io.check_row(row, f"asv run {result_key(task, model, seq_len)}")["result"]
    return {"metrics": result["metrics"], "solved": bool(result["solved"])}


def train_grid(*_) -> dict:
    """{result_key: train_one(...)} over the grid, or {"unavailable": reason} at older commits.

    (asv calls setup_cache as a method of each class sharing it, hence the ignored argument.)
    """
    missing = unavailable("lstm", "lstm not importable at this commit")
    if missing is None:
        try:
            engine("train")
        except ImportError as e:
            missing = {"unavailable": f"lstm.train not importable at this commit ({e})"}
    return missing or {result_key(task, model, seq_len): train_one(task, model, seq_len)
            for task in TASKS for model in TASK_MODELS for seq_len in TASK_SEQ_LENS}


train_grid.timeout = 3600


def train_recall(*_) -> dict:
    """{result_key: train_one(...)} of every recall task and model, or {"unavailable": reason}
    at commits without the recall tasks or a model (the others still run)."""
    if not fused_available():
        return {"unavailable": "no fused recurrent primitives at this commit"}
    try:
        from lstm import zoo
        from lstm.tasks import TASKS as known
    except ImportError as e:
        return {"unavailable": f"lstm.tasks not importable at this commit ({e})"}
    if not set(RECALL_TASKS) <= set(known):
        return {"unavailable": "no selective-copy / mqar tasks at this commit"}
    return {result_key(task, model, seq_len): train_one(task, model, seq_len, **RECALL_BUDGET)
            for task, seq_len in RECALL_TASKS.items() for model in RECALL_MODELS
            if model in zoo.names()}


train_recall.timeout = 3600


def final_metric(results: dict, task: str, model: str, seq_len: int, name: str) -> float:
    """A final test metric of one run; nan where training diverged (train() stores None)."""
    metrics = results[result_key(task, model, seq_len)]["metrics"]
    if name not in metrics:
        raise ValueError(f"asv run {result_key(task, model, seq_len)}: its results row has no "
                         f"metric {name!r} (it has {sorted(metrics)})")
    value = metrics[name]
    return math.nan if value is None else float(value)


def memory_horizon(results: dict, task: str, model: str) -> int:
    """The longest seq_len in TASK_SEQ_LENS that `model` solved on `task` (at any evaluation
    within the budget, lstm.train's "solved"), 0 if none."""
    solved = [T for T in TASK_SEQ_LENS if results[result_key(task, model, T)]["solved"]]
    return max(solved, default=0)


class _TaskResults(CachedResults):
    setup_cache = train_grid
    params = (list(TASK_MODELS), TASK_SEQ_LENS)
    param_names = ["model", "seq_len"]


class AddingTask(_TaskResults):
    """Test MSE after the budget (baseline 1/6 ~ 0.167; solved below 0.01)."""

    def track_test_mse(self, results, model, seq_len):
        return final_metric(results, "adding", model, seq_len, "mse")

    track_test_mse.unit = "MSE"


class CopyTask(_TaskResults):
    """Recall accuracy over the copied symbols (solved at >= 0.99) and test cross-entropy."""

    def track_test_recall_accuracy(self, results, model, seq_len):
        return final_metric(results, "copy", model, seq_len, "recall_accuracy")

    track_test_recall_accuracy.unit = "fraction"

    def track_test_cross_entropy(self, results, model, seq_len):
        return final_metric(results, "copy", model, seq_len, "cross_entropy")

    track_test_cross_entropy.unit = "nats per step"


class MemoryHorizon(_TaskResults):
    """Longest seq_len of TASK_SEQ_LENS solved within the budget, per task and model."""

    params = (TASKS, list(TASK_MODELS))
    param_names = ["task", "model"]

    def track_longest_solved_seq_len(self, results, task, model):
        return memory_horizon(results, task, model)

    track_longest_solved_seq_len.unit = "steps"


class RecallTask:
    """Selective copy and MQAR after the budget: recall accuracy over the recalled symbols or
    the queries (solved at >= 0.99; chance 1/8 and 1/16) and the test cross-entropy."""

    setup_cache = train_recall
    rounds = 1
    timeout = 120
    params = (list(RECALL_TASKS), RECALL_MODELS)
    param_names = ["task", "model"]

    def setup(self, results, task, model):
        if "unavailable" in results:
            skip(results["unavailable"])
        if result_key(task, model, RECALL_TASKS[task]) not in results:
            skip(f"no model {model!r} at this commit")

    def track_test_recall_accuracy(self, results, task, model):
        return final_metric(results, task, model, RECALL_TASKS[task], "recall_accuracy")

    track_test_recall_accuracy.unit = "fraction"

    def track_test_cross_entropy(self, results, task, model):
        return final_metric(results, task, model, RECALL_TASKS[task], "cross_entropy")

    track_test_cross_entropy.unit = "nats per step"
