"""The `lstm` command: train, gradflow, sweep, report. Every command prints JSON lines."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import minigrad as mg

from . import zoo
from .cli_args import Formatter, add_threads_option, emit, subcommand
from .cli_errors import check_out_dir, report
from .experiments.horizon import HORIZON_MODELS
from .runs.commands import GradflowConfig, SweepConfig
from .runs.config import TrainConfig
from .runs.options import add_options, from_args, parser_of


def _train_summary(config: dict, result: dict) -> dict:
    summary = {k: result[k] for k in ("solved", "steps_to_solve", "steps", "stopped",
                                      "wall_time")}
    return {"model": config["model"], "task": config["task"], "seq_len": config["seq_len"],
            "hidden_size": config["hidden_size"], "baseline": result["task"]["baseline"],
            **result["metrics"], **summary}


def _finished_row(rows: list[dict], config: TrainConfig):
    """The last row of a finished training run of exactly `config` (from lstm train or a sweep;
    for a user's cell, run with the cell's present source)."""
    from .experiments.sweep import run_identity

    ours = run_identity("train", config.to_dict())
    source = zoo.cell_digest(config.model)  # a user's cell: the source it ran with
    return next((row for row in reversed(rows)
                 if row["kind"] == "train" and run_identity("train", row["config"]) == ours
                 and row.get("cell_source") == source), None)


def cmd_train(args) -> int:
    from .runs import results_io

    config = from_args(TrainConfig, args)
    if args.resume and (args.restart or args.force):
        raise ValueError(f"--resume carries a run on, {'--restart' if args.restart else '--force'}"
                         " starts it afresh: give one of them")
    check_out_dir(args.out)
    results_path = os.path.join(args.out, "results.jsonl")
    # named by the hash of every field that changes the result: another --steps or --lr is
    # another run, with its own checkpoints
    run_dir = os.path.join(args.out, "runs", config.run_name())
    results_io.repair(results_path)
    status = None if args.force else _print_finished(results_io.read_rows(results_path), config)
    if status is not None:
        return status
    try:
        return _train_locked(args, config, results_path, run_dir)
    except ValueError:  # a size the model refuses (found when it is built): no run is left
        _drop_empty_run(run_dir)
        raise


def _drop_empty_run(run_dir: str) -> None:
    """Remove a run directory that holds nothing but its lock file (a run that never began)."""
    from .runs.lock import LOCK_NAME

    try:
        if set(os.listdir(run_dir)) <= {LOCK_NAME}:
            shutil.rmtree(run_dir, ignore_errors=True)
    except OSError:
        pass


def _train_locked(args, config, results_path: str, run_dir: str) -> int:
    from .experiments.sweep import result_row
    from .runs import results_io
    from .runs.lock import RunLock
    from .runs.train import Interrupted, clear_run, train

    with RunLock(run_dir, wait=not args.no_wait, label="lstm train"):
        rows = results_io.read_rows(results_path)  # another process may have finished it
        finished = _finished_row(rows, config)
        status = None if args.force else _print_finished(rows, config)
        if status is not None:
            return status
        if args.force or args.restart:
            clear_run(run_dir)
        start = None if args.force or args.restart else _shorter(args.out, run_dir, config)
        if args.resume and start is None:
            _check_resumable(args.out, run_dir, config)
        try:
            result = train(config, run_dir, progress=not args.quiet, start_from=start)
        except Interrupted as e:
            print(f"lstm train: interrupted at step {e.step}; everything up to it is in "
                  f"{e.checkpoint}. Run the same command again to resume.", file=sys.stderr)
            return 128 + int(e.signum)
        # a replaced row keeps its key and config, so the sweep that wrote it still finds it
        key_config = config.to_dict() if finished is None else finished["config"]
        row = result_row("train", key_config, result, result["wall_time"])
        results_io.put_row(results_path, row)  # the only row of this run, even if another
        # command finished it meanwhile
    emit(_train_summary(result["config"], result))
    return _diverged(result)


def _diverged(result: dict) -> int:
    """0, or 2 after saying on stderr that the run diverged and what to try (the status of
    lstm forecast's non-finite forecasts: a setting to change; the row is kept, since a sweep
    reads a diverged run as a result of its learning rate)."""
    if result["stopped"] != "diverged":
        return 0
    config = result["config"]
    clip = ("" if config["clip"] != "none" else
            ", or clip the gradients (--clip norm, the default)")
    print(f"lstm train: the loss became NaN or infinite by step {result['steps']} (the run "
          f"diverged and stopped; its row says \"stopped\": \"diverged\"): --lr "
          f"{config['lr']:g} is too large for --model {config['model']} with --optimizer "
          f"{config['optimizer']}; try a smaller --lr (e.g. {config['lr'] / 10:g}){clip}",
          file=sys.stderr, flush=True)
    return 2


def _check_resumable(out: str, run_dir: str, config: TrainConfig) -> None:
    """--resume: ValueError unless the run has a checkpoint, naming the runs under OUT/runs."""
    from .runs.options import fields, key_fields
    from .runs.resume import nothing_to_resume
    from .runs.train import CHECKPOINT_NAME, has_checkpoint

    if not has_checkpoint(os.path.join(run_dir, CHECKPOINT_NAME)):
        ignored = frozenset(f.name for f in fields(TrainConfig)) - set(key_fields(TrainConfig))
        raise nothing_to_resume(os.path.join(out, "runs"), run_dir, config.to_dict(),
                                CHECKPOINT_NAME, ignored)


def _shorter(out: str, run_dir: str, config: TrainConfig) -> str | None:
    """A shorter run's checkpoint to train on from, said on stderr (None: start afresh)."""
    from .runs.train import CHECKPOINT_NAME, has_checkpoint, shorter_run

    if has_checkpoint(os.path.join(run_dir, CHECKPOINT_NAME)):
        return None
    found = shorter_run(os.path.join(out, "runs"), config)
    if found is None:
        return None
    print(f"lstm train: starting from step {found[1]} of the same run with a smaller budget "
          f"({os.path.dirname(found[0])}), which stays as it is", file=sys.stderr)
    return found[0]


def _print_finished(rows: list[dict], config: TrainConfig) -> int | None:
    """Print a finished run's result (and say where it is); the exit status (None: no finished
    run)."""
    finished = _finished_row(rows, config)
    if finished is None:
        return None
    print(f"lstm train: this run has finished; its result is {finished.where}. --force "
          "trains it again and replaces that row.", file=sys.stderr)
    emit(_train_summary(finished["result"]["config"], finished["result"]))
    return _diverged(finished["result"])


def cmd_gradflow(args) -> int:
    from .experiments.sweep import RunSpec, check_specs, run_sweep

    config = from_args(GradflowConfig, args)
    specs = [RunSpec("gradflow", run) for run in config.run_configs()]

    check_specs(specs)
    check_out_dir(args.out)
    rows, status = _interruptible(lambda: run_sweep(
        specs, os.path.join(args.out, "gradflow.jsonl"), workers=config.workers,
        progress=not args.quiet, on_result=None, run_options={"compile": config.compile}))
    if rows is None:
        return status
    order = {m: i for i, m in enumerate(config.models)}
    for row in sorted(rows, key=lambda r: order[r["config"]["model"]]):
        _show_records(row)
    return 0


def _show_records(row: dict, **fields) -> None:
    """A gradient-flow row's records, one JSON line each (the curves left to the file)."""
    for record in row["result"]["records"]:
        emit({**fields, **{k: v for k, v in record.items() if not k.startswith("curve_")}})


def cmd_sweep(args) -> int:
    from .experiments.horizon import outcomes
    from .experiments.presets import preset_plan
    from .experiments.sweep import check_specs, read_results, run_sweep

    config = from_args(SweepConfig, args)
    plan = preset_plan(config.preset, tasks=config.tasks, models=config.models,
                       seq_lens=config.seq_lens, seeds=config.seeds, steps=config.steps)

    def show(row):
        if row["kind"] == "train":
            r = row["result"]
            emit({"kind": "train", "model": r["config"]["model"], "task": r["config"]["task"],
                   "seq_len": r["config"]["seq_len"], "seed": r["config"]["seed"],
                   "solved": r["solved"], "steps_to_solve": r["steps_to_solve"],
                   "baseline": r["task"]["baseline"], **r["metrics"]})
        else:
            _show_records(row, kind="gradflow")

    check_specs(plan.all_specs())
    check_out_dir(args.out)
    rows, status = _interruptible(lambda: run_sweep(
        plan, os.path.join(args.out, "results.jsonl"), workers=config.workers,
        scheduler=config.scheduler, progress=not args.quiet, on_result=show,
        run_options={"compile": config.compile}))
    if rows is not None and plan.ladders:
        # from the whole file: a tuned ladder's runs at the lrs not chosen count for its tuning
        every = read_results(os.path.join(args.out, "results.jsonl"))
        for outcome in outcomes(every, plan.ladders):  # one line per ladder: its horizon
            emit({"kind": "horizon", **{k: v for k, v in outcome.items() if k != "rungs"},
                   "rungs": {r["seq_len"]: f"{r['status']} {r['n_solved']}/{len(outcome['seeds'])}"
                             for r in outcome["rungs"]}})
    return status


def _interruptible(run):
    """(run(), 0), or (None, 128 + signal) after saying what Ctrl-C or SIGTERM left behind (the
    workers are stopped)."""
    from .experiments.sweep import SweepInterrupted
    from .runs.signals import term_as_interrupt

    with term_as_interrupt() as caught:
        try:
            return run(), 0
        except SweepInterrupted as e:
            print(f"lstm: interrupted: {e.finished} of the {e.todo} runs to do finished and "
                  f"are in {e.path}; the runs in flight were stopped. Run the same command "
                  "again to resume.", file=sys.stderr, flush=True)
            return None, 128 + int(caught["signum"])


def cmd_report(args) -> int:
    from .report import build_report

    if args.only:
        ignored = [flag for flag, value in (("--models", args.models),
                                            ("--asv-results", args.asv_results)) if value]
        if ignored:
            raise ValueError(f"--only {args.only} builds that application's section alone, "
                             f"which {' and '.join(ignored)} "
                             f"{'does' if len(ignored) == 1 else 'do'} not change; leave out "
                             f"{' and '.join(ignored)} or --only")
    if args.asv_results and not os.path.isdir(args.asv_results):
        raise ValueError(f"--asv-results {args.asv_results} is not a directory; give asv's "
                         "results directory (.asv/results after `asv run`)")
    if args.results and os.path.exists(args.results) and not os.path.isdir(args.results):
        raise ValueError(f"--results {args.results} is a file, not a directory; give the --out "
                         "directory of the runs to reuse")
    check_out_dir(args.out)
    if args.only:
        from .reporting.app_report import build_app_report

        path = build_app_report(args.only, out_dir=args.out, preset=args.preset,
                                results_dir=args.results, progress=not args.quiet)
    else:
        path = build_report(out_dir=args.out, preset=args.preset, results_dir=args.results,
                            asv_results=args.asv_results, progress=not args.quiet,
                            models=tuple(args.models or ()))
    emit({"report": os.path.abspath(path)})
    return 0


def _command(sub, name: str, func, texts: tuple[str, str, str], config=None, extra=(),
             out: str = "results") -> argparse.ArgumentParser:
    """A command's parser: its config's options (lstm.runs.options), then `extra` ((flag,
    argparse keywords) pairs), --out and --quiet; `texts`: its summary, description, epilog."""
    p = subcommand(sub, name, *texts)
    if config is not None:
        add_options(p, config)
    for flag, keywords in extra:
        p.add_argument(flag, **keywords)
    p.add_argument("--out", default=out, metavar="DIR", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads_option(p)
    p.set_defaults(func=func)
    return p


def _presets_epilog() -> str:
    """The presets' run counts, counted from the presets themselves (a ladder stops climbing
    above a model's horizon, so its rungs are an upper bound)."""
    from .experiments.presets import preset_plan

    def runs(name: str) -> str:
        plan = preset_plan(name)
        total = plan.max_runs()
        return f"{total} runs" if not plan.ladders else f"up to {total} runs"

    return (f"presets: default = docs/results.md's first tables and the gradient flow "
            f"({runs('default')}, about 15 minutes on 2 cores); quick = memory-horizon ladders "
            f"at short T ({runs('quick')}, about 2 minutes); horizon = the memory horizon of "
            f"{len(HORIZON_MODELS)} models and the published anchors ({runs('horizon')}; "
            "docs/results.md's sitting made 244 in about 80 minutes on 2 cores; one part with "
            "--tasks adding, copy, selective-copy, mqar or gradflow).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm", formatter_class=Formatter,
        description="Long-range memory experiments on minigrad: train one model, measure "
                    "gradient flow, run a resumable sweep, or write the HTML report. Every "
                    "command prints JSON lines and appends them to a results file under --out.",
        epilog="`lstm COMMAND --help` lists each command's options. docs/results.md shows what "
               "the default sweep reproduces.")
    from . import __version__

    parser.add_argument("--version", action="version",
                        version=f"lstm (minigrad-lstm) {__version__}, minigrad {mg.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _command(sub, "train", cmd_train, (
        "train one model on one task; prints one JSON line",
        "Train one model on a memory task (adding, copy, selective-copy, mqar), evaluating on a "
        "fixed seeded test set every --eval-every steps and stopping early when solved. The "
        "training step is compiled (mg.compile; --no-compile runs it eager). Checkpoints "
        "(.npz) go to OUT/runs/<task>-<model>-T<seq_len>-s<seed>-<hash>/, the hash of every "
        "setting that changes the result (another --steps or --lr is another run); re-running "
        "the same command resumes from the last one (a damaged one falls back to the one "
        "before). A finished run is not run again: its result is printed from "
        "OUT/results.jsonl (--force re-runs it). A second process on the same run waits for "
        "the first.",
        "example: lstm train --task adding --model lstm-fb1 --seq-len 100 --optimizer adam "
        "--lr 1e-2 --batch-size 32 --steps 4000"), TrainConfig, extra=(
        ("--resume", {"action": "store_true", "help": "carry on an interrupted run of exactly "
                      "these settings (from its checkpoint, or from the same run with a smaller "
                      "--steps); with none, exit 2 naming the runs in OUT/runs and the settings "
                      "they differ in. Without --resume the same command resumes as well, and "
                      "starts the run when there is nothing to resume"}),
        ("--restart", {"action": "store_true",
                       "help": "delete this run's checkpoints and start it afresh"}),
        ("--force", {"action": "store_true", "help": "train a finished run again and replace "
                                                     "its row in results.jsonl"}),
        ("--no-wait", {"action": "store_true", "help": "if another process is running this "
                       "very run, exit (status 1, one line naming it) instead of waiting"})))
    _command(sub, "gradflow", cmd_gradflow, (
        "||dL/dh_t|| against t per model, at init and after training",
        "The batch geometric mean of ||dL/dh_t|| (and ||dL/dc_t|| for LSTMs) for every t, in "
        "float64, at initialisation and after the given numbers of training steps, and the "
        "fitted per-step factor rho. Prints one JSON line per model and step; the full curves "
        "go to OUT/gradflow.jsonl.",
        "example: lstm gradflow --models rnn,lstm,gru --task adding --seq-len 200 "
        "--hidden-size 128 --batch-size 32 --steps 0,100 --seed 0 --out results"), GradflowConfig)
    _command(sub, "sweep", cmd_sweep, (
        "a grid of runs, resumable; one JSON line per finished run",
        "Run a preset grid of task x model x seq_len x seed (and the gradient-flow experiment) "
        "in local worker processes or on a Dask cluster. Each finished run is appended to "
        "OUT/results.jsonl; re-running the same command skips finished runs, so a killed sweep "
        "loses only the runs in flight. The options below narrow or resize the preset.",
        _presets_epilog() + "\nexample: lstm sweep --preset horizon --workers 2 --out horizon"),
        SweepConfig, extra=(("--quick", {
            "dest": "preset", "action": "store_const", "const": "quick",
            "help": "the quick preset (same as --preset quick)"}),))
    from .apps.registry import APPLICATIONS, reported

    _command(sub, "report", cmd_report, (
        "run what is missing and write report/index.html",
        "Run what the report needs and is not in --results yet (a sweep of both tasks, the "
        "gradient-flow experiment, a speed sweep over seq_len against the installed peers) "
        "and write OUT/index.html with its PNG figures and tables.",
        "example: lstm report --preset quick --out report"), out="report", extra=(
        ("--preset", {"choices": ("quick", "full"), "default": "quick", "help": "quick: minutes "
                      "on 2 cores; full: the default sweep's sizes"}),
        ("--results", {"metavar": "DIR", "help": "results directory to reuse (default: "
                       "OUT/results)"}),
        ("--models", {"type": parser_of(SweepConfig, "models"), "metavar": "MODELS",
                      "help": "models to add to the preset's sweep and gradient flow, e.g. "
                              "your own cell (module:Class or path/to/file.py:Class); names as "
                              "lstm sweep --help lists them"}),
        ("--asv-results", {"metavar": "DIR", "help": "asv results directory for the history "
                           "figure (default: .asv/results when present)"}),
        ("--only", {"choices": reported(), "help": "build one "
                    "application's section only (its runs and figures), without the sweep, "
                    "speed and other sections"})))
    for application in APPLICATIONS:  # each registers its own command(s)
        application.add_parser(sub)
    return parser


def main(argv=None) -> int:
    from .runs.signals import term_as_interrupt
    from .runs.threads import threads_used

    args = build_parser().parse_args(argv)
    # SIGTERM as Ctrl-C wherever a command has no handler of its own (building a model, the
    # baselines, a report's pages): one line and 143, not the default action's silent end
    with term_as_interrupt() as caught:
        try:
            mg.get_num_threads()  # MINIGRAD_NUM_THREADS / NUMBA_NUM_THREADS checked first
            with threads_used(getattr(args, "threads", None)):
                return args.func(args)
        except (OSError, ValueError, RuntimeError, MemoryError, KeyboardInterrupt) as e:
            return report(args.command, e, caught["signum"])


if __name__ == "__main__":
    sys.exit(main())
