"""The .ts parser, the Japanese Vowels loader (against sktime's own), padding and scaling."""

from __future__ import annotations

import numpy as np
import pytest

from lstm.apps.classify import data as cd

TS_TEXT = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
1.0,2.0,3.0:4.0,5.0,6.0:a
0.5,?:1.5,2.5:b
"""


def test_parse_ts_reads_dimensions_lengths_labels_and_missing_values():
    data = cd.parse_ts(TS_TEXT.splitlines())
    assert data.labels == ["a", "b"]
    assert data.header["classlabel"] == "true a b" and data.header["dimensions"] == "2"
    np.testing.assert_array_equal(data.series[0], [[1, 4], [2, 5], [3, 6]])
    assert data.series[1].shape == (2, 2) and np.isnan(data.series[1][1, 0])
    assert data.series[1][1, 1] == 2.5


@pytest.mark.parametrize("text, message", [
    ("@data\n1,2:3:a\n", "differ in length"),
    ("@dimensions 3\n@data\n1,2:3,4:a\n", "@dimensions 3"),
    ("@problemName x\n1,2:a\n", "@data"),
    ("@problemName x\n", "no @data"),
    ("@data\n1,x:a\n", "dimension 0"),
    ("@timeStamps true\n@data\n", "timeStamps"),
    ("@data\n1,2\n", "class label"),
])
def test_parse_ts_rejects_malformed_files_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        cd.parse_ts(text.splitlines(), source="toy.ts")


def test_pad_is_time_major_with_zeros_past_each_length():
    seqs = [np.ones((3, 2), np.float32), 2 * np.ones((1, 2), np.float32)]
    x, lengths = cd.pad(seqs)
    assert x.shape == (3, 2, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(lengths, [3, 1])
    assert (x[:, 0] == 1).all() and (x[0, 1] == 2).all() and (x[1:, 1] == 0).all()
    with pytest.raises(ValueError, match="at least one"):
        cd.pad([])


def test_standardizer_uses_training_frames_only():
    rng = np.random.default_rng(0)
    train = [rng.normal(3.0, 2.0, (n, 4)) for n in (5, 9, 7)]
    test = [rng.normal(0.0, 1.0, (6, 4))]
    scaler = cd.Standardizer().fit(train)
    frames = np.concatenate(train)
    np.testing.assert_allclose(scaler.mean, frames.mean(0))
    np.testing.assert_allclose(scaler.std, frames.std(0))
    out = scaler.transform(train + test)
    np.testing.assert_allclose(np.concatenate(out[:3]).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(out[3], (test[0] - frames.mean(0)) / frames.std(0))
    with pytest.raises(RuntimeError, match="before fit"):
        cd.Standardizer().transform(train)


def test_prepare_does_not_leak_test_statistics():
    """Shifting every test sequence moves only the test features, by shift / train std."""
    from lstm.apps.classify.train import prepare

    rng = np.random.default_rng(1)
    train = [rng.normal(size=(n, 3)).astype(np.float32) for n in (4, 6, 5)]
    test = [rng.normal(size=(n, 3)).astype(np.float32) for n in (3, 7)]
    labels = np.array([0, 1, 0])
    a = cd.SequenceDataset(train, labels, test, np.array([0, 1]), ["x", "y"])
    b = cd.SequenceDataset(train, labels, [t + 100 for t in test], np.array([0, 1]), ["x", "y"])
    (train_a, test_a), (train_b, test_b) = prepare(a), prepare(b)
    for u, v in zip(train_a, train_b):
        np.testing.assert_array_equal(u, v)
    std = np.concatenate(train).astype(np.float64).std(0)
    for u, v in zip(test_a, test_b):
        np.testing.assert_allclose(v - u, np.broadcast_to(100 / std, u.shape), rtol=1e-4)


@pytest.fixture(scope="module")
def vowels():
    pytest.importorskip("sktime")
    return cd.load_dataset("japanese-vowels")


def test_japanese_vowels_has_the_published_shape(vowels):
    assert len(vowels.train_x) == 270 and len(vowels.test_x) == 370
    assert vowels.n_features == 12 and vowels.n_classes == 9
    assert vowels.class_names == [str(i) for i in range(1, 10)]
    lengths = [len(s) for s in vowels.train_x + vowels.test_x]
    assert min(lengths) == 7 and max(lengths) == 29
    assert all(s.dtype == np.float32 and s.shape[1] == 12 for s in vowels.train_x + vowels.test_x)
    assert vowels.train_y.dtype == np.int64
    # UCI's description: 30 training utterances per speaker; test 31 35 88 44 29 24 40 50 29
    np.testing.assert_array_equal(np.bincount(vowels.train_y), [30] * 9)
    np.testing.assert_array_equal(np.bincount(vowels.test_y), [31, 35, 88, 44, 29, 24, 40, 50, 29])


def test_japanese_vowels_matches_sktimes_own_loader(vowels):
    from sktime.datasets import load_japanese_vowels

    for split, xs, ys in (("train", vowels.train_x, vowels.train_y),
                          ("test", vowels.test_x, vowels.test_y)):
        frame, labels = load_japanese_vowels(split=split, return_X_y=True)
        assert len(frame) == len(xs)
        np.testing.assert_array_equal(np.asarray(labels).astype(int) - 1, ys)
        for i in (0, 1, len(xs) // 2, len(xs) - 1):
            theirs = np.stack([frame.iloc[i, d].to_numpy() for d in range(12)], axis=1)
            np.testing.assert_allclose(xs[i], theirs, rtol=1e-6)


def test_unknown_dataset_is_an_error():
    with pytest.raises(ValueError, match="japanese-vowels"):
        cd.load_dataset("mnist")


def test_missing_data_package_says_what_to_install(monkeypatch):
    real = cd.importlib.util.find_spec
    monkeypatch.setattr(cd.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sktime" else real(name, *a))
    with pytest.raises(RuntimeError, match=r"minigrad-lstm\[apps\]"):
        cd.load_dataset("japanese-vowels")
