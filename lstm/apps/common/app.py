"""An application as one object: where its command, its report sections and its asv cases are,
named as "module:function" and imported on use, so listing the applications costs nothing."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Application:
    """One application (each lstm/apps/<name>/__init__.py exports its own as `APP`)."""

    name: str
    cli: str  # "module:function": add_parser(subparsers) registers its command(s)
    report: str | None = None  # "module:function": (results_dir, out_dir, preset, progress)
    # -> [Section], a Section or None (nothing to show, said on stderr); None: a command only
    asv: str | None = None  # "module:function": () -> {case: config} the asv benchmarks train

    def add_parser(self, subparsers) -> None:
        _load(self.cli)(subparsers)

    def sections(self, results_dir: str, out_dir: str, preset: str, progress: bool) -> list:
        if self.report is None:
            return []
        found = _load(self.report)(results_dir, out_dir, preset, progress)
        if found is None:
            return []
        return list(found) if isinstance(found, list | tuple) else [found]

    def asv_cases(self) -> dict:
        return {} if self.asv is None else _load(self.asv)()


def _load(where: str):
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)
