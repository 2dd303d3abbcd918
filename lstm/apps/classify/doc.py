"""The results table of docs/applications_classify.md, from a results file of `lstm classify`.

    python -m lstm.apps.classify.doc results/results.jsonl

prints a Markdown table: per (preset settings, pooling) the test accuracy mean ± the population
standard deviation over seeds (numpy's std, ddof 0), its range, the training accuracy and the
time per epoch, then the DTW baseline of those runs, then the published figures of
lstm.apps.classify.published, each with its source.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from .published import JAPANESE_VOWELS
from .train import DTW_KIND, read_rows

SETTINGS = ("hidden_size", "attention_size", "epochs", "batch_size", "lr", "dropout")


OPTIONAL = ("noise", "val_fraction")  # shown when set


def _settings(config: dict) -> str:
    shown = list(SETTINGS) + [k for k in OPTIONAL if config.get(k)]
    return ", ".join(f"{k}={config[k]}" for k in shown)


def markdown_table(rows: list[dict], dtw_rows: list[dict] = ()) -> str:
    """Markdown: one line per (settings, pooling), each DTW baseline (those recorded with the
    runs and those of `dtw_rows`), the published figures."""
    if not rows:
        raise ValueError("no classify rows in the results file")
    groups = defaultdict(list)
    for row in rows:
        groups[(_settings(row["config"]), row["config"]["pooling"])].append(row)
    lines = ["| model | settings | seeds | test accuracy (mean ± std, ddof 0) | range | "
             "train accuracy | s / epoch |", "|---|---|---|---|---|---|---|"]
    stopped = []
    for (settings, pooling), mine in sorted(groups.items()):
        accuracy = np.array([r["result"]["accuracy"] for r in mine])
        train = np.mean([r["result"]["train_accuracy"] for r in mine])
        epoch = np.mean([r["result"]["epoch_time"] for r in mine])
        seeds = ",".join(str(r["config"]["seed"]) for r in sorted(
            mine, key=lambda r: r["config"]["seed"]))
        lines.append(f"| BiLSTM + {pooling} pooling | {settings} | {seeds} | "
                     f"{accuracy.mean():.4f} ± {accuracy.std():.4f} | "
                     f"{accuracy.min():.4f}-{accuracy.max():.4f} | {train:.4f} | {epoch:.3f} |")
        if mine[0]["config"].get("val_fraction"):
            stopped.append(f"{pooling} ({settings}): best validation epochs "
                           + ", ".join(str(r["result"]["best_epoch"]) for r in mine))
    dtw = {(r["result"].get("dtw_mode"), r["result"].get("dtw_window"),
            r["result"].get("dtw_accuracy")) for r in [*rows, *dtw_rows]
           if "dtw_accuracy" in r["result"]}
    for mode, window, value in sorted(dtw, key=str):
        band = "no band" if window is None else f"band {window}"
        lines.append(f"| 1-NN DTW ({mode}, {band}), computed here | standardised features | - | "
                     f"{value:.4f} | - | - | - |")
    for name, value, std, runs, source in JAPANESE_VOWELS:
        spread = "" if std is None else f" ± {std:.3f}"
        lines.append(f"| {name} (published) | {source} | {runs} runs | {value:.3f}{spread} | "
                     "- | - | - |")
    if stopped:
        lines.append("\nEarly stopping: " + "; ".join(stopped) + ".")
    return "\n".join(lines + _errors(rows, dtw_rows))


def _errors(rows: list[dict], dtw_rows) -> list[str]:
    """A sentence on which test utterances the runs get wrong, and how many DTW shares."""
    runs = [r["result"] for r in rows if "predicted" in r["result"] and "labels" in r["result"]]
    if not runs:
        return []
    labels, names = np.asarray(runs[0]["labels"]), runs[0]["class_names"]
    wrong = [set(np.flatnonzero(np.asarray(r["predicted"]) != labels).tolist()) for r in runs]
    always = sorted(set.intersection(*wrong))
    text = (f"\nErrors: {min(map(len, wrong))} to {max(map(len, wrong))} of {len(labels)} test "
            f"utterances per run; wrong in all {len(wrong)} runs: "
            + (", ".join(f"#{i} (speaker {names[labels[i]]})" for i in always) or "none") + ".")
    for d in (r["result"] for r in dtw_rows if "dtw_predicted" in r["result"]):
        errors = set(np.flatnonzero(np.asarray(d["dtw_predicted"]) != labels).tolist())
        shared = [len(w & errors) for w in wrong]
        text += (f" 1-NN DTW ({d['dtw_mode']}) gets {len(errors)} wrong; each run shares "
                 f"{min(shared)} to {max(shared)} of them.")
    return [text]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m lstm.apps.classify.doc RESULTS.jsonl", file=sys.stderr)
        return 2
    try:
        print(markdown_table(read_rows(argv[0]), read_rows(argv[0], DTW_KIND)))
    except ValueError as e:
        print(f"classify_doc: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
