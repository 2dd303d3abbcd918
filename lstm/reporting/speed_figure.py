"""The speed figure: training-step time against sequence length per model and library."""

from __future__ import annotations

import os

from .figures import new_figure, save
from .page import Section, Table

LIBRARY_COLORS = {"minigrad fused": "#1f77b4", "minigrad composed": "#aec7e8",
                  "torch": "#d62728", "jax": "#2ca02c", "autograd": "#7f7f7f"}


def _load_sentence(rows: list[dict]) -> str:
    loads = [r["result"]["loadavg_1min"] for r in rows if "loadavg_1min" in r["result"]]
    if not loads:
        return ""
    cores = os.cpu_count() or 1
    busy = max(loads) > 0.5 * cores
    return (f"The machine's 1-minute load average was {min(loads):.1f} to {max(loads):.1f} on "
            f"{cores} cores while these were measured"
            + (": other work shared the cores, so times are inflated and noisy; the table also "
               "gives the fastest call (min ms)." if busy else "."))


# ---- speed --------------------------------------------------------------------------------------
def speed_label(config: dict) -> str:
    library = config["library"]
    return f"minigrad {config['impl']}" if library == "minigrad" else library


def speed_section(speed_rows: list[dict], out_dir: str) -> Section:
    """Training-step time against seq_len, per model and library (log-log, ms)."""
    ok = [r for r in speed_rows if r["result"]["status"] == "ok"]
    models = [m for m in ("rnn", "lstm", "gru") if any(r["config"]["model"] == m for r in ok)]
    figure = new_figure(4.6 * max(len(models), 1), 4.0)
    axes = figure.subplots(1, max(len(models), 1), squeeze=False, sharey=True)[0]
    for ax, model in zip(axes, models):
        for name, color in LIBRARY_COLORS.items():
            points = sorted((r["config"]["seq_len"], r["result"]["median_s"] * 1e3) for r in ok
                            if r["config"]["model"] == model and speed_label(r["config"]) == name)
            if points:
                ax.loglog(*zip(*points), marker="o", color=color, label=name, linewidth=1.6)
        lens = sorted({r["config"]["seq_len"] for r in ok})
        ax.set_xticks(lens, [str(t) for t in lens])
        ax.set_xticks([], minor=True)
        ax.set_title(f"{model.upper()} layer", fontsize=11)
        ax.set_xlabel("sequence length T (steps)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("time per training step (ms, median)")
    handles, labels = {}, []
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    labels = [n for n in LIBRARY_COLORS if n in handles]
    figure.legend([handles[n] for n in labels], labels, loc="outside lower center",
                  ncols=len(labels), fontsize=9)
    first = ok[0]["config"] if ok else {}
    loads = [r["result"]["loadavg_1min"] for r in ok if "loadavg_1min" in r["result"]]
    busy = f"; load average up to {max(loads):.1f} on {os.cpu_count()} cores" if loads and \
        max(loads) > 0.5 * (os.cpu_count() or 1) else ""
    figure.suptitle("Training-step time (forward + backward) against T: "
                    f"B={first.get('batch_size')}, I={first.get('input_size')}, "
                    f"H={first.get('hidden_size')}, float32, 2 threads{busy}", fontsize=12)
    image = save(figure, out_dir, "speed.png") if ok else None
    libraries = [n for n in LIBRARY_COLORS if any(speed_label(r["config"]) == n for r in ok)]
    cells = {(r["config"]["model"], r["config"]["seq_len"], speed_label(r["config"])): r["result"]
             for r in ok}
    keys = sorted({(m, t) for m, t, _ in cells})
    wide = [[model, seq_len] + [cells[(model, seq_len, n)]["median_s"] * 1e3
                                if (model, seq_len, n) in cells else None for n in libraries]
            for model, seq_len in keys]
    long = []
    for model, seq_len in keys:
        ours = cells.get((model, seq_len, "minigrad fused"))
        for name in libraries:
            result = cells.get((model, seq_len, name))
            if result is not None:
                long.append([model, seq_len, name, result["median_s"] * 1e3,
                             result["min_s"] * 1e3, result["repeats"], result["gflops"],
                             None if ours is None else result["median_s"] / ours["median_s"],
                             result.get("loadavg_1min")])
    tables = [Table(["model", "T"] + [f"{n} (ms)" for n in libraries], wide,
                    "Median ms per training step"),
              Table(["model", "T", "library", "median ms", "min ms", "timed calls", "GFLOP/s",
                     "time / minigrad fused", "load average"], long,
                    "Every measurement")]
    skipped = sorted({f"{speed_label(r['config'])}: {r['result'].get('reason', '')[:160]}"
                      for r in speed_rows if r["result"]["status"] != "ok"})
    caption = ("Median wall time of one forward + backward of out.sum() through one recurrent "
               "layer, the unit bench/compare.py times for every library (warm-up calls are "
               "not timed; each peer runs in its own process pinned to 2 threads). Both axes "
               "are logarithmic: a slope of 1 is time linear in T. The fused path runs the "
               "whole time loop in compiled code; the composed path records every op of every "
               "step on the tape; torch uses oneDNN's kernels, jax a jit-compiled lax.scan, "
               "autograd numpy op by op. " + _load_sentence(ok))
    return Section("speed", "Training-step time against sequence length",
                   [image] if image else [], caption,
                   tables,
                   note=("Not measured: " + "; ".join(skipped)) if skipped else "")
