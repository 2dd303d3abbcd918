"""`lstm translate`: sequence to sequence with attention on numbers written out in words.

The one object this application exports is `APP`: its command (`add_parser`, `run`), its report
section and its asv cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TranslateApp:
    name: str
    add_parser: Callable
    run: Callable
    report_section: Callable
    asv_cases: Callable


def _add_parser(subparsers, formatter_class=None):
    from .cli import add_parser

    return add_parser(subparsers, **({"formatter_class": formatter_class}
                                     if formatter_class else {}))


def _run(args):
    from .cli import run

    return run(args)


def _report_section(results_dir: str, out_dir: str, preset: str = "quick",
                    progress: bool = False):
    from .report import report_section

    return report_section(results_dir, out_dir, preset, progress)


def _asv_cases() -> dict:
    """{attention: the quick preset's config, seed 0}: what bench/benchmarks_apps_translate.py
    trains and tracks."""
    from .model import ATTENTIONS
    from .train import preset_config

    return {a: preset_config("quick", attention=a, seed=0) for a in ATTENTIONS}


APP = TranslateApp("translate", _add_parser, _run, _report_section, _asv_cases)
