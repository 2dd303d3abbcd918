"""The report's character language model: runs `lstm charlm` for the report's preset when its
results are missing, then draws validation bits per character against characters seen and the
test figures next to the n-gram and the compressors, and shows samples at three temperatures."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from ...reporting.figures import new_figure, save
from ...reporting.page import Section, Table
from .figures import CURVE_FIGURE, draw_learning_curve  # noqa: F401

# report preset -> the `lstm charlm` preset, seeds, settings overriding the preset's, and the
# corpus's modules (None: data.py's lists; tests shrink both)
REPORT_RUNS = {"quick": {"preset": "quick", "seeds": (0,), "overrides": {}, "modules": None},
               "full": {"preset": "default", "seeds": (0,), "overrides": {}, "modules": None}}
SAMPLE_PRIME, SAMPLE_LENGTH, SAMPLE_TEMPERATURES = "def ", 300, (0.5, 0.8, 1.0)
BASELINES = (("ngram", "Kneser-Ney n-gram"), ("lzma_primed", "lzma, primed with train"),
             ("bz2_primed", "bz2, primed with train"), ("lzma", "lzma"), ("bz2", "bz2"),
             ("gzip", "gzip"))


def charlm_rows(results_dir: str, preset: str, progress: bool) -> list[dict]:
    """The results rows of the report's runs, running those RESULTS/charlm/ lacks."""
    from ...experiments.sweep import read_results, run_key
    from .cli import PRESETS, run_charlm
    from .data import corpus_of, load_corpus
    from .train import CharLMConfig

    runs = REPORT_RUNS[preset]
    charlm_preset, seeds, modules = runs["preset"], runs["seeds"], runs["modules"]
    settings = {**PRESETS[charlm_preset], **runs["overrides"]}
    max_order = settings.pop("ngram_max_order")
    out = os.path.join(results_dir, "charlm")
    have = {r["key"]: r for r in read_results(os.path.join(out, "results.jsonl"))
            if r.get("kind") == "charlm"}
    rows, corpus = [], None
    for seed in seeds:
        config = CharLMConfig(**settings, seed=seed)
        key = run_key("charlm", config.to_dict())
        if key not in have:
            corpus = corpus or (corpus_of(modules) if modules else load_corpus())
            have[key] = run_charlm(config, corpus, out, max_order, charlm_preset, progress)
        rows.append(have[key])
    return rows


def samples(checkpoint: str) -> list[tuple[float, str]]:
    """(temperature, prime + sample) from a saved model, seed 0."""
    from .model import sample
    from .store import load_model

    model, vocab, _ = load_model(checkpoint)
    prime = vocab.encode(SAMPLE_PRIME)
    return [(t, SAMPLE_PRIME + vocab.decode(sample(model, prime, SAMPLE_LENGTH, t, rng=0)))
            for t in SAMPLE_TEMPERATURES]


def charlm_section(results_dir: str, out_dir: str, preset: str = "quick",
                   progress: bool = True) -> Section:
    """The section: runs what is missing, writes charlm.png, returns figure, table, samples."""
    if importlib.util.find_spec("safetensors") is None:
        return Section("charlm", "Character-level language model: Python's source", [], (
            "Not run: the character model saves its weights with safetensors, which is not "
            "installed (pip install -e \".[apps]\"; make report installs it)."))
    rows = charlm_rows(results_dir, preset, progress)
    results = [r["result"] for r in rows]
    first = results[0]
    lstm = np.array([r["bits_per_char"] for r in results])
    spread = f" ± {lstm.std(ddof=1):.3f}" if len(lstm) > 1 else ""
    config = rows[0]["config"]
    label = (f"LSTM {config['num_layers']}x{config['hidden_size']} "
             f"(E={config['embedding_size']})")

    figure = new_figure(11.5, 4.0)
    curve_ax, bar_ax = figure.subplots(1, 2)
    for row in rows:
        curve = [c for c in row["result"]["curve"] if c["step"] > 0]
        curve_ax.plot([c["chars"] / 1e6 for c in curve],
                      [c["valid_bits_per_char"] for c in curve], marker="o", markersize=3,
                      label=f"{label}, seed {row['config']['seed']}")
    curve_ax.axhline(first["ngram_valid_bits_per_char"], color="grey", linestyle="--",
                     label=f"n-gram, order {first['ngram_order']}, whole validation split")
    curve_ax.set_xlabel("training characters seen (millions)")
    curve_ax.set_ylabel("validation bits per character")
    scored = config["valid_chars"]
    curve_ax.set_title("validation split" + (f": its first {scored:,} characters" if scored
                                             else ""), fontsize=9)
    curve_ax.legend(fontsize=8)
    names = [label] + [f"{text}" + (f" ({first['ngram_order']})" if key == "ngram" else "")
                       for key, text in BASELINES]
    values = [float(lstm.mean())] + [first[f"{key}_bits_per_char"] for key, _ in BASELINES]
    colors = ["#1f77b4"] + ["#7f7f7f"] * len(BASELINES)
    bars = bar_ax.barh(range(len(values)), values, color=colors,
                       xerr=[lstm.std(ddof=1) if len(lstm) > 1 else 0] + [0] * len(BASELINES))
    bar_ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=3)
    bar_ax.set_yticks(range(len(values)), names, fontsize=8)
    bar_ax.invert_yaxis()
    bar_ax.set_xlabel("test bits per character (lower is better)")
    bar_ax.set_xlim(0, max(values) * 1.2)
    image = save(figure, out_dir, "charlm.png")

    table_rows = [[label, float(lstm.mean()),
                   f"mean{spread} over {len(lstm)} seed(s), {first['steps']} steps, "
                   f"{first['train_chars'] / 1e6:.1f} M characters ({first['epochs']:.2f} "
                   f"epochs), {first['num_parameters']} parameters"]]
    table_rows += [[text, first[f"{key}_bits_per_char"],
                    f"order chosen on validation among 1..{first['ngram_max_order']}"
                    if key == "ngram" else "compressed size of the test text"]
                   for key, text in BASELINES]
    corpus = first["corpus"]
    caption = (
        f"Character-level language model on Python {corpus['python_version']}'s own standard "
        f"library source: trained on {len(corpus['train']['modules'])} modules "
        f"({corpus['train']['chars']:,} characters), validated on "
        f"{', '.join(corpus['valid']['modules'])}, tested on "
        f"{', '.join(corpus['test']['modules'])} ({corpus['test']['chars']:,} characters). "
        f"Stateful truncated BPTT: {config['batch_size']} streams, {config['bptt']} characters "
        f"per chunk, Adam lr {config['lr']}, gradient norm clipped at {config['clip_value']}; "
        f"the parameters with the best validation figure are tested. Training ran at "
        f"{first['train_chars_per_s']:,.0f} characters per second. Left: validation bits per "
        "character against training characters; right: test bits per character of the LSTM, "
        "the interpolated modified Kneser-Ney n-gram built here and the standard library's "
        "compressors (8 x compressed bytes / characters; 'primed' counts only the bytes the "
        "test text adds after the training text).")
    texts = [(f"Sample at temperature {t} (prime {SAMPLE_PRIME!r}, {SAMPLE_LENGTH} characters, "
              "seed 0)", text) for t, text in samples(first["checkpoint"])]
    return Section("charlm", "Character-level language model: Python's source", [image],
                   caption, [Table(["model", "test bits per character", "notes"], table_rows,
                                   "Test bits per character")], texts=texts)
