"""The report's sequence-classification section: Japanese Vowels accuracy per pooling next to
the DTW baseline and published figures, the confusion matrices, and attention over frames.

Runs what the results directory lacks (lstm.apps.classify.train.run_configs reuses finished
runs from RESULTS/classify.jsonl), then draws three PNGs.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

from ...reporting.figures import new_figure, save
from ...reporting.page import Section, Table
from .published import JAPANESE_VOWELS

ANCHOR = "classify"
FIGURES = ("classify_accuracy.png", "classify_confusion.png", "classify_attention.png")
POOLING_COLORS = {"attention": "#1f77b4", "last": "#ff7f0e", "mean": "#2ca02c"}
# report preset -> (lstm.apps.classify.train preset, seeds, overrides)
REPORT_PRESETS = {"quick": {"preset": "quick", "seeds": (0, 1, 2), "overrides": {}},
                  "full": {"preset": "default", "seeds": (0, 1, 2, 3, 4), "overrides": {}}}


def run_classify(results_dir: str, preset: str = "quick", progress: bool = False):
    """The rows of every pooling x seed of the report preset, and the DTW baseline."""
    from .model import POOLINGS
    from .train import dtw_baseline, preset_config, run_configs

    settings = REPORT_PRESETS[preset]
    configs = [preset_config(settings["preset"], pooling=p, seed=s, **settings["overrides"])
               for p in POOLINGS for s in settings["seeds"]]
    dtw = dtw_baseline()
    rows = run_configs(configs, os.path.join(results_dir, "classify.jsonl"), progress=progress,
                       dtw={k: v for k, v in dtw.items()
                            if k not in ("dtw_confusion", "dtw_predicted")})
    return rows, dtw


def classify_sections(results_dir: str, out_dir: str, preset: str = "quick",
                      progress: bool = False) -> list[Section]:
    """Train what is missing, draw the figures; the report's Section, or none (said on stderr)
    when the data package is not installed."""
    if importlib.util.find_spec("sktime") is None:
        print("[report] sequence classification skipped: its data ship with sktime "
              "(pip install 'minigrad-lstm[apps]')", file=sys.stderr, flush=True)
        return []
    if progress:
        settings = REPORT_PRESETS[preset]
        print(f"[report] sequence classification: preset {settings['preset']!r}, seeds "
              f"{list(settings['seeds'])} x 3 poolings -> "
              f"{os.path.join(results_dir, 'classify.jsonl')}", file=sys.stderr, flush=True)
    return [classify_section(results_dir, out_dir, preset, progress)]


def classify_section(results_dir: str, out_dir: str, preset: str = "quick",
                     progress: bool = False) -> Section:
    """Train what is missing, draw the figures, return the report Section (needs sktime)."""
    title = "Sequence classification: Japanese Vowels speaker identification"
    rows, dtw = run_classify(results_dir, preset, progress)
    poolings = [p for p in POOLING_COLORS if any(r["config"]["pooling"] == p for r in rows)]
    summary = _accuracy_figure(rows, poolings, dtw, out_dir)
    _confusion_figure(rows, dtw, out_dir)
    examples = _attention_figure(rows, out_dir)
    config = rows[0]["config"]
    caption = (
        f"Nine speakers, 12 LPC cepstrum coefficients per 6.4 ms frame, 7-29 frames; the "
        f"dataset's own split (270 training, 370 test utterances). A bidirectional LSTM "
        f"({config['hidden_size']} units per direction) runs over the utterances packed by "
        f"length; its outputs are pooled by additive attention masked past each length, by the "
        f"last states of both directions, or by the mean over valid frames; then a linear "
        f"layer. Features are standardised with the training frames' statistics; "
        f"{config['epochs']} epochs of Adam (lr {config['lr']}), batch {config['batch_size']}, "
        f"then the test accuracy (no early stopping: the test set chooses nothing). Left: "
        f"accuracy per pooling, each seed a dot, bar = mean; dashed: the 1-nearest-neighbour "
        f"DTW baseline computed here on the same standardised split ({dtw['dtw_mode']} DTW, "
        f"{dtw['dtw_accuracy']:.3f}); dotted: published deep models on the same split "
        f"(Fawaz et al. 2019, mean of 10 runs). Right: test accuracy after each epoch, mean "
        f"over seeds (recorded, never used to stop). Middle figure: confusion matrices of the "
        f"first seed's attention model and of DTW. Bottom: the attention weights over frames "
        f"of {examples} test utterances per speaker: each line one utterance, each weight "
        f"over that utterance's own frames (they sum to 1; nothing past its length). "
        + _reading(summary, dtw))
    headers = ["pooling", "seeds", "mean accuracy", "std", "min", "max", "train accuracy",
               "epoch time (s)", "parameters"]
    published = [[f"published: {name}", runs, value, std, "", "", "", "", source]
                 for name, value, std, runs, source in JAPANESE_VOWELS]
    dtw_row = [[f"1-NN DTW ({dtw['dtw_mode']}, here)", "", dtw["dtw_accuracy"], 0.0, "", "",
                "", f"{dtw['dtw_time']:.2f} in all", ""]]
    tables = [Table(headers, summary + dtw_row + published, "Test accuracy (fraction)"),
              Table(["pooling", "seed", "accuracy", "train accuracy", "test cross-entropy",
                     "train time (s)"],
                    [[r["config"]["pooling"], r["config"]["seed"], r["result"]["accuracy"],
                      r["result"]["train_accuracy"], r["result"]["test_cross_entropy"],
                      r["result"]["train_time"]] for r in rows], "Every run")]
    return Section(ANCHOR, title, list(FIGURES), caption, tables)


def _reading(summary: list[list], dtw: dict) -> str:
    best = max(summary, key=lambda row: row[2])
    beats = [row[0] for row in summary if row[2] > dtw["dtw_accuracy"]]
    return (f"Here the best pooling is {best[0]} ({best[2]:.3f} ± {best[3]:.3f}); "
            + (f"{', '.join(beats)} beat{'s' if len(beats) == 1 else ''} DTW."
               if beats else "no pooling beats DTW."))


def _accuracy_figure(rows, poolings, dtw, out_dir) -> list[list]:
    figure = new_figure(11, 4.0)
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.4])
    summary = []
    for k, pooling in enumerate(poolings):
        mine = [r for r in rows if r["config"]["pooling"] == pooling]
        accuracy = np.array([r["result"]["accuracy"] for r in mine])
        color = POOLING_COLORS[pooling]
        left.bar(k, accuracy.mean(), color=color, alpha=0.35, width=0.6)
        left.scatter(np.full(len(accuracy), k), accuracy, color=color, zorder=3)
        curves = np.array([[p["test_accuracy"] for p in r["result"]["curve"]] for r in mine])
        right.plot(np.arange(1, curves.shape[1] + 1), curves.mean(0), color=color,
                   label=f"{pooling} pooling")
        summary.append([pooling, len(mine), float(accuracy.mean()), float(accuracy.std()),
                        float(accuracy.min()), float(accuracy.max()),
                        float(np.mean([r["result"]["train_accuracy"] for r in mine])),
                        float(np.mean([r["result"]["epoch_time"] for r in mine])),
                        mine[0]["result"]["n_parameters"]])
    for ax in (left, right):
        ax.axhline(dtw["dtw_accuracy"], color="grey", linestyle="--", label="1-NN DTW (here)")
        for (name, value, *_), style in zip(JAPANESE_VOWELS[:2], ("black", "dimgrey")):
            ax.axhline(value, color=style, linestyle=":", label=f"{name} (published)")
        ax.grid(True, alpha=0.3)
    left.set_xticks(range(len(poolings)), poolings)
    left.set_ylim(0.9, 1.0)
    left.set_ylabel("test accuracy")
    left.set_title("after the last epoch, per seed", fontsize=11)
    right.set_ylim(0.8, 1.0)
    right.set_xlabel("epoch")
    right.set_title("test accuracy during training (mean over seeds)", fontsize=11)
    right.legend(fontsize=8, loc="lower right")
    save(figure, out_dir, FIGURES[0])
    return summary


def draw_run_figures(rows: list[dict], dtw: dict | None, out_dir: str) -> list[str]:
    """The confusion matrix of the first seed's model (next to DTW's when `dtw` has its
    confusion) and, when a run used attention pooling, its weights over frames: the paths of
    the PNGs written to out_dir (`lstm classify` draws them after its runs)."""
    if not rows:
        raise ValueError("draw_run_figures: no classify rows")
    os.makedirs(out_dir, exist_ok=True)
    _confusion_figure(rows, dtw, out_dir)
    paths = [os.path.join(out_dir, FIGURES[1])]
    if any("attention_examples" in r["result"] for r in rows):
        _attention_figure(rows, out_dir)
        paths.append(os.path.join(out_dir, FIGURES[2]))
    return paths


def _confusion_figure(rows, dtw, out_dir) -> None:
    attention = [r for r in rows if r["config"]["pooling"] == "attention"] or rows
    first = min(attention, key=lambda r: r["config"]["seed"])
    names = first["result"]["class_names"]
    panels = [(f"BiLSTM + {first['config']['pooling']} pooling, seed {first['config']['seed']}",
               first["result"]["confusion"])]
    if dtw and "dtw_confusion" in dtw:
        panels.append(("1-NN DTW", dtw["dtw_confusion"]))
    figure = new_figure(5.0 * len(panels), 4.4)
    for ax, (title, counts) in zip(np.atleast_1d(figure.subplots(1, len(panels))), panels):
        counts = np.asarray(counts)
        ax.imshow(counts / counts.sum(1, keepdims=True), cmap="Blues", vmin=0, vmax=1)
        for (i, j), n in np.ndenumerate(counts):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                        color="white" if n > 0.6 * counts[i].sum() else "black")
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted speaker")
        ax.set_ylabel("true speaker")
        accuracy = np.trace(counts) / counts.sum()
        ax.set_title(f"{title}: accuracy {accuracy:.3f}", fontsize=10)
    save(figure, out_dir, FIGURES[1])


def _attention_figure(rows, out_dir) -> int:
    attention = [r for r in rows if "attention_examples" in r["result"]]
    figure = new_figure(12, 7.5)
    axes = figure.subplots(3, 3, sharey=True).ravel()
    if not attention:
        return 0
    first = min(attention, key=lambda r: r["config"]["seed"])
    names = first["result"]["class_names"]
    per_class = 0
    for c, ax in enumerate(axes[:len(names)]):
        mine = [e for e in first["result"]["attention_examples"] if e["label"] == c]
        per_class = max(per_class, len(mine))
        for e in mine:
            w = np.asarray(e["weights"])
            mark = "" if e["predicted"] == e["label"] else f", taken for {names[e['predicted']]}"
            ax.plot(np.arange(1, len(w) + 1), w, marker="o", markersize=3,
                    label=f"test #{e['index']} ({len(w)} frames){mark}")
        ax.set_title(f"speaker {names[c]}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in axes[6:]:
        ax.set_xlabel("frame")
    for ax in axes[::3]:
        ax.set_ylabel("attention weight")
    save(figure, out_dir, FIGURES[2])
    return per_class
