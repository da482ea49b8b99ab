"""Writing a roster as a table, JSON, NDJSON or CSV, and the run summary.

Every writer takes a text stream that the caller has set to UTF-8. No
function here receives a department code, because rosters carry labels only.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from ._models import DepartmentResult, Extension, Roster

__all__ = [
    "COMMAND_LINE_ADVICE",
    "FIELDS",
    "FORMATS",
    "command_line_advice",
    "display_width",
    "extension_record",
    "fit",
    "printable",
    "summary_lines",
    "write_roster",
]

#: `Extension` attributes in output order; also the CSV header.
FIELDS = (
    "sip",
    "name",
    "speed_dial",
    "account_id",
    "account_name",
    "user_name",
    "user_email",
)

#: Table columns: attribute and heading. ``user_name`` is left out because
#: it usually repeats ``name``; the other formats carry every field.
TABLE_COLUMNS = (
    ("sip", "SIP"),
    ("name", "Name"),
    ("speed_dial", "Speed dial"),
    ("account_id", "Account ID"),
    ("account_name", "Account name"),
    ("user_email", "User e-mail"),
)

#: Widest a table cell may be, in terminal columns, before it is cut.
MAX_CELL_WIDTH = 40

#: Maximum number of labels the summary lists on one line before "and N more",
#: and of ``failed:`` lines before the rest are counted on one line.
MAX_SUMMARY_LABELS = 20

#: Advice in the library's error messages, which names its Python
#: parameters, and the same advice in the command line's options. The command
#: line sets ``max_connections`` to ``--concurrency`` and the pool timeout to
#: ``--timeout``, and it has no option for ``max_requests_per_second``. The
#: rate limiter's own message is left as it is, because the command line
#: never sets a rate.
COMMAND_LINE_ADVICE = (
    (
        "raise request_deadline or the fan-out deadline",
        "raise --request-deadline or --deadline",
    ),
    (
        "raise deadline or concurrency, or fetch fewer codes",
        "raise --deadline or --concurrency, or fetch fewer codes",
    ),
    (
        "lower the concurrency or set max_requests_per_second",
        "lower --concurrency",
    ),
    (
        "lower the concurrency or raise max_connections or the pool timeout",
        "lower --concurrency or raise --timeout",
    ),
    (
        "raise max_connections to send more at once",
        "raise --concurrency to send more at once",
    ),
    ("raise the timeout", "raise --timeout"),
    ("max_connections", "--concurrency"),
)

_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
# Control characters that break a line or move to a tab stop: C0 and C1
# whitespace, plus the Unicode line and paragraph separators.
_BREAKING_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_BREAKING_RUN = re.compile(
    f"[ {_BREAKING_SPACE}]*[{_BREAKING_SPACE}][ {_BREAKING_SPACE}]*"
)
# Bidirectional embedding, override and isolate controls (U+202A to U+202E
# and U+2066 to U+2069). One of them in a name can reorder the rest of the
# terminal line, so that a table row or a summary line reads differently
# from what it contains. The marks U+200E and U+200F are kept, because they
# only set the direction of the neutral characters next to them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def extension_record(extension: Extension) -> dict[str, Any]:
    """Return an extension as a dict keyed by `FIELDS`, None for missing."""
    return {field: getattr(extension, field) for field in FIELDS}


def department_record(department: DepartmentResult) -> dict[str, Any]:
    """Return a department's outcome as a JSON-ready dict."""
    error = None
    if department.error is not None:
        error = {
            "type": type(department.error).__name__,
            "message": command_line_advice(department.error.message),
        }

    return {
        "label": department.label,
        "aliases": list(department.aliases),
        "status": department_status(department),
        "extensions": len(department.extensions),
        "elapsed": round(department.elapsed, 6),
        "error": error,
    }


def department_status(department: DepartmentResult) -> str:
    """Return ``"ok"``, ``"empty"`` or ``"failed"``."""
    if department.error is not None:
        return "failed"
    if not department.extensions:
        return "empty"

    return "ok"


def write_json(roster: Roster, stream: TextIO) -> None:
    """Write one JSON document: extensions, departments and SIP conflicts."""
    document = {
        "extensions": [extension_record(e) for e in roster.extensions],
        "departments": [department_record(d) for d in roster.departments],
        "conflicts": [
            {"sip": conflict.sip, "labels": [label for label, _ in conflict.variants]}
            for conflict in roster.conflicts
        ],
    }
    json.dump(document, stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def write_ndjson(roster: Roster, stream: TextIO) -> None:
    """Write one JSON object per extension, one per line."""
    for extension in roster.extensions:
        record = extension_record(extension)
        stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        stream.write("\n")


def write_csv(roster: Roster, stream: TextIO) -> None:
    """Write a header row of `FIELDS` and one row per extension.

    Rows end with ``\\n`` rather than the ``\\r\\n`` of RFC 4180, because
    text streams on Windows turn each ``\\n`` into ``\\r\\n`` themselves.
    """
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(FIELDS)
    for extension in roster.extensions:
        writer.writerow(_csv_cell(getattr(extension, field)) for field in FIELDS)


def _csv_cell(value: object) -> object:
    return "" if value is None else value


def write_table(roster: Roster, stream: TextIO) -> None:
    """Write the extensions as an aligned plain-text table.

    Widths count terminal columns, not code points: combining marks such
    as Hebrew vowel points take none, and wide East Asian characters take
    two.
    """
    # NOTE: terminals that apply the Unicode bidirectional algorithm may
    # reorder adjacent right-to-left cells on screen. The padding is right
    # in logical order, not in the order such a terminal displays.
    headings = [heading for _, heading in TABLE_COLUMNS]
    rows = [
        [fit(_table_cell(getattr(e, field))) for field, _ in TABLE_COLUMNS]
        for e in roster.extensions
    ]
    widths = [display_width(heading) for heading in headings]
    for row in rows:
        widths = [
            max(w, display_width(cell)) for w, cell in zip(widths, row, strict=True)
        ]

    stream.write(_table_line(headings, widths))
    stream.write(_table_line(["-" * width for width in widths], widths))
    for row in rows:
        stream.write(_table_line(row, widths))


def _table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [
        cell + " " * (w - display_width(cell))
        for cell, w in zip(cells, widths, strict=True)
    ]

    return "  ".join(padded).rstrip() + "\n"


def _table_cell(value: object) -> str:
    return "" if value is None else printable(str(value))


def printable(text: str) -> str:
    """Return ``text`` fit for one line of a terminal.

    A run of whitespace that contains a line break, tab or other whitespace
    control character becomes one space. Every other control character is
    removed, because escape sequences could move the cursor or recolour the
    terminal. So are the bidirectional embedding, override and isolate
    controls, which could reorder the line, but the marks U+200E and U+200F
    are kept. U+FFFD, the mark of undecodable bytes, is left as it is.
    """
    kept = "".join(ch for ch in text if _is_kept(ch))

    return _BREAKING_RUN.sub(" ", kept)


def _is_kept(ch: str) -> bool:
    if ch in _BREAKING_SPACE:
        return True

    return unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS


def command_line_advice(message: str) -> str:
    """Rewrite the library's advice in ``message`` to name command-line options.

    Each phrase of `COMMAND_LINE_ADVICE` is replaced, and the rest of the
    message is kept as it is.
    """
    for library_phrase, command_line_phrase in COMMAND_LINE_ADVICE:
        message = message.replace(library_phrase, command_line_phrase)

    return message


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes.

    Combining marks and format characters take none, wide and fullwidth
    East Asian characters take two, everything else one.
    """
    return sum(_char_width(ch) for ch in text)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2

    return 1


def fit(text: str, width: int = MAX_CELL_WIDTH) -> str:
    """Cut ``text`` to at most ``width`` columns, ending with an ellipsis."""
    if display_width(text) <= width:
        return text

    kept = []
    used = 0
    for ch in text:
        size = _char_width(ch)
        if used + size > width - 1:
            break
        kept.append(ch)
        used += size

    return "".join(kept) + _ELLIPSIS


Writer = Callable[[Roster, TextIO], None]

WRITERS: dict[str, Writer] = {
    "table": write_table,
    "json": write_json,
    "ndjson": write_ndjson,
    "csv": write_csv,
}

#: Output format names, in the order the help lists them.
FORMATS = tuple(WRITERS)


def write_roster(roster: Roster, output_format: str, stream: TextIO) -> None:
    """Write ``roster`` to ``stream`` in one of `FORMATS`."""
    WRITERS[output_format](roster, stream)
    stream.flush()


def summary_lines(
    roster: Roster,
    elapsed: float,
    *,
    retries: Mapping[str, int] | None = None,
    output_format: str | None = None,
) -> list[str]:
    """Describe a run for stderr: counts, elapsed time, retries, empty and failed.

    ``retries`` maps a retry reason, such as ``http_429``, to how many
    requests were retried for it; the line is left out when there were none.

    Empty departments share one line that lists at most `MAX_SUMMARY_LABELS`
    labels. Each of the first `MAX_SUMMARY_LABELS` failed departments gets
    its own line with the error message, which names the department by label
    and never contains its code, and a last line counts the rest. The
    messages name command-line options, by `command_line_advice`.
    ``output_format`` is the format of the roster on stdout, which decides
    where that last line sends the reader for every error.
    """
    total = len(roster.departments)
    failed = roster.failures
    empty = roster.empty_departments
    succeeded = total - len(failed) - len(empty)
    lines = [
        f"departments: {total} ({succeeded} ok, {len(empty)} empty, "
        f"{len(failed)} failed)",
        f"extensions:  {len(roster.extensions)}{_conflict_note(roster)}",
        f"elapsed:     {elapsed:.2f} s",
    ]
    retried = sum((retries or {}).values())
    if retried:
        reasons = ", ".join(
            f"{count} {reason}" for reason, count in sorted((retries or {}).items())
        )
        lines.append(f"retries:     {retried} ({reasons})")
    if empty:
        lines.append(
            f"empty:       {_label_list(empty)} (the service returns no "
            "extensions for an unknown code, so check these codes)"
        )
    if empty and len(empty) == total:
        lines.append(
            "warning:     every department came back empty, which usually "
            "means that the codes are wrong"
        )
    for department in failed[:MAX_SUMMARY_LABELS]:
        assert department.error is not None
        message = printable(command_line_advice(department.error.message))
        lines.append(f"failed:      {_label(department)}: {message}")
    left_out = len(failed) - MAX_SUMMARY_LABELS
    if left_out > 0:
        where = (
            "the JSON output lists all"
            if output_format == "json"
            else "use --format json for all"
        )
        lines.append(f"failed:      and {left_out:,} more failed; {where}")

    return lines


def _conflict_note(roster: Roster) -> str:
    count = len(roster.conflicts)
    if not count:
        return ""
    noun = "SIP" if count == 1 else "SIPs"

    return (
        f" ({count} {noun} returned with different data by several "
        "departments; the first record is kept)"
    )


def _label_list(departments: Sequence[DepartmentResult]) -> str:
    return _capped([_label(d) for d in departments])


def _capped(items: Sequence[str]) -> str:
    """Join at most `MAX_SUMMARY_LABELS` items and append how many were left out."""
    shown = ", ".join(items[:MAX_SUMMARY_LABELS])
    left_out = len(items) - MAX_SUMMARY_LABELS
    if left_out <= 0:
        return shown

    return f"{shown} and {left_out:,} more"


def _label(department: DepartmentResult) -> str:
    label = printable(department.label)
    if not department.aliases:
        return label
    aliases = _capped([printable(alias) for alias in department.aliases])

    return f"{label} (also {aliases})"
