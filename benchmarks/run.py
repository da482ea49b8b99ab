"""Benchmark voicenter-async against its peers: one command, one table.

Usage::

    python benchmarks/run.py            # the full run, about five minutes
    python benchmarks/run.py --smoke    # tiny sizes, a few seconds

The fan-out scenarios start the emulator (``python -m voicenter_async.testing``)
in a separate process for every measured run, so the server's counters
(connections opened, peak requests in flight) belong to that run alone and the
server's CPU is not the client's. Peers run in turn within each round, so
drift on a noisy machine hits all of them alike. Then the parse and memory
benchmarks run (``parse.py``, ``memory.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _peers  # noqa: E402
import memory  # noqa: E402
import parse  # noqa: E402

from voicenter_async.testing import sample_organization  # noqa: E402

SEED = 0
START_TIMEOUT = 30.0


@attrs.frozen
class Scenario:
    """One fan-out shape to measure."""

    name: str
    codes: int
    concurrency: int
    latency: float
    peers: tuple[str, ...]

    @property
    def ideal(self) -> float:
        """Seconds the fan-out needs if only the server's latency counted."""
        return math.ceil(self.codes / self.concurrency) * self.latency


@attrs.frozen
class Sample:
    """One measured run of one peer."""

    wall: float
    cpu: float
    connections: int
    peak: int
    requests: int


class Emulator:
    """The emulator as a child process, for one measured run."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> Emulator:
        command = [
            sys.executable,
            "-m",
            "voicenter_async.testing",
            "--seed",
            str(SEED),
            "--departments",
            str(self._scenario.codes),
            "--latency",
            str(self._scenario.latency),
            "--request-log-limit",
            "0",
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self._process.kill()
            raise RuntimeError(f"the emulator did not start: {self.base_url!r}")
        return self

    def stop(self) -> dict[str, int]:
        """Stop the process and return the counters it printed."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        _, err = self._process.communicate(timeout=START_TIMEOUT)
        counters: dict[str, int] = {}
        for line in err.splitlines():
            for item in line.split():
                key, _, value = item.partition("=")
                if value.isdigit():
                    counters[key] = int(value)
        return counters

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def codes_for(scenario: Scenario) -> list[str]:
    directory = sample_organization(SEED, scenario.codes, 10)
    return [department.code for department in directory]


def measure(scenario: Scenario, peer: str, codes: Sequence[str]) -> Sample:
    with Emulator(scenario) as emulator:
        run = _peers.PEERS[peer]
        wall_start = time.perf_counter()
        cpu_start = time.process_time()
        asyncio.run(run(emulator.base_url, codes, scenario.concurrency))
        cpu = time.process_time() - cpu_start
        wall = time.perf_counter() - wall_start
        counters = emulator.stop()
    return Sample(
        wall=wall,
        cpu=cpu,
        connections=counters.get("connections_opened", -1),
        peak=counters.get("peak_in_flight", -1),
        requests=counters.get("requests_served", -1),
    )


def spread(values: Sequence[float], fmt: str) -> str:
    """Format the median and the range of some values."""
    median = statistics.median(values)
    return f"{median:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def run_scenario(scenario: Scenario, rounds: int) -> dict[str, list[Sample]]:
    codes = codes_for(scenario)
    samples: dict[str, list[Sample]] = {peer: [] for peer in scenario.peers}
    for round_number in range(rounds):
        # Alternate the order so no peer always runs first or last.
        order = scenario.peers if round_number % 2 == 0 else scenario.peers[::-1]
        for peer in order:
            samples[peer].append(measure(scenario, peer, codes))
    return samples


def report_scenario(scenario: Scenario, samples: dict[str, list[Sample]]) -> None:
    print(
        f"\n## {scenario.name}: N={scenario.codes} codes, C={scenario.concurrency}, "
        f"latency {scenario.latency * 1000:g} ms, ideal {scenario.ideal:.3f} s"
    )
    print("median (min-max) over rounds; cpu = client process time per request\n")
    reference = statistics.median(s.cpu for s in samples.get("raw aiohttp", []) or [])
    print(
        "| peer | wall s | wall / ideal | cpu µs/request | cpu / raw aiohttp "
        "| connections | peak in flight |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for peer, runs in samples.items():
        walls = [s.wall for s in runs]
        per_request = [s.cpu / scenario.codes * 1e6 for s in runs]
        ratio = spread([s.cpu / reference for s in runs], ".2f") if reference else "-"
        to_ideal = (
            spread([w / scenario.ideal for w in walls], ".2f")
            if scenario.ideal
            else "-"
        )
        connections = sorted({s.connections for s in runs})
        peaks = sorted({s.peak for s in runs})
        print(
            f"| {peer} | {spread(walls, '.3f')} | {to_ideal} "
            f"| {spread(per_request, '.0f')} | {ratio} "
            f"| {'/'.join(map(str, connections))} | {'/'.join(map(str, peaks))} |"
        )


def report_machine() -> None:
    from importlib import metadata

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    print(f"# voicenter-async benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"machine: {os.cpu_count()} CPUs, {model}; Python {platform.python_version()}"
    )
    names = ["voicenter-async", "httpx", "httpcore", "aiohttp", "sniffio"]
    names += ["orjson", "msgspec", "pydantic", "cattrs", "attrs"]
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    print("packages: " + ", ".join(versions))


def scenarios(smoke: bool) -> list[Scenario]:
    everyone = tuple(_peers.PEERS)
    pooled = tuple(p for p in everyone if p != "client per request")
    if smoke:
        return [
            Scenario("fan-out", 12, 4, 0.005, everyone),
            Scenario("cpu", 12, 4, 0.0, pooled),
        ]
    return [
        Scenario("fan-out", 400, 20, 0.020, everyone),
        Scenario("cpu", 2000, 50, 0.0, pooled),
        Scenario("cpu, large pool", 1000, 200, 0.0, pooled),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per scenario (default 5)"
    )
    parser.add_argument(
        "--only",
        choices=["fanout", "parse", "memory"],
        action="append",
        help="run only these parts (repeatable; default all)",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.smoke else 5)
    parts = set(args.only or ["fanout", "parse", "memory"])

    report_machine()
    if "fanout" in parts:
        for scenario in scenarios(args.smoke):
            report_scenario(scenario, run_scenario(scenario, rounds))
    if "parse" in parts:
        parse.report(
            extensions=2_000 if args.smoke else 100_000, rounds=1 if args.smoke else 15
        )
    if "memory" in parts:
        memory.report(
            extensions=2_000 if args.smoke else 100_000, rounds=1 if args.smoke else 3
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
