"""The session's two send paths and its retry loop's first-attempt shortcut."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest
import respx
import stamina
from hypothesis import given
from hypothesis import strategies as st

from tests.test_transport import raw_server
from voicenter_async import (
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    TransportError,
    VoicenterSession,
)
from voicenter_async._http import DirectRequests, _encode_payload, build_request
from voicenter_async._native import AsyncioTransport
from voicenter_async._transport import AiohttpTransport

BASE = "http://voicenter.test"
PATH = "/Comet/api/GetExtensions"
CODE = "Sentinel7Code9Zq"
OK_BODY = {"ERR": 0, "DESC": "OK", "EXTENSIONS": [{"SIP": "1001", "Name": "A"}]}
SESSION_HEADERS = {"User-Agent": "test-agent", "Accept": "application/json", "X-A": "1"}


def header_items(request: httpx.Request) -> list[tuple[str, str]]:
    return sorted(request.headers.multi_items())


class TestDirectRequests:
    @pytest.mark.parametrize("show_all", [None, True, False])
    @pytest.mark.parametrize("method", ["POST", "GET"])
    async def test_equals_build_request(self, method, show_all):
        """A direct request equals the client's, header for header."""
        async with httpx.AsyncClient(base_url=BASE, timeout=7.0) as client:
            expected = build_request(client, method, CODE, show_all)
            expected.headers.update(SESSION_HEADERS)

            request = DirectRequests(client, method, SESSION_HEADERS).build(
                CODE, show_all
            )

        assert expected.method == request.method
        assert expected.url == request.url
        assert expected.content == request.content
        assert header_items(expected) == header_items(request)
        assert expected.extensions["timeout"] == request.extensions["timeout"]

    @pytest.mark.parametrize("value", [b"1", "caf\u00e9".encode()])
    async def test_keeps_header_order(self, value):
        """Headers go out as a plain httpx request orders them, length included."""
        headers = SESSION_HEADERS
        async with httpx.AsyncClient(base_url=BASE, timeout=7.0) as client:
            client.headers.update({"X-B": value})
            merged = build_request(client, "POST", CODE, False)
            merged.headers.update(headers)
            for name in ("Host", "Content-Length"):
                del merged.headers[name]
            expected = httpx.Request(
                "POST", merged.url, headers=merged.headers, content=merged.content
            )
            requests = DirectRequests(client, "POST", headers)

            first = requests.build(CODE, False)
            second = requests.build(CODE + "longer", None)

        assert expected.headers.raw == first.headers.raw
        assert str(len(second.content)) == second.headers["Content-Length"]
        assert first.headers["Content-Length"] != second.headers["Content-Length"]

    async def test_follows_client_changes(self):
        """New client headers, timeout or base URL reach the next request."""
        async with httpx.AsyncClient(base_url=BASE) as client:
            requests = DirectRequests(client, "POST", SESSION_HEADERS)
            requests.build(CODE, None)
            client.headers["X-Trace"] = "on"
            client.timeout = httpx.Timeout(3.0)
            client.base_url = httpx.URL("http://other.test")

            request = requests.build(CODE, None)

        assert "on" == request.headers["X-Trace"]
        assert 3.0 == request.extensions["timeout"]["read"]
        assert "other.test" == request.url.host
        assert "other.test" == request.headers["Host"]


class TestSendPaths:
    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp", "httpcore"])
    async def test_owned_client_reaches_respx(self, transport):
        """respx intercepts the owned client's direct sends on every transport."""
        with respx.mock(base_url=BASE, using="httpx") as router:
            route = router.post(PATH).respond(json=OK_BODY)
            async with VoicenterSession(base_url=BASE, transport=transport) as session:
                extensions = await session.get_extensions(CODE)
            request = route.calls.last.request

        assert ["1001"] == [extension.sip for extension in extensions]
        assert b'{"code":"Sentinel7Code9Zq"}' == request.content
        assert "application/json" == request.headers["Content-Type"]

    async def test_user_client_keeps_hooks(self):
        """A caller's client still runs its event hooks and auth."""
        seen: list[str] = []

        async def on_request(request: httpx.Request) -> None:
            seen.append(request.headers["Authorization"])

        with respx.mock(base_url=BASE, using="httpx") as router:
            router.post(PATH).respond(json=OK_BODY)
            async with (
                httpx.AsyncClient(
                    base_url=BASE,
                    auth=httpx.BasicAuth("user", "secret"),
                    event_hooks={"request": [on_request]},
                ) as client,
                VoicenterSession(http_client=client) as session,
            ):
                await session.get_extensions(CODE)

        assert 1 == len(seen)
        assert seen[0].startswith("Basic ")


class TestFirstAttempt:
    async def test_success_skips_stamina(self, monkeypatch):
        """A first attempt that succeeds never enters stamina's retry loop."""

        def fail(*args: object, **kwargs: object) -> None:
            raise AssertionError("retry_context was entered")

        monkeypatch.setattr(stamina, "retry_context", fail)
        with respx.mock(base_url=BASE, using="httpx") as router:
            router.post(PATH).respond(json=OK_BODY)
            async with VoicenterSession(base_url=BASE) as session:
                extensions = await session.get_extensions(CODE)

        assert ["1001"] == [extension.sip for extension in extensions]

    async def test_failure_then_success(self):
        """A retryable first failure is retried exactly as in the loop."""
        events = []
        with respx.mock(base_url=BASE, using="httpx") as router:
            router.post(PATH).mock(
                side_effect=[
                    httpx.Response(503, headers={"Retry-After": "0"}),
                    httpx.Response(200, json=OK_BODY),
                ]
            )
            async with VoicenterSession(
                base_url=BASE, on_retry=events.append
            ) as session:
                extensions = await session.get_extensions(CODE)
                stats = session.stats

        assert ["1001"] == [extension.sip for extension in extensions]
        assert [(1, "http_503", 0.0, 503)] == [
            (e.attempt, e.reason, e.delay, e.status) for e in events
        ]
        assert 2 == stats.requests_sent
        assert {"http_503": 1} == dict(stats.retries)

    async def test_every_attempt_fails(self):
        """With max_retries=2, three attempts run and the last error is raised."""
        events = []
        with respx.mock(base_url=BASE, using="httpx") as router:
            route = router.post(PATH).respond(503, headers={"Retry-After": "0"})
            async with VoicenterSession(
                base_url=BASE, on_retry=events.append
            ) as session:
                with pytest.raises(Exception, match="HTTP 503"):
                    await session.get_extensions(CODE)

        assert 3 == route.call_count
        assert [1, 2] == [event.attempt for event in events]

    async def test_no_retry_after_403(self):
        """A first failure that is not retryable ends the call at once."""
        with respx.mock(base_url=BASE, using="httpx") as router:
            route = router.post(PATH).respond(403)
            async with VoicenterSession(base_url=BASE) as session:
                with pytest.raises(Exception, match="403"):
                    await session.get_extensions(CODE)

        assert 1 == route.call_count


async def capture_heads(
    session_kwargs: dict[str, object],
    client_headers: dict[str, bytes] | None = None,
) -> tuple[list[bytes], list[bytes]]:
    """POST once through a session to a raw server; return the heads and bodies."""
    heads: list[bytes] = []
    bodies: list[bytes] = []
    reply = json.dumps(OK_BODY).encode()

    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        lengths = [
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        length = lengths[0] if lengths else 0
        bodies.append(await reader.readexactly(length))
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply)
        )
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url:
        session = VoicenterSession(base_url=url, **session_kwargs)  # type: ignore[arg-type]
        async with session:
            session.http_client.headers.update(client_headers or {})
            await session.get_extensions(CODE, show_all=False)

    return heads, bodies


def header_lines(head: bytes) -> list[bytes]:
    """The header lines of a request head, lowercased and sorted, Host left out."""
    lines = [line.lower() for line in head.split(b"\r\n")[1:] if line]
    return sorted(line for line in lines if not line.startswith(b"host:"))


class TestWholeResponsePath:
    """An owned client on aiohttp skips httpx's request and response objects."""

    @pytest.mark.parametrize("kind", [AsyncioTransport, AiohttpTransport])
    async def test_used_for_owned_client(self, monkeypatch, kind):
        """POSTs go through send_whole, and never through handle_async_request."""
        calls: list[str] = []
        send_whole = kind.send_whole
        handle = kind.handle_async_request

        async def spy_whole(self, *args, **kwargs):
            calls.append("whole")
            return await send_whole(self, *args, **kwargs)

        async def spy_handle(self, request):
            calls.append("handle")
            return await handle(self, request)

        monkeypatch.setattr(kind, "send_whole", spy_whole)
        monkeypatch.setattr(kind, "handle_async_request", spy_handle)
        name = "asyncio" if kind is AsyncioTransport else "aiohttp"
        await capture_heads({"transport": name})
        await capture_heads({"transport": name, "method": "GET"})

        assert ["whole", "handle"] == calls

    async def test_subclass_goes_through_httpx(self, monkeypatch):
        """A subclass of a library transport gets httpx request objects."""

        class Custom(AsyncioTransport):
            pass

        calls: list[str] = []
        handle = Custom.handle_async_request

        async def spy_handle(self, request):
            calls.append("handle")
            return await handle(self, request)

        monkeypatch.setattr(Custom, "handle_async_request", spy_handle)
        await capture_heads({"transport": Custom()})

        assert ["handle"] == calls

    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp"])
    async def test_same_bytes_as_httpx_path(self, transport):
        """The request on the wire matches the one built through httpx."""
        extra = {"X-Team": "caf\u00e9".encode()}
        direct_heads, direct_bodies = await capture_heads(
            {"transport": transport}, extra
        )
        httpcore_heads, httpcore_bodies = await capture_heads(
            {"transport": "httpcore"}, extra
        )

        assert (
            httpcore_bodies
            == direct_bodies
            == [b'{"code":"%s","showAll":0}' % CODE.encode()]
        )
        assert header_lines(httpcore_heads[0]) == header_lines(direct_heads[0])
        assert "x-team: caf\u00e9".encode() in header_lines(direct_heads[0])

    async def test_error_names_host_of_user_client(self):
        """A failure through a caller's client names the client's host."""
        async with raw_server(close_at_once) as url:
            dead = url
        async with (
            httpx.AsyncClient(base_url=dead) as client,
            VoicenterSession(http_client=client, max_retries=0) as session,
        ):
            with pytest.raises(TransportError, match=r"to 127\.0\.0\.1 failed"):
                await session.get_extensions(CODE)


async def close_at_once(reader, writer):
    writer.close()


@given(code=st.text(min_size=1), show_all=st.sampled_from([None, True, False]))
def test_payload_matches_json_dumps(code, show_all):
    """The hand-joined body equals json.dumps of the same dict."""
    payload: dict[str, object] = {"code": code}
    if show_all is not None:
        payload["showAll"] = int(show_all)

    assert json.dumps(payload, separators=(",", ":")).encode() == _encode_payload(
        code, show_all
    )


def compressed_reply(coding: str, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (coding.encode(), len(body), body)
    )


async def answer_with(reply: bytes, **session_kwargs: object) -> list[str]:
    """Fetch one code from a raw server that sends ``reply``; return the SIPs."""

    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        lengths = [
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        await reader.readexactly(lengths[0] if lengths else 0)
        writer.write(reply)
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url:
        session_kwargs.setdefault("max_retries", 0)
        session = VoicenterSession(base_url=url, **session_kwargs)  # type: ignore[arg-type]
        async with session:
            extensions = await session.get_extensions(CODE)

    return [extension.sip for extension in extensions]


JSON_BODY = json.dumps(OK_BODY).encode()
ALL_TRANSPORTS = ["asyncio", "aiohttp", "httpcore"]


class TestContentEncoding:
    """Compressed responses are decoded on every transport."""

    @pytest.mark.parametrize("transport", ALL_TRANSPORTS)
    @pytest.mark.parametrize(
        ("coding", "body"),
        [
            ("gzip", gzip.compress(JSON_BODY)),
            ("deflate", zlib.compress(JSON_BODY)),
            ("identity", JSON_BODY),
        ],
    )
    async def test_decoded(self, transport, coding, body):
        """gzip, deflate and identity bodies give the same records."""
        sips = await answer_with(compressed_reply(coding, body), transport=transport)

        assert ["1001"] == sips

    @pytest.mark.parametrize("transport", ALL_TRANSPORTS)
    async def test_broken_gzip_is_format_error(self, transport):
        """A body that does not decode is a ResponseFormatError, not a crash."""
        reply = compressed_reply("gzip", b"not gzip at all")

        with pytest.raises(ResponseFormatError, match="could not be decoded"):
            await answer_with(reply, transport=transport)


class TestServerRetryAfter:
    @pytest.mark.parametrize("transport", ["asyncio", "httpcore"])
    async def test_long_wait_kept_on_error(self, transport):
        """A 503 asking for a wait past max_retry_after carries and names it."""
        reply = (
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3600\r\n"
            b"Content-Length: 0\r\n\r\n"
        )

        with pytest.raises(ServerError, match="asked to wait 3600 s") as info:
            await answer_with(reply, transport=transport, max_retries=2)

        assert 3600.0 == info.value.retry_after

    async def test_no_header_no_wait(self):
        """A 503 without Retry-After has retry_after None."""
        reply = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"

        with pytest.raises(ServerError) as info:
            await answer_with(reply)

        assert info.value.retry_after is None
        assert "asked to wait" not in str(info.value)


async def test_latin1_header_bytes_sent_as_given():
    """Header bytes that are not UTF-8 go out unchanged on the asyncio transport."""
    extra = {"X-City": b"Bogot\xe1"}
    heads, _ = await capture_heads({"transport": "asyncio"}, extra)
    httpcore_heads, _ = await capture_heads({"transport": "httpcore"}, extra)

    assert b"x-city: bogot\xe1" in header_lines(heads[0])
    assert header_lines(httpcore_heads[0]) == header_lines(heads[0])


async def test_deadline_error_has_no_context():
    """A call past request_deadline raises with no internal exception chained."""

    async def silent(reader, writer):
        await reader.read()

    async with (
        raw_server(silent) as url,
        VoicenterSession(base_url=url, request_deadline=0.1) as session,
    ):
        with pytest.raises(RequestTimeoutError, match="deadline") as info:
            await session.get_extensions(CODE)

    assert info.value.__cause__ is None
    assert info.value.__context__ is None


class TestResponseSizeLimit:
    """max_response_bytes bounds bodies, compressed or not, on the direct path."""

    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp"])
    @pytest.mark.parametrize("coding", ["gzip", "deflate"])
    async def test_compressed_bomb_refused(self, transport, coding):
        """A small compressed body that expands past the limit is refused."""
        expanded = b" " * 5000
        body = gzip.compress(expanded) if coding == "gzip" else zlib.compress(expanded)
        reply = compressed_reply(coding, body)

        with pytest.raises(ResponseFormatError, match="longer than 1000 bytes"):
            await answer_with(reply, transport=transport, max_response_bytes=1000)

    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp"])
    @pytest.mark.parametrize("coding", ["identity", "gzip"])
    async def test_body_at_limit_read(self, transport, coding):
        """A decoded body of exactly the limit is read."""
        record = {"SIP": "1001", "Name": "A" * 2000}
        decoded = json.dumps({"ERR": 0, "DESC": "OK", "EXTENSIONS": [record]}).encode()
        body = gzip.compress(decoded) if coding == "gzip" else decoded
        reply = compressed_reply(coding, body)

        sips = await answer_with(
            reply, transport=transport, max_response_bytes=len(decoded)
        )

        assert ["1001"] == sips

    async def test_chunked_aiohttp_body_refused(self):
        """On aiohttp, a chunked body past the limit is refused while read."""
        reply = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n"
        )

        with pytest.raises(ResponseFormatError, match="longer than 1000 bytes"):
            await answer_with(reply, transport="aiohttp", max_response_bytes=1000)

    @pytest.mark.parametrize("value", [0, -1, 2.5, True, "64"])
    def test_invalid_limit_rejected(self, value):
        """max_response_bytes must be a whole number of at least 1."""
        with pytest.raises(ValueError, match="max_response_bytes"):
            VoicenterSession(base_url="http://voicenter.test", max_response_bytes=value)


class TestContentCodings:
    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp"])
    @pytest.mark.parametrize(
        ("header", "body"),
        [
            ("x-gzip", gzip.compress(JSON_BODY)),
            ("GZIP", gzip.compress(JSON_BODY)),
            ("gzip, identity", gzip.compress(JSON_BODY)),
            ("deflate, gzip", gzip.compress(zlib.compress(JSON_BODY))),
            ("deflate", zlib.compress(JSON_BODY)[2:-4]),
        ],
        ids=["x-gzip", "upper", "with-identity", "stacked", "raw-deflate"],
    )
    async def test_codings_decoded(self, transport, header, body):
        """Named, stacked and raw-deflate codings are all undone."""
        sips = await answer_with(compressed_reply(header, body), transport=transport)

        assert ["1001"] == sips

    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp"])
    @pytest.mark.parametrize("coding", ["br", "compress", "x" * 60])
    async def test_unknown_coding_named(self, transport, coding):
        """A coding the session cannot decode is named in the error."""
        reply = compressed_reply(coding, JSON_BODY)

        with pytest.raises(ResponseFormatError, match="content coding") as info:
            await answer_with(reply, transport=transport)

        assert coding[:30] in str(info.value)


class TestLateClientHeaders:
    @pytest.mark.parametrize("transport", ["asyncio", "aiohttp", "httpcore"])
    @pytest.mark.parametrize("value", ["a\nb", "tab\x01", " padded"])
    async def test_invalid_header_named(self, transport, value):
        """A bad header set on http_client later fails unsent, naming it."""
        seen: list[bytes] = []

        async def record(reader, writer):
            seen.append(await reader.read(1))
            writer.close()

        async with (
            raw_server(record) as url,
            VoicenterSession(base_url=url, transport=transport) as session,
        ):
            session.http_client.headers["X-Late"] = value
            with pytest.raises(TransportError, match="was not sent") as info:
                await session.get_extensions(CODE)
            stats = session.stats

        message = str(info.value)
        assert "'X-Late'" in message
        assert "session.http_client.headers" in message
        assert value not in message
        assert 1 == stats.requests_sent
        assert [] == seen
