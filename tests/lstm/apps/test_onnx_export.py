"""ONNX export: each application's model, run in onnxruntime, equals our forward to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm.apps.charlm.model import CharLM
from lstm.apps.classify.model import POOLINGS, SequenceClassifier
from lstm.apps.export.models import to_onnx
from lstm.apps.forecast.train import ForecastNet
from lstm.apps.translate.data import pad_batch
from lstm.apps.translate.model import ATTENTIONS, Seq2Seq

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
TOLERANCE = 1e-5


def _run(model, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(to_onnx(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("output", ["delta", "seasonal", "level"])
def test_forecaster(kind, output):
    rng = np.random.default_rng(0)
    model = ForecastNet(kind, 3, 8, 2, 5, target=1, output=output, rng=1, season=4)
    model.eval()
    x = rng.standard_normal((9, 6, 3)).astype(np.float32)
    with mg.no_grad():
        expected = model(x).numpy()
    (got,) = _run(model, {"x": x})
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_relu_rnn_forecaster():
    rng = np.random.default_rng(1)
    model = ForecastNet("rnn", 2, 6, 1, 3, target=0, output="level", rng=2)
    model.recurrent.nonlinearity = "relu"
    x = rng.standard_normal((5, 4, 2)).astype(np.float32)
    with mg.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run(model, {"x": x})[0], expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_classifier(pooling, num_layers):
    rng = np.random.default_rng(2)
    model = SequenceClassifier(5, 8, 4, pooling, 6, num_layers=num_layers, rng=3)
    model.eval()
    lengths = np.array([7, 3, 5, 1, 7], np.int32)
    x = rng.standard_normal((7, 5, 5)).astype(np.float32)
    x[np.arange(7)[:, None] >= lengths[None, :]] = 0.0
    with mg.no_grad():
        logits, weights = model(mg.tensor(x), lengths.astype(np.int64))
    got = _run(model, {"x": x, "lengths": lengths})
    np.testing.assert_allclose(got[0], logits.numpy(), atol=TOLERANCE, rtol=0)
    if pooling == "attention":
        np.testing.assert_allclose(got[1], weights.numpy(), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_translator(kind):
    rng = np.random.default_rng(3)
    model = Seq2Seq(20, 15, 8, 12, kind, attention_size=10, rng=4)
    source, lengths = pad_batch([list(rng.integers(4, 20, size=n)) for n in (5, 3, 7, 1)])
    target_in = rng.integers(1, 15, size=(4, 6))
    with mg.no_grad():
        logits, weights = model(source, lengths, target_in)
    got = _run(model, {"source": source, "source_lengths": lengths.astype(np.int32),
                       "target_in": target_in})
    np.testing.assert_allclose(got[0], logits.numpy(), atol=TOLERANCE, rtol=0)
    if kind != "none":
        np.testing.assert_allclose(got[1], weights.numpy(), atol=TOLERANCE, rtol=0)


def test_charlm():
    rng = np.random.default_rng(4)
    model = CharLM(11, 6, 8, 2, rng=5)
    ids = rng.integers(0, 11, size=(9, 3))
    with mg.no_grad():
        expected = model(ids)[0].numpy()
    np.testing.assert_allclose(_run(model, {"ids": ids})[0], expected, atol=TOLERANCE, rtol=0)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="no ONNX export for Linear"):
        to_onnx(mg.nn.Linear(2, 3))


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("build", [
    lambda: ForecastNet("gru", 2, 6, 1, 3, target=0, output="seasonal", rng=2, season=3),
    lambda: SequenceClassifier(4, 6, 3, "mean", rng=3)])
def test_saved_model_round_trip_through_the_command(tmp_path, capsys, build):
    pytest.importorskip("safetensors")
    import json

    from lstm.apps.export.saved import load_model, save_model
    from lstm.cli import main

    model = build()
    save_model(str(tmp_path / "run"), model, {"note": "test"})
    loaded, config = load_model(str(tmp_path / "run"))
    assert config["note"] == "test"
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert main(["export", "--format", "onnx", str(tmp_path / "run")]) == 0
    line = json.loads(capsys.readouterr().out)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 2, model_inputs(loaded))).astype(np.float32)
    session = _session(line["file"])
    model.eval()
    with mg.no_grad():
        if line["app"] == "forecast":
            expected, feeds = model(x).numpy(), {"x": x}
        else:
            lengths = np.array([6, 4], np.int32)
            x[4:, 1] = 0.0
            expected = model(mg.tensor(x), lengths.astype(np.int64))[0].numpy()
            feeds = {"x": x, "lengths": lengths}
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, atol=TOLERANCE, rtol=0)
    assert main(["export", str(tmp_path / "run"), "--output", str(tmp_path / "copy")]) == 0
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["model.json",
                                                                    "model.safetensors"]


def model_inputs(model) -> int:
    layer = getattr(model, "recurrent", None) or model.encoder
    return layer.input_size


def test_translate_run_exports(tmp_path, capsys):
    for package in ("num2words", "sacrebleu", "safetensors"):
        pytest.importorskip(package)
    import json

    from lstm.apps.translate.store import load_model
    from lstm.cli import main

    assert main(["translate", "--attention", "multiplicative", "--max-number", "2000",
                 "--block-size", "100", "--n-train", "100", "--n-test", "10", "--epochs", "1",
                 "--hidden-size", "8", "--embedding-size", "8", "--out", str(tmp_path),
                 "--quiet"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    run = tmp_path / row["model_dir"]
    assert main(["export", "--format", "onnx", str(run), "--output",
                 str(tmp_path / "t.onnx")]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == ["logits", "weights"]
    model, source_vocab, target_vocab, _ = load_model(str(run))
    source, lengths = pad_batch([source_vocab.encode(["twelve"]),
                                 source_vocab.encode(["one", "thousand", "and", "six"])])
    target_in = np.array([[1, 5, 6], [1, 7, 8]])
    with mg.no_grad():
        expected = model(source, lengths, target_in)[0].numpy()
    got = _session(tmp_path / "t.onnx").run(None, {"source": source, "source_lengths":
                                                   lengths.astype(np.int32),
                                                   "target_in": target_in})[0]
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_export_refuses_a_directory_without_a_model(tmp_path):
    from lstm.apps.export.cli import load_any

    with pytest.raises(ValueError, match="expected model.json"):
        load_any(str(tmp_path))


def test_a_forecast_run_of_the_command_exports(tmp_path, capsys):
    """`lstm forecast` saves each trained network next to its results row (model_dir), and
    `lstm export --format onnx` turns it into a graph that onnxruntime runs like our forward."""
    pytest.importorskip("safetensors")
    pytest.importorskip("statsmodels")
    pytest.importorskip("sktime")
    import json

    from lstm.apps.export.saved import load_model
    from lstm.cli import main

    assert main(["forecast", "--dataset", "sunspots", "--model", "gru", "--seeds", "0",
                 "--hidden-size", "4", "--max-epochs", "2", "--out", str(tmp_path),
                 "--quiet"]) == 0
    capsys.readouterr()
    row = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    model_dir = row["result"]["model_dir"]
    assert model_dir.startswith(str(tmp_path))
    loaded, config = load_model(model_dir)
    assert config["run"]["model"] == "gru" and config["run"]["hidden_size"] == 4
    assert main(["export", "--format", "onnx", model_dir]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["app"] == "forecast"
    x = np.random.default_rng(7).standard_normal(
        (config["run"]["lookback"], 3, model_inputs(loaded))).astype(np.float32)
    with mg.no_grad():
        expected = loaded(x).numpy()
    np.testing.assert_allclose(_session(line["file"]).run(None, {"x": x})[0], expected,
                               atol=TOLERANCE, rtol=0)
