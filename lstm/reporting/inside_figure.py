"""The inside of a trained LSTM on one adding sequence: gates and cell state per unit over time,
as heatmaps (every unit) and lines (the units that track the running marked sum)."""

from __future__ import annotations

import numpy as np

from .figures import new_figure, save
from .page import Section, Table

GATE_TITLES = {"i": "input gate i_t", "f": "forget gate f_t", "o": "output gate o_t",
               "c": "cell state c_t"}


def _markers(ax, markers, label: bool = False) -> None:
    for n, t in enumerate(markers):
        ax.axvline(t, color="red", linewidth=1.0, linestyle="--", alpha=0.8,
                   label="marker" if label and n == 0 else None)


def _heatmaps(inside: dict, out_dir: str) -> str:
    seq = inside["sequence"]
    order = np.argsort(-np.abs(np.asarray(inside["correlations"])))
    steps = len(seq["running_sum"])
    figure = new_figure(11, 11)
    axes = figure.subplots(4, 1, sharex=True, height_ratios=[1.1, 2, 2, 2])
    ax = axes[0]
    t = np.arange(steps)
    values = np.asarray(seq["x"])[:, 0]
    colors = np.where(np.isin(t, seq["markers"]), "red", "#bbbbbb")
    ax.bar(t, values, color=colors, width=0.8, label="input value (red: marked)")
    ax.step(t, seq["running_sum"], where="post", color="black", linewidth=1.5,
            label="running marked sum s_t")
    ax.set_ylabel("value")
    ax.set_title(f"One adding sequence: target {seq['target']:.3f}, LSTM prediction "
                 f"{seq['prediction']:.3f}", fontsize=11)
    ax.legend(fontsize=8, loc="upper left")
    extent = (-0.5, steps - 0.5, len(order) - 0.5, -0.5)
    for ax, name in zip(axes[1:], ("i", "f", "c")):
        data = np.asarray(seq[name])[:, order].T
        if name == "c":  # each unit scaled to its own largest |c|: small memories stay visible
            data = data / np.maximum(np.abs(data).max(axis=1, keepdims=True), 1e-12)
            image = ax.imshow(data, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                              interpolation="nearest", extent=extent)
        else:
            image = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                              interpolation="nearest", extent=extent)
        _markers(ax, seq["markers"])
        ax.set_yticks(np.arange(len(order)), [str(u) for u in order], fontsize=6)
        ax.set_ylabel("unit (by |corr(c_T, sum)|)")
        ax.set_title(GATE_TITLES[name] + (", each unit / its max |c_t|" if name == "c" else ""),
                     fontsize=11)
        figure.colorbar(image, ax=ax, label="activation" if name != "c" else "c_t / max |c_t|",
                        pad=0.01, fraction=0.04)
    _markers(axes[0], seq["markers"], label=False)
    axes[-1].set_xlabel("time step t")
    figure.suptitle("Inside a trained LSTM: every unit's gates and cell state over one sequence "
                    "(red dashed: the two markers)", fontsize=12)
    return save(figure, out_dir, "inside_heatmaps.png")


def _lines(inside: dict, out_dir: str) -> str:
    seq = inside["sequence"]
    units = inside["units"]
    r = inside["correlations"]
    steps = len(seq["running_sum"])
    t = np.arange(steps)
    figure = new_figure(11, 8.5)
    axes = figure.subplots(3, 1, sharex=True)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]
    for n, unit in enumerate(units):
        color = palette[n % len(palette)]
        axes[0].plot(t, np.asarray(seq["i"])[:, unit], color=color, label=f"unit {unit}")
        axes[1].plot(t, np.asarray(seq["f"])[:, unit], color=color, label=f"unit {unit}")
        sign = 1.0 if r[unit] >= 0 else -1.0
        axes[2].plot(t, sign * np.asarray(seq["c"])[:, unit], color=color,
                     label=f"{'' if sign > 0 else '−'}c of unit {unit} (r = {r[unit]:+.2f})")
    twin = axes[2].twinx()
    twin.step(t, seq["running_sum"], where="post", color="black", linestyle=":",
              linewidth=1.8, label="running marked sum s_t (right axis)")
    twin.set_ylabel("running marked sum s_t")
    for ax, name in zip(axes, ("i", "f", "c")):
        _markers(ax, seq["markers"], label=True)
        ax.set_title(GATE_TITLES[name], fontsize=11)
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if name == "c":
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.08, 1.0))
    axes[0].set_ylabel("gate activation (0..1)")
    axes[1].set_ylabel("gate activation (0..1)")
    axes[0].set_ylim(-0.03, 1.03)
    axes[1].set_ylim(-0.03, 1.03)
    axes[2].set_ylabel("cell state (sign-aligned)")
    axes[2].set_xlabel("time step t")
    axes[2].set_xlim(0, steps - 1)
    figure.suptitle(f"The {len(units)} units whose final cell state best predicts the marked "
                    "sum: write at the markers, hold in between", fontsize=12)
    return save(figure, out_dir, "inside_units.png")


def _best_unit_sentence(inside: dict) -> str:
    best = inside["gate_means"][inside["units"][0]]
    return (f"Here unit {best['unit']} (corr {best['corr']:+.3f}): input gate "
            f"{best['i_at_markers']:.2f} at the markers and {best['i_elsewhere']:.3f} elsewhere, "
            f"forget gate {best['f_elsewhere']:.3f} elsewhere (averages over all steps of "
            f"{inside['n_sequences']} sequences).")


def inside_section(inside: dict, out_dir: str) -> Section:
    images = [_heatmaps(inside, out_dir), _lines(inside, out_dir)]
    cfg, result = inside["config"], inside["result"]
    units = set(inside["units"])
    rows = []
    for row in sorted(inside["gate_means"], key=lambda g: -abs(g["corr"])):
        rows.append([row["unit"], "yes" if row["unit"] in units else "", row["corr"],
                     row["corr_first"], row["i_at_markers"], row["i_elsewhere"],
                     row["f_at_markers"], row["f_elsewhere"]])
    headers = ["unit", "shown", "corr(c_T, sum)", "corr(c before 2nd marker, 1st value)",
               "mean i at markers", "mean i elsewhere",
               "mean f at markers", "mean f elsewhere"]
    summary = Table(["quantity", "value"], [
        ["model", f"{cfg['model']} (H={cfg['hidden_size']}), adding T={cfg['seq_len']}"],
        ["training", f"{cfg['optimizer']} lr {cfg['lr']}, batch {cfg['batch_size']}, "
                     f"clip {cfg['clip']} {cfg['clip_value']}, seed {cfg['seed']}"],
        ["steps trained", result["steps"]], ["solved", result["solved"]],
        ["steps to solve", result["steps_to_solve"]],
        ["final test MSE", result["metrics"]["mse"]],
        ["MSE of the float64 trace on the traced sequences", inside["trace_mse"]],
        ["traced sequences", inside["n_sequences"]],
        ["R² of the sum from all units' final c_T (linear)", inside["r2_all_units"]]],
        "The trained model and the trace")
    solved = "solved" if result["solved"] else "NOT solved (the picture may be unclear)"
    caption = (f"A {cfg['model']} LSTM with {cfg['hidden_size']} units trained on adding "
               f"T={cfg['seq_len']} until solved ({solved} after {result['steps']} steps, test "
               f"MSE {result['metrics']['mse']:.4f}), then run step by step in numpy float64 "
               "from its weights. Top figure: the input (red bars: the two marked values), "
               "then every unit's input gate, forget gate and cell state over the sequence, "
               "units sorted by how well their final cell state c_T predicts the marked sum "
               f"(|correlation| over {inside['n_sequences']} fresh sequences). Bottom figure: "
               "the best units, with the running marked sum s_t. What to see: in a memory "
               "unit the input gate is nearly shut except at the two markers, where it opens "
               "to write; the forget gate sits at 1, so what was written is held to the end; "
               "the cell state changes at the markers and otherwise only creeps (the nearly "
               "shut input gate leaks a little). Its final value encodes the sum, in whatever "
               "sign and scale the read-out uses. Units that are not memories forget within a "
               "few steps (f well below 1). The memory may be spread over several units: the "
               "table gives the R² of a linear fit of the sum from all final cell states. "
               + _best_unit_sentence(inside))
    return Section("inside", "Inside a trained LSTM: gates holding a value", images, caption,
                   [summary, Table(headers, rows, "Per unit: tracking and gate averages")])
