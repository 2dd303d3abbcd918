"""Weights out as safetensors + JSON, into torch.nn and back, with the same outputs."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from lstm.apps.charlm.data import Vocabulary
from lstm.apps.charlm.model import CharLM
from lstm.apps.charlm.store import CONFIG_NAME, WEIGHTS_NAME, load_model, save_model

st_numpy = pytest.importorskip("safetensors.numpy")


def torch_model(torch, config: dict):
    """nn.Embedding + nn.LSTM + nn.Linear under the names the file uses."""
    module = torch.nn.Module()
    module.embedding = torch.nn.Embedding(config["vocab_size"], config["embedding_size"])
    module.lstm = torch.nn.LSTM(config["embedding_size"], config["hidden_size"],
                                config["num_layers"])
    module.decoder = torch.nn.Linear(config["hidden_size"], config["vocab_size"])
    return module


def torch_logits(torch, module, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out, _ = module.lstm(module.embedding(torch.tensor(ids)))
        return module.decoder(out).numpy()


@pytest.fixture
def saved(tmp_path):
    vocab = Vocabulary.from_text("def f(x):\n    return x\n")
    model = CharLM(len(vocab), embedding_size=6, hidden_size=10, num_layers=2, rng=3)
    save_model(str(tmp_path), model, vocab, {"bits_per_char": 1.5})
    return tmp_path, model, vocab


def test_files_are_safetensors_and_json_not_pickle(saved):
    directory, model, vocab = saved
    weights = st_numpy.load_file(str(directory / WEIGHTS_NAME))
    assert sorted(weights) == sorted(model.state_dict())
    assert "lstm.weight_hh_l1" in weights and "decoder.bias" in weights
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(weights[name], value)
    assert not zipfile.is_zipfile(directory / WEIGHTS_NAME)  # not a torch/npz pickle archive
    config = json.loads((directory / CONFIG_NAME).read_text())
    assert config["model"]["hidden_size"] == 10 and config["vocabulary"] == vocab.chars
    assert config["bits_per_char"] == 1.5


def test_loads_into_torch_with_the_same_outputs(saved, torch):
    directory, model, _ = saved
    config = json.loads((directory / CONFIG_NAME).read_text())["model"]
    module = torch_model(torch, config)
    tensors = {k: torch.from_numpy(v) for k, v in
               st_numpy.load_file(str(directory / WEIGHTS_NAME)).items()}
    module.load_state_dict(tensors, strict=True)
    ids = np.random.default_rng(0).integers(0, config["vocab_size"], (12, 3))
    ours, _ = model(ids)
    np.testing.assert_allclose(ours.numpy(), torch_logits(torch, module, ids), rtol=1e-5,
                               atol=1e-5)


def test_torch_weights_load_back_with_the_same_outputs(saved, torch, tmp_path):
    directory, _, vocab = saved
    config = json.loads((directory / CONFIG_NAME).read_text())["model"]
    torch.manual_seed(5)
    module = torch_model(torch, config)  # torch's own initialisation, not ours
    st_numpy.save_file({k: v.detach().numpy() for k, v in module.state_dict().items()},
                       str(directory / WEIGHTS_NAME))
    loaded, loaded_vocab, _ = load_model(str(directory / WEIGHTS_NAME))
    assert loaded_vocab.chars == vocab.chars
    ids = np.random.default_rng(1).integers(0, config["vocab_size"], (9, 2))
    ours, _ = loaded(ids)
    np.testing.assert_allclose(ours.numpy(), torch_logits(torch, module, ids), rtol=1e-5,
                               atol=1e-5)


def test_round_trip_without_torch(saved):
    directory, model, _ = saved
    loaded, _, config = load_model(str(directory))
    ids = np.arange(8).reshape(4, 2) % model.vocab_size
    np.testing.assert_array_equal(loaded(ids)[0].numpy(), model(ids)[0].numpy())
    assert config["model"] == model.config()


def test_missing_or_foreign_files_are_named(tmp_path, saved):
    with pytest.raises(ValueError, match="does not exist"):
        load_model(str(tmp_path / "nowhere"))
    directory, _, _ = saved
    (directory / CONFIG_NAME).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="format 'something else'"):
        load_model(str(directory))
