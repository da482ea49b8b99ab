"""Fetch every department listed in a codes file and write one CSV.

Usage::

    python examples/bulk_to_csv.py codes.txt --output extensions.csv

``codes.txt`` has one ``label=code`` a line (a bare code is labelled by its
fingerprint); blank lines and lines starting with ``#`` are skipped. The
file is read by `voicenter_async.read_codes`, the parser of the
``voicenter-async`` command line, so a label given to two different codes or
a line without a code is reported and nothing is dropped. The requests go to
``VOICENTER_BASE_URL``, or to Voicenter when it is unset or empty.

Without a codes file the script starts the local emulator on 127.0.0.1,
writes the made-up departments' codes to a temporary codes file and reads
that, so it runs anywhere and sends nothing over the network.

The CSV starts with a byte order mark, so that Excel reads the Hebrew
names as UTF-8. It has one row per extension and department, with the
department's label in the first column. The exit status is 0 when every
department was fetched, 1 when any failed or all came back empty (which
usually means wrong codes), and 2 when the codes file is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from voicenter_async import (
    DEFAULT_BASE_URL,
    CodesInputError,
    Roster,
    VoicenterSession,
    read_codes,
)
from voicenter_async.testing import VoicenterEmulator, sample_organization

COLUMNS = (
    "label",
    "sip",
    "name",
    "speed_dial",
    "account_id",
    "account_name",
    "user_name",
    "user_email",
)


def write_csv(roster: Roster, path: Path) -> int:
    """Write one row per extension of each department; return the row count."""
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for department in roster.departments:
            for extension in department.extensions:
                values = [getattr(extension, column) for column in COLUMNS[1:]]
                writer.writerow([department.label, *values])
                rows += 1

    return rows


async def fetch_to_csv(codes_path: Path, output: Path, base_url: str) -> int:
    """Fetch the departments of ``codes_path`` and write ``output``."""
    try:
        codes = read_codes(codes_path)
    except CodesInputError as exc:
        print(f"invalid codes file: {exc}", file=sys.stderr)
        return 2
    async with VoicenterSession(base_url=base_url) as session:
        roster = await session.fetch_departments(codes)

    rows = write_csv(roster, output)
    print(f"wrote {rows} rows from {len(roster.departments)} departments to {output}")
    for department in roster.failures:
        print(f"failed: {department.label}: {department.error}", file=sys.stderr)
    if not roster.ok:
        return 1
    if len(roster.empty_departments) == len(roster.departments):
        print(
            "every department came back empty, which usually means wrong codes",
            file=sys.stderr,
        )
        return 1

    return 0


async def fetch_from_emulator(output: Path) -> int:
    """Run `fetch_to_csv` against made-up departments on 127.0.0.1."""
    directory = sample_organization(seed=11, departments=8)
    async with VoicenterEmulator(directory) as emulator:
        with tempfile.TemporaryDirectory() as folder:
            codes_path = Path(folder) / "codes.txt"
            lines = [f"{d.account_name}={d.code}" for d in directory]
            codes_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(
                f"no codes file given: using the local emulator at {emulator.base_url}"
            )

            return await fetch_to_csv(codes_path, output, emulator.base_url)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the extensions of many departments to CSV."
    )
    parser.add_argument(
        "codes_file",
        nargs="?",
        type=Path,
        help="file of label=code lines; omit it to use the local emulator",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("extensions.csv"),
        help="CSV file to write (default: extensions.csv)",
    )
    args = parser.parse_args(argv)

    if args.codes_file is None:
        return await fetch_from_emulator(args.output)
    base_url = os.environ.get("VOICENTER_BASE_URL") or DEFAULT_BASE_URL

    return await fetch_to_csv(args.codes_file, args.output, base_url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
