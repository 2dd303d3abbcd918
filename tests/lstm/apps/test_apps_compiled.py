"""Every application compiles its training step by default (issue 18): a short run of each,
eager and compiled, gives the same losses to float32 rounding (the apps train in float32); the
compiled classify and translate runs pad their batches to a few bucket lengths, so they trace a
few times per run instead of once per batch shape, and that padding changes no loss beyond
rounding; a step that cannot compile says so in one line and runs eager."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm.apps.classify import train as classify
from lstm.apps.classify.data import SequenceDataset
from lstm.apps.common import padding, trainer
from minigrad import optim
from minigrad.nn import Linear

RTOL = 2e-4  # float32 rounding over a few Adam steps (the programs sum in another order)


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    monkeypatch.setattr(trainer, "_ANNOUNCED", set())


@pytest.fixture
def made(monkeypatch):
    """The EpochTrainers an application builds, in order (to read their trace counts)."""
    built = []

    class Recorded(trainer.EpochTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    for module in ("classify", "translate", "forecast", "charlm"):
        monkeypatch.setattr(f"lstm.apps.{module}.train.EpochTrainer", Recorded)
    return built


def said_once(capsys, command: str) -> bool:
    """The compiled run said once that it compiles (`first_call`), and nothing was refused."""
    err = capsys.readouterr().err
    return (err.count(f"{command}: compiling the training step (mg.compile)") == 1
            and "cannot be compiled" not in err)


def _losses(curve, key):
    return np.array([row[key] for row in curve if row.get(key) is not None], np.float64)


def _toy_sequences(seed=0, n=48):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        seq = rng.standard_normal((int(rng.integers(2, 15)), 3)).astype(np.float32)
        seq[:, 0] += 1.0 if i % 2 else -1.0
        xs.append(seq)
        ys.append(i % 2)
    return xs, np.array(ys)


def _toy_dataset():
    train_x, train_y = _toy_sequences(0)
    test_x, test_y = _toy_sequences(1, 20)
    return SequenceDataset(train_x, train_y, test_x, test_y, ["a", "b"])


@pytest.mark.parametrize("pooling,layers,dropout", [
    *((p, 1, 0.0) for p in classify.POOLINGS),
    ("attention", 1, 0.3),  # dropout on the pooled vector: the program draws the same masks
    ("mean", 2, 0.3)])  # and between layers, where eager pads to the buckets too
def test_classify_compiled_equals_eager_and_traces_per_bucket(made, capsys, pooling, layers,
                                                              dropout):
    config = classify.ClassifyConfig(hidden_size=6, attention_size=4, epochs=3, batch_size=8,
                                     lr=1e-2, noise=0.1, pooling=pooling, seed=1,
                                     num_layers=layers, dropout=dropout)
    eager = classify.train_classifier(config, _toy_dataset())
    compiled = classify.train_classifier(config, _toy_dataset(), compile=True, progress=True)
    assert said_once(capsys, "lstm classify")
    np.testing.assert_allclose(_losses(compiled["curve"], "train_loss"),
                               _losses(eager["curve"], "train_loss"), rtol=RTOL)
    assert compiled["predicted"] == eager["predicted"]
    assert made[0].traces() is None
    # lengths 2..14 in batches of 8: one shape per longest length without the buckets; with
    # them at most one per bucket (the 6 batches of 8 are all full)
    assert 1 <= made[1].traces() <= padding.BUCKETS


def test_translate_compiled_equals_eager_and_traces_per_bucket(made, capsys):
    pytest.importorskip("num2words")
    pytest.importorskip("sacrebleu")
    from lstm.apps.translate import train as translate

    config = translate.preset_config("quick", max_number=2000, block_size=100, n_train=96,
                                     n_val=10, n_test=10, epochs=2, batch_size=16,
                                     hidden_size=8, embedding_size=8, attention_size=8,
                                     beam_width=1)
    corpus = translate.load_corpus(config)
    eager = translate.train_translator(config, corpus)[0]
    compiled = translate.train_translator(config, corpus, compile=True, progress=True)[0]
    assert said_once(capsys, "lstm translate")
    np.testing.assert_allclose(_losses(compiled["curve"], "train_loss"),
                               _losses(eager["curve"], "train_loss"), rtol=RTOL)
    assert made[0].traces() is None
    assert 1 <= made[1].traces() <= padding.BUCKETS ** 2  # (source, target) bucket pairs


def test_forecast_compiled_equals_eager(made, capsys):
    pytest.importorskip("statsmodels")
    pytest.importorskip("sktime")
    from lstm.apps.forecast import train as fc

    data = fc.prepare(fc.ForecastConfig(dataset="airline", model="lstm", hidden_size=8,
                                        max_epochs=3, patience=3))
    eager = fc.train_net(data)[1]
    compiled = fc.train_net(data, progress=True, compile=True)[1]
    assert said_once(capsys, "lstm forecast")
    np.testing.assert_allclose(_losses(compiled["curve"], "train_mse"),
                               _losses(eager["curve"], "train_mse"), rtol=RTOL)
    np.testing.assert_allclose(_losses(compiled["curve"], "val_mse"),
                               _losses(eager["curve"], "val_mse"), rtol=RTOL)
    assert made[1].traces() <= 2  # full batches and the last, shorter one


def test_charlm_compiled_equals_eager(made, capsys):
    from lstm.apps.charlm.data import Corpus, read_modules
    from lstm.apps.charlm.train import CharLMConfig, train_charlm

    corpus = Corpus(train=read_modules(["textwrap"])[:6000], valid=read_modules(["csv"])[:800],
                    test=read_modules(["tempfile"])[:800], python_version="test", directory="")
    config = CharLMConfig(embedding_size=4, hidden_size=8, num_layers=2, batch_size=4, bptt=12,
                          steps=8, lr=1e-2, eval_every=4, checkpoint_every=None, seed=2)
    eager = train_charlm(config, corpus, progress=False)[0]
    compiled, run = train_charlm(config, corpus, progress=True, compile=True)
    assert said_once(capsys, "lstm charlm")
    for key in ("train_bits_per_char", "valid_bits_per_char"):
        np.testing.assert_allclose(_losses(compiled["curve"], key), _losses(eager["curve"], key),
                                   rtol=RTOL)
    assert run.trainer.traces() == 2  # the first chunk starts from no state, the rest carry one


def test_bucket_padding_changes_no_loss_or_gradient():
    """The same batch padded to its own longest sequence and to a longer bucket: the masked
    steps do not count (classify, every pooling)."""
    xs, ys = _toy_sequences(2, 8)
    x, lengths = classify.pad(xs)
    longer = padding.pad_to(x, x.shape[0] + 7, 0)
    for pooling in classify.POOLINGS:
        grads = []
        for batch in (x, longer):
            model = classify.SequenceClassifier(3, 5, 2, pooling, 4, rng=0)
            loss = mg.cross_entropy(model(mg.tensor(batch), mg.tensor(lengths))[0], ys)
            loss.backward()
            grads.append((loss.item(), [p.grad.copy() for p in model.parameters()]))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
        for a, b in zip(grads[0][1], grads[1][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_buckets_and_their_padding():
    assert padding.buckets(29) == (8, 15, 22, 29)
    assert padding.buckets(3) == (1, 2, 3)
    x = np.ones((2, 5))
    assert padding.to_bucket(x, 1, (4, 7, 9)).shape == (2, 7)
    assert padding.to_bucket(x, 1, None) is x
    assert (padding.to_bucket(x, 1, (5,), fill=3) == x).all()
    with pytest.raises(ValueError, match="longer than every bucket"):
        padding.to_bucket(x, 1, (2, 4))
    mask = padding.valid_mask(mg.tensor(np.array([1, 3])), 4, batch_first=True)
    np.testing.assert_array_equal(mask.numpy(), padding.valid_mask([1, 3], 4, batch_first=True))
    with pytest.raises(ValueError, match=r"every length must be in 1\.\.4, got min 0 max 3"):
        padding.valid_mask(mg.tensor(np.array([0, 3])), 4)


def test_a_step_that_cannot_compile_says_so_once_and_runs_eager(capsys):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    losses = []
    for compile in (False, True):
        model = Linear(3, 1, rng=0, dtype=np.float64)

        def loss_of(a, b, model=model):
            loss = mg.mse_loss(model(a), b)
            if loss.item() > 1e9:  # a host read: mg.compile refuses it
                raise AssertionError
            return loss

        fit = trainer.EpochTrainer(model, optim.SGD(model.parameters(), lr=0.1), loss_of,
                                   compile=compile, command="lstm demo")
        losses.append([fit.run_step(((mg.tensor(x), mg.tensor(y)), None), trainer.Fit())
                       for _ in range(3)])
        assert fit.traces() is None  # eager from then on
    said = [line for line in capsys.readouterr().err.splitlines() if "cannot be compiled" in line]
    assert len(said) == 1 and said[0].startswith("lstm demo: the training step cannot be "
                                                 "compiled, so it runs eager (")
    assert losses[0] == losses[1]  # the failed trace left nothing behind


def test_the_commands_compile_by_default():
    from lstm.cli import build_parser

    parser = build_parser()
    for command in ("forecast", "classify", "translate", "charlm"):
        assert parser.parse_args([command]).compile is True
        assert parser.parse_args([command, "--no-compile"]).compile is False

