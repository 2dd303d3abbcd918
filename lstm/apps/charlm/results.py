"""The docs' table of `lstm charlm` results: test bits per character, mean ± std over seeds per
preset, next to the baselines, read from results files.

    python -m lstm.apps.charlm.results RESULTS.jsonl [MORE.jsonl ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import defaultdict

from ...experiments.sweep import read_results

BASELINE_ROWS = (("ngram", "interpolated modified Kneser-Ney n-gram, order {order} "
                           "(chosen on validation among 1..{max_order})"),
                 ("lzma_primed", "lzma -9e, primed with the training text"),
                 ("bz2_primed", "bz2 -9, primed with the training text"),
                 ("lzma", "lzma -9e"), ("bz2", "bz2 -9"), ("gzip", "gzip -9"))


def _mean_std(values: list[float], spec: str = ".3f") -> str:
    if len(values) == 1:
        return format(values[0], spec)
    return f"{format(statistics.mean(values), spec)} ± {format(statistics.stdev(values), spec)}"


def markdown(rows: list[dict]) -> str:
    """One table row per (preset, model size) over its seeds (a run written twice counts once),
    then one per baseline."""
    groups = defaultdict(list)
    latest = {row.get("key", id(row)): row for row in rows}  # a rerun of a finished run: once
    for row in latest.values():
        if row.get("kind") == "charlm":
            c = row["config"]
            groups[(row["preset"], c["embedding_size"], c["hidden_size"], c["num_layers"],
                    c["steps"])].append(row["result"])
    if not groups:
        raise ValueError("no charlm rows in the results given")
    lines = ["| model | seeds | test bits/char | validation bits/char | training characters "
             "| characters / s |", "|---|---|---|---|---|---|"]
    for (preset, emb, hidden, layers, steps), results in sorted(groups.items()):
        lines.append(
            f"| LSTM {layers}x{hidden}, embedding {emb} (`--preset {preset}`, {steps} steps) "
            f"| {len(results)} | {_mean_std([r['bits_per_char'] for r in results])} "
            f"| {_mean_std([r['valid_bits_per_char'] for r in results])} "
            f"| {results[0]['train_chars'] / 1e6:.1f} M ({results[0]['epochs']:.2f} epochs) "
            f"| {_mean_std([r['train_chars_per_s'] for r in results], ',.0f')} |")
    first = next(iter(groups.values()))[0]
    by_order = max((r for results in groups.values() for r in results),
                   key=lambda r: r["ngram_max_order"])
    for key, text in BASELINE_ROWS:
        source = by_order if key == "ngram" else first
        name = text.format(order=source.get("ngram_order"),
                           max_order=source.get("ngram_max_order"))
        lines.append(f"| {name} | - | {source[key + '_bits_per_char']:.3f} | "
                     f"{_valid(source, key)} | - | - |")
    corpus = first["corpus"]
    lines.append("")
    lines.append(f"Python {corpus['python_version']}; test text {corpus['test']['chars']:,} "
                 f"characters (sha256 {corpus['test']['sha256'][:12]}), training text "
                 f"{corpus['train']['chars']:,} characters (sha256 "
                 f"{corpus['train']['sha256'][:12]}).")
    return "\n".join(lines)


def _valid(result: dict, key: str) -> str:
    return f"{result['ngram_valid_bits_per_char']:.3f}" if key == "ngram" else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm.apps.charlm.results",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="RESULTS.jsonl",
                        help="results files written by `lstm charlm`")
    args = parser.parse_args(argv)
    for path in args.paths:
        if not os.path.isfile(path):
            parser.error(f"RESULTS.jsonl: no results file {path!r}")
    print(markdown([row for path in args.paths for row in read_results(path)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
