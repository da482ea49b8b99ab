"""How a service that uses voicenter-async can test itself without Voicenter.

The function under test, ``directory_emails``, stands for your own code. The
tests run it against the emulator's fixtures: a real server on 127.0.0.1, or
respx without sockets. In this repository, README's test command runs them. In
your own project, install ``voicenter-async[testing]`` and copy this file and
``conftest.py`` beside it.
"""

from __future__ import annotations

import pytest
import respx

from voicenter_async import ServerError, VoicenterSession
from voicenter_async.testing import Directory, Fault, VoicenterEmulator

# The marks make the tests run under pytest-asyncio's default strict mode too.
pytestmark = pytest.mark.asyncio


async def directory_emails(session: VoicenterSession, codes: list[str]) -> set[str]:
    """Return the e-mail addresses of every user in the given departments."""
    roster = await session.fetch_departments(codes)

    return {e.user_email.lower() for e in roster.extensions if e.user_email}


async def test_collects_emails(voicenter_emulator: VoicenterEmulator) -> None:
    """Every department's users are collected, over one pooled connection."""
    codes = [department.code for department in voicenter_emulator.directory][:5]

    async with VoicenterSession(base_url=voicenter_emulator.base_url) as session:
        emails = await directory_emails(session, codes)

    assert emails
    assert all("@" in email for email in emails)
    assert voicenter_emulator.stats.requests_served == 5


async def test_survives_a_failing_department(
    voicenter_emulator: VoicenterEmulator,
) -> None:
    """A department that keeps failing is reported, and the others still count."""
    codes = [department.code for department in voicenter_emulator.directory][:3]
    voicenter_emulator.add_fault(Fault.status(500), code=codes[0])

    async with VoicenterSession(
        base_url=voicenter_emulator.base_url, max_retries=0
    ) as session:
        roster = await session.fetch_departments(codes)

    [failed] = roster.failures
    assert isinstance(failed.error, ServerError)
    assert len([d for d in roster.departments if d.ok]) == 2


async def test_without_sockets(
    voicenter_respx: respx.MockRouter, voicenter_directory: Directory
) -> None:
    """The respx fixture serves the same data at http://voicenter.test."""
    codes = [department.code for department in voicenter_directory][:2]

    async with VoicenterSession(base_url="http://voicenter.test") as session:
        emails = await directory_emails(session, codes)

    assert emails
    assert voicenter_respx.calls.call_count == 2
