"""Pooling and concurrency over real sockets, against the local emulator."""

from __future__ import annotations

import math
import time

import pytest

from voicenter_async import VoicenterSession
from voicenter_async.testing import Fault, VoicenterEmulator, sample_organization


@pytest.fixture(name="emulator")
async def _emulator():
    async with VoicenterEmulator(sample_organization(seed=3, departments=60)) as emu:
        yield emu


def codes_of(emulator: VoicenterEmulator) -> list[str]:
    return [department.code for department in emulator.directory]


async def test_pool_caps_connections(emulator):
    """60 codes through a pool of 5 open at most 5 TCP connections."""
    emulator.add_fault(Fault.latency(0.01))

    async with VoicenterSession(
        base_url=emulator.base_url, max_connections=5
    ) as session:
        roster = await session.fetch_departments(codes_of(emulator))

    assert roster.ok
    assert 60 == len(roster.departments)
    assert 60 == emulator.stats.requests_served
    assert emulator.stats.connections_opened <= 5


async def test_sequential_calls_share_one_connection(emulator):
    """20 calls one after another ride one TCP connection."""
    code = codes_of(emulator)[0]

    async with VoicenterSession(base_url=emulator.base_url) as session:
        for _ in range(20):
            assert 10 == len(await session.get_extensions(code, show_all=False))

    assert 20 == emulator.stats.requests_served
    assert 1 == emulator.stats.connections_opened


@pytest.mark.parametrize("concurrency", [1, 4, 9])
async def test_peak_never_above_concurrency(emulator, concurrency):
    """The server never gets more requests at once than the setting."""
    emulator.add_fault(Fault.latency(0.005, jitter=0.01))

    async with VoicenterSession(
        base_url=emulator.base_url, max_connections=10
    ) as session:
        await session.fetch_departments(codes_of(emulator), concurrency=concurrency)

    assert emulator.stats.peak_in_flight <= concurrency


async def test_fan_out_time_follows_batches(emulator):
    """The fan-out takes about ceil(N / C) latencies, not N."""
    latency = 0.05
    concurrency = 20
    emulator.add_fault(Fault.latency(latency))
    codes = codes_of(emulator)

    async with VoicenterSession(
        base_url=emulator.base_url, max_connections=concurrency
    ) as session:
        started = time.perf_counter()
        roster = await session.fetch_departments(codes)
        elapsed = time.perf_counter() - started

    ideal = math.ceil(len(codes) / concurrency) * latency
    serial = len(codes) * latency
    assert roster.ok
    # Generous: a loaded 2-core machine can be several times slower than
    # ideal, and serial would still be four times slower than this bound.
    assert elapsed < serial / 4
    assert elapsed >= ideal * 0.9


async def test_show_all_zero_returns_own_department(emulator):
    """Each code of a fan-out returns only its own department."""
    codes = codes_of(emulator)[:3]

    async with VoicenterSession(base_url=emulator.base_url) as session:
        roster = await session.fetch_departments(codes)

    assert 30 == len(roster.extensions)
    assert 3 == len(roster.by_account())
    assert [0, 0, 0] == [r.show_all for r in emulator.stats.requests]


async def test_get_method_over_socket(emulator):
    """GET requests reach the emulator with the code in the query."""
    code = codes_of(emulator)[0]

    async with VoicenterSession(base_url=emulator.base_url, method="GET") as session:
        everyone = await session.get_extensions(code)

    assert 600 == len(everyone)
    assert "GET" == emulator.stats.requests[-1].method
