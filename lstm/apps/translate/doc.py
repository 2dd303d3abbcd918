"""The tables of docs/applications_translate.md, from results files.

    python -m lstm.apps.translate.doc RESULTS.jsonl [...]

prints one markdown table per setting (the config without attention and seed): each attention
x library (minigrad rows of kind "translate", torch rows of kind "translate_torch" written by
bench/translate_torch.py), the mean (± sample std over seeds) of each metric.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from ...runs.results_io import read_rows

KINDS = {"translate": "minigrad", "translate_torch": "torch"}
METRICS = ("exact_match", "chrf", "bleu", "exact_match_beam", "chrf_beam", "bleu_beam",
           "train_time")
HEADERS = ("attention", "library", "seeds", "exact match", "chrF", "BLEU", "exact (beam)",
           "chrF (beam)", "BLEU (beam)", "train s")
ORDER = ("additive", "multiplicative", "none")


def _cell(values: list, metric: str) -> str:
    if not values:
        return "-"
    digits = 3 if metric.startswith("exact") else (0 if metric == "train_time" else 1)
    mean = f"{np.mean(values):.{digits}f}"
    return mean + (f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else "")


def tables(rows: list[dict]) -> str:
    groups: dict = {}
    for row in rows:
        if row.get("kind") not in KINDS:
            continue
        setting = {k: v for k, v in row["config"].items() if k not in ("attention", "seed")}
        key = json.dumps(setting, sort_keys=True)
        groups.setdefault(key, []).append(row)
    out = []
    for key, chosen in groups.items():
        setting = json.loads(key)
        out.append(f"setting: {', '.join(f'{k}={v}' for k, v in sorted(setting.items()))}\n")
        out.append("| " + " | ".join(HEADERS) + " |")
        out.append("|" + "---|" * len(HEADERS))
        for attention in ORDER:
            for kind, library in KINDS.items():
                runs = [r for r in chosen if r["kind"] == kind
                        and r["config"]["attention"] == attention]
                if not runs:
                    continue
                cells = [_cell([r["result"][m] for r in runs if m in r["result"]], m)
                         for m in METRICS]
                out.append(f"| {attention} | {library} | {len(runs)} | " + " | ".join(cells)
                           + " |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:])
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    print(tables([row for path in paths for row in read_rows(path)]))
    print("exact match per held-out test block (its first number: the fraction right), greedy:")
    for path in paths:
        for row in read_rows(path):
            if row.get("kind") != "translate":
                continue
            blocks = row["result"].get("block_exact_match") or rescore(
                os.path.dirname(os.path.abspath(path)), row)
            config, wrong = row["config"], {k: v for k, v in blocks.items() if v < 1.0}
            print(f"- {config['attention']} seed {config['seed']} (max {config['max_number']:,}, "
                  f"{config['n_train']:,} pairs): {len(blocks) - len(wrong)} of {len(blocks)} "
                  "blocks all right" + ("; the others " if wrong else "") + ", ".join(
                      f"{int(k):,}: {v:.2f}" for k, v in wrong.items()))
    return 0



def rescore(results_dir: str, row: dict) -> dict:
    """The per-block exact match of a saved run (rows written before the result kept it):
    its model reloaded from RESULTS_DIR/model_dir, the test numbers decoded greedily again."""
    from .data import detokenize
    from .store import load_model
    from .train import TranslateConfig, block_exact_match, load_corpus, translate

    config = TranslateConfig(**row["config"])
    model = load_model(os.path.join(results_dir, row["result"]["model_dir"]))[0]
    corpus = load_corpus(config)
    hypotheses = translate(model, corpus, [s for s, _ in corpus.test])[0]
    return block_exact_match(corpus, hypotheses, [detokenize(t) for _, t in corpus.test],
                             config.block_size)


if __name__ == "__main__":
    raise SystemExit(main())
