"""`lstm report --only APP`: one registered application's section of the report (forecast,
classify, charlm, translate) on a page of its own, without the sweep, the speed runs and the
other sections.

Runs what the application's report preset lacks in the results directory (the same runs the
full report would make, reused by it later), draws its figures and writes OUT/index.html.
"""

from __future__ import annotations

import time

from ..apps.registry import APPLICATIONS, reported
from ..experiments.sweep import versions
from .page import Section, Table, report_dirs, write_page

APPS = reported()


def app_sections(app: str, results_dir: str, out_dir: str, preset: str,
                 progress: bool) -> list[Section]:
    """The report's sections of one application (none when its extra is missing: said on
    stderr by the section itself)."""
    for application in APPLICATIONS:
        if application.name == app and application.report is not None:
            return application.sections(results_dir, out_dir, preset, progress)
    raise ValueError(f"--only must be one of {APPS}, got {app!r}")


def build_app_report(app: str, out_dir: str = "report", preset: str = "quick",
                     results_dir: str | None = None, progress: bool = True) -> str:
    """Write OUT/index.html with `app`'s section only; returns the page's path."""
    if app not in APPS:
        raise ValueError(f"--only must be one of {APPS}, got {app!r}")
    if preset not in ("quick", "full"):
        raise ValueError(f"preset must be one of ('quick', 'full'), got {preset!r}")
    results_dir = report_dirs(out_dir, results_dir)
    started = time.perf_counter()
    sections = app_sections(app, results_dir, out_dir, preset, progress)
    if not sections:
        raise ValueError(f"the {app} section cannot be built here: its packages are missing "
                         "(pip install 'minigrad-lstm[apps]')")
    elapsed = time.perf_counter() - started
    settings = {"only": app, "preset": preset, "results": results_dir,
                "seconds": round(elapsed, 1), **versions()}
    table = Table(["setting", "value"], [[k, str(v)] for k, v in settings.items()],
                  "Run settings")
    return write_page(out_dir, f"minigrad + lstm: {app} report",
                      f"lstm report --only {app} --preset {preset}", elapsed, results_dir,
                      "rerunning reuses them). \"lstm report\" without --only builds every "
                      "section.", sections, table, settings, progress)
