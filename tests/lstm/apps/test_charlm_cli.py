"""`lstm charlm` and `lstm generate`, and the compressor / n-gram baselines they report."""

from __future__ import annotations

import gzip
import json
import lzma
import subprocess
import sys

import pytest

from lstm.apps.charlm.baselines import compressed_bits_per_char, ngram_baseline
from lstm.apps.charlm.data import Corpus, Vocabulary, read_modules
from lstm.apps.charlm.ngram import KneserNey
from lstm.cli import main


def assert_png(path) -> None:
    """The file exists, starts with PNG's signature and decodes to a non-empty image."""
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50, (path, pixels.shape)


def test_compressor_figures_count_characters_not_bytes():
    text = "caf\u00e9 " * 400  # 5 characters, 6 UTF-8 bytes each time
    expected = 8.0 * len(gzip.compress(text.encode(), compresslevel=9, mtime=0)) / len(text)
    assert compressed_bits_per_char(text, "gzip") == pytest.approx(expected)
    source = read_modules(["textwrap"])
    alone = compressed_bits_per_char(source, "lzma")
    assert alone == pytest.approx(8.0 * len(lzma.compress(source.encode(), preset=9 | lzma.PRESET_EXTREME)) / len(source))  # noqa: E501
    # having seen the same text before, lzma needs almost nothing for it
    assert compressed_bits_per_char(source, "lzma", prime=source) < 0.1 * alone
    with pytest.raises(ValueError, match="method must be one of"):
        compressed_bits_per_char("x", "zip")


def test_ngram_baseline_reports_the_validation_choice():
    corpus = Corpus(train=read_modules(["textwrap", "csv"]), valid=read_modules(["cmd"]),
                    test=read_modules(["base64"]), python_version="test", directory="")
    vocab = Vocabulary.from_text(corpus.train)
    out = ngram_baseline(corpus, vocab, max_order=6)
    scores = {int(k): v for k, v in out["ngram_valid_by_order"].items()}
    assert sorted(scores) == list(range(1, 7)) and out["ngram_order"] == min(scores,
                                                                             key=scores.get)
    model = KneserNey(vocab.encode(corpus.train), len(vocab), 6)
    assert out["ngram_bits_per_char"] == pytest.approx(
        model.bits_per_char(vocab.encode(corpus.test), out["ngram_order"]))
    assert 1.0 < out["ngram_bits_per_char"] < scores[1]


TINY_CHARLM = ["charlm", "--preset", "quick", "--seeds", "0,1", "--steps", "3", "--hidden-size",
               "8", "--embedding-size", "4", "--batch-size", "4", "--bptt", "20",
               "--eval-every", "3", "--valid-chars", "2000", "--ngram-max-order", "3"]


def test_charlm_prints_one_line_per_seed_and_generate_samples(tmp_path, capsys):
    pytest.importorskip("safetensors")
    code = main([*TINY_CHARLM, "--out", str(tmp_path), "--quiet"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["seed"] for r in rows] == [0, 1]
    for r in rows:
        assert r["kind"] == "charlm" and r["hidden_size"] == 8 and r["steps"] == 3
        assert r["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}." \
                                      f"{sys.version_info.micro}"
        assert 5.0 < r["bits_per_char"] < 8.0  # three steps from random: near log2(162)
        assert 1.0 < r["lzma_primed_bits_per_char"] < r["lzma_bits_per_char"] < 3.0
        assert r["ngram_order"] == 3 and 2.0 < r["ngram_bits_per_char"] < 3.5
    saved = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(saved) == 2 and len(saved[0]["result"]["curve"]) == 2
    assert saved[0]["result"]["corpus"]["test"]["modules"][0] == "shutil"
    assert_png(tmp_path / "charlm_curve.png")  # the bits/char curve, drawn by the command

    # the same command again: the finished runs are reported, not trained or appended twice
    code = main([*TINY_CHARLM, "--out", str(tmp_path), "--quiet"])
    assert code == 0
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["bits_per_char"] for r in again] == [r["bits_per_char"] for r in rows]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2

    code = main(["generate", "--checkpoint", rows[0]["checkpoint"], "--prime", "import ",
                 "--length", "25", "--temperature", "0.5", "--seed", "4"])
    assert code == 0
    sample = json.loads(capsys.readouterr().out)
    assert sample["prime"] == "import " and len(sample["sample"]) == 25
    main(["generate", "--checkpoint", rows[0]["checkpoint"], "--prime", "import ", "--length",
          "25", "--temperature", "0.5", "--seed", "4", "--text"])
    assert capsys.readouterr().out == "import " + sample["sample"] + "\n"
    # a prime with characters the training text never had is refused, naming each of them
    code = main(["generate", "--checkpoint", rows[0]["checkpoint"], "--prime",
                 "x = \u03bb\u2603\u03bb"])
    err = capsys.readouterr().err
    assert code == 2 and "2 character(s)" in err
    assert "'\u03bb' (U+03BB), '\u2603' (U+2603)" in err
    # a negative seed (numpy's "expected non-negative integer" named no option), an infinite
    # temperature (uniform draws) and --out in a file's way are named
    blocker = tmp_path / "afile"
    blocker.write_text("")
    for extra, message in [(["--seed", "-1"], "--seed must be >= 0, got -1"),
                           (["--temperature", "inf"], "--temperature must be a finite number"),
                           (["--out", str(blocker)], f"--out {blocker} is a file")]:
        code = main(["generate", "--checkpoint", rows[0]["checkpoint"], *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (extra, err)


@pytest.mark.parametrize("command", ["forecast", "classify", "charlm"])
def test_every_application_command_defaults_to_the_quick_preset(command):
    from lstm.cli import build_parser

    assert build_parser().parse_args([command]).preset == "quick"


@pytest.mark.parametrize("argv, message", [
    (["charlm", "--steps", "-1"], "argument --steps: expected an integer >= 0, got '-1'"),
    (["charlm", "--lr", "0"], "argument --lr: expected a finite number > 0, got '0'"),
    (["charlm", "--dropout", "1"], "argument --dropout: expected a number in [0, 1), got '1'"),
    (["charlm", "--ngram-max-order", "0"], "--ngram-max-order must be >= 1, got 0"),
    (["generate", "--checkpoint", "/nonexistent/run"], "'/nonexistent/run' does not exist"),
])
def test_bad_arguments_exit_2_naming_the_option(argv, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "lstm", *argv, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    # a value argparse refuses comes after the usage; the command's own checks say one line
    assert len(done.stderr.strip().splitlines()) == 1 or "argument --" in message


def test_results_table_means_and_stds_over_seeds():
    from lstm.apps.charlm.results import markdown

    corpus = {"python_version": "3.x", "test": {"chars": 10, "sha256": "ab" * 32},
              "train": {"chars": 100, "sha256": "cd" * 32}}
    base = {"ngram_bits_per_char": 1.9, "ngram_valid_bits_per_char": 2.0, "ngram_order": 7,
            "ngram_max_order": 10, "lzma_primed_bits_per_char": 1.6, "lzma_bits_per_char": 1.8,
            "bz2_primed_bits_per_char": 1.7, "bz2_bits_per_char": 1.85, "gzip_bits_per_char": 2.1,
            "corpus": corpus,
            "train_chars": 3_200_000, "epochs": 1.1}
    config = {"embedding_size": 8, "hidden_size": 16, "num_layers": 2, "steps": 1000}
    rows = [{"kind": "charlm", "preset": "quick", "config": {**config, "seed": s},
             "result": {**base, "bits_per_char": b, "valid_bits_per_char": b + 0.1,
                        "train_chars_per_s": c}}
            for s, b, c in ((0, 2.0, 1000.0), (1, 2.2, 3000.0))]
    for i, row in enumerate(rows):
        row["key"] = f"charlm:{i}"
    text = markdown(rows + [dict(rows[1]), {"kind": "train"}])  # a rerun's row counts once
    assert "| LSTM 2x16, embedding 8 (`--preset quick`, 1000 steps) | 2 | 2.100 ± 0.141 | " \
           "2.200 ± 0.141 | 3.2 M (1.10 epochs) | 2,000 ± 1,414 |" in text
    assert "order 7 (chosen on validation among 1..10) | - | 1.900 | 2.000 |" in text
    assert "| lzma -9e, primed with the training text | - | 1.600 |" in text
    assert "| bz2 -9, primed with the training text | - | 1.700 |" in text
    with pytest.raises(ValueError, match="no charlm rows"):
        markdown([{"kind": "train"}])


def test_results_module_help_and_missing_files(tmp_path, capsys):
    """`python -m lstm.apps.charlm.results --help` printed a traceback (it read --help as a
    results file); a file that is not there is a usage error naming it, not an empty table."""
    from lstm.apps.charlm.results import main

    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0 and "RESULTS.jsonl" in capsys.readouterr().out
    for argv, said in (([str(tmp_path / "none.jsonl")], "no results file"),
                       ([], "required: RESULTS.jsonl")):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2 and said in capsys.readouterr().err
