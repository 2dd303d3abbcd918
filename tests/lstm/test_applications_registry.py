"""The applications' registry (lstm.apps.registry.APPLICATIONS): the `lstm` command and the
report are built from it."""

from __future__ import annotations

import argparse

from lstm.apps.registry import APPLICATIONS, Application, reported
from lstm.cli import build_parser


def test_every_registered_application_is_a_command():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for application in APPLICATIONS:
        assert application.name in sub.choices


def test_an_application_is_one_line(monkeypatch):
    calls = []

    def add_parser(subparsers):
        subparsers.add_parser("echo-app", help="a test application")

    def sections(results_dir, out_dir, preset, progress):
        calls.append((results_dir, out_dir, preset, progress))
        return "one section"

    import lstm.apps.registry as apps

    monkeypatch.setattr(apps, "APPLICATIONS", (*APPLICATIONS, Application(
        "echo-app", f"{__name__}:_add", f"{__name__}:_sections")))
    monkeypatch.setitem(globals(), "_add", add_parser)
    monkeypatch.setitem(globals(), "_sections", sections)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "echo-app" in sub.choices
    assert apps.APPLICATIONS[-1].sections("r", "o", "quick", False) == ["one section"]
    assert calls == [("r", "o", "quick", False)]


def test_every_package_exports_its_one_object():
    import importlib

    for application in APPLICATIONS:
        assert importlib.import_module(f"lstm.apps.{application.name}").APP is application
    assert reported() == ("forecast", "classify", "charlm", "translate")
    assert set(APPLICATIONS[3].asv_cases()) == {"additive", "multiplicative", "none"}
    assert APPLICATIONS[0].asv_cases() == {}
