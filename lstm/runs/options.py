"""The config base: every setting of a run is a dataclass field whose metadata says what it is
(help, allowed values or range, command-line flag, whether it is part of the run key), and the
command line's options, the validation and the run key's field list are generated from it.

    @dataclass(frozen=True)
    class MyConfig:
        seq_len: int = setting(100, "sequence length T", low=2)
        lr: float = setting(1e-3, "learning rate", low=0, strict=True)
        compile: bool = setting(True, "run the step through mg.compile", key=False)

        def __post_init__(self):
            check(self)  # every field: its type, choices and range, the message naming it

`add_options(parser, MyConfig)` adds `--seq-len`, `--lr`, `--compile/--no-compile` (types,
defaults and help from the fields; a bad value is argparse's error naming the option, what it
expects and what it got); `from_args(MyConfig, args)` builds the config; `key_fields(MyConfig)`
is what the run key hashes and `resumable_fields(MyConfig)` what may change on a resume.
A field's type is read from its annotation: int, float, str, bool, tuple[X, ...] (a list given
comma-separated), tuple[X, X] (that many), each possibly `| None`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from typing import Any

_KINDS = {"int": int, "float": float, "str": str, "bool": bool}
_UNSET = object()  # an Option without its own command-line default
_NAMES = {int: "an integer", float: "a finite number", str: "a string", bool: "True or False"}


@dataclasses.dataclass(frozen=True)
class Option:
    """What a config field is. choices: the allowed values (or a function returning them);
    low / high: bounds (inclusive; strict=True makes low exclusive, high_open=True high);
    flag: the command-line name ('' for none; default --field-name); key: part of the run key;
    resumable: may change when a run resumes from its checkpoint; cli_default: the command
    line's default where it differs from the field's; check: a function of the value raising
    ValueError (a model name that must load); metavar: argparse's."""

    help: str
    choices: tuple | Callable[[], tuple] | None = None
    low: float | None = None
    high: float | None = None
    strict: bool = False
    high_open: bool = False
    flag: str | None = None
    key: bool = True
    resumable: bool = False
    cli_default: Any = _UNSET
    check: Callable[[Any], None] | None = None
    metavar: str | None = None


def setting(default, help: str, **option):
    """A config field: its default and its Option (see Option for the keywords)."""
    meta = {"option": Option(help=help, **option)}
    if isinstance(default, list | dict | set):
        raise ValueError(f"setting: a mutable default {default!r}; use a tuple")
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    option: Option
    kind: type  # of one value
    count: int | None  # None: one value; -1: one or more; n: exactly n
    optional: bool
    default: Any

    @property
    def flag(self) -> str:
        flag = self.option.flag
        return "--" + self.name.replace("_", "-") if flag is None else flag

    def choices(self) -> tuple | None:
        c = self.option.choices
        return tuple(c()) if callable(c) else c

    def expected(self) -> str:
        """What one value must be, in words ('an integer >= 2', 'one of (...)')."""
        choices = self.choices()
        if choices is not None:
            return f"one of {choices}"
        text = _NAMES[self.kind]
        low, high = self.option.low, self.option.high
        if low is not None and high is not None:
            text = (f"a number in {'(' if self.option.strict else '['}{low}, {high}"
                    f"{')' if self.option.high_open else ']'}")
        elif low is not None:
            text += f" {'>' if self.option.strict else '>='} {low}"
        elif high is not None:
            text += f" {'<' if self.option.high_open else '<='} {high}"
        return text

    def describe(self, none: bool = True) -> str:
        """What the field must be, in words, lists included (and None, unless none=False)."""
        text = self.expected()
        if self.count == -1:
            text = f"one or more values, each {text}"
        elif self.count is not None:
            text = f"{self.count} values, each {text}"
        return text + (" or None" if self.optional and none else "")

    def bad_value(self, value) -> bool:
        """Whether one value is not what the field takes."""
        if self.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            return True
        if self.kind is float and not (isinstance(value, int | float)
                                       and not isinstance(value, bool) and math.isfinite(value)):
            return True
        if self.kind in (str, bool) and not isinstance(value, self.kind):
            return True
        choices = self.choices()
        if choices is not None:
            return value not in choices
        low, high = self.option.low, self.option.high
        return bool((low is not None and (value <= low if self.option.strict else value < low))
                    or (high is not None and (value >= high if self.option.high_open
                                              else value > high)))

    def problem(self, value) -> str | None:
        """None if `value` is fine, else what is wrong ('must be ..., got ...')."""
        if value is None and self.optional:
            return None
        values = [value]
        if self.count is not None:
            if not isinstance(value, tuple | list) or (
                    len(value) < 1 if self.count == -1 else len(value) != self.count):
                return f"must be {self.describe()}, got {value!r}"
            values = list(value)
        if any(self.bad_value(v) for v in values):
            return f"must be {self.describe()}, got {value!r}"
        if self.option.check is not None:
            for v in values:
                self.option.check(v)
        return None


def _parse_annotation(text: str) -> tuple[type, int | None, bool]:
    parts = [p.strip() for p in str(text).split("|")]
    optional = "None" in parts
    (base,) = [p for p in parts if p != "None"]
    if base.startswith("tuple[") and base.endswith("]"):
        items = [p.strip() for p in base[6:-1].split(",")]
        if items[-1] == "...":
            return _KINDS[items[0]], -1, optional
        return _KINDS[items[0]], len(items), optional
    return _KINDS[base], None, optional


def fields(cls) -> list[_Field]:
    """The config class's settings (fields with an Option), in definition order."""
    out = []
    for f in dataclasses.fields(cls):
        option = f.metadata.get("option")
        if option is None:
            continue
        kind, count, optional = _parse_annotation(f.type)
        out.append(_Field(f.name, option, kind, count, optional, f.default))
    return out


def check(config) -> None:
    """Every setting of `config`: ValueError naming the first bad one (the field, its option,
    what it must be, what it got). A list given for a tuple field becomes a tuple."""
    for f in fields(type(config)):
        value = getattr(config, f.name)
        if f.count is not None and isinstance(value, list):
            value = tuple(value)
            object.__setattr__(config, f.name, value)  # frozen configs too
        problem = f.problem(value)
        if problem is not None:
            where = f" (option {f.flag})" if f.flag else ""
            raise ValueError(f"{f.name} {problem}{where}")


def key_fields(cls) -> tuple[str, ...]:
    """The fields that change a run's result: what its run key hashes."""
    return tuple(f.name for f in fields(cls) if f.option.key)


def not_in_key(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if not f.option.key)


def resumable_fields(cls) -> tuple[str, ...]:
    """The fields that may change when a run resumes from its checkpoint."""
    return tuple(f.name for f in fields(cls) if f.option.resumable)


def _convert(f: _Field, text: str):
    """One value of `f` from the command line, or None if it is not one."""
    try:
        value = f.kind(text)
    except ValueError:
        return None
    return None if f.bad_value(value) else value


def _checked(f: _Field, value):
    if f.option.check is not None:
        try:
            f.option.check(value)
        except (ValueError, ImportError, SyntaxError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _value_parser(f: _Field):
    """argparse's type= for `f`: the text converted and checked, or ArgumentTypeError saying
    what was expected and what came (argparse names the option)."""
    def parse(text: str):
        value = _convert(f, text)
        if value is None:
            raise argparse.ArgumentTypeError(f"expected {f.expected()}, got {text!r}")
        return _checked(f, value)

    def parse_list(text: str):
        values = [_convert(f, v.strip()) for v in text.split(",") if v.strip()]
        if None in values or not values or f.count > 0 and len(values) != f.count:
            raise argparse.ArgumentTypeError(f"expected {f.describe(none=False)}, "
                                             f"comma-separated, got {text!r}")
        return tuple(_checked(f, v) for v in values)

    return parse if f.count is None else parse_list


def parser_of(cls, name: str, many: bool = False):
    """The argparse type= of field `name` of `cls` (for a command that takes it by another
    option: `lstm report --models` is `lstm sweep`'s); many: of a comma-separated list of
    the field's values (one run each: `lstm classify --pooling attention,mean`), a tuple."""
    (f,) = [f for f in fields(cls) if f.name == name]
    return _value_parser(dataclasses.replace(f, count=-1) if many and f.count is None else f)


def add_options(parser, cls, defaults: dict | None = None) -> None:
    """One option per setting of `cls` that has a flag: its type, default and help from the
    field (`defaults` overrides some defaults: a command's own)."""
    defaults = defaults or {}
    for f in fields(cls):
        if not f.flag:
            continue
        default = defaults.get(f.name, f.default if f.option.cli_default is _UNSET
                               else f.option.cli_default)
        if f.kind is bool:
            parser.add_argument(f.flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=default, help=f.option.help)
            continue
        choices = f.choices()
        metavar = f.option.metavar or ("{" + ",".join(map(str, choices)) + "}" if choices
                                       and f.count is None else None)
        parser.add_argument(f.flag, dest=f.name, default=default, metavar=metavar,
                            type=_value_parser(f),
                            help=_help(f, default))


def _help(f: _Field, default) -> str:
    text = f.option.help.replace("%", "%%")
    if f.count is not None and default is not None and "default" not in text:
        text += f" (default: {','.join(map(str, default))})"  # not a Python tuple
    return text


def from_args(cls, args, **extra):
    """The config of a parsed command line: each setting with a flag from `args`."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.flag}
    return cls(**values, **extra)
