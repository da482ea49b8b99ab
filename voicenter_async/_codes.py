"""Reading department codes from files, streams and environment variables.

Every source yields entries of an optional label and a code. The entries are
merged into one mapping of label to code for
`VoicenterSession.fetch_departments`, with unlabelled codes keyed by their
fingerprint. No message built here contains a code: entries are named by
their place in the input, such as ``line 3 of codes.txt``, and input text
with the shape of a code is never quoted.

`parse_codes` and `read_codes` are the public entry points. The command line
uses the entry-level functions, so that it can merge several sources.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TextIO

import attrs

from ._errors import InvalidCodeError
from ._fanout import validate_code
from ._secrets import code_fingerprint

__all__ = [
    "ENV_CODES",
    "CodeEntry",
    "CodesInputError",
    "looks_like_code",
    "merge_entries",
    "parse_codes",
    "parse_entry",
    "parse_env_codes",
    "parse_lines",
    "quote_input",
    "read_codes",
    "read_codes_file",
    "read_stream",
]

#: Environment variable that may hold codes, comma- or newline-separated.
ENV_CODES = "VOICENTER_CODES"

_ENV_SEPARATORS = re.compile(r"[,\n]")
# The shape of the codes Voicenter issues: 8 to 64 ASCII letters and digits.
_CODE_SHAPE = re.compile(r"[A-Za-z0-9]{8,64}")
_MIN_CODE_LENGTH = 8


class CodesInputError(ValueError):
    """The codes could not be read, an entry is malformed, or a label is reused.

    The message names the place of the entry, such as ``line 3 of
    codes.txt``, and never contains a code.
    """


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


def looks_like_code(text: str) -> bool:
    """Return whether ``text`` has the shape of a department code.

    That shape is 8 to 64 ASCII letters and digits. Ordinary words such as
    ``support2024`` have it too, so a match means "may be a code", which is
    enough to keep the text out of messages.
    """
    return _CODE_SHAPE.fullmatch(text) is not None


def quote_input(text: str) -> str:
    """Return ``text`` quoted for a message, or a placeholder if it may be a code."""
    if looks_like_code(text.strip()):
        return "(value not shown, as it has the shape of a department code)"

    return repr(text)


def parse_entry(text: str, where: str) -> CodeEntry:
    """Split one ``label=code`` or bare ``code`` entry.

    The first ``=`` separates the label from the code, so a label cannot
    contain ``=`` but a code can. Whitespace around both parts is removed.

    Raises:
        CodesInputError: The code part is empty, or the label has the shape
            of a code while the code part does not, as when the two are
            swapped. Keeping such an entry would show a code as a label.
    """
    label, separator, code = text.partition("=")
    if not separator:
        code = label.strip()
        if not code:
            msg = f"{where} is empty; give a code, or label=code"
            raise CodesInputError(msg)
        if any(ch.isspace() for ch in code):
            msg = (
                f"{where} has whitespace inside its code; write one code a "
                "line, as code or label=code"
            )
            raise CodesInputError(msg)
        return CodeEntry(label=None, code=code, where=where)

    label = label.strip()
    code = code.strip()
    if not code:
        msg = (
            f"{where} has no code after '='; write label=code, or the code "
            "alone on its own line"
        )
        raise CodesInputError(msg)
    if looks_like_code(label) and not _can_be_code(code):
        msg = (
            f"{where} looks like code=label: the text before '=' has the shape "
            "of a department code (8 to 64 letters and digits) and the text "
            "after it does not; write label=code"
        )
        raise CodesInputError(msg)
    if any(ch.isspace() for ch in code):
        msg = (
            f"{where} has whitespace inside its code; write one code a line, "
            "as code or label=code"
        )
        raise CodesInputError(msg)

    return CodeEntry(label=label or None, code=code, where=where)


def _can_be_code(text: str) -> bool:
    """Return whether ``text`` could be a code: sendable and 8 or more characters.

    `validate_code` already rejects whitespace and control characters.
    """
    try:
        validate_code(text)
    except InvalidCodeError:
        return False

    return len(text) >= _MIN_CODE_LENGTH


def parse_lines(lines: Iterable[str], source: str) -> list[CodeEntry]:
    """Parse a codes file: one entry a line, blank lines and ``#`` lines skipped.

    Args:
        lines: The lines of the file.
        source: The file's name in messages, such as ``codes.txt`` or
            ``stdin``.

    Raises:
        CodesInputError: An entry is malformed; see `parse_entry`.
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

    Raises:
        CodesInputError: An entry is malformed; see `parse_entry`.
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
        CodesInputError: The bytes are not valid UTF-8, or an entry is
            malformed.
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


def read_codes_file(path: str | os.PathLike[str]) -> list[CodeEntry]:
    """Read entries from a UTF-8 file; a byte order mark is allowed.

    A path that cannot be opened is named in the message, unless it has the
    shape of a code, as when a code is passed where a file name belongs.

    Raises:
        CodesInputError: The file cannot be opened, is not valid UTF-8, or
            has a malformed entry.
    """
    text = os.fspath(path)
    try:
        with open(text, encoding="utf-8-sig") as file:
            lines = file.read().splitlines()
    except UnicodeDecodeError:
        msg = f"cannot read codes file {text}: it is not valid UTF-8"
        raise CodesInputError(msg) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        shown = (
            "(name not shown, as it has the shape of a department code)"
            if looks_like_code(text)
            else text
        )
        msg = f"cannot read codes file {shown}: {reason}"
        raise CodesInputError(msg) from None

    return parse_lines(lines, os.path.basename(text) or text)


def merge_entries(entries: Iterable[CodeEntry]) -> dict[str, str]:
    """Merge entries into a mapping of label to code, in input order.

    An unlabelled code is keyed by its fingerprint, which is also the label
    the session would give it. The same code may appear under several labels,
    and the session fetches it once.

    Raises:
        CodesInputError: One label is given to two different codes. The
            message names the label unless it has the shape of a code.
    """
    codes: dict[str, str] = {}
    first_seen: dict[str, str] = {}
    for entry in entries:
        label = entry.label or code_fingerprint(entry.code)
        known = codes.get(label)
        if known is not None and known != entry.code:
            shown = "the same label" if looks_like_code(label) else f"label {label}"
            msg = (
                f"{shown} is given to two different codes, on "
                f"{first_seen[label]} and {entry.where}; give each code its "
                "own label"
            )
            raise CodesInputError(msg)
        if known is None:
            codes[label] = entry.code
            first_seen[label] = entry.where

    return codes


def parse_codes(
    text: str, *, source: str = "input", split_commas: bool = False
) -> dict[str, str]:
    """Parse codes text into a mapping of label to code, in input order.

    Each line contains ``label=code`` or a bare code, which is labelled by its
    `code_fingerprint`. Blank entries and entries starting with ``#`` are
    skipped. This is the format of the command line's ``--codes-file``.

    Args:
        text: The codes, one entry a line.
        source: The input's name in messages, as in ``line 3 of codes.txt``.
        split_commas: Also split entries at commas, as the command line does
            for the ``VOICENTER_CODES`` environment variable. Messages then
            name entries as ``entry 2 of VOICENTER_CODES``.

    Raises:
        CodesInputError: An entry has no code after ``=``, its label has the
            shape of a code while its code part does not, or one label is
            given to two different codes.
    """
    if split_commas:
        entries = parse_env_codes(text, source)
    else:
        entries = parse_lines(text.splitlines(), source)

    return merge_entries(entries)


def read_codes(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a UTF-8 codes file into a mapping of label to code.

    The format is that of `parse_codes`, and a byte order mark is allowed.

    Raises:
        CodesInputError: The file cannot be read, or an entry is rejected as
            by `parse_codes`.
    """
    return merge_entries(read_codes_file(path))
