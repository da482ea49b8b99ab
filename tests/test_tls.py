"""HTTPS through the library's transports, against a local server with a test CA."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import trustme

from tests.test_transport import read_request
from voicenter_async import TransportError, VoicenterSession
from voicenter_async._native import AsyncioTransport
from voicenter_async._transport import AiohttpTransport

CODE = "Sentinel7Code9Zq"
BODY = json.dumps(
    {"ERR": 0, "DESC": "OK", "EXTENSIONS": [{"SIP": "1001", "Name": "A"}]}
).encode()

TRANSPORTS = [AsyncioTransport, AiohttpTransport]


@pytest.fixture(name="ca", scope="module")
def _ca() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def tls_server(ca: trustme.CA, seen: list[str]) -> AsyncIterator[str]:
    """Serve GetExtensions over TLS on 127.0.0.1 and yield the base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                await read_request(reader)
                seen.append("request")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
                )
                await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_https_round_trip(ca, kind):
    """A certificate from a trusted CA is accepted and the connection reused."""
    seen: list[str] = []
    async with tls_server(ca, seen) as url:
        transport = kind(limits=httpx.Limits(max_connections=1), verify=trusting(ca))
        async with VoicenterSession(base_url=url, transport=transport) as session:
            first = await session.get_extensions(CODE)
            second = await session.get_extensions(CODE, show_all=False)
            stats = session.stats

    assert ["1001"] == [extension.sip for extension in first]
    assert first == second
    assert 2 == len(seen)
    if kind is AsyncioTransport:
        assert 1 == stats.connections_opened


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_untrusted_certificate_rejected(ca, kind):
    """httpx's default CA bundle rejects the test CA's certificate."""
    seen: list[str] = []
    async with tls_server(ca, seen) as url:
        transport = kind(limits=httpx.Limits(max_connections=1))
        async with VoicenterSession(
            base_url=url, transport=transport, max_retries=0
        ) as session:
            with pytest.raises(TransportError, match=r"(?i)certificate") as info:
                await session.get_extensions(CODE)

    assert CODE not in str(info.value)
    assert [] == seen
