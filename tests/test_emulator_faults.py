"""Every fault the emulator injects, seen by a plain httpx client."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time

import httpx
import pytest

from voicenter_async.testing import (
    API_PATH,
    Directory,
    DirectoryExtension,
    Fault,
    FaultKind,
    FaultRule,
    VoicenterEmulator,
)

CODE = "FAKEfaults0001"
OTHER = "FAKEfaults0002"
PARAMS = {"code": CODE, "showAll": 0}


@pytest.fixture(name="directory")
def _directory() -> Directory:
    directory = Directory()
    extensions = [
        DirectoryExtension(f"{3000000 + n}", f"שלוחה {n}", f"{400 + n}")
        for n in range(20)
    ]
    directory.add_department(
        CODE, account_id=1, account_name="תמיכה", extensions=extensions
    )
    directory.add_department(OTHER, account_id=2, account_name="Sales")
    return directory


@pytest.fixture(name="emulator")
async def _emulator(directory):
    async with VoicenterEmulator(directory) as emulator:
        yield emulator


@pytest.fixture(name="client")
async def _client(emulator):
    async with httpx.AsyncClient(base_url=emulator.base_url) as client:
        yield client


async def raw_exchange(emulator: VoicenterEmulator) -> tuple[bytes, bytes]:
    """Send one keep-alive GET on a raw socket; return the response and what follows.

    The second value is what the socket yields after the response: b"" when
    the server closed the connection.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    request = f"GET {API_PATH}?code={CODE}&showAll=0 HTTP/1.1\r\nHost: emulator\r\n\r\n"
    writer.write(request.encode())
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
        after = await asyncio.wait_for(reader.read(), 1.0)
    finally:
        writer.close()
        await writer.wait_closed()
    return head + body, after


class TestLatency:
    async def test_delays_response(self, emulator, client):
        """A latency fault delays the response by at least its seconds."""
        emulator.add_fault(Fault.latency(0.1))
        start = time.perf_counter()

        response = await client.get(API_PATH, params=PARAMS)

        assert time.perf_counter() - start >= 0.1
        assert 200 == response.status_code
        assert 0.1 == emulator.stats.requests[0].delay

    async def test_jitter_bounds(self, emulator, client):
        """Jitter adds between 0 and jitter seconds."""
        emulator.add_fault(Fault.latency(0.01, jitter=0.02))

        for _ in range(5):
            await client.get(API_PATH, params=PARAMS)

        delays = [r.delay for r in emulator.stats.requests]
        assert all(0.01 <= d <= 0.03 for d in delays)
        assert len(set(delays)) > 1

    async def test_only_matching_code(self, emulator, client):
        """A fault for one code leaves other codes alone."""
        emulator.add_fault(Fault.latency(0.05), code=OTHER)

        await client.get(API_PATH, params=PARAMS)
        await client.get(API_PATH, params={"code": OTHER})

        delays = [r.delay for r in emulator.stats.requests]
        assert [0.0, 0.05] == delays

    async def test_latency_stacks_with_status(self, emulator, client):
        """Latency faults combine with a fault that changes the response."""
        emulator.add_fault(Fault.latency(0.02))
        emulator.add_fault(Fault.latency(0.03))
        emulator.add_fault(Fault.status(500))

        response = await client.get(API_PATH, params=PARAMS)

        assert 500 == response.status_code
        assert pytest.approx(0.05) == emulator.stats.requests[0].delay

    def test_negative_latency(self):
        """Negative latency or jitter raises ValueError."""
        with pytest.raises(ValueError, match="Invalid latency"):
            Fault.latency(-1)
        with pytest.raises(ValueError, match="Invalid latency"):
            Fault.latency(0, jitter=-1)


class TestReplies:
    @pytest.mark.parametrize("status", [403, 500, 503])
    async def test_status(self, emulator, client, status):
        """A status fault responds with that status and a plain-text body."""
        emulator.add_fault(Fault.status(status))

        response = await client.get(API_PATH, params=PARAMS)

        assert status == response.status_code
        assert f"HTTP {status}\n" == response.text
        assert response.headers["content-type"].startswith("text/plain")

    async def test_rate_limited(self, emulator, client):
        """A 429 fault can carry Retry-After, extra headers and a body."""
        emulator.add_fault(
            Fault.status(
                429,
                body=b'{"ERR": 1}',
                headers={"Content-Type": "application/json", "X-Test": "yes"},
                retry_after=2,
            )
        )

        response = await client.get(API_PATH, params=PARAMS)

        assert 429 == response.status_code
        assert "2" == response.headers["retry-after"]
        assert "yes" == response.headers["x-test"]
        assert "application/json" == response.headers["content-type"]
        assert b'{"ERR": 1}' == response.content

    async def test_html(self, emulator, client):
        """An HTML fault responds 200 with an HTML page."""
        emulator.add_fault(Fault.html())

        response = await client.get(API_PATH, params=PARAMS)

        assert 200 == response.status_code
        assert response.headers["content-type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>")

    async def test_empty_body(self, emulator, client):
        """An empty-body fault responds 200 JSON with no bytes."""
        emulator.add_fault(Fault.empty_body())

        response = await client.get(API_PATH, params=PARAMS)

        assert 200 == response.status_code
        assert b"" == response.content
        assert "0" == response.headers["content-length"]

    async def test_json(self, emulator, client):
        """A JSON fault responds with any JSON value, Hebrew unescaped."""
        emulator.add_fault(Fault.json({"ERR": 0, "DESC": "אישור", "EXTENSIONS": None}))

        response = await client.get(API_PATH, params=PARAMS)

        assert {"ERR": 0, "DESC": "אישור", "EXTENSIONS": None} == response.json()
        assert "אישור".encode() in response.content

    async def test_raw(self, emulator, client):
        """A raw fault responds with exactly the given bytes and headers."""
        emulator.add_fault(
            Fault.raw(b"\x00\xffnot json", status=202, content_type="x/y"),
            code=CODE,
        )

        response = await client.get(API_PATH, params=PARAMS)

        assert 202 == response.status_code
        assert b"\x00\xffnot json" == response.content
        assert "x/y" == response.headers["content-type"]


class TestBrokenTransfers:
    async def test_truncated(self, emulator, client):
        """A truncated body makes the client fail with a protocol error."""
        emulator.add_fault(Fault.truncated())

        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(API_PATH, params=PARAMS)

    async def test_truncated_sent_bytes(self, emulator):
        """sent_bytes sets how much of the body arrives before the close."""
        emulator.add_fault(Fault.truncated(sent_bytes=5))
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(f"GET {API_PATH}?code={CODE} HTTP/1.1\r\nHost: e\r\n\r\n".encode())

        data = await reader.read()
        writer.close()
        await writer.wait_closed()

        head, body = data.split(b"\r\n\r\n", 1)
        assert b'{"ERR' == body
        assert b"content-length: 5" not in head.lower()

    def test_invalid_sent_bytes(self):
        """A negative sent_bytes raises ValueError."""
        with pytest.raises(ValueError, match="sent_bytes"):
            Fault.truncated(sent_bytes=-1)

    async def test_drip(self, emulator, client):
        """A dripped body arrives whole, but only after its intervals."""
        emulator.add_fault(Fault.drip(chunk_size=512, interval=0.02))
        expected = (await client.get(API_PATH, params=PARAMS)).content
        chunks = -(-len(expected) // 512)
        emulator.clear_faults()
        emulator.add_fault(Fault.drip(chunk_size=512, interval=0.02))
        start = time.perf_counter()

        response = await client.get(API_PATH, params=PARAMS)

        assert time.perf_counter() - start >= chunks * 0.02
        assert expected == response.content
        assert 20 == len(response.json()["EXTENSIONS"])
        assert 1 == emulator.stats.connections_opened

    async def test_client_reset_during_drip(self, emulator, caplog):
        """A client that resets mid-body ends the connection, not the server."""
        emulator.add_fault(Fault.drip(chunk_size=1, interval=0.005))
        caplog.set_level(logging.DEBUG, logger="voicenter_async.testing")
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(f"GET {API_PATH}?code={CODE} HTTP/1.1\r\nHost: e\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")

        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        for _ in range(100):
            if emulator.stats.connections_open == 0:
                break
            await asyncio.sleep(0.01)

        assert 0 == emulator.stats.connections_open
        assert 0 == emulator.stats.handler_errors
        assert "Connection 1 failed" in caplog.text

    def test_invalid_drip(self):
        """A chunk size below 1 raises ValueError."""
        with pytest.raises(ValueError, match="Invalid drip"):
            Fault.drip(chunk_size=0)

    async def test_close_after_response(self, emulator, client):
        """The server closes a keep-alive connection it did not mark as closing."""
        emulator.add_fault(Fault.close_after_response(), times=1)

        response, after = await raw_exchange(emulator)
        second = await client.get(API_PATH, params=PARAMS)
        await asyncio.sleep(0.05)
        third = await client.get(API_PATH, params=PARAMS)

        assert b"connection: close" not in response.lower()
        assert response.startswith(b"HTTP/1.1 200 ")
        assert b"" == after
        assert 200 == second.status_code
        assert 200 == third.status_code

    async def test_close_after_response_forces_new_connection(self, emulator, client):
        """A client reconnects after the server closed its idle connection."""
        emulator.add_fault(Fault.close_after_response(), times=1)

        await client.get(API_PATH, params=PARAMS)
        await asyncio.sleep(0.05)
        await client.get(API_PATH, params=PARAMS)

        assert 2 == emulator.stats.connections_opened

    async def test_disconnect(self, emulator, client):
        """A disconnect fault closes the connection without any response."""
        emulator.add_fault(Fault.disconnect())

        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(API_PATH, params=PARAMS)

    async def test_reset(self, emulator, client):
        """A reset fault makes the client see a connection reset."""
        emulator.add_fault(Fault.reset())

        with pytest.raises(httpx.ReadError):
            await client.get(API_PATH, params=PARAMS)

    async def test_reset_raw_socket(self, emulator):
        """The reset is an RST, which the reader sees as ConnectionResetError."""
        emulator.add_fault(Fault.reset())
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(f"GET {API_PATH}?code={CODE} HTTP/1.1\r\nHost: e\r\n\r\n".encode())

        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.close()
        with pytest.raises(ConnectionResetError):
            await writer.wait_closed()

        assert "reset" == emulator.stats.requests[0].fault


class TestRules:
    async def test_times_limits_hits(self, emulator, client):
        """times=N applies a fault to the first N matching requests only."""
        rule = emulator.add_fault(Fault.status(503), times=2)

        statuses = [
            (await client.get(API_PATH, params=PARAMS)).status_code for _ in range(3)
        ]

        assert [503, 503, 200] == statuses
        assert 2 == rule.hits
        assert 0 == rule.remaining

    async def test_faults_form_queue(self, emulator, client):
        """Response faults with times set apply in the order added."""
        emulator.add_fault(Fault.status(500), times=1)
        emulator.add_fault(Fault.status(503), times=1)
        emulator.add_fault(Fault.reset(), code=OTHER)

        statuses = [
            (await client.get(API_PATH, params=PARAMS)).status_code for _ in range(3)
        ]

        assert [500, 503, 200] == statuses

    async def test_retry_after_reset(self, emulator, directory):
        """A client that retries once gets through a single reset."""
        emulator.add_fault(Fault.reset(), code=CODE, times=1)
        transport = httpx.AsyncHTTPTransport(retries=1)

        async with httpx.AsyncClient(
            base_url=emulator.base_url, transport=transport
        ) as client:
            with pytest.raises(httpx.ReadError):
                await client.get(API_PATH, params=PARAMS)
            response = await client.get(API_PATH, params=PARAMS)

        assert 200 == response.status_code

    async def test_applies_to_other_paths(self, emulator, client):
        """A fault without a code applies to every request, any path."""
        emulator.add_fault(Fault.status(418))

        response = await client.get("/elsewhere")

        assert 418 == response.status_code

    async def test_remove_and_clear(self, emulator, client):
        """Removed rules stop applying and faults lists the active ones."""
        first = emulator.add_fault(Fault.status(500))
        second = emulator.add_fault(Fault.latency(0.01))

        emulator.remove_fault(first)
        after_remove = await client.get(API_PATH, params=PARAMS)
        remaining = emulator.faults
        emulator.clear_faults()

        assert 200 == after_remove.status_code
        assert (second,) == remaining
        assert () == emulator.faults
        with pytest.raises(ValueError):
            emulator.remove_fault(first)

    async def test_construction_faults(self, directory):
        """Rules passed to the constructor apply from the first request."""
        rule = FaultRule(Fault.status(503), code=CODE, times=1)

        async with (
            VoicenterEmulator(directory, faults=[rule]) as emulator,
            httpx.AsyncClient(base_url=emulator.base_url) as client,
        ):
            first = await client.get(API_PATH, params=PARAMS)
            second = await client.get(API_PATH, params=PARAMS)

        assert (503, 200) == (first.status_code, second.status_code)
        assert 0 == rule.remaining

    def test_rule_validation_and_repr(self):
        """times must not be negative; the repr masks the code."""
        rule = FaultRule(Fault.disconnect(), code=CODE)

        assert CODE not in repr(rule)
        assert rule.remaining is None
        assert FaultKind.DISCONNECT is rule.fault.kind
        with pytest.raises(ValueError, match="times"):
            FaultRule(Fault.reset(), times=-1)

    async def test_fault_recorded(self, emulator, client):
        """The request log names the response fault applied."""
        emulator.add_fault(Fault.html(), times=1)

        await client.get(API_PATH, params=PARAMS)
        await client.get(API_PATH, params=PARAMS)

        assert ["reply", None] == [r.fault for r in emulator.stats.requests]
