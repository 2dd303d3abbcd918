"""The character-level corpus: the running Python's own standard library source, split by module.

The modules of each split are fixed and listed here (single-file modules present from Python 3.10
to 3.13), so a run on another Python reads the same files as far as that Python still ships them;
every results row records the Python version and a SHA-256 of each split's text. The vocabulary
is the set of characters of the training split plus one unknown symbol for anything else.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sysconfig
from dataclasses import dataclass

import numpy as np

TRAIN_MODULES = (
    "argparse", "ast", "calendar", "codecs", "configparser", "contextlib", "copy", "dataclasses",
    "datetime", "difflib", "dis", "doctest", "enum", "ftplib", "functools", "gettext", "gzip",
    "inspect", "ipaddress", "locale", "mailbox", "mimetypes", "numbers", "operator", "optparse",
    "os", "pickle", "pickletools", "platform", "profile", "pstats", "queue", "random",
    "selectors", "shlex", "smtplib", "socket", "socketserver", "ssl", "statistics", "string",
    "subprocess", "tarfile", "tokenize", "trace", "traceback", "typing", "uuid", "warnings",
    "wave", "weakref", "_pydecimal", "_pyio", "pydoc",
)
VALID_MODULES = ("bdb", "cmd", "posixpath", "ntpath", "base64", "pprint")
TEST_MODULES = ("shutil", "threading", "tempfile", "textwrap", "csv")
SPLITS = {"train": TRAIN_MODULES, "valid": VALID_MODULES, "test": TEST_MODULES}
UNKNOWN = "\ufffd"  # how the unknown symbol prints


def stdlib_dir() -> str:
    """The running Python's standard-library source directory."""
    return sysconfig.get_paths()["stdlib"]


def read_modules(names, directory: str | None = None) -> str:
    """The source of each module `name.py` in `directory` (default: the stdlib), concatenated."""
    directory = directory or stdlib_dir()
    texts = []
    for name in names:
        path = os.path.join(directory, f"{name}.py")
        if not os.path.isfile(path):
            raise RuntimeError(f"corpus: module {name!r} has no source file {path} (Python "
                               f"{platform.python_version()}); the corpus needs the listed "
                               "standard-library modules as .py files")
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    return "".join(texts)


@dataclass(frozen=True)
class Corpus:
    """The three splits' text and where they came from (modules: split -> module names, None
    for a text that did not come from read_modules)."""

    train: str
    valid: str
    test: str
    python_version: str
    directory: str
    modules: dict | None = None

    def describe(self) -> dict:
        """Module lists, character counts and SHA-256 of each split, and the Python version."""
        out = {"python_version": self.python_version, "source": "python-stdlib"}
        for split in SPLITS:
            text, names = getattr(self, split), (self.modules or {}).get(split)
            out[split] = {"modules": None if names is None else list(names), "chars": len(text),
                          "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
        return out


def load_corpus(directory: str | None = None) -> Corpus:
    """The train / validation / test text from the listed stdlib modules."""
    directory = directory or stdlib_dir()
    return corpus_of(SPLITS, directory)


def corpus_of(modules: dict, directory: str | None = None) -> Corpus:
    """The corpus whose splits are these modules (split -> names) of `directory` (the stdlib)."""
    directory = directory or stdlib_dir()
    texts = {split: read_modules(names, directory) for split, names in modules.items()}
    return Corpus(**texts, python_version=platform.python_version(), directory=directory,
                  modules={split: tuple(names) for split, names in modules.items()})


class Vocabulary:
    """Characters <-> ids: the given characters in sorted order, then one unknown id."""

    def __init__(self, chars):
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("Vocabulary: needs at least one character")
        if UNKNOWN in chars:
            chars.remove(UNKNOWN)
        self.chars = chars
        self.unknown_id = len(chars)
        self._index = {c: i for i, c in enumerate(chars)}
        # ids of the first 65536 code points in one lookup table, the rest through the dict
        self._table = np.full(65536, self.unknown_id, dtype=np.int32)
        for c, i in self._index.items():
            if ord(c) < 65536:
                self._table[ord(c)] = i

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Every character of `text`."""
        return cls(set(text))

    def __len__(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        """int32 ids, unknown characters -> unknown_id."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = self._table[np.minimum(codes, 65535)]
        for position in np.flatnonzero(codes >= 65535):
            ids[position] = self._index.get(text[position], self.unknown_id)
        return ids

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of `text` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def decode(self, ids) -> str:
        """The characters of `ids` (the unknown id prints as U+FFFD)."""
        ids = np.asarray(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"Vocabulary.decode: ids must be in [0, {len(self)}), got min "
                             f"{ids.min()} max {ids.max()}")
        symbols = self.chars + [UNKNOWN]
        return "".join(symbols[i] for i in ids.tolist())


def stream_matrix(ids: np.ndarray, streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets as (n, streams) columns, each a contiguous piece of ids.

    Column b holds ids[b*n : (b+1)*n] as inputs and the characters one later as targets; the
    remainder past streams * n + 1 characters is dropped (at most streams - 1 of them).
    """
    ids = np.asarray(ids)
    if streams < 1:
        raise ValueError(f"streams must be >= 1, got {streams}")
    n = (len(ids) - 1) // streams
    if n < 1:
        raise ValueError(f"a text of {len(ids)} characters cannot feed {streams} streams "
                         "(each needs at least 2 characters)")
    starts = np.arange(streams)[None, :] * n
    rows = np.arange(n)[:, None]
    return ids[starts + rows], ids[starts + rows + 1]
