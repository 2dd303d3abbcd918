"""The stdlib corpus, the vocabulary and the stream layout."""

from __future__ import annotations

import hashlib
import os
import platform

import numpy as np
import pytest

from lstm.apps.charlm import data as charlm_data
from lstm.apps.charlm.data import (
    SPLITS,
    Corpus,
    Vocabulary,
    corpus_of,
    load_corpus,
    read_modules,
    stdlib_dir,
    stream_matrix,
)


def test_splits_are_disjoint_fixed_module_lists():
    names = [set(modules) for modules in SPLITS.values()]
    assert all(len(n) == len(modules) for n, modules in zip(names, SPLITS.values()))
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])


def test_corpus_reads_the_listed_modules_of_this_python():
    corpus = load_corpus()
    assert corpus.python_version == platform.python_version()
    with open(os.path.join(stdlib_dir(), "shutil.py"), encoding="utf-8") as f:
        shutil_source = f.read()
    assert corpus.test.startswith(shutil_source)  # the first test module, verbatim
    described = corpus.describe()
    for split in ("train", "valid", "test"):
        text = getattr(corpus, split)
        assert described[split]["chars"] == len(text) > 100_000
        assert described[split]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert len(corpus.train) > 10 * len(corpus.test)
    assert described["test"]["modules"] == list(SPLITS["test"])
    assert corpus_of({"train": ["csv"], "valid": ["cmd"], "test": ["bdb"]}).describe()[
        "valid"]["modules"] == ["cmd"]
    assert Corpus("ab", "ab", "ab", "x", "").describe()["train"]["modules"] is None


def test_missing_module_is_named(tmp_path):
    with pytest.raises(RuntimeError, match="'no_such_module'"):
        read_modules(["no_such_module"], str(tmp_path))


def test_vocabulary_round_trip_and_unknown():
    vocab = Vocabulary.from_text("hello world\n")
    assert vocab.chars == sorted(set("hello world\n"))
    assert len(vocab) == len(vocab.chars) + 1
    ids = vocab.encode("low\nold")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "low\nold"
    strange = vocab.encode("hz\u00e9\U0001f600o")  # unseen: z, e-acute, an emoji beyond the BMP
    assert strange.tolist() == [vocab.chars.index("h"), vocab.unknown_id, vocab.unknown_id,
                                vocab.unknown_id, vocab.chars.index("o")]
    assert vocab.decode(strange) == "h" + charlm_data.UNKNOWN * 3 + "o"
    emoji = Vocabulary.from_text("a\U0001f600")
    assert emoji.decode(emoji.encode("\U0001f600a")) == "\U0001f600a"
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
        emoji.decode([3])


def test_stream_matrix_columns_are_contiguous_pieces():
    ids = np.arange(23)
    inputs, targets = stream_matrix(ids, 4)  # (23 - 1) // 4 = 5 rows
    assert inputs.shape == targets.shape == (5, 4)
    np.testing.assert_array_equal(inputs[:, 1], [5, 6, 7, 8, 9])
    np.testing.assert_array_equal(targets, inputs + 1)
    with pytest.raises(ValueError, match="cannot feed 8 streams"):
        stream_matrix(np.arange(5), 8)


def test_unknown_chars_lists_each_once_in_order():
    vocab = Vocabulary("abc ")
    assert vocab.unknown_chars("a b") == []
    assert vocab.unknown_chars("xa\u00e9bx\U0001f600") == ["x", "\u00e9", "\U0001f600"]
