"""Applications on real data: forecasting, sequence classification, language modelling.

APPLICATIONS registers each one as one object: its command(s) (`add_parser(subparsers)`) and its
report sections (`sections(results_dir, out_dir, preset, progress) -> list of Section`), named
as "module:function" and imported on use, so listing them costs nothing. The `lstm` command and
`lstm report` are built from this list: a new application is its modules and one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Application:
    """One application: where its command parser and its report sections are."""

    name: str
    cli: str  # "module:function": add_parser(subparsers) registers its command(s)
    report: str | None  # "module:function": (results_dir, out_dir, preset, progress) ->
    # [Section], a Section or None (nothing to show, said on stderr); None: a command only

    def add_parser(self, subparsers) -> None:
        _load(self.cli)(subparsers)

    def sections(self, results_dir: str, out_dir: str, preset: str, progress: bool) -> list:
        if self.report is None:
            return []
        found = _load(self.report)(results_dir, out_dir, preset, progress)
        if found is None:
            return []
        return list(found) if isinstance(found, list | tuple) else [found]


def _load(where: str):
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


APPLICATIONS = (
    Application("forecast", "lstm.apps.forecast.cli:add_parser",
                "lstm.apps.forecast.report:forecast_sections"),
    Application("classify", "lstm.apps.classify.cli:add_parser",
                "lstm.apps.classify.report:classify_sections"),
    Application("charlm", "lstm.apps.charlm.cli:add_parser",
                "lstm.apps.charlm.report:charlm_section"),
    Application("translate", "lstm.apps.translate.cli:add_parser",
                "lstm.apps.translate.report:report_section"),
    Application("export", "lstm.apps.export.cli:add_parser", None),
)
