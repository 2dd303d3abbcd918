"""Write docs/results.md from sweeps' results files, next to the published anchors.

    python -m lstm.experiments.results_doc results/results.jsonl [horizon/results.jsonl ...] \
        docs/results.md [--notes notes.md] [--previous docs/results.md] [--preset horizon]

The memory-horizon ladders and the anchors of `lstm sweep --preset horizon` get their own
sections (the ladders are rebuilt from the rows, which name them).

--notes puts a hand-written reading (status, what the tables show) under the heading, so the
page can be regenerated without losing it. --previous keeps the published tables of a page
written before whose results files are gone (lstm.experiments.results_carry), and its reading
when --notes is not given; --preset lists the preset's ladders that have not run yet as such
(lstm.experiments.results_horizon: a partly-run sweep reads as partly run).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
from collections import defaultdict

from ..cli_errors import describe_os_error
from ..runs.checkpoint import atomic_write
from ..runs.results_io import ResultsError
from .horizon import LOSS_KEYS, ladders_from_rows, planned_first
from .results_carry import Previous, merge_rows, read_previous
from .results_horizon import INTRO, horizon_tables
from .sweep import read_results, run_identity

ANCHORS_ADDING = {
    "lstm-fb1": "LSTM 128 solves T = 100 / 200 / 400 within 30k-47k steps (Arjovsky 2016, fig. 2)",
    "gru": "GRU (~70K params) reaches 5.3e-5 at T = 600 (Bai et al. 2018, table 1)",
    "rnn": "tanh-RNN 128 never goes below 0.167 for T = 100-750 (Arjovsky 2016, sec. 4.2)",
}
ANCHORS_COPY = {
    "lstm-fb1": "LSTM 40: CE about 0.145 at T = 100 (Arjovsky 2016, fig. 1)",
    "gru": "GRU (~16K params): at the baseline at T = 1000 (Bai et al. 2018, table 1)",
    "rnn": "tanh-RNN 80: CE about 0.171 at T = 100 (Arjovsky 2016, fig. 1)",
}

# An anchor's headings on earlier pages (a regenerated page finds its published rows by them).
FORMER_HEADINGS = {"adding-750": ("adding at T = 750: the LSTM's one-value plateau, and whether "
                                  "chrono init or JANET solves it",)}


def _fmt(value, digits=4):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return _fmt(values[0])
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def _train_table(rows, task, metric, anchors):
    cells = defaultdict(list)
    for row in rows:
        r = row["result"]
        if r["config"]["task"] == task:
            cells[(r["config"]["model"], r["config"]["seq_len"])].append(r)
    if not cells:
        return [f"_No {task} runs in the results file._", ""]
    extra = "recall accuracy | " if task == "copy" else ""
    lines = [f"| model | T | seeds | baseline | final test {metric} | best test {metric} | "
             f"{extra}solved | steps to solve (median) | wall time per run (s) | published |",
             "|---|---|---|---|---|---|" + ("---|" if extra else "") + "---|---|---|---|"]
    for (model, seq_len), results in sorted(cells.items()):
        finals = [r["metrics"][metric] for r in results]
        bests = [min(c[metric] for c in r["curve"] if c.get(metric) is not None)
                 for r in results]
        solved = [r for r in results if r["solved"]]
        steps = [r["steps_to_solve"] for r in solved]
        recall = ""
        if task == "copy":
            recall = _mean_std([r["metrics"]["recall_accuracy"] for r in results]) + " | "
        lines.append(
            f"| {model} | {seq_len} | {','.join(str(r['config']['seed']) for r in results)} | "
            f"{results[0]['task']['baseline']:.4g} | {_mean_std(finals)} | {_mean_std(bests)} | "
            f"{recall}{len(solved)}/{len(results)} | "
            f"{_fmt(statistics.median(steps)) if steps else '-'} | "
            f"{statistics.mean(r['wall_time'] for r in results):.0f} | "
            f"{anchors.get(model, '')} |")
    return lines + [""]


def _gradflow_table(rows):
    records = [rec for row in rows for rec in row["result"]["records"]]
    if not records:
        return ["_No gradient-flow runs in the results file._", ""]
    lines = ["| model | T | step | per-step factor rho (h) | lags fitted | "
             "rho (c: the cell state, where the cell has one) | decades fallen over T (h) |",
             "|---|---|---|---|---|---|---|"]
    for rec in sorted(records, key=lambda r: (r["model"], r["step"])):
        lines.append(f"| {rec['model']} | {rec['seq_len']} | {rec['step']} | "
                     f"{_fmt(rec['per_step_factor'], 5)} | {rec['fit_lags']} | "
                     f"{_fmt(rec.get('c_per_step_factor'), 5)} | "
                     f"{_fmt(rec['log10_decades'], 3)} |")
    return lines + [""]


# Each anchor of the horizon preset: what it reproduces, and the published figure beside it.
ANCHORS = {
    "arjovsky-recipe": ("Arjovsky et al. 2016's exact recipe (RMSprop 1e-3, decay 0.9, batch 20, "
                        "clip 1, Glorot weights, forget bias 1, H 128)",
                        "LSTM 128 below 0.01 within 30k-47k steps at T = 100 / 200 / 400 "
                        "(Arjovsky 2016, fig. 2)"),
    "adding-750": ("adding at T = 750: the LSTM's one-value plateau, and whether chrono init, "
                   "JANET or the new cells solve it", "LSTM 128 plateaus at about 0.085 (one "
                   "value remembered; Arjovsky 2016, fig. 2); chrono init 7x faster than "
                   "standard (Tallec & Ollivier 2018); no published adding row for sLSTM, "
                   "mLSTM, minGRU or minLSTM"),
    "bai-adding-600": ("Bai et al. 2018 table 1, adding T = 600, about 70K parameters",
                       "LSTM 0.164 / GRU 5.3e-5 / RNN 0.177 (Bai et al. 2018, table 1)"),
    "copy-100-solved": ("copy at T = 100 solved on every seed by one cell (copy's own budget)",
                        "LSTM 40: CE about 0.145, not solved (Arjovsky 2016, fig. 1); LSTM/GRU "
                        "recall below 20% beyond T about 50 / 200 (Bai et al. 2018, fig. 5)"),
    "successors-copy-100": ("the new cells on copy at T = 100 (H 128, Adam 3e-3, 5,000 steps)",
                            "no published copy row for these cells; JANET, the best gated "
                            "cell here, needs 14,500-16,000 steps at this width and lr"),
    "feng-selective-copy": ("selective copy, scaled (T = 50, 10 of 8 symbols), one layer, "
                            "H 64, one seed",
                            "minGRU 99.5 % / minLSTM 96.0 % with 3 layers, about 37 % with 1 "
                            "layer (Feng et al. 2024, in Mamba's setting: T 4,096, 16 tokens; "
                            "figures from shared/reference/successors.md, marked 'check' there)"),
    "xlstm-mqar": ("MQAR, scaled (T = 64, 8 pairs of 16 keys), one layer, H 64, one seed",
                   "xLSTM, Mamba, RWKV and Llama reported in a figure of the xLSTM paper (Beck "
                   "et al. 2024) for multi-layer language-model blocks in Zoology's setting; "
                   "no number is quoted here (shared/reference/successors.md: 'check its "
                   "figure')"),
    "chrono-copy": ("copy at T = 500 and 2000: chrono against standard LSTM init",
                    "standard init stays at the memoryless baseline, chrono-initialised "
                    "LSTMs learn (Tallec & Ollivier 2018)"),
    "bai-copy-1000": ("Bai et al. 2018 table 1, copy T = 1000, about 16K parameters",
                      "CE LSTM 0.0204 / GRU 0.0197 / RNN 0.0202, baseline 0.0204 (Bai et al. "
                      "2018, table 1)"),
}


def _anchor_row(row: dict) -> str:
    r, c = row["result"], row["result"]["config"]
    key = LOSS_KEYS[c["task"]]
    best = min((p[key] for p in r["curve"] if p.get(key) is not None), default=None)
    recall = r["metrics"].get("recall_accuracy")
    return (f"| {c['model']} | {c['seq_len']} | {c['seed']} | {r['num_parameters']:,} "
            f"(H {c['hidden_size']}) | {c['optimizer']} {c['lr']:g}, {c['batch_size']}, "
            f"{c.get('init', 'default')} | {c['steps']:,} | {r['steps']:,} | "
            f"{_fmt(r['metrics'].get(key))} | {_fmt(best)} | {r['task']['baseline']:.4g} | "
            f"{'-' if recall is None else f'{recall:.3f}'} | "
            f"{_fmt(r['steps_to_solve'])} | {r['wall_time']:,.0f} |")


def _anchor_tables(rows, published: dict | None = None) -> list[str]:
    """One table per anchor: its rows among `rows`, and `published` ({"### heading": table
    rows} of a previous page) kept beside them."""
    published = dict(published or {})
    anchored = [r for r in rows if r["kind"] == "train" and r.get("anchor")]
    if not anchored and not published:
        return ["_No anchor runs in the results files._", ""]
    lines = []
    for name in [*ANCHORS, *sorted({r["anchor"] for r in anchored} - set(ANCHORS))]:
        what, source = ANCHORS.get(name, (name, ""))
        mine = [_anchor_row(r) for r in sorted(
            (r for r in anchored if r["anchor"] == name),
            key=lambda r: (r["config"]["seq_len"], r["config"]["model"], r["config"]["seed"]))]
        kept = [row for heading in (what, *FORMER_HEADINGS.get(name, ()))
                for row in published.pop(f"### {heading}", [])]
        if mine or kept:
            lines += [f"### {what}", "", f"Published: {source}.", "",
                      *ANCHOR_HEADER, *merge_rows(kept, mine), ""]
    for heading, kept in published.items():  # an anchor this code no longer names
        lines += [heading, "", *ANCHOR_HEADER, *kept, ""]
    return lines


ANCHOR_HEADER = ("| model | T | seed | parameters | optimizer, lr, batch, init | budget | "
                  "steps run | final loss | best loss | baseline | recall | solved at step | "
                  "run time (s) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _cost(rows) -> list[str]:
    """What the sweep cost: the runs' summed wall time, and the elapsed time from the first run's
    start to the last run's end (a resumed sweep's pauses included: it says so)."""
    spans = []
    for r in rows:
        try:
            end = datetime.datetime.strptime(r["finished_at"], "%Y-%m-%dT%H:%M:%S%z")
            spans.append((end - datetime.timedelta(seconds=r["wall_time_s"]), end))
        except (KeyError, ValueError, TypeError):  # rows of schema 1 may lack either
            continue
    total = sum(r.get("wall_time_s") or 0.0 for r in rows)
    threads = sorted({r["threads"] for r in rows if r.get("threads") is not None})
    line = (f"Cost: {len(rows)} runs, {total:,.0f} s of run time summed"
            + (f", {', '.join(map(str, threads))} thread(s) per run" if threads else ""))
    if spans:
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        line += (f"; {(last - first).total_seconds():,.0f} s elapsed from the first run's start "
                 f"to the last run's end ({first:%Y-%m-%d %H:%M} to {last:%H:%M} UTC"
                 + (", one sitting" if (last - first).total_seconds() <= total else "")
                 + ").")
    return [line, ""]


ADDING = "## Adding problem (test MSE; baseline 1/6 = 0.167, solved below 0.01)"
COPY = ("## Copy problem (test cross-entropy per step; recall accuracy over the last ten "
        "positions; solved at >= 99%)")
FLOW = "## Gradient flow (adding; batch geometric mean of ||dL/dh_t||, float64)"
SETTINGS = "## Settings (the default sweep)"
CARRIED_LADDERS = (
    "These ladders are an earlier sitting's, run before each model's learning rate was tuned "
    "(one lr for every model and one budget per task: each heading states them), kept as the "
    "previous page published them: their results files are not among this page's inputs. The "
    "tuned ladders above replace them once those have run.")


def _section(heading: str, body: list[str], has_rows: bool, previous: Previous | None):
    """A section from the rows; without rows of its own, the previous page's, as published."""
    if not has_rows and previous is not None and heading in previous.sections:
        return [heading, *previous.sections[heading]]
    return [heading, "", *body]


def render(rows: list[dict], notes: str | None = None, previous: Previous | None = None,
           ladders=()) -> str:
    """The page from `rows`; `previous` (a page parsed by results_carry) supplies the published
    tables the rows lack, and its reading when `notes` is None; `ladders` are the ladders
    planned (a preset's), listed as not run yet where the rows have none of their runs."""
    every = planned_first(list(ladders), ladders_from_rows(rows))
    ladder_keys = {run_identity(s.kind, s.config) for ladder in every
                   for s in ladder.all_specs()}
    special = [r for r in rows if r["kind"] == "train" and (
        r.get("anchor") or run_identity(r["kind"], r["config"]) in ladder_keys)]
    train = [r for r in rows if r["kind"] == "train" and r not in special]
    flow = [r for r in rows if r["kind"] == "gradflow"]
    settings = sorted({(k, str(v)) for r in train for k, v in r["config"].items()
                       if k not in ("model", "seq_len", "seed", "task")})
    versions = next((r["versions"] for r in train + flow if r.get("versions")), {})
    out = ["# Results: long-range memory tasks and gradient flow", "",
           "Generated by `python -m lstm.experiments.results_doc` from `lstm sweep` results "
           "files; every number below is read from them. Anchors: "
           "`shared/reference/memory_tasks.md` (figures read off plots are about ±10%).", ""]
    if notes is None and previous is not None:
        notes = "\n".join(previous.intro)
    if notes and notes.strip():
        out += [notes.strip(), ""]
    out += _cost(train + flow + special)
    if previous is not None and previous.cost:
        out += [previous.cost, ""]
    for heading, task, metric, anchors in ((ADDING, "adding", "mse", ANCHORS_ADDING),
                                           (COPY, "copy", "cross_entropy", ANCHORS_COPY)):
        out += _section(heading, _train_table(train, task, metric, anchors),
                        any(r["result"]["config"]["task"] == task for r in train), previous)
    out += _section(FLOW, [
        "rho is the least-squares per-step factor: ||dL/dh_{T-1-k}|| ~ rho^k over the lags "
        "before underflow. Arjovsky 2016 fig. 4: at init the tanh-RNN falls about 13 decades "
        "over 1000 steps; the LSTM with forget bias 1 below 1e-24 within about 550 steps.", "",
        *_gradflow_table(flow)], bool(flow), previous)
    tuned = [ladder for ladder in every if ladder.lr_grid]
    untuned = [ladder for ladder in every if not ladder.lr_grid]
    if tuned:
        out += ["## Memory horizon, each model's lr tuned (`lstm sweep --preset horizon`)", "",
                INTRO, "", *horizon_tables(rows, tuned)]
    if untuned:
        out += ["## Memory horizon (`lstm sweep`)", "", INTRO, "",
                *horizon_tables(rows, untuned)]
    elif previous is not None and previous.untuned_ladders:
        out += ["## Memory horizon without lr tuning (an earlier sitting, as published)", "",
                CARRIED_LADDERS, "", *previous.untuned_ladders]
    if special or (previous is not None and previous.anchors):
        out += ["## Published anchors reproduced", ""]
        out += _anchor_tables(rows, previous.anchors if previous is not None else None)
    out += _section(SETTINGS, ["| setting | value |", "|---|---|",
                               *(f"| {k} | {v} |" for k, v in settings), ""],
                    bool(train), previous)
    if not versions and previous is not None and previous.versions:
        out += [previous.versions, ""]
    else:
        out += ["Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="+",
                        help="results.jsonl files written by `lstm sweep` (rows of several "
                             "are merged; a run in two files counts once)")
    parser.add_argument("output", help="markdown file to write, e.g. docs/results.md")
    parser.add_argument("--notes", default=None,
                        help="markdown file with a hand-written reading to put under the heading "
                             "(default: the --previous page's reading)")
    parser.add_argument("--previous", default=None, metavar="PAGE",
                        help="a page this script wrote before (e.g. docs/results.md itself): "
                             "its published tables are kept where the results files lack them "
                             "(an earlier sitting's files are not kept), its anchor rows beside "
                             "the new ones")
    parser.add_argument("--preset", default=None,
                        help="the preset whose ladders the page lists (e.g. horizon): a ladder "
                             "or task without a finished run says \"not run yet\"")
    args = parser.parse_args(argv)
    try:
        rows, seen = [], set()
        for path in args.results:
            for row in read_results(path):
                key = run_identity(row["kind"], row.get("config"))
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
        if not rows:
            parser.error(f"no results in {', '.join(args.results)}")
        notes = None
        if args.notes:
            with open(args.notes, encoding="utf-8") as f:
                notes = f.read()
        ladders = ()
        if args.preset:
            from .presets import preset_plan

            try:
                ladders = preset_plan(args.preset).ladders
            except ValueError as e:
                parser.error(f"argument --preset: {e}")
        previous = read_previous(args.previous) if args.previous else None
        text = render(rows, notes, previous, ladders).encode()
        atomic_write(args.output, lambda f: f.write(text))
    except ResultsError as e:
        parser.error(str(e))
    except OSError as e:
        status, line = describe_os_error(e)
        print(f"results_doc: error: {line}", file=sys.stderr)
        return status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
