"""The character model's learning curve (bits per character against steps), drawn by `lstm charlm`
into its --out and by the report's section."""

from __future__ import annotations

import os

from ...reporting.figures import new_figure, save

CURVE_FIGURE = "charlm_curve.png"


def draw_learning_curve(rows: list[dict], out_dir: str) -> str:
    """charlm_curve.png in out_dir: training and validation bits per character against the
    characters seen, one colour per run, the n-gram's validation figure dashed; its path."""
    rows = [r for r in rows if r.get("kind") == "charlm"]
    if not rows:
        raise ValueError("draw_learning_curve: no charlm rows")
    figure = new_figure(7.5, 4.2)
    ax = figure.subplots()
    for i, row in enumerate(rows):
        curve = [c for c in row["result"]["curve"] if c["step"] > 0]
        config, color = row["config"], f"C{i}"
        label = f"{config['num_layers']}x{config['hidden_size']}, seed {config['seed']}"
        chars = [c["chars"] / 1e6 for c in curve]
        ax.plot(chars, [c["valid_bits_per_char"] for c in curve], marker="o", markersize=3,
                color=color, label=f"{label}: validation")
        trained = [(x, c["train_bits_per_char"]) for x, c in zip(chars, curve)
                   if c["train_bits_per_char"] is not None]
        if trained:
            ax.plot(*zip(*trained), linestyle=":", color=color, label=f"{label}: training")
    first = rows[0]["result"]
    ax.axhline(first["ngram_valid_bits_per_char"], color="grey", linestyle="--",
               label=f"n-gram, order {first['ngram_order']} (validation)")
    ax.set_xlabel("training characters seen (millions)")
    ax.set_ylabel("bits per character")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    os.makedirs(out_dir, exist_ok=True)
    return os.path.join(out_dir, save(figure, out_dir, CURVE_FIGURE))
