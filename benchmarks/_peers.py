"""The clients the fan-out benchmark compares, each as one coroutine function.

Every peer sends the same POST request per code, at most ``concurrency`` at
a time, and decodes each JSON body. The library's peers also structure the
records and merge them into a roster, as a caller would get them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence

import httpx

from voicenter_async import VoicenterSession
from voicenter_async.testing import API_PATH

Peer = Callable[[str, Sequence[str], int], Awaitable[None]]


def _payload(code: str) -> bytes:
    return json.dumps({"code": code, "showAll": 0}, separators=(",", ":")).encode()


async def _run_workers(
    codes: Sequence[str], concurrency: int, fetch: Callable[[str], Awaitable[None]]
) -> None:
    pending = iter(codes)

    async def worker() -> None:
        for code in pending:
            await fetch(code)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(codes)))))


def _library(transport: str) -> Peer:
    async def run(base_url: str, codes: Sequence[str], concurrency: int) -> None:
        async with VoicenterSession(
            base_url=base_url,
            max_connections=concurrency,
            transport=transport,  # type: ignore[arg-type]
        ) as session:
            roster = await session.fetch_departments(codes, concurrency=concurrency)
        if not roster.ok:
            raise RuntimeError(f"library ({transport}) failed: {roster.failures[0]}")

    return run


async def _raw_httpx(base_url: str, codes: Sequence[str], concurrency: int) -> None:
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, trust_env=False
    ) as client:

        async def fetch(code: str) -> None:
            response = await client.post(
                API_PATH,
                content=_payload(code),
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
            json.loads(response.content)

        await _run_workers(codes, concurrency, fetch)


async def _raw_aiohttp(base_url: str, codes: Sequence[str], concurrency: int) -> None:
    import aiohttp

    url = base_url + API_PATH
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(code: str) -> None:
            async with session.post(
                url, data=_payload(code), headers={"Content-Type": "application/json"}
            ) as response:
                response.raise_for_status()
                json.loads(await response.read())

        await _run_workers(codes, concurrency, fetch)


async def _client_per_request(
    base_url: str, codes: Sequence[str], concurrency: int
) -> None:
    # The naive pattern: a new httpx client, so a new connection, per code.
    async def fetch(code: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
            response = await client.post(
                API_PATH,
                content=_payload(code),
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
            json.loads(response.content)

    await _run_workers(codes, concurrency, fetch)


PEERS: dict[str, Peer] = {
    "voicenter-async (asyncio)": _library("asyncio"),
    "voicenter-async (aiohttp)": _library("aiohttp"),
    "voicenter-async (httpcore)": _library("httpcore"),
    "raw aiohttp": _raw_aiohttp,
    "raw httpx": _raw_httpx,
    "client per request": _client_per_request,
}
