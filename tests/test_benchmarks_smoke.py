"""The benchmark runner still runs end to end, at tiny sizes and untimed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HEADERS = {"peer", "decoder", "variant"}
RUNNER = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.fixture(name="output", scope="module")
def _output() -> str:
    pytest.importorskip("aiohttp", reason="the benchmark compares against aiohttp")
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(RUNNER), "--smoke"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert 0 == completed.returncode, completed.stderr
    return completed.stdout


def table_rows(output: str, heading: str) -> dict[str, list[str]]:
    """Return the rows of the table under a heading, by their first cell."""
    section = output.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if (
            line.startswith("|")
            and not set(cells[0]) <= {"-"}
            and cells[0] not in HEADERS
        ):
            rows[cells[0]] = cells[1:]
    return rows


def test_reports_machine(output):
    """The report names the CPU count, Python and package versions."""
    assert re.search(r"machine: \d+ CPUs", output)
    assert "packages: voicenter-async" in output


def test_fanout_every_peer(output):
    """Every peer ran, and pooled peers opened one connection per slot."""
    rows = table_rows(output, "fan-out")

    assert {
        "voicenter-async (asyncio)",
        "voicenter-async (aiohttp)",
        "voicenter-async (httpcore)",
        "raw aiohttp",
        "raw httpx",
        "client per request",
    } == set(rows)
    for peer in (
        "voicenter-async (asyncio)",
        "voicenter-async (aiohttp)",
        "voicenter-async (httpcore)",
    ):
        assert "4" == rows[peer][4], peer
    assert "12" == rows["client per request"][4]


def test_cpu_scenario(output):
    """The CPU scenario reports a ratio against raw aiohttp."""
    rows = table_rows(output, "cpu")

    assert rows["raw aiohttp"][3].startswith("1.00")
    assert "voicenter-async (asyncio)" in rows


def test_parse_and_memory(output):
    """The parse and memory benchmarks report the library's figures."""
    assert "voicenter-async parse_body" in table_rows(output, "parse")
    assert {"library", "naive"} == set(table_rows(output, "memory"))
