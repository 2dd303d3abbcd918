"""The registered applications, in the order of the `lstm` command's help and of the report.

Each lstm/apps/<name>/ package exports one `APP` (lstm.apps.common.app.Application: its
command, its report sections, its asv cases). The `lstm` command, `lstm report` and `lstm report
--only` are built from APPLICATIONS: a new application is its package and one name here.
"""

from __future__ import annotations

import importlib

from .common.app import Application

NAMES = ("forecast", "classify", "charlm", "translate", "export")
APPLICATIONS: tuple[Application, ...] = tuple(
    importlib.import_module(f"{__package__}.{name}").APP for name in NAMES)


def reported() -> tuple[str, ...]:
    """The names of the applications with a report section (`lstm report --only`'s choices)."""
    return tuple(a.name for a in APPLICATIONS if a.report is not None)


__all__ = ["APPLICATIONS", "Application", "NAMES", "reported"]
