"""lstm translate: the data split, the attention, decoding, the command line."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import minigrad as mg
from lstm.apps.translate.data import (
    Vocabulary,
    detokenize,
    pad_batch,
    split_numbers,
    tokenize,
)
from lstm.apps.translate.decode import beam_search, greedy
from lstm.apps.translate.model import ATTENTIONS, Seq2Seq


def _batch(rng, lengths, vocab=20):
    return pad_batch([list(rng.integers(4, vocab, size=n)) for n in lengths])


@pytest.mark.parametrize("max_number,block", [(99_999, 1000), (2_000, 100), (999_999, 1000)])
def test_split_holds_out_whole_blocks(max_number, block):
    split = split_numbers(max_number, block, 3000, 500, 500, 0.1, seed=3)
    blocks = [set(b.tolist()) for b in (split.train_blocks, split.val_blocks, split.test_blocks)]
    assert not (blocks[0] & blocks[1]) and not (blocks[0] & blocks[2]) and not (blocks[1]
                                                                                & blocks[2])
    assert 0 in blocks[0]
    assert set.union(*blocks) == set(range(max_number // block + 1))
    for numbers, own in zip((split.train, split.val, split.test), blocks):
        assert set((numbers // block).tolist()) <= own
        assert numbers.min() >= 0 and numbers.max() <= max_number
        assert len(set(numbers.tolist())) == len(numbers)
    train, test = set(split.train.tolist()), set(split.test.tolist())
    assert not train & test and not train & set(split.val.tolist())
    # no training number lies inside the range of any test block
    for b in split.test_blocks:
        assert not any(b * block <= n < (b + 1) * block for n in train)


def test_split_refuses_too_few_blocks():
    with pytest.raises(ValueError, match="cannot hold out"):
        split_numbers(150, 100, 10, 10, 10)


def test_tokens_round_trip_num2words():
    num2words = pytest.importorskip("num2words").num2words
    for n in (0, 21, 71, 80, 99, 101, 280, 1001, 21_000, 123_456, 700_071, 999_999):
        for lang in ("en", "fr"):
            text = num2words(n, lang=lang)
            assert detokenize(tokenize(text)) == text


def test_vocabulary_decode_stops_at_end():
    vocab = Vocabulary(["un", "deux"])
    ids = vocab.encode(["deux", "un", "trois"])
    assert ids[-1] == 3  # unknown
    assert vocab.decode([*ids[:2], 2, ids[0]]) == ["deux", "un"]


@pytest.mark.parametrize("kind", ATTENTIONS[:2])
def test_attention_weights_sum_to_one_and_skip_padding(kind):
    rng = np.random.default_rng(0)
    model = Seq2Seq(20, 15, 8, 12, kind, attention_size=10, rng=1, dtype=np.float64)
    src, lengths = _batch(rng, [5, 2, 7, 1])
    _, weights = model(src, lengths, rng.integers(1, 15, size=(4, 6)))
    w = weights.numpy()
    assert w.shape == (4, 6, 7)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-12)
    pad = np.arange(7)[None, :] >= lengths[:, None]
    assert np.all(w[np.broadcast_to(pad[:, None, :], w.shape)] == 0.0)
    assert np.all(w[np.broadcast_to(~pad[:, None, :], w.shape)] > 0.0)


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_padding_changes_nothing(kind):
    """A source padded further (longer batch) gives the same logits: padding is masked."""
    rng = np.random.default_rng(1)
    model = Seq2Seq(20, 15, 8, 12, kind, attention_size=10, rng=2, dtype=np.float64)
    src, lengths = _batch(rng, [4, 3])
    wider = np.concatenate([src, np.zeros((2, 5), np.int64)], axis=1)
    target = rng.integers(1, 15, size=(2, 5))
    np.testing.assert_allclose(model(src, lengths, target)[0].numpy(),
                               model(wider, lengths, target)[0].numpy(), atol=1e-12)


@pytest.mark.parametrize("kind", ATTENTIONS[:2])
def test_attention_gradcheck(kind):
    rng = np.random.default_rng(2)
    model = Seq2Seq(20, 15, 6, 5, kind, attention_size=4, rng=3, dtype=np.float64)
    src, lengths = _batch(rng, [3, 2])
    memory = model.encode(src, lengths)
    # C-contiguous: gradcheck perturbs its inputs through reshape(-1), a copy for a transpose
    keys = mg.tensor(np.ascontiguousarray(memory.keys.numpy()), requires_grad=True)
    query = mg.tensor(rng.standard_normal((2, 3, 5)), requires_grad=True)

    def fn(query, keys):
        projected = model.attention.project(keys)
        context, _ = model.attention(query, type(memory)(keys, projected, memory.mask,
                                                          memory.state))
        return context

    mg.gradcheck(fn, [query, keys])


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_beam_width_one_is_greedy(kind):
    rng = np.random.default_rng(4)
    for seed in range(3):
        model = Seq2Seq(20, 12, 8, 16, kind, rng=seed)
        src, lengths = _batch(rng, [5, 3, 6, 2, 4])
        ids, _ = greedy(model, src, lengths, 9)
        beam, score = beam_search(model, src, lengths, 1, 9)
        np.testing.assert_array_equal(ids, beam)
        assert np.all(np.isfinite(score))


def test_wider_beam_scores_at_least_greedy():
    rng = np.random.default_rng(5)
    model = Seq2Seq(20, 8, 8, 16, "additive", rng=7)
    src, lengths = _batch(rng, [5, 3, 6, 2])
    one = beam_search(model, src, lengths, 1, 6)
    four = beam_search(model, src, lengths, 4, 6)
    finished = (one[0] == 2).any(1) & (four[0] == 2).any(1)
    assert np.all(four[1][finished] >= one[1][finished] - 1e-6)


def test_bad_inputs_are_named():
    model = Seq2Seq(20, 12, 8, 16, "none", rng=0)
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(20, 12, 8, 16, "dot")
    with pytest.raises(ValueError, match="every length must be in 1..3"):
        model.encode(np.ones((2, 3), np.int64), np.array([3, 4]))
    with pytest.raises(ValueError, match="width and max_len"):
        beam_search(model, np.ones((1, 2), np.int64), np.array([2]), 0, 5)


def test_command_line_end_to_end(tmp_path, capsys):
    pytest.importorskip("num2words")
    pytest.importorskip("sacrebleu")
    pytest.importorskip("safetensors")
    from lstm.apps.translate.store import load_model
    from lstm.cli import main

    argv = ["translate", "--preset", "quick", "--attention", "additive,none",
            "--max-number", "2000", "--block-size", "100", "--n-train", "150", "--n-test", "30",
            "--epochs", "1", "--hidden-size", "8", "--embedding-size", "8",
            "--attention-size", "8", "--beam-width", "2", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["attention"] for line in lines] == ["additive", "none"]
    rows = [json.loads(line) for line in open(tmp_path / "results.jsonl", encoding="utf-8")]
    assert [r["kind"] for r in rows] == ["translate", "translate"]
    for row in rows:
        result = row["result"]
        for metric in ("exact_match", "chrf", "bleu", "exact_match_beam"):
            assert 0.0 <= result[metric] <= (1.0 if "exact" in metric else 100.0)
        model, source_vocab, target_vocab, saved = load_model(tmp_path / result["model_dir"])
        assert saved["run"] == row["config"] and len(target_vocab) == model.target_vocab
    assert os.path.isfile(tmp_path / "translate_scores.png")
    assert os.path.isfile(tmp_path / "translate_attention.png")
    assert rows[0]["result"]["attention_examples"][0]["weights"]
    assert main(argv) == 0  # finished runs are not run again
    assert len(open(tmp_path / "results.jsonl", encoding="utf-8").readlines()) == 2
    from lstm.apps.translate.figures import translate_section

    section = translate_section(rows, str(tmp_path / "report"))
    assert section.images == ["translate_scores.png", "translate_attention.png"]
    assert all(os.path.isfile(tmp_path / "report" / name) for name in section.images)
    assert [r[0] for r in section.tables[0].rows] == ["additive", "none"]


def test_doc_tables_average_over_seeds():
    from lstm.apps.translate.doc import tables
    from lstm.apps.translate.train import preset_config
    from lstm.runs.results_io import make_row

    rows = []
    for kind, attention, seed, exact in [("translate", "additive", 0, 0.5),
                                         ("translate", "additive", 1, 0.7),
                                         ("translate_torch", "additive", 0, 0.4),
                                         ("translate", "none", 0, 0.0)]:
        config = preset_config("quick", attention=attention, seed=seed).to_dict()
        metrics = dict.fromkeys(("chrf", "bleu", "exact_match_beam", "chrf_beam",
                                 "bleu_beam", "train_time"), 1.0)
        rows.append(make_row(kind, config, {**metrics, "exact_match": exact}))
    text = tables(rows).splitlines()
    assert text[0].startswith("setting:") and "attention=" not in text[0]
    assert [line.split(" | ")[:4] for line in text[4:7]] == [
        ["| additive", "minigrad", "2", "0.600 ± 0.141"], ["| additive", "torch", "1", "0.400"],
        ["| none", "minigrad", "1", "0.000"]]
