"""Tables of a comparison report (plain text or Markdown): times, ratios against minigrad,
GFLOP/s, the linear fit over T, peak memory, start-up, and what was skipped."""

from __future__ import annotations

import numpy as np

from . import flops_per_step

OURS = "minigrad"
AGREE_RTOL = 1e-3


def median(stats: dict, clock: str = "wall") -> float:
    """The median of a timing by the wall clock, or by process CPU time when clock == 'cpu'."""
    return stats.get("cpu_median_s", stats["median_s"]) if clock == "cpu" else stats["median_s"]


def render(report: dict, markdown: bool = False, clock: str = "wall") -> str:
    """All tables of a report; times are medians by `clock` ('wall' or 'cpu')."""
    meta, results = report["meta"], report["results"]
    lines = [
        f"# comparison {meta['date']}  commit {meta['commit']}  (clock: {clock})",
        f"machine: {meta['machine']}; python {meta['python']}; "
        f"{meta['threads']} threads pinned per library",
        f"load average (1, 5, 15 min) before {_load(meta['loadavg_before'])}, "
        f"after {_load(meta.get('loadavg_after'))}",
        f"command: {meta['command']}",
    ]
    if meta.get("uncommitted"):
        lines.append(f"uncommitted changes in: {', '.join(meta['uncommitted'])}")
    busy = sorted(r["cpu_busy_before"] for r in results if r.get("cpu_busy_before") is not None)
    if busy:
        lines.append(
            f"cores busy (other processes) just before each worker: median "
            f"{busy[len(busy) // 2]:.0%}, range {busy[0]:.0%}-{busy[-1]:.0%}"
        )
    lines.append("")
    ok = [r for r in results if r.get("status") == "ok"]
    sections = [
        (
            "Recorded-op overhead: a chain of elementwise muls y = y * w, per op",
            op_table(ok, clock),
        ),
        (
            "Composed LSTM from primitives, forward + backward (weights' gradients)",
            by_library_table([r for r in ok if r["case"]["kind"] == "composed_lstm"], clock),
        ),
        (
            "Process start-up: fresh interpreter, import + first op (warm caches)",
            startup_table(report.get("startup", [])),
        ),
    ]
    for model in ("lstm", "gru", "rnn"):
        rows = [
            r for r in ok if r["case"].get("suite") == "recurrent" and r["case"]["model"] == model
        ]
        sections.append(
            (
                f"{model.upper()} training step (forward + backward of out.sum()), "
                "ms (GFLOP/s); ours = minigrad fused",
                recurrent_table(rows, clock),
            )
        )
    sections.append(
        (
            "mg.compile (issue 18): whole steps compiled and eager, against torch and "
            "torch.compile",
            compile_table([r for r in ok if r["case"].get("suite") == "compile"], clock),
        )
    )
    sections.append(
        (
            "Peak memory of one training step (tracemalloc) vs the activations backward must keep",
            memory_table(ok),
        )
    )
    sections.append(
        (
            "Time against T (LSTM, B=16, I=2, H=128): linear fit",
            scaling_table([r for r in ok if r["case"].get("suite") == "scaling"], clock),
        )
    )
    for title, (headers, rows) in sections:
        if rows:
            lines += [f"## {title}", "", format_table(headers, rows, markdown), ""]
    missing = [r for r in results if r.get("status") != "ok"]
    if missing:
        lines.append("## Not measured")
        lines += [f"- {r['library']} / {r['id']}: {r['status']}: {r['reason']}" for r in missing]
    return "\n".join(lines)


def _load(values) -> str:
    return " ".join(f"{v:.2f}" for v in values) if values else "?"


def format_table(headers: list[str], rows: list[list], markdown: bool) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    if markdown:
        out = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(headers)]
        return "\n".join(out + ["| " + " | ".join(row) + " |" for row in cells[1:]])
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells)


def ratio(ours: float | None, peer: float | None) -> str:
    return f"{ours / peer:.2f}" if ours and peer else "-"


def agreement(records: list[dict]) -> dict[str, str]:
    """Per library: the largest relative difference of its checksums from the reference
    library's (torch if present), 'ok' when below AGREE_RTOL."""
    with_check = [r for r in records if r.get("check")]
    if len(with_check) < 2:
        return {}
    ref = next((r for r in with_check if r["library"] == "torch"), with_check[0])
    out = {}
    for r in with_check:
        diffs = [
            abs(v - ref["check"][k]) / max(abs(ref["check"][k]), 1e-30)
            for k, v in r["check"].items()
            if k in ref["check"] and ref["check"][k] != 0
        ]
        worst = max(diffs, default=0.0)
        out[r["library"]] = "ok" if worst < AGREE_RTOL else f"DIFFERS {worst:.1e}"
    return out


def op_table(ok: list[dict], clock: str = "wall"):
    rows_in = [r for r in ok if r["case"]["kind"] == "op"]
    headers = [
        "library",
        "fwd us/op",
        "fwd+bwd us/op",
        "bwd us/op",
        "fwd no_grad us/op",
        "numpy ufunc us/op",
        "repeats",
        "grads agree",
    ]
    agree = agreement(rows_in)
    rows, per_op = [], {}
    for r in rows_in:
        n = r["case"]["chain"]
        us = {name: median(v, clock) * 1e6 / n for name, v in r["variants"].items()}
        total = median(r["time"], clock) * 1e6 / n
        per_op[r["library"]] = (us["forward"], total, total - us["forward"])
        rows.append(
            [
                r["library"],
                f"{us['forward']:.2f}",
                f"{total:.2f}",
                f"{total - us['forward']:.2f}",
                f"{us['forward_no_grad']:.2f}",
                f"{us['numpy_ufunc']:.2f}" if "numpy_ufunc" in us else "-",
                r["time"]["repeats"],
                agree.get(r["library"], "-"),
            ]
        )
    if OURS in per_op:
        for peer, values in per_op.items():
            if peer != OURS:
                rows.append(
                    [f"ours/{peer}"]
                    + [ratio(a, b) for a, b in zip(per_op[OURS], values)]
                    + ["", "", "", ""]
                )
    return headers, rows


def by_library_table(rows_in: list[dict], clock: str = "wall"):
    headers = [
        "library",
        "median ms",
        "min ms",
        "IQR ms",
        "CPU median ms",
        "repeats",
        "ours/peer",
        "agree",
    ]
    ours = next((median(r["time"], clock) for r in rows_in if r["library"] == OURS), None)
    agree = agreement(rows_in)
    rows = []
    for r in rows_in:  # a library's variants (e.g. minigrad with gc disabled) follow its row
        for name, t in [("", r["time"]), *((f" ({k})", v) for k, v in r["variants"].items())]:
            rows.append(
                [
                    r["library"] + name,
                    f"{t['median_s'] * 1e3:.1f}",
                    f"{t['min_s'] * 1e3:.1f}",
                    f"{t['iqr_s'] * 1e3:.1f}",
                    f"{t.get('cpu_median_s', float('nan')) * 1e3:.1f}",
                    t["repeats"],
                    ratio(ours, median(t, clock)),
                    "" if name else agree.get(r["library"]),
                ]
            )
    return headers, rows


def recurrent_table(rows_in: list[dict], clock: str = "wall"):
    libraries = list(dict.fromkeys(r["library"] for r in rows_in))
    peers = [lb for lb in libraries if lb != OURS]
    headers = ["config (B, T, I, H)"] + libraries + [f"ours/{p}" for p in peers] + ["agree"]
    rows = []
    for cid in dict.fromkeys(r["id"] for r in rows_in):
        group = {r["library"]: r for r in rows_in if r["id"] == cid}
        c = next(iter(group.values()))["case"]
        flops = flops_per_step(c["model"], c["B"], c["T"], c["I"], c["H"])
        seconds = {lb: median(group[lb]["time"], clock) for lb in group}
        cells = [
            f"{seconds[lb] * 1e3:.1f} ({flops / seconds[lb] / 1e9:.0f})" if lb in seconds else "-"
            for lb in libraries
        ]
        ratios = [ratio(seconds.get(OURS), seconds.get(p)) for p in peers]
        agree = agreement(list(group.values()))
        differs = [f"{lb} {v}" for lb, v in agree.items() if v != "ok"]
        rows.append(
            [f"{c['B']}, {c['T']}, {c['I']}, {c['H']}"]
            + cells
            + ratios
            + ["; ".join(differs) or ("ok" if agree else "-")]
        )
    return headers, rows


def memory_table(ok: list[dict]):
    headers = [
        "model",
        "config (B, T, I, H)",
        "library",
        "peak MB",
        "lower bound MB",
        "peak / bound",
    ]
    rows = []
    for r in ok:
        if "memory" not in r:
            continue
        c, m = r["case"], r["memory"]
        rows.append(
            [
                c["model"],
                f"{c['B']}, {c['T']}, {c['I']}, {c['H']}",
                r["library"],
                f"{m['peak_bytes'] / 1e6:.1f}",
                f"{m['lower_bound_bytes'] / 1e6:.1f}",
                f"{m['peak_bytes'] / m['lower_bound_bytes']:.2f}",
            ]
        )
    return headers, rows


def linear_fit(x, y) -> tuple[float, float, float]:
    """Least-squares y = slope * x + intercept and its R^2."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    r_squared = float(1 - (residual**2).sum() / total) if total else 1.0
    return float(slope), float(intercept), r_squared


def scaling_fits(results: list[dict], clock: str = "wall") -> dict:
    """Per library: the linear fit of training-step ms against T over the scaling cases."""
    rows = [r for r in results if r.get("status") == "ok" and r["case"].get("suite") == "scaling"]
    out = {}
    for lb in dict.fromkeys(r["library"] for r in rows):
        points = sorted(
            (r["case"]["T"], median(r["time"], clock) * 1e3) for r in rows if r["library"] == lb
        )
        if len(points) >= 3:
            slope, intercept, r2 = linear_fit(*zip(*points))
            out[lb] = {
                "slope_ms_per_step": slope,
                "intercept_ms": intercept,
                "r2": r2,
                "points_ms": points,
            }
    return out


def scaling_table(rows_in: list[dict], clock: str = "wall"):
    libraries = list(dict.fromkeys(r["library"] for r in rows_in))
    lengths = sorted({r["case"]["T"] for r in rows_in})
    ms = {(r["library"], r["case"]["T"]): median(r["time"], clock) * 1e3 for r in rows_in}
    headers = ["T"] + [f"{lb} ms" for lb in libraries]
    rows = [
        [T] + [f"{ms[lb, T]:.1f}" if (lb, T) in ms else "-" for lb in libraries] for T in lengths
    ]
    fits = scaling_fits(rows_in, clock)
    if fits:
        for label, key, fmt in (
            ("slope ms/step", "slope_ms_per_step", ".4f"),
            ("intercept ms", "intercept_ms", ".2f"),
            ("R^2", "r2", ".5f"),
        ):
            rows.append(
                [label] + [format(fits[lb][key], fmt) if lb in fits else "-" for lb in libraries]
            )
    return headers, rows


def startup_table(records: list[dict]):
    headers = ["library", "median s", "min s", "max s", "CPU median s", "runs", "snippet"]
    rows = [
        [
            r["library"],
            f"{r['median_s']:.2f}",
            f"{r['min_s']:.2f}",
            f"{r['max_s']:.2f}",
            f"{r.get('cpu_median_s', float('nan')):.2f}",
            r["repeats"],
            f"`{r['snippet']}`",
        ]
        for r in records
        if "median_s" in r
    ]
    return headers, rows


def compile_table(rows_in: list[dict], clock: str = "wall"):
    """Per case and library: the step's median, the first call (the trace or torch.compile's
    compilation) and the ratios to eager minigrad, torch eager and torch.compile."""
    headers = ["case", "library", "median ms", "min ms", "first call s", "/ minigrad-eager",
               "/ torch-eager", "/ torch-compile", "agree"]
    rows = []
    for kind in dict.fromkeys(r["case"]["kind"] for r in rows_in):
        group = [r for r in rows_in if r["case"]["kind"] == kind]
        times = {r["library"]: median(r["time"], clock) for r in group}
        agree = agreement(group)
        for r in group:
            t = times[r["library"]]
            first = r.get("info", {}).get("first_call_s")
            rows.append([kind, r["library"], f"{t * 1e3:.1f}", f"{r['time']['min_s'] * 1e3:.1f}",
                         "-" if first is None else f"{first:.2f}",
                         ratio(t, times.get("minigrad-eager")), ratio(t, times.get("torch-eager")),
                         ratio(t, times.get("torch-compile")), agree.get(r["library"], "")])
    return headers, rows
