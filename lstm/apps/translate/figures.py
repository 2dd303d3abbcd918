"""The translation figures: attention alignments (source words x output words) and the test
exact match per attention, and the report section built from them."""

from __future__ import annotations

import os

import numpy as np

from ...reporting.figures import new_figure, save
from ...reporting.page import Section, Table, fmt

ALIGNMENT_FIGURE, SCORES_FIGURE = "translate_attention.png", "translate_scores.png"
COLORS = {"additive": "#1f77b4", "multiplicative": "#ff7f0e", "none": "#7f7f7f"}


def alignment_figure(rows: list[dict], out_dir: str, per_model: int = 2) -> str | None:
    """Heatmaps of the attention weights of the first seed of each attention kind."""
    picked = {}
    for row in rows:
        kind = row["config"]["attention"]
        if row["result"].get("attention_examples") and kind not in picked:
            picked[kind] = row["result"]["attention_examples"][:per_model]
    if not picked:
        return None
    panels = [(kind, ex) for kind, examples in picked.items() for ex in examples]
    figure = new_figure(4.2 * per_model, 3.9 * len(picked))
    axes = figure.subplots(len(picked), per_model, squeeze=False).ravel()
    for ax, (kind, example) in zip(axes, panels):
        weights = np.asarray(example["weights"])
        output = example["output_tokens"]
        ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(example["source"])), example["source"], rotation=90,
                      fontsize=7)
        ax.set_yticks(range(len(output)), output, fontsize=7)
        ax.set_title(f"{kind}: {example['number']:,}", fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    os.makedirs(out_dir, exist_ok=True)
    return save(figure, out_dir, ALIGNMENT_FIGURE)


def scores_figure(rows: list[dict], out_dir: str) -> str:
    """Test exact match (greedy and beam) per attention kind, each seed a dot."""
    kinds = [k for k in COLORS if any(r["config"]["attention"] == k for r in rows)]
    figure = new_figure(5.5, 3.2)
    ax = figure.subplots()
    for i, kind in enumerate(kinds):
        for j, metric in enumerate(("exact_match", "exact_match_beam")):
            values = [r["result"][metric] for r in rows if r["config"]["attention"] == kind]
            x = i + (j - 0.5) * 0.35
            ax.bar(x, np.mean(values), 0.3, color=COLORS[kind], alpha=0.5 if j else 0.9)
            ax.plot([x] * len(values), values, "k.", ms=4)
    ax.set_xticks(range(len(kinds)), [f"{k}\n(greedy | beam)" for k in kinds])
    ax.set_ylabel("test exact match")
    ax.set_ylim(0, 1)
    os.makedirs(out_dir, exist_ok=True)
    return save(figure, out_dir, SCORES_FIGURE)


def summary_table(rows: list[dict]) -> Table:
    """Mean (± std over seeds) of each metric per attention kind."""
    metrics = ("exact_match", "chrf", "bleu", "exact_match_beam", "chrf_beam", "bleu_beam")
    table = []
    for kind in COLORS:
        chosen = [r for r in rows if r["config"]["attention"] == kind]
        if not chosen:
            continue
        cells = []
        for m in metrics:
            values = np.array([r["result"][m] for r in chosen])
            cells.append(fmt(values.mean()) + (f" ± {fmt(values.std(ddof=1))}"
                                               if len(values) > 1 else ""))
        table.append([kind, len(chosen), *cells,
                      fmt(np.mean([r["result"]["train_time"] for r in chosen]), 1)])
    return Table(["attention", "seeds", "exact match", "chrF", "BLEU", "exact (beam)",
                  "chrF (beam)", "BLEU (beam)", "train s"], table,
                 "test numbers from held-out blocks; ± = sample std over seeds")


def translate_section(rows: list[dict], out_dir: str) -> Section:
    """The report's section for translate rows (drawn into out_dir)."""
    images = [scores_figure(rows, out_dir)]
    alignment = alignment_figure(rows, out_dir)
    if alignment:
        images.append(alignment)
    config = rows[0]["config"]
    caption = (
        f"Numbers 0-{config['max_number']:,} written out by num2words in {config['source']!r}, "
        f"translated into {config['target']!r}; blocks of {config['block_size']} consecutive "
        f"numbers held out whole for validation and test ({config['n_train']:,} training "
        f"pairs). Bidirectional LSTM encoder ({config['hidden_size']} per direction), LSTM "
        f"decoder, global attention with an additive (Bahdanau) or multiplicative (Luong) score, "
        f"or none; {config['epochs']} epochs of Adam, the epoch best on validation exact match "
        f"kept. Left: exact match of whole sentences, greedy and beam width "
        f"{config['beam_width']}. Right: attention weights over the source words (columns) for "
        f"each output word (rows), test numbers.")
    return Section("translate", "Translation: numbers in words, English to French", images,
                   caption, [summary_table(rows)])
