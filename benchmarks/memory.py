"""Resident memory of a merged roster, per extension, measured in subprocesses.

Each measurement runs in a fresh interpreter: it builds one body per
department of 10 extensions, reads RSS, parses every body and merges the
results into a roster with its look-up indexes, then reads RSS again. The
bodies stay alive throughout, so the difference is the roster alone.

``library`` is `Roster.from_departments` over `parse_body`. ``naive`` builds
the same frozen slotted records with ``json.loads`` and the class's own
``__init__``, then a by-SIP dict and a by-e-mail dict of tuples.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = ("library", "naive")


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _build_library(bodies: list[bytes]) -> object:
    from voicenter_async import DepartmentResult, Roster
    from voicenter_async._wire import parse_body

    results = [
        DepartmentResult(
            label=f"dept-{index}",
            extensions=tuple(parse_body(body, label=None, code="")),
        )
        for index, body in enumerate(bodies)
    ]
    return Roster.from_departments(results)


def _build_naive(bodies: list[bytes]) -> object:
    from voicenter_async import Extension

    records = []
    for body in bodies:
        for wire in json.loads(body)["EXTENSIONS"]:
            records.append(
                Extension(
                    sip=str(wire["SIP"]),
                    name=wire["Name"],
                    speed_dial=wire["SpeedDial"],
                    account_id=int(wire["AccountID"]),
                    account_name=wire["AccountName"],
                    user_name=wire["UserName"],
                    user_email=wire["UserEmail"],
                )
            )
    by_sip = {record.sip: record for record in records}
    grouped: dict[str, list[Extension]] = {}
    for record in records:
        if record.user_email:
            grouped.setdefault(record.user_email.casefold(), []).append(record)
    by_email = {email: tuple(found) for email, found in grouped.items()}
    return tuple(records), by_sip, by_email


def child(variant: str, extensions: int) -> None:
    """Measure one variant in this process and print bytes per extension."""
    from _data import department_bodies

    bodies = department_bodies(extensions)
    build = _build_library if variant == "library" else _build_naive
    build(bodies[:2])  # import everything and warm caches before measuring
    gc.collect()
    before = _rss()
    kept = build(bodies)
    gc.collect()
    after = _rss()
    assert kept is not None
    print((after - before) / extensions)


def measure(variant: str, extensions: int) -> float:
    """Run one child process and return its bytes per extension."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", variant, str(extensions)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    return float(output.strip().splitlines()[-1])


def report(extensions: int, rounds: int) -> None:
    """Measure each variant ``rounds`` times, alternating, and print a table."""
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for round_number in range(rounds):
        order = VARIANTS if round_number % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            samples[variant].append(measure(variant, extensions))

    print(f"\n## memory: merged roster of {extensions} extensions with its indexes")
    print(f"RSS growth per extension, median (min-max) of {rounds} processes\n")
    print("| variant | bytes / extension |")
    print("| --- | --- |")
    for variant, values in samples.items():
        print(
            f"| {variant} | {statistics.median(values):.0f} "
            f"({min(values):.0f}-{max(values):.0f}) |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        report(extensions=int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, rounds=3)
