"""The asyncio transport's HTTP/1.1 client, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import ssl
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import httpx
import pytest

from tests.test_transport import client_for, free_port, raw_server, read_request
from voicenter_async import ResponseFormatError, VoicenterSession
from voicenter_async import _native as native_module
from voicenter_async._native import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    AsyncioTransport,
    ResponseTooLargeError,
    WholeResponse,
    _Connection,
    _origin_of,
    _RawHeaders,
    _Response,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSE_OK = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
# Limits that a passing test never reaches.
TIMEOUTS = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
BIG_BODY = b"x" * (16 << 20)  # far more than loopback socket buffers take in

Reply = bytes | Sequence[bytes] | None


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Replies:
    """A raw server handler that sends the given replies to requests, in order.

    The last reply repeats. A reply of several pieces is written one piece at a
    time with a short pause between, so the client reads them separately. A
    reply of None sends nothing and waits for the client to close.
    """

    def __init__(
        self,
        *replies: Reply,
        close: bool = False,
        gate: asyncio.Event | None = None,
        pause: float = 0.005,
    ) -> None:
        self.replies = replies or (OK,)
        self.close = close
        self.gate = gate
        self.pause = pause
        self.connections = 0
        self.ended = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []

    async def __call__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(content_length(head))
                reply = self.replies[min(len(self.heads), len(self.replies) - 1)]
                self.heads.append(head)
                self.bodies.append(body)
                if reply is None:
                    await reader.read()
                    return
                if self.gate is not None:
                    await self.gate.wait()
                pieces = [reply] if isinstance(reply, bytes) else reply
                for index, piece in enumerate(pieces):
                    if index:
                        await asyncio.sleep(self.pause)
                    writer.write(piece)
                    await writer.drain()
                if self.close:
                    return
        finally:
            self.ended += 1


@contextlib.asynccontextmanager
async def serving(server: Replies) -> AsyncIterator[str]:
    """Serve ``server`` on 127.0.0.1 and yield its base URL.

    On exit, every connection must have ended, so a client closed before the
    server is checked to have closed each connection it opened.
    """
    async with raw_server(server) as url:
        yield url
        await until(lambda: server.ended == server.connections)


@contextlib.asynccontextmanager
async def native(**limits: object) -> AsyncIterator[AsyncioTransport]:
    """Yield an AsyncioTransport with the limits given, closed on exit."""
    transport = AsyncioTransport(limits=httpx.Limits(**limits))  # type: ignore[arg-type]
    try:
        yield transport
    finally:
        await transport.aclose()


async def fetch(
    transport: AsyncioTransport,
    url: str,
    *,
    method: str = "POST",
    path: str = "/x",
    body: bytes = b"{}",
    headers: Sequence[tuple[str, str]] = (),
    timeouts: dict[str, float | None] | None = None,
    trace: Callable[..., object] | None = None,
) -> WholeResponse:
    return await transport.send_whole(
        method,
        url + path,
        [("Host", "127.0.0.1"), *headers],
        body,
        TIMEOUTS if timeouts is None else timeouts,
        trace=trace,  # type: ignore[arg-type]
    )


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds, failing after about 2 s."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition still false after 2 s")


def never_retrieved(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return asyncio's 'exception was never retrieved' log messages."""
    gc.collect()
    return [
        record.getMessage()
        for record in caplog.records
        if "never retrieved" in record.getMessage()
    ]


class TestFraming:
    async def test_content_length_body(self):
        """A Content-Length body is read whole, and the connection reused."""
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url)
            second = await fetch(transport, url)

        assert b"hello world" == first.content
        assert b"hello world" == second.content
        assert 200 == first.status_code
        assert "OK" == first.reason_phrase
        assert 1 == server.connections

    async def test_content_length_split(self):
        """A Content-Length body that arrives in pieces is joined."""
        pieces = (b"HTTP/1.1 200 OK\r\nContent-", b"Length: 5\r\n\r\nhe", b"llo")
        server = Replies(pieces)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert b"hello" == response.content

    @pytest.mark.parametrize(
        "ending",
        [
            (b"0", b"\r", b"\n", b"\r", b"\n"),
            (b"0;last", b"\r\n", b"X-Trailer: 1", b"\r\n", b"Y: 2\r", b"\n\r", b"\n"),
        ],
        ids=["no-trailers", "trailers"],
    )
    async def test_chunked_body(self, ending):
        """A chunked body is decoded across reads, and the connection reused."""
        pieces = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5;name=value\r\nhello\r\n7",
            b"\r\n, wor",
            b"ld\r\n",
            b"1 ; a=b ; c\r\n!\r\n",
            *ending,
        )
        server = Replies(pieces, OK)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url)
            second = await fetch(transport, url)

        assert b"hello, world!" == first.content
        assert b"ok" == second.content
        assert 1 == server.connections

    @pytest.mark.parametrize("coding", [b"gzip, chunked", b"Chunked"])
    async def test_chunked_last_coding(self, coding):
        """Transfer-Encoding is chunked when its last coding is chunked."""
        reply = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\nContent-Length: 99\r\n"
            b"\r\n2\r\nab\r\n0\r\n\r\n" % coding
        )
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert b"ab" == response.content

    @pytest.mark.parametrize(
        "head",
        [
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\n",
        ],
        ids=["http11", "http10", "http10-keep-alive", "not-chunked"],
    )
    async def test_close_delimited_body(self, head):
        """A body without a length ends with the connection, which is not reused."""
        server = Replies((head + b"part one, ", b"part two"), close=True)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url)
            second = await fetch(transport, url)

        assert b"part one, part two" == first.content
        assert b"part one, part two" == second.content
        assert 2 == server.connections

    async def test_interim_responses_skipped(self):
        """1xx responses before the final one are read and dropped."""
        reply = (
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 201",
            b" Created\r\nContent-Length: 2\r\n\r\nok",
        )
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert 201 == response.status_code
        assert "Created" == response.reason_phrase
        assert b"ok" == response.content
        assert "link" not in response.headers

    async def test_interim_and_final_in_one_read(self):
        """A 1xx response and the final one arriving together are both parsed."""
        reply = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert 200 == response.status_code
        assert b"ok" == response.content

    @pytest.mark.parametrize(
        ("method", "head"),
        [
            ("POST", b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\n"),
            ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n"),
            ("GET", b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"),
            ("HEAD", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("HEAD", b"HTTP/1.1 200 OK\r\n\r\n"),
        ],
    )
    async def test_no_body(self, method, head):
        """204, 304 and HEAD responses end with their head, whatever it frames."""
        server = Replies(head, OK)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url, method=method, body=b"")
            second = await fetch(transport, url)

        assert b"" == first.content
        assert b"ok" == second.content
        assert 1 == server.connections

    @pytest.mark.parametrize(
        "lengths",
        [b"Content-Length: 5, 5", b"Content-Length: 5\r\ncontent-length: 5"],
        ids=["list", "repeated"],
    )
    async def test_equal_lengths_accepted(self, lengths):
        """Content-Length values that all agree frame the body."""
        server = Replies(b"HTTP/1.1 200 OK\r\n%s\r\n\r\nhello" % lengths)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert b"hello" == response.content


# Responses that are not valid HTTP/1.1, each a RemoteProtocolError.
MALFORMED = {
    "http2-status": b"HTTP/2 200 OK\r\n\r\n",
    "long-status-code": b"HTTP/1.1 2000 OK\r\n\r\n",
    "lower-case-version": b"http/1.1 200 OK\r\n\r\n",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "header-without-colon": b"HTTP/1.1 200 OK\r\nX-Broken\r\n\r\n",
    "space-in-name": b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
    "empty-name": b"HTTP/1.1 200 OK\r\n: 1\r\n\r\n",
    "folded-header": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
    "malformed-interim": b"HTTP/1.1 100 Continue\r\nX\r\n\r\n" + OK,
    "switching-protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    "conflicting-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
    "repeated-conflicting-lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"
    ),
    "letters-length": b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
    "signed-length": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    "empty-length": b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok",
    "huge-length": b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\nok" % (b"9" * 19),
    "over-long-head": b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (MAX_HEAD_BYTES + 1),
    "invalid-chunk-size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"
    ),
    "empty-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    "chunk-size-over-16-digits": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\n" % (b"0" * 17)
    ),
    "over-long-chunk-size-line": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;" + b"a" * 1100
    ),
    "chunk-without-crlf": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n"
    ),
}


class TestMalformed:
    @pytest.mark.parametrize("reply", MALFORMED.values(), ids=MALFORMED.keys())
    async def test_protocol_error(self, reply):
        """An invalid response is RemoteProtocolError, and its connection dropped."""
        server = Replies(reply, OK)
        async with serving(server) as url, native() as transport:
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(transport, url)
            second = await fetch(transport, url)

        assert b"ok" == second.content
        assert 2 == server.connections

    @pytest.mark.parametrize(
        ("extra", "connections"), [(b"", 1), (b"\r\n", 2), (b"HTTP/1.1 200", 2)]
    )
    async def test_bytes_after_response(self, extra, connections):
        """Bytes after the end of a response keep its connection out of the pool."""
        server = Replies(OK + extra, OK)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url)
            second = await fetch(transport, url)

        assert b"ok" == first.content
        assert b"ok" == second.content
        assert connections == server.connections


class TestDisconnects:
    @pytest.mark.parametrize(
        ("sent", "message"),
        [
            (b"", "without sending a response"),
            (b"HTTP/1.1 200 OK\r\nContent-", "without sending a response"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok", "whole response"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                "whole response",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n",
                "whole response",
            ),
        ],
        ids=["nothing", "mid-head", "mid-body", "mid-chunk", "mid-trailers"],
    )
    async def test_server_hangs_up(self, sent, message):
        """A connection closed before the response ends is RemoteProtocolError."""
        server = Replies(sent or (), close=True)
        async with serving(server) as url, native() as transport:
            with pytest.raises(httpx.RemoteProtocolError, match=message):
                await fetch(transport, url)

    @pytest.mark.parametrize(
        "sent", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok"]
    )
    async def test_reset_is_read_error(self, sent):
        """A connection reset while the response is awaited is ReadError."""

        async def reset(reader, writer):
            await read_request(reader)
            if sent:
                writer.write(sent)
                await writer.drain()
                await asyncio.sleep(0.01)
            # A zero linger time makes close send RST instead of FIN.
            linger = struct.pack("ii", 1, 0)
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, linger
            )
            writer.transport.abort()

        async with raw_server(reset) as url, native() as transport:
            with pytest.raises(httpx.ReadError):
                await fetch(transport, url)

    async def test_bytes_on_idle_connection(self):
        """Bytes sent on an idle connection make the client drop it."""
        poke = asyncio.Event()
        dropped = asyncio.Event()
        connections = 0

        async def unprompted(reader, writer):
            nonlocal connections
            connections += 1
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
            if connections > 1:
                return
            await poke.wait()
            writer.write(b"HTTP/1.1 200 OK\r\n")
            await writer.drain()
            await reader.read()  # returns at the client's FIN
            dropped.set()

        async with raw_server(unprompted) as url, native() as transport:
            first = await fetch(transport, url)
            poke.set()
            await asyncio.wait_for(dropped.wait(), 2.0)
            second = await fetch(transport, url)

        assert b"ok" == first.content
        assert b"ok" == second.content
        assert 2 == connections

    async def test_server_closes_idle_connection(self):
        """An idle connection the server closed is replaced by a new one."""
        poke = asyncio.Event()
        dropped = asyncio.Event()
        connections = 0

        async def close_idle(reader, writer):
            nonlocal connections
            connections += 1
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
            if connections > 1:
                return
            await poke.wait()
            writer.write_eof()
            # The client closes its end once it has seen the server's FIN.
            await reader.read()
            dropped.set()

        async with raw_server(close_idle) as url, native() as transport:
            await fetch(transport, url)
            poke.set()
            await asyncio.wait_for(dropped.wait(), 2.0)
            second = await fetch(transport, url)

        assert b"ok" == second.content
        assert 2 == connections


class TestTimeouts:
    async def test_slow_drip_within_read_timeout(self):
        """Bytes slower in total than the read timeout, but each in time, succeed."""
        pieces = (
            b"HTTP/1.1 200",
            b" OK\r\n",
            b"Content-Length: 2\r\n",
            b"\r\n",
            b"o",
            b"k",
        )
        server = Replies(pieces, pause=0.04)
        timeouts = {**TIMEOUTS, "read": 0.15}
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url, timeouts=timeouts)

        assert b"ok" == response.content

    async def test_read_timeout(self):
        """A server silent for longer than the read timeout is ReadTimeout."""
        server = Replies(None, OK)
        timeouts = {**TIMEOUTS, "read": 0.1}
        async with serving(server) as url, native() as transport:
            with pytest.raises(httpx.ReadTimeout):
                await fetch(transport, url, timeouts=timeouts)
            await until(lambda: server.ended == 1)
            second = await fetch(transport, url, timeouts=timeouts)

        assert b"ok" == second.content
        assert 2 == server.connections

    async def test_read_timeout_through_client(self):
        """The httpx client's read timeout reaches the transport."""
        server = Replies(None)
        async with serving(server) as url, client_for("asyncio", url) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post("/x", content=b"{}", timeout=0.1)

    async def test_read_timer_due_with_last_byte(self):
        """A read timer due in the same loop pass as the last byte lets it through."""
        connections = 0

        async def stall(reader, writer):
            nonlocal connections
            connections += 1
            await read_request(reader)
            writer.write(OK)
            # Block the loop past the read timeout, so the client's read event
            # and its read timer are handled in the same pass.
            time.sleep(0.15)  # noqa: ASYNC251
            await read_request(reader)
            writer.write(OK)
            await writer.drain()

        timeouts = {**TIMEOUTS, "read": 0.1}
        async with raw_server(stall) as url, native() as transport:
            first = await fetch(transport, url, timeouts=timeouts)
            second = await fetch(transport, url, timeouts=timeouts)

        assert b"ok" == first.content
        assert b"ok" == second.content
        assert 1 == connections

    async def test_no_timeouts(self):
        """Empty timeouts send and read without any limit."""
        server = Replies(OK)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url, timeouts={})

        assert b"ok" == response.content

    async def test_write_timeout(self, caplog):
        """A request body the server does not read is WriteTimeout."""
        release = asyncio.Event()
        ended = asyncio.Event()

        async def not_reading(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            await release.wait()
            ended.set()

        timeouts = {**TIMEOUTS, "write": 0.1}
        async with raw_server(not_reading) as url, native() as transport:
            with pytest.raises(httpx.WriteTimeout):
                await fetch(transport, url, body=BIG_BODY, timeouts=timeouts)
            release.set()
            await asyncio.wait_for(ended.wait(), 2.0)

        assert [] == never_retrieved(caplog)

    async def test_server_closes_during_write(self, caplog):
        """A server that closes while the body is still being sent is WriteError."""

        async def close_early(reader, writer):
            # Closing with the body unread makes the kernel send RST.
            await reader.readuntil(b"\r\n\r\n")

        async with raw_server(close_early) as url, native() as transport:
            with pytest.raises(httpx.WriteError):
                await fetch(transport, url, body=BIG_BODY, timeouts={})
            await asyncio.sleep(0.01)

        assert [] == never_retrieved(caplog)

    async def test_large_body_sent_whole(self):
        """A body larger than the socket buffers is sent whole before the read."""
        server = Replies(OK)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url, body=BIG_BODY)
            second = await fetch(transport, url, body=BIG_BODY)

        assert b"ok" == first.content
        assert b"ok" == second.content
        assert [len(BIG_BODY)] * 2 == [len(body) for body in server.bodies]
        assert 1 == server.connections

    async def test_connect_refused(self):
        """Nothing listening on the port is ConnectError."""
        port = await free_port()
        async with native() as transport:
            with pytest.raises(httpx.ConnectError):
                await fetch(transport, f"http://127.0.0.1:{port}")

    @pytest.mark.skipif(
        sys.platform != "linux", reason="relies on Linux dropping SYNs to a full queue"
    )
    async def test_connect_timeout(self):
        """A listener whose accept queue is full is ConnectTimeout."""
        timeouts = {**TIMEOUTS, "connect": 0.1}
        with full_backlog() as port:
            async with native() as transport:
                with pytest.raises(httpx.ConnectTimeout):
                    await fetch(
                        transport, f"http://127.0.0.1:{port}", timeouts=timeouts
                    )

    async def test_tls_handshake_failure(self):
        """A TLS handshake with a plain HTTP server is ConnectError."""

        async def plain(reader, writer):
            await reader.read(1)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

        async with raw_server(plain) as url:
            transport = AsyncioTransport(verify=False)
            try:
                with pytest.raises(httpx.ConnectError):
                    await fetch(transport, url.replace("http:", "https:"))
            finally:
                await transport.aclose()

    async def test_pool_timeout(self):
        """Waiting longer than the pool timeout for a slot is PoolTimeout."""
        gate = asyncio.Event()
        server = Replies(gate=gate)
        timeouts = {**TIMEOUTS, "pool": 0.05}
        async with serving(server) as url, native(max_connections=1) as transport:
            first = asyncio.create_task(fetch(transport, url))
            await until(lambda: len(server.heads) == 1)
            with pytest.raises(httpx.PoolTimeout):
                await fetch(transport, url, timeouts=timeouts)
            gate.set()
            response = await first

        assert b"ok" == response.content

    async def test_pool_wait_without_timeout(self):
        """With no pool timeout, a request waits for a slot and then succeeds."""
        server = Replies()
        timeouts = {**TIMEOUTS, "pool": None}
        async with serving(server) as url, native(max_connections=1) as transport:
            requests = asyncio.gather(
                *(fetch(transport, url, timeouts=timeouts) for _ in range(3))
            )
            # Bounded here, since the transport itself sets no limit.
            responses = await asyncio.wait_for(requests, 2.0)

        assert [b"ok"] * 3 == [response.content for response in responses]
        assert 1 == server.connections


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """Yield the port of a listener whose accept queue is full.

    Linux drops a SYN to a listener whose accept queue is full, so a new
    connection attempt waits for a SYN retry, about a second later.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(2):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


class TestPool:
    @pytest.mark.parametrize(
        ("reply", "connections"),
        [
            (OK, 1),
            (CLOSE_OK, 2),
            (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n"
             b"Content-Length: 2\r\n\r\nok", 2),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 2),
            (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
             b"Content-Length: 2\r\n\r\nok", 1),
            (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
             b"Content-Length: 2\r\n\r\nok", 2),
        ],
        ids=["http11", "http11-close", "http11-both", "http10", "http10-keep-alive",
             "http10-both"],
    )  # fmt: skip
    async def test_connection_reuse(self, reply, connections):
        """HTTP/1.1 keeps a connection unless closed, HTTP/1.0 only with keep-alive."""
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            first = await fetch(transport, url)
            second = await fetch(transport, url)

        assert b"ok" == first.content
        assert b"ok" == second.content
        assert connections == server.connections

    async def test_keepalive_expiry(self):
        """An idle connection older than keepalive_expiry is closed, not reused."""
        server = Replies()
        async with serving(server) as url, native(keepalive_expiry=0.05) as transport:
            await fetch(transport, url)
            await fetch(transport, url)
            reused = server.connections
            await asyncio.sleep(0.1)
            await fetch(transport, url)
            await until(lambda: server.ended == 1)

        assert 1 == reused
        assert 2 == server.connections

    async def test_no_keepalive_limits(self):
        """With no expiry and no idle limit, every idle connection is kept."""
        server = Replies()
        async with (
            serving(server) as url,
            native(max_keepalive_connections=None, keepalive_expiry=None) as transport,
        ):
            await asyncio.gather(fetch(transport, url), fetch(transport, url))
            await asyncio.gather(fetch(transport, url), fetch(transport, url))
            ended = server.ended

        assert 2 == server.connections
        assert 0 == ended

    async def test_keepalive_below_max_connections(self):
        """Connections beyond max_keepalive_connections close when they go idle."""
        gate = asyncio.Event()
        server = Replies(gate=gate)
        async with (
            serving(server) as url,
            native(max_connections=2, max_keepalive_connections=1) as transport,
        ):
            both = asyncio.gather(fetch(transport, url), fetch(transport, url))
            await until(lambda: len(server.heads) == 2)
            gate.set()
            await both
            await until(lambda: server.ended == 1)
            await fetch(transport, url)

        assert 2 == server.connections
        assert 3 == len(server.heads)

    async def test_unlimited_connections(self):
        """max_connections=None opens a connection per concurrent request."""
        gate = asyncio.Event()
        server = Replies(gate=gate)
        async with serving(server) as url, native(max_connections=None) as transport:
            requests = asyncio.gather(*(fetch(transport, url) for _ in range(3)))
            await until(lambda: len(server.heads) == 3)
            gate.set()
            responses = await requests

        assert [b"ok"] * 3 == [response.content for response in responses]
        assert 3 == server.connections

    async def test_full_pool_evicts_other_origin(self):
        """At max_connections, an idle connection to another origin is closed."""
        first = Replies()
        second = Replies()
        async with (
            serving(first) as first_url,
            serving(second) as second_url,
            native(max_connections=1) as transport,
        ):
            await fetch(transport, first_url)
            await fetch(transport, second_url)
            await until(lambda: first.ended == 1)
            await fetch(transport, first_url)

        assert 2 == first.connections
        assert 1 == second.connections

    async def test_eviction_picks_longest_idle(self):
        """Eviction closes the connection idle longest, wherever it is listed."""
        servers = [Replies(), Replies(), Replies()]
        async with contextlib.AsyncExitStack() as stack:
            urls = [await stack.enter_async_context(serving(s)) for s in servers]
            transport = await stack.enter_async_context(native(max_connections=2))
            await fetch(transport, urls[0])
            await fetch(transport, urls[1])
            await fetch(transport, urls[0])
            # Idle now: the second origin's (oldest), then the first's.
            await fetch(transport, urls[2])
            await until(lambda: servers[1].ended == 1)
            ended_after_first_eviction = [server.ended for server in servers]
            # Idle now: the first origin's (oldest), then the third's.
            await fetch(transport, urls[1])
            await until(lambda: servers[0].ended == 1)
            ended_after_second_eviction = [server.ended for server in servers]

        assert [0, 1, 0] == ended_after_first_eviction
        assert [1, 1, 0] == ended_after_second_eviction
        assert [1, 2, 1] == [server.connections for server in servers]

    async def test_full_pool_forgets_closed_connection(self):
        """At max_connections, a connection the server closed frees its place."""
        poke = asyncio.Event()
        dropped = asyncio.Event()

        async def close_idle(reader, writer):
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
            await poke.wait()
            writer.write_eof()
            await reader.read()
            dropped.set()

        other = Replies()
        async with (
            raw_server(close_idle) as closing_url,
            serving(other) as other_url,
            native(max_connections=1) as transport,
        ):
            await fetch(transport, closing_url)
            poke.set()
            await asyncio.wait_for(dropped.wait(), 2.0)
            first = await fetch(transport, other_url)
            second = await fetch(transport, other_url)

        assert b"ok" == first.content
        assert b"ok" == second.content
        assert 1 == other.connections

    async def test_trace_once_per_connection(self):
        """The trace extension is awaited once for each new connection."""
        events: list[str] = []

        async def trace(name, info):
            events.append(name)

        server = Replies(OK, CLOSE_OK, OK)
        async with serving(server) as url, client_for("asyncio", url) as client:
            for _ in range(4):
                await client.post("/x", content=b"{}", extensions={"trace": trace})

        assert ["connection.connect_tcp.complete"] * 2 == events
        assert 2 == server.connections

    async def test_trace_on_send_whole(self):
        """send_whole passes its trace callback each new connection."""
        events: list[str] = []

        async def trace(name, info):
            events.append(name)

        server = Replies()
        async with serving(server) as url, native() as transport:
            await fetch(transport, url, trace=trace)
            await fetch(transport, url, trace=trace)

        assert ["connection.connect_tcp.complete"] == events

    async def test_failing_trace_closes_connection(self):
        """A trace callback that raises leaves no connection open behind it."""

        async def trace(name, info):
            raise LookupError(name)

        server = Replies()
        async with serving(server) as url, native(max_connections=1) as transport:
            with pytest.raises(LookupError):
                await fetch(transport, url, trace=trace)
            await until(lambda: server.ended == 1)
            response = await fetch(transport, url)

        assert b"ok" == response.content
        assert 2 == server.connections

    async def test_cancel_mid_exchange(self):
        """Cancelling a request mid-exchange drops its connection and frees its slot."""
        server = Replies(None, OK)
        timeouts = {**TIMEOUTS, "pool": 0.3}
        async with serving(server) as url, native(max_connections=1) as transport:
            request = asyncio.create_task(fetch(transport, url))
            await until(lambda: len(server.heads) == 1)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            await until(lambda: server.ended == 1)
            response = await fetch(transport, url, timeouts=timeouts)

        assert b"ok" == response.content
        assert 2 == server.connections

    async def test_aclose_closes_idle(self):
        """aclose closes idle connections, and a second aclose does nothing."""
        server = Replies()
        async with serving(server) as url:
            transport = AsyncioTransport()
            await fetch(transport, url)
            await transport.aclose()
            await until(lambda: server.ended == 1)
            await transport.aclose()

        assert 1 == server.connections

    async def test_aclose_while_connecting(self):
        """A request connecting during aclose completes, then its connection closes."""
        server = Replies()
        async with serving(server) as url:
            transport = AsyncioTransport()
            request = asyncio.create_task(fetch(transport, url))
            await asyncio.sleep(0)
            await transport.aclose()
            response = await request
            await until(lambda: server.ended == 1)

        assert b"ok" == response.content

    async def test_closed_transport_rejects(self):
        """Requests after aclose raise RuntimeError on both send paths."""
        transport = AsyncioTransport()
        await transport.aclose()
        request = httpx.Request("GET", "http://127.0.0.1:1/")

        with pytest.raises(RuntimeError, match="closed"):
            await transport.handle_async_request(request)
        with pytest.raises(RuntimeError, match="closed"):
            await fetch(transport, "http://127.0.0.1:1")


class TestRequests:
    @pytest.mark.parametrize(
        ("name", "value"),
        [("X-A", "a\r\nb"), ("X-A", "a\nb"), ("X-A", "a\rb"), ("X-A", "a\x00b"),
         ("X\r\nA", "a"), ("X\x00A", "a")],
    )  # fmt: skip
    async def test_unsafe_header_rejected(self, name, value):
        """A header with CR, LF or NUL is LocalProtocolError before anything is sent."""
        server = Replies()
        async with serving(server) as url, native() as transport:
            with pytest.raises(httpx.LocalProtocolError):
                await fetch(transport, url, headers=[(name, value)])
            request = httpx.Request("POST", url, headers={name: value}, content=b"{}")
            with pytest.raises(httpx.LocalProtocolError):
                await transport.handle_async_request(request)
            await fetch(transport, url)

        assert 1 == server.connections
        assert 1 == len(server.heads)

    async def test_unsupported_scheme(self):
        """A URL that is not http or https is UnsupportedProtocol on both paths."""
        async with native() as transport:
            with pytest.raises(httpx.UnsupportedProtocol, match="ftp://"):
                await fetch(transport, "ftp://127.0.0.1")
            with pytest.raises(httpx.UnsupportedProtocol, match="ftp://"):
                await transport.handle_async_request(
                    httpx.Request("GET", "ftp://127.0.0.1/")
                )

    @pytest.mark.parametrize(
        ("method", "body", "expected"),
        [
            ("GET", b"", None),
            ("HEAD", b"", None),
            ("DELETE", b"", None),
            ("GET", b"q", b"1"),
            ("POST", b"", b"0"),
            ("PUT", b"{}", b"2"),
        ],
    )
    async def test_content_length_sent(self, method, body, expected):
        """Content-Length goes with any body, and with no body unless GET-like."""
        server = Replies(b"HTTP/1.1 204 No Content\r\n\r\n")
        headers = [("Content-Length", "99"), ("Transfer-Encoding", "chunked")]
        async with serving(server) as url, native() as transport:
            await fetch(transport, url, method=method, body=body, headers=headers)

        lines = server.heads[0].lower().split(b"\r\n")
        lengths = [line for line in lines if line.startswith(b"content-length:")]
        assert [] == [line for line in lines if line.startswith(b"transfer-encoding")]
        if expected is None:
            assert [] == lengths
        else:
            assert [b"content-length: " + expected] == lengths
        assert body == server.bodies[0]

    async def test_streamed_body_sent_with_length(self):
        """A streamed httpx body goes out whole, with Content-Length, not chunked."""

        async def chunks():
            yield b"ab"
            yield b"cd"

        server = Replies()
        async with serving(server) as url, client_for("asyncio", url) as client:
            response = await client.post("/x", content=chunks())

        assert 200 == response.status_code
        assert b"abcd" == server.bodies[0]
        assert b"transfer-encoding" not in server.heads[0].lower()

    async def test_prepared_head_follows_url(self):
        """send_whole prepares a new head when the URL or headers object changes."""
        server = Replies()
        headers = [("Host", "127.0.0.1"), ("X-Version", "1")]
        timeouts = dict(TIMEOUTS)
        async with serving(server) as url, native() as transport:
            for target in ("/a", "/a", "/b"):
                await transport.send_whole("POST", url + target, headers, b"", timeouts)
            headers = [("Host", "127.0.0.1"), ("X-Version", "2")]
            await transport.send_whole("POST", url + "/b", headers, b"", timeouts)

        targets = [head.split(b"\r\n")[0] for head in server.heads]
        assert [b"POST /a HTTP/1.1"] * 2 + [b"POST /b HTTP/1.1"] * 2 == targets
        assert [b"1", b"1", b"1", b"2"] == [
            head.split(b"X-Version: ")[1][:1] for head in server.heads
        ]

    async def test_response_through_httpx(self):
        """handle_async_request returns the status, reason, version and headers."""
        reply = (
            b"HTTP/1.0 418 I'm a teapot\r\nX-Kind: tea\r\nX-Kind: pot\r\n"
            b"Content-Length: 2\r\n\r\nhi"
        )
        server = Replies(reply)
        async with serving(server) as url, client_for("asyncio", url) as client:
            response = await client.get("/x")

        assert 418 == response.status_code
        assert "HTTP/1.0" == response.http_version
        assert "I'm a teapot" == response.reason_phrase
        assert ["tea", "pot"] == response.headers.get_list("x-kind")
        assert b"hi" == response.content

    async def test_whole_response_fields(self):
        """send_whole returns status, a decoded reason, raw headers and the body."""
        reply = b"HTTP/1.1 503 \xffBusy\r\nRetry-After: 3\r\nContent-Length: 1\r\n\r\n!"
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert 503 == response.status_code
        assert "\ufffdBusy" == response.reason_phrase
        assert "3" == response.headers["retry-after"]
        assert b"!" == response.content

    @pytest.mark.parametrize(
        ("url", "origin"),
        [
            ("http://example.test/x", ("http", "example.test", 80)),
            ("https://example.test/x", ("https", "example.test", 443)),
            ("https://example.test:8443/x", ("https", "example.test", 8443)),
        ],
    )
    def test_origin_default_ports(self, url, origin):
        """An origin without a port takes its scheme's default port."""
        assert origin == _origin_of(httpx.URL(url))


RAW_HEADERS = [
    (b"Content-Type", b"text/plain"),
    (b"X-Kind", b"tea"),
    (b"x-kind", b"pot"),
]


class TestRawHeaders:
    def test_case_insensitive_lookup(self):
        """A look-up ignores case and gives a repeated header's first value."""
        headers = _RawHeaders(RAW_HEADERS)

        assert "text/plain" == headers["content-type"]
        assert "tea" == headers["X-KIND"]
        assert "x-kind" in headers

    def test_missing_header(self):
        """A missing header is KeyError, and get returns its default."""
        headers = _RawHeaders(RAW_HEADERS)

        with pytest.raises(KeyError):
            headers["retry-after"]
        assert headers.get("retry-after") is None
        assert "5" == headers.get("retry-after", "5")

    def test_non_latin1_name_missing(self):
        """A name outside latin-1 cannot be present, so it is missing."""
        headers = _RawHeaders(RAW_HEADERS)

        with pytest.raises(KeyError):
            headers["x-\u20ac"]
        assert headers.get("x-\u20ac") is None
        assert "x-\u20ac" not in headers

    def test_iteration_and_length(self):
        """Each name is listed once, spelled as it first came, and len agrees."""
        headers = _RawHeaders(RAW_HEADERS)

        assert ["Content-Type", "X-Kind"] == list(headers)
        assert 2 == len(headers)
        assert 0 == len(_RawHeaders([]))


class TestSslContext:
    def test_verify_true_checks_certificates(self):
        """verify=True checks certificates and host names, with a context built once."""
        transport = AsyncioTransport()

        context = transport._ssl_context()

        assert ssl.CERT_REQUIRED == context.verify_mode
        assert context.check_hostname
        assert context is transport._ssl_context()

    def test_verify_false_skips_checks(self):
        """verify=False accepts any certificate."""
        context = AsyncioTransport(verify=False)._ssl_context()

        assert ssl.CERT_NONE == context.verify_mode
        assert not context.check_hostname

    def test_given_context_used(self):
        """A caller's SSLContext is used as it is."""
        given = ssl.create_default_context()

        assert given is AsyncioTransport(verify=given)._ssl_context()


class RecordingTransport(asyncio.Transport):
    """A transport that records writes and closes, for parser tests."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def parse_pieces(pieces: Sequence[bytes], *, head_request: bool = False):
    """Feed ``pieces`` to a connection one call each and return the response.

    Every piece but the last must leave the response unfinished. The
    connection is closed after the last piece.
    """
    connection = _Connection(asyncio.get_running_loop(), MAX_BODY_BYTES)
    connection.connection_made(RecordingTransport())
    exchange = asyncio.ensure_future(
        connection.exchange(
            b"GET / HTTP/1.1\r\n\r\n",
            head_request=head_request,
            write_timeout=None,
            read_timeout=None,
        )
    )
    await asyncio.sleep(0)
    for piece in pieces:
        assert not exchange.done(), f"finished before {piece!r}"
        connection.data_received(piece)
        await asyncio.sleep(0)
    # A response the pieces leave unfinished now fails instead of hanging.
    connection.connection_lost(None)
    return await exchange


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[index : index + 1] for index in range(len(data))]


class TestParser:
    @pytest.mark.parametrize(
        ("data", "body"),
        [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                b"Content-Length: 2\r\n\r\nok",
                b"ok",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n",
                b"abc0123456789abcdef",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1\r\nz\r\n0\r\n\r\n",
                b"z",
            ),
        ],
        ids=["content-length", "interim", "chunked-trailers", "chunked"],
    )
    async def test_byte_by_byte(self, data, body):
        """A response fed one byte at a time ends at its last byte, not before."""
        response = await parse_pieces(byte_by_byte(data))

        assert 200 == response.status
        assert body == response.body
        assert response.keep_alive

    async def test_head_end_beyond_limit(self):
        """A head whose end arrives in one read past the limit is rejected."""
        data = b"HTTP/1.1 200 OK\r\nX-Pad: %s\r\n\r\n" % (b"a" * MAX_HEAD_BYTES)

        with pytest.raises(httpx.RemoteProtocolError, match="head is longer"):
            await parse_pieces([data])

    async def test_trailers_beyond_limit(self):
        """Trailers longer than the head limit are rejected."""
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        trailers = b"X-Pad: " + b"a" * MAX_HEAD_BYTES

        with pytest.raises(httpx.RemoteProtocolError, match="trailers"):
            await parse_pieces([head, trailers])


class TestProtocolGuards:
    """Defensive branches that the transport's own calls do not reach."""

    @pytest.mark.parametrize("method", ["close", "abort"])
    async def test_close_before_connection_made(self, method):
        """close and abort before connection_made only mark the connection closed."""
        connection = _Connection(asyncio.get_running_loop(), MAX_BODY_BYTES)

        getattr(connection, method)()

        assert connection.closed

    async def test_resume_without_pending_drain(self):
        """resume_writing with no drain waiting only clears the pause."""
        connection = _Connection(asyncio.get_running_loop(), MAX_BODY_BYTES)
        connection.pause_writing()

        connection.resume_writing()

        assert not connection._paused

    async def test_late_outcome_ignored(self):
        """A failure or an end after the waiter is done leaves its result alone."""
        connection = _Connection(asyncio.get_running_loop(), MAX_BODY_BYTES)
        connection.connection_made(RecordingTransport())
        exchange = asyncio.ensure_future(
            connection.exchange(
                b"", head_request=False, write_timeout=None, read_timeout=None
            )
        )
        await asyncio.sleep(0)
        connection.data_received(b"HTTP/1.1 200 OK\r\n\r\nfirst")
        connection.connection_lost(None)
        connection._fail(httpx.ReadError("late"))
        connection._response = _Response()
        connection._finish()
        response = await exchange

        assert b"first" == response.body

    async def test_eviction_with_only_busy_connections(self):
        """At the limit with no idle connection, eviction closes nothing."""
        transport = AsyncioTransport(limits=httpx.Limits(max_connections=1))
        busy = _Connection(asyncio.get_running_loop(), MAX_BODY_BYTES)
        busy.connection_made(RecordingTransport())
        transport._open.add(busy)

        transport._evict_idle()

        assert not busy.closed
        assert {busy} == transport._open


class TestOrigin:
    @pytest.mark.parametrize(
        ("url", "origin"),
        [
            ("http://127.0.0.1:8080/x", ("http", "127.0.0.1", 8080)),
            ("https://example.test/x", ("https", "example.test", 443)),
            ("http://[::1]/x", ("http", "::1", 80)),
            ("https://b\u00fccher.test/x", ("https", "xn--bcher-kva.test", 443)),
        ],
    )
    def test_origin_is_ascii(self, url, origin):
        """Hosts are taken in the ASCII form sockets and TLS checks use."""
        assert origin == _origin_of(httpx.URL(url))


class TestBodyLimit:
    """Bodies longer than MAX_BODY_BYTES are refused, whatever their framing."""

    @pytest.mark.parametrize(
        "reply",
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n" + b"x" * 101,
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"40\r\n" + b"x" * 64 + b"\r\n",
                b"40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n",
            ],
            [b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 64, b"x" * 64],
        ],
        ids=["length", "chunked", "close"],
    )
    async def test_too_long_refused(self, monkeypatch, reply):
        """The exchange fails with ResponseTooLargeError and the connection closes."""
        monkeypatch.setattr(native_module, "MAX_BODY_BYTES", 100)
        server = Replies(reply)
        async with serving(server) as url, native() as transport:
            with pytest.raises(ResponseTooLargeError, match="longer than 100 bytes"):
                await fetch(transport, url)

    async def test_at_limit_accepted(self, monkeypatch):
        """A body of exactly MAX_BODY_BYTES is read."""
        monkeypatch.setattr(native_module, "MAX_BODY_BYTES", 100)
        server = Replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"y" * 100)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert b"y" * 100 == response.content

    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp"])
    async def test_session_reports_format_error_once(self, transport):
        """The session fails the call as a bad response and does not retry."""
        server = Replies(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"z" * 500)
        async with (
            serving(server) as url,
            VoicenterSession(
                base_url=url, transport=transport, max_response_bytes=100
            ) as session,
        ):
            with pytest.raises(ResponseFormatError, match="raise max_response_bytes"):
                await session.get_extensions("Sentinel7Code9Zq")

        assert 1 == len(server.heads)


class TestNotHttp:
    @pytest.mark.parametrize(
        "banner", [b"SSH-2.0-OpenSSH_9.6\r\n", b"\x16\x03\x01\x00", b"HTTP/2 200\r\n"]
    )
    async def test_other_protocol_fails_at_once(self, banner):
        """A reply that cannot start a status line fails without waiting."""
        server = Replies(banner)
        slow = {**TIMEOUTS, "read": 30.0}
        async with serving(server) as url, native() as transport:
            with pytest.raises(httpx.RemoteProtocolError, match="status line"):
                await asyncio.wait_for(fetch(transport, url, timeouts=slow), 5)

    async def test_status_line_split_byte_by_byte(self):
        """A status line that arrives a byte at a time is still read."""
        pieces = [bytes([byte]) for byte in OK[:12]] + [OK[12:]]
        server = Replies(pieces, pause=0.001)
        async with serving(server) as url, native() as transport:
            response = await fetch(transport, url)

        assert 200 == response.status_code
