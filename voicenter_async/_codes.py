"""Reading department codes for the command line: files, stdin, environment.

Every source yields entries of an optional label and a code. The entries are
merged into one mapping of label to code for
`VoicenterSession.fetch_departments`, with unlabelled codes keyed by their
fingerprint. No message built here contains a code: entries are named by
their place in the input, such as ``line 3 of codes.txt``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TextIO

import attrs

from ._secrets import code_fingerprint

__all__ = [
    "ENV_CODES",
    "CodeEntry",
    "CodesInputError",
    "merge_entries",
    "parse_entry",
    "parse_env_codes",
    "parse_lines",
    "read_codes_file",
    "read_stream",
]

#: Environment variable that may hold codes, comma- or newline-separated.
ENV_CODES = "VOICENTER_CODES"

_ENV_SEPARATORS = re.compile(r"[,\n]")


class CodesInputError(Exception):
    """The codes could not be read, or two of them are given the same label."""


@attrs.frozen
class CodeEntry:
    """One code as read from the input.

    Attributes:
        label: The label given before ``=``, or None when the entry is a bare
            code or the label is blank.
        code: The code, stripped of surrounding whitespace. Hidden from the
            repr.
        where: The entry's place in the input, for messages, such as
            ``line 3 of codes.txt``.
    """

    label: str | None
    code: str = attrs.field(repr=False)
    where: str


def parse_entry(text: str, where: str) -> CodeEntry:
    """Split one ``label=code`` or bare ``code`` entry.

    The first ``=`` separates the label from the code, so a label cannot
    contain ``=`` but a code can. Whitespace around both parts is removed.
    """
    label, separator, code = text.partition("=")
    if not separator:
        return CodeEntry(label=None, code=text.strip(), where=where)

    return CodeEntry(label=label.strip() or None, code=code.strip(), where=where)


def parse_lines(lines: Iterable[str], source: str) -> list[CodeEntry]:
    """Parse a codes file: one entry a line, blank lines and ``#`` lines skipped.

    Args:
        lines: The lines of the file.
        source: The file's name in messages, such as ``codes.txt`` or
            ``stdin``.
    """
    entries = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        entries.append(parse_entry(text, f"line {number} of {source}"))

    return entries


def parse_env_codes(value: str, name: str = ENV_CODES) -> list[CodeEntry]:
    """Parse codes separated by commas or newlines, as in `VOICENTER_CODES`.

    Blank entries and entries starting with ``#`` are skipped, as in a file.
    """
    entries = []
    for number, item in enumerate(_ENV_SEPARATORS.split(value), start=1):
        text = item.strip()
        if not text or text.startswith("#"):
            continue
        entries.append(parse_entry(text, f"entry {number} of {name}"))

    return entries


def read_stream(stream: TextIO, source: str = "stdin") -> list[CodeEntry]:
    """Read entries from a stream such as stdin, decoded as UTF-8.

    Raises:
        CodesInputError: The bytes are not valid UTF-8.
    """
    binary = getattr(stream, "buffer", None)
    if binary is None:
        return parse_lines(stream.read().splitlines(), source)
    try:
        text = binary.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"cannot read codes from {source}: the input is not valid UTF-8"
        raise CodesInputError(msg) from None

    return parse_lines(text.splitlines(), source)


def read_codes_file(path: str) -> list[CodeEntry]:
    """Read entries from a UTF-8 file; a byte order mark is allowed.

    Raises:
        CodesInputError: The file cannot be opened or is not valid UTF-8.
    """
    try:
        with open(path, encoding="utf-8-sig") as file:
            lines = file.read().splitlines()
    except UnicodeDecodeError:
        msg = f"cannot read codes file {path}: it is not valid UTF-8"
        raise CodesInputError(msg) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        msg = f"cannot read codes file {path}: {reason}"
        raise CodesInputError(msg) from None

    return parse_lines(lines, os.path.basename(path) or path)


def merge_entries(entries: Iterable[CodeEntry]) -> dict[str, str]:
    """Merge entries into a mapping of label to code, in input order.

    An unlabelled code is keyed by its fingerprint, which is also the label
    the session would give it. The same code may appear under several labels;
    the session fetches it once.

    Raises:
        CodesInputError: One label is given to two different codes.
    """
    codes: dict[str, str] = {}
    first_seen: dict[str, str] = {}
    for entry in entries:
        label = entry.label or code_fingerprint(entry.code)
        known = codes.get(label)
        if known is not None and known != entry.code:
            msg = (
                f"label {label} is given to two different codes, on "
                f"{first_seen[label]} and {entry.where}; give each code its "
                "own label"
            )
            raise CodesInputError(msg)
        if known is None:
            codes[label] = entry.code
            first_seen[label] = entry.where

    return codes
