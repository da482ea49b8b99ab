"""The emulator's fast path for plain requests, and its hand-over to h11."""

from __future__ import annotations

import asyncio
import json
import re

import h11
import pytest

from voicenter_async.testing import (
    API_PATH,
    Fault,
    VoicenterEmulator,
    sample_organization,
)
from voicenter_async.testing._http1 import (
    MAX_HEAD_SIZE,
    SimpleRequest,
    find_head_end,
    parse_simple_head,
    response_head,
    sized_response_head,
)

DIRECTORY = sample_organization(0, 2, 3)
SALES = next(iter(DIRECTORY)).code
BODY = json.dumps({"code": SALES}).encode()
POST = (
    f"POST {API_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n"
).encode() + BODY
GET = f"GET {API_PATH}?code={SALES} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
CHUNKED = (
    (
        f"POST {API_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(BODY):x}\r\n"
    ).encode()
    + BODY
    + b"\r\n0\r\n\r\n"
)


def with_header(request: bytes, header: bytes) -> bytes:
    return request.replace(b"Host: x", b"Host: x\r\n" + header, 1)


class TestParseSimpleHead:
    def test_plain_post(self):
        """A plain POST head gives its method, target and body size."""
        head_end = find_head_end(POST)

        request = parse_simple_head(POST[:head_end])

        assert SimpleRequest("POST", API_PATH, len(BODY), head_end) == request

    def test_plain_get_without_body(self):
        """A head without Content-Length has a body of 0 bytes."""
        request = parse_simple_head(GET)

        assert request is not None
        assert 0 == request.content_length
        assert f"{API_PATH}?code={SALES}" == request.target

    def test_keep_alive_is_plain(self):
        """Connection: keep-alive, in any case, stays on the fast path."""
        assert parse_simple_head(with_header(GET, b"connection: Keep-Alive"))

    @pytest.mark.parametrize(
        "head",
        [
            pytest.param(GET.replace(b"\r\n", b"\n"), id="bare-lf"),
            pytest.param(GET.replace(b"HTTP/1.1", b"HTTP/1.0"), id="http-1.0"),
            pytest.param(GET.replace(b"GET ", b"CONNECT "), id="connect"),
            pytest.param(GET.replace(b"GET ", b"G@T "), id="bad-method"),
            pytest.param(GET.replace(b"Host: x\r\n", b""), id="no-host"),
            pytest.param(with_header(GET, b"Host: y"), id="two-hosts"),
            pytest.param(with_header(GET, b"Content-Length: +1"), id="signed-length"),
            pytest.param(
                with_header(GET, b"Content-Length: 0\r\nContent-Length: 0"),
                id="two-lengths",
            ),
            pytest.param(with_header(GET, b"Transfer-Encoding: chunked"), id="te"),
            pytest.param(with_header(GET, b"Expect: 100-continue"), id="expect"),
            pytest.param(with_header(GET, b"Upgrade: h2c"), id="upgrade"),
            pytest.param(with_header(GET, b"Connection: close"), id="close"),
            pytest.param(with_header(GET, b"Bad Name: y"), id="space-in-name"),
            pytest.param(with_header(GET, b"X-A: a\x01b"), id="control-char"),
            pytest.param(with_header(GET, b"X-A: y\r\n z"), id="folded"),
            pytest.param(GET[:-2], id="no-blank-line"),
        ],
    )
    def test_not_plain(self, head):
        """Anything h11 must judge gives None."""
        assert parse_simple_head(head) is None

    def test_find_head_end(self):
        """The head ends after the first blank line, CRLF or bare LF."""
        assert len(GET) == find_head_end(GET + b"next")
        assert -1 == find_head_end(GET[:-2])
        assert 7 == find_head_end(b"GET /\n\nrest")


class TestResponseHead:
    def test_matches_h11(self):
        """The cached head is what h11 sends for the same response."""
        headers = (("Content-Type", "text/plain"), ("Content-Length", "2"))
        connection = h11.Connection(h11.SERVER)
        connection.receive_data(GET)
        connection.next_event()
        expected = connection.send(h11.Response(status_code=404, headers=headers))

        assert expected == response_head(404, headers, close=False)

    def test_close_header_last(self):
        """close adds Connection: close after the given headers."""
        head = response_head(200, (("Content-Length", "0"),), close=True)

        assert (
            b"HTTP/1.1 200 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n" == head
        )

    def test_invalid_header_raises(self):
        """An invalid header value raises as it does on the h11 path."""
        with pytest.raises(h11.LocalProtocolError):
            response_head(
                200, (("X-A", "a\r\nb"), ("Content-Length", "0")), close=False
            )


class TestSizedResponseHead:
    @pytest.mark.parametrize("status", [200, 204, 400, 404, 405, 429, 503])
    @pytest.mark.parametrize("close", [False, True])
    @pytest.mark.parametrize("length", [0, 1, 9, 10, 1234, 10**9])
    def test_matches_response_head(self, status, close, length):
        """The spliced head equals the head h11 writes for that length."""
        headers = (("Content-Type", "text/plain"), ("Allow", "GET, POST"))
        expected = response_head(
            status, (*headers, ("Content-Length", str(length))), close=close
        )

        assert expected == sized_response_head(status, headers, length, close=close)

    def test_no_other_headers(self):
        """A head with no headers of its own still gets its length."""
        head = sized_response_head(200, (), 17, close=False)

        assert b"HTTP/1.1 200 \r\nContent-Length: 17\r\n\r\n" == head

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param((("content-length", "5"),), id="own-length"),
            pytest.param((("Transfer-Encoding", "chunked"),), id="chunked"),
        ],
    )
    def test_framing_headers_fall_back(self, headers):
        """Headers that frame the body themselves get h11's whole head."""
        expected = response_head(200, (*headers, ("Content-Length", "5")), close=False)

        assert expected == sized_response_head(200, headers, 5, close=False)

    def test_invalid_header_raises(self):
        """An invalid header value raises here too."""
        with pytest.raises(h11.LocalProtocolError):
            sized_response_head(200, (("X-A", "a\r\nb"),), 3, close=False)


async def exchange(emulator: VoicenterEmulator, *chunks: bytes | None) -> bytes:
    """Write each chunk (None shuts down the write side) and read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    for chunk in chunks:
        if chunk is None:
            writer.write_eof()
        else:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return data


def statuses_of(data: bytes) -> list[bytes]:
    """Return the status codes of the responses in ``data``, in order."""
    return re.findall(rb"HTTP/1\.1 ([0-9]{3}) \r\n", data)


@pytest.fixture(name="emulator")
async def _emulator():
    # Two requests per connection, so every exchange below ends in a close.
    async with VoicenterEmulator(
        DIRECTORY, max_requests_per_connection=2, idle_timeout=0.5
    ) as emulator:
        yield emulator


class TestServing:
    @pytest.mark.parametrize(
        ("chunks", "statuses", "served"),
        [
            pytest.param([POST + GET], [b"200", b"200"], 2, id="pipelined"),
            pytest.param(
                [POST[:5], POST[5:30], POST[30:-3], POST[-3:]], [b"200"], 1, id="split"
            ),
            pytest.param([CHUNKED + GET], [b"200", b"200"], 2, id="chunked-then-plain"),
            pytest.param(
                [GET.replace(b"HTTP/1.1", b"HTTP/1.0")], [b"200"], 1, id="http-1.0"
            ),
            pytest.param(
                [with_header(GET, b"Connection: close")], [b"200"], 1, id="close"
            ),
            pytest.param([GET.replace(b"\r\n", b"\n")], [b"200"], 1, id="bare-lf"),
            pytest.param(
                [with_header(POST, b"Expect: 100-continue")], [b"200"], 1, id="expect"
            ),
            pytest.param([GET.replace(b"Host: x\r\n", b"")], [b"400"], 0, id="no-host"),
            pytest.param(
                [with_header(POST, b"Content-Length: 3")], [b"400"], 0, id="two-lengths"
            ),
            pytest.param([GET[:20], None], [b"400"], 0, id="eof-in-head"),
            pytest.param([POST[:-5], None], [b"400"], 0, id="eof-in-body"),
            pytest.param([GET, None], [b"200"], 1, id="eof-after-request"),
            pytest.param([b"\x16\x03\x01\x00"], [b"400"], 0, id="tls-hello"),
            pytest.param([b"\r\n" + GET], [b"400"], 0, id="leading-crlf"),
            pytest.param(
                [b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD_SIZE + 100)],
                [b"431"],
                0,
                id="head-too-large",
            ),
        ],
    )
    async def test_request_outcome(self, emulator, chunks, statuses, served):
        """Plain and odd requests get the status h11 alone gives them."""
        data = await exchange(emulator, *chunks)

        assert statuses == statuses_of(data)
        assert served == emulator.stats.requests_served
        assert 0 == emulator.stats.handler_errors

    async def test_h11_and_fast_path_bytes_equal(self, emulator):
        """A plain request sent after an h11 one gets the very same bytes."""
        fast = await exchange(emulator, GET + GET)
        after_h11 = await exchange(emulator, CHUNKED + GET)

        assert fast.count(b"HTTP/1.1 ") == 2
        second_fast = fast[fast.rindex(b"HTTP/1.1 ") :]
        second_after_h11 = after_h11[after_h11.rindex(b"HTTP/1.1 ") :]
        assert second_fast == second_after_h11
        assert b"Connection: close\r\n" in second_fast

    @pytest.mark.parametrize(
        "request_bytes",
        [pytest.param(GET, id="fast-path"), pytest.param(CHUNKED, id="h11")],
    )
    async def test_faults_on_either_path(self, emulator, request_bytes):
        """Dripped and truncated responses come out alike on both paths."""
        emulator.add_fault(Fault.drip(chunk_size=16, interval=0.001), times=1)
        dripped = await exchange(emulator, request_bytes, None)
        emulator.add_fault(Fault.truncated(sent_bytes=5), times=1)
        truncated = await exchange(emulator, request_bytes)

        head, _, body = dripped.partition(b"\r\n\r\n")
        assert b"HTTP/1.1 200 " in head
        assert "OK" == json.loads(body)["DESC"]
        head, _, body = truncated.partition(b"\r\n\r\n")
        assert b"HTTP/1.1 200 " in head
        assert 5 == len(body)
