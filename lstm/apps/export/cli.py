"""`lstm export RUN`: a saved run's model as safetensors (its own files) or as an ONNX graph."""

from __future__ import annotations

import json
import os
import shutil

from ...cli_args import subcommand
from ...runs.checkpoint import atomic_write
from ..common.store import read_config

FORMATS = ("safetensors", "onnx")


def load_any(run: str):
    """(app, model) of a run directory saved by lstm translate, lstm charlm or saved.save_model
    (the directory or any file in it)."""
    directory = run if os.path.isdir(run) else os.path.dirname(os.path.abspath(run))
    path = os.path.join(directory, "model.json")
    if not os.path.isfile(path):
        raise ValueError(f"RUN {run!r}: expected model.json in {directory} (a run directory "
                         "of lstm translate or lstm charlm, or a model saved by "
                         "lstm.apps.export.saved.save_model)")
    found = read_config(directory).get("format")
    from ..charlm import store as charlm_export
    from ..translate import store
    from . import saved

    if found == store.FORMAT:
        return directory, "translate", store.load_model(directory)[0]
    if found == charlm_export.FORMAT:
        return directory, "charlm", charlm_export.load_model(directory)[0]
    if found == saved.FORMAT:
        model, config = saved.load_model(directory)
        return directory, config["app"], model
    raise ValueError(f"RUN {run!r}: model.json has format {found!r}; expected one of "
                     f"{[store.FORMAT, charlm_export.FORMAT, saved.FORMAT]}")


def _check_output(format: str, output: str | None) -> None:  # noqa: A002
    """--output fits --format: a directory for safetensors, a file (in a directory) for onnx."""
    if output is None:
        return
    if format == "safetensors" and os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output {output} is a file; with --format safetensors it is the "
                         "directory the two files are copied to")
    if format == "onnx":
        if os.path.isdir(output):
            raise ValueError(f"--output {output} is a directory; with --format onnx it is the "
                             f"file to write, e.g. {os.path.join(output, 'model.onnx')}")
        parent = os.path.dirname(os.path.abspath(output))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise ValueError(f"--output {output}: {parent} is a file, not a directory")


def add_parser(subparsers) -> None:
    e = subcommand(
        subparsers, "export",
        help="a saved model as safetensors (the default) or ONNX",
        description="Write the model of a saved run (lstm translate's OUT/translate-models/ID, "
                    "lstm charlm's run directory, or a forecast / classify model saved with "
                    "lstm.apps.export.saved.save_model). safetensors: the run's own "
                    "model.safetensors + model.json, copied to --output when given. onnx: one "
                    "graph with the standard LSTM / GRU / RNN operators, equal to our forward "
                    "(tested in onnxruntime to 1e-5).",
        epilog="example: lstm export --format onnx results/translate-models/ce2eceb1d2eb")
    e.add_argument("run", metavar="RUN", help="the run's directory (or a file in it)")
    e.add_argument("--format", choices=FORMATS, default="safetensors", help="output format")
    e.add_argument("--output", default=None, metavar="PATH",
                   help="onnx: the file (default RUN/model.onnx); safetensors: a directory to "
                        "copy the two files to")
    e.set_defaults(func=run)


def run(args) -> int:
    _check_output(args.format, args.output)
    directory, app, model = load_any(args.run)
    if args.format == "safetensors":
        files = [os.path.join(directory, n) for n in ("model.safetensors", "model.json")]
        if args.output:
            os.makedirs(args.output, exist_ok=True)
            files = [shutil.copy2(f, os.path.join(args.output, os.path.basename(f)))
                     for f in files]
        print(json.dumps({"app": app, "format": "safetensors", "files": files}), flush=True)
        return 0
    from .models import to_onnx

    graph = to_onnx(model)
    output = args.output or os.path.join(directory, "model.onnx")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    data = graph.SerializeToString()
    atomic_write(output, lambda f: f.write(data))  # a stop or a full disk leaves no torn file
    print(json.dumps({"app": app, "format": "onnx", "file": output,
                      "inputs": [i.name for i in graph.graph.input],
                      "outputs": [o.name for o in graph.graph.output]}), flush=True)
    return 0
