"""Fetch several departments at once and print their extensions.

Configure real departments in the environment::

    export VOICENTER_CODES='sales=CODE1,support=CODE2'   # label=code, or bare codes
    export VOICENTER_BASE_URL=https://monitor.voicenter.co.il   # optional
    python examples/quickstart.py

Entries starting with ``#`` are skipped. A label given to two different
codes, or an entry without a code after ``=``, stops the script with a
message that names the entry by its position and never shows a code.

Without ``VOICENTER_CODES`` the script starts the local emulator on
127.0.0.1 with five made-up departments, so it runs anywhere and sends
nothing over the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from voicenter_async import (
    DEFAULT_BASE_URL,
    CodesInputError,
    VoicenterSession,
    parse_codes,
)
from voicenter_async.testing import VoicenterEmulator, sample_organization


def codes_from_environment() -> dict[str, str]:
    """Read ``VOICENTER_CODES``: ``label=code`` or bare codes, comma-separated.

    Raises:
        CodesInputError: An entry is malformed or a label is reused.
    """
    text = os.environ.get("VOICENTER_CODES", "")

    return parse_codes(text, source="VOICENTER_CODES", split_commas=True)


async def start_emulator(
    stack: contextlib.AsyncExitStack,
) -> tuple[dict[str, str], str]:
    """Serve made-up departments on 127.0.0.1; return their codes and the URL."""
    directory = sample_organization(seed=7, departments=5)
    emulator = await stack.enter_async_context(VoicenterEmulator(directory))
    codes = {department.account_name: department.code for department in directory}

    return codes, emulator.base_url


async def main() -> None:
    async with contextlib.AsyncExitStack() as stack:
        codes = codes_from_environment()
        base_url = os.environ.get("VOICENTER_BASE_URL") or DEFAULT_BASE_URL
        if not codes:
            print("VOICENTER_CODES is not set: using the local emulator")
            codes, base_url = await start_emulator(stack)

        async with VoicenterSession(base_url=base_url) as session:
            roster = await session.fetch_departments(codes)

    for extension in roster.extensions:
        print(
            f"{extension.sip:>8}  {extension.name or '':<20}  {extension.account_name}"
        )
    for department in roster.failures:
        print(f"failed: {department.label}: {department.error}")
    print(f"{len(roster)} extensions from {len(roster.departments)} departments")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except CodesInputError as exc:
        sys.exit(f"quickstart.py: {exc}")
