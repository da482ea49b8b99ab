"""The transports: choice, equal results, pooling, interception and errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl

import aiohttp
import httpx
import pytest
import respx

from voicenter_async import (
    RequestTimeoutError,
    TransportError,
    VoicenterSession,
)
from voicenter_async._native import AsyncioTransport
from voicenter_async._transport import (
    AiohttpTransport,
    _raise_translated,
    make_transport,
)
from voicenter_async.testing import (
    API_PATH,
    Fault,
    VoicenterEmulator,
    mock_voicenter,
    sample_organization,
)

BASE = "http://voicenter.test"
TRANSPORTS = ["asyncio", "aiohttp", "httpcore"]
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)


@pytest.fixture(name="directory", scope="module")
def _directory():
    return sample_organization(seed=7, departments=12, extensions_per_department=3)


@pytest.fixture(name="emulator")
async def _emulator(directory):
    async with VoicenterEmulator(directory) as emulator:
        yield emulator


def codes_of(directory):
    return [department.code for department in directory]


def payload(code: str) -> bytes:
    return json.dumps({"code": code, "showAll": 0}).encode()


class TestChoice:
    def test_default_is_asyncio(self):
        """No choice and HTTP/1.1 gives the library's own transport."""
        chosen = make_transport(None, limits=LIMITS, http2=False)

        assert type(chosen) is AsyncioTransport

    def test_aiohttp_by_name(self):
        """'aiohttp' gives the aiohttp transport."""
        chosen = make_transport("aiohttp", limits=LIMITS, http2=False)

        assert type(chosen) is AiohttpTransport

    def test_http2_default_is_httpcore(self):
        """No choice with http2 leaves httpx to build its httpcore transport."""
        assert make_transport(None, limits=LIMITS, http2=True) is None

    def test_httpcore_by_name(self):
        """'httpcore' leaves httpx to build its own transport."""
        assert make_transport("httpcore", limits=LIMITS, http2=False) is None

    def test_instance_used_as_is(self):
        """A transport instance is passed through untouched."""
        mock = httpx.MockTransport(lambda request: httpx.Response(200))

        assert mock is make_transport(mock, limits=LIMITS, http2=True)

    def test_unknown_name_rejected(self):
        """An unknown transport name is a ValueError naming the choices."""
        with pytest.raises(ValueError, match="'aiohttp', 'httpcore'"):
            make_transport("urllib3", limits=LIMITS, http2=False)  # type: ignore[arg-type]

    def test_aiohttp_with_http2_rejected(self):
        """aiohttp speaks HTTP/1.1 only, so asking for it with http2 fails."""
        with pytest.raises(ValueError, match="http2=True needs the 'httpcore'"):
            make_transport("aiohttp", limits=LIMITS, http2=True)

    def test_session_rejects_bad_name(self):
        """The session reports a bad transport name before any request."""
        with pytest.raises(ValueError, match="transport must be"):
            VoicenterSession(base_url=BASE, transport="curl")  # type: ignore[arg-type]

    def test_session_default_client_transport(self):
        """A default session's client sends through the asyncio transport."""
        session = VoicenterSession(base_url=BASE)

        assert type(session.http_client._transport) is AsyncioTransport

    def test_session_http2_uses_httpcore(self):
        """http2=True builds httpx's own HTTP/2-capable transport."""
        pytest.importorskip("h2")
        session = VoicenterSession(base_url=BASE, http2=True)

        assert isinstance(session.http_client._transport, httpx.AsyncHTTPTransport)


class TestAgainstEmulator:
    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_same_roster(self, emulator, directory, transport):
        """Every transport returns the extensions the emulator serves."""
        async with VoicenterSession(
            base_url=emulator.base_url, transport=transport
        ) as session:
            roster = await session.fetch_departments(codes_of(directory))

        expected = {e.sip for d in directory for e in d.extensions}
        assert roster.ok
        assert expected == {extension.sip for extension in roster.extensions}

    @pytest.mark.parametrize("transport", TRANSPORTS)
    @pytest.mark.parametrize(("codes", "concurrency"), [(12, 4), (3, 4), (12, 1)])
    async def test_connections_opened(
        self, emulator, directory, transport, codes, concurrency
    ):
        """A fan-out opens exactly min(N, C) connections and reuses them."""
        emulator.add_fault(Fault.latency(0.02))
        async with VoicenterSession(
            base_url=emulator.base_url,
            transport=transport,
            max_connections=concurrency,
        ) as session:
            await session.fetch_departments(codes_of(directory)[:codes])

        stats = emulator.stats
        assert min(codes, concurrency) == stats.connections_opened
        assert codes == stats.requests_served
        assert min(codes, concurrency) == stats.peak_in_flight

    async def test_keepalive_expiry(self, emulator, directory):
        """An idle connection older than keepalive_expiry is not reused."""
        code = codes_of(directory)[0]
        async with VoicenterSession(
            base_url=emulator.base_url, transport="aiohttp", keepalive_expiry=0.05
        ) as session:
            await session.get_extensions(code)
            await session.get_extensions(code)
            reused = emulator.stats.connections_opened
            await asyncio.sleep(0.3)
            await session.get_extensions(code)

        assert 1 == reused
        assert 2 == emulator.stats.connections_opened

    async def test_closes_connections(self, emulator, directory):
        """Closing the session closes every pooled connection."""
        async with VoicenterSession(
            base_url=emulator.base_url, transport="aiohttp", max_connections=3
        ) as session:
            await session.fetch_departments(codes_of(directory)[:6])
            assert 3 == emulator.stats.connections_open

        for _ in range(50):
            if emulator.stats.connections_open == 0:
                break
            await asyncio.sleep(0.01)
        assert 0 == emulator.stats.connections_open


class TestInterception:
    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_respx_at_client(self, transport):
        """respx's httpx mocker intercepts every transport's requests."""
        body = {"ERR": 0, "EXTENSIONS": [{"SIP": "1001"}]}
        with respx.mock(base_url=BASE, using="httpx") as router:
            route = router.post(API_PATH).respond(json=body)
            async with VoicenterSession(base_url=BASE, transport=transport) as session:
                extensions = await session.get_extensions("FAKE0123456789")
            called = route.called

        assert called
        assert ["1001"] == [extension.sip for extension in extensions]

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_mock_voicenter(self, directory, transport):
        """The library's respx helper serves every transport."""
        department = next(iter(directory))
        with mock_voicenter(directory) as router:
            async with VoicenterSession(base_url=BASE, transport=transport) as session:
                extensions = await session.get_extensions(
                    department.code, show_all=False
                )
            calls = router.calls.call_count

        assert 1 == calls
        assert [e.sip for e in department.extensions] == [e.sip for e in extensions]


@contextlib.asynccontextmanager
async def raw_server(handler):
    """Serve one asyncio stream handler on 127.0.0.1 and yield its base URL.

    Every connection is closed and every handler ended on exit, so no socket
    outlives the test.
    """
    tasks: set[asyncio.Task] = set()

    async def guarded(reader, writer):
        tasks.add(asyncio.current_task())
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))


async def post_to(handler, transport: str, **kwargs) -> httpx.Response:
    """POST an empty JSON object to a raw server that runs ``handler``."""
    async with (
        raw_server(handler) as url,
        client_for(transport, url, **kwargs) as client,
    ):
        return await client.post(API_PATH, content=b"{}")


def client_for(transport: str, base_url: str, **kwargs) -> httpx.AsyncClient:
    limits = kwargs.pop("limits", LIMITS)
    chosen = make_transport(transport, limits=limits, http2=False)
    return httpx.AsyncClient(
        base_url=base_url, transport=chosen, limits=limits, trust_env=False, **kwargs
    )


async def free_port() -> int:
    async with raw_server(read_request) as url:
        pass
    return int(url.rsplit(":", 1)[1])


class TestErrors:
    """Each transport raises the same httpx exception for the same failure."""

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_connection_refused(self, transport):
        """Nothing listening is ConnectError."""
        port = await free_port()
        async with client_for(transport, f"http://127.0.0.1:{port}") as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(API_PATH, content=b"{}")

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_read_timeout(self, transport):
        """A server that never responds is ReadTimeout."""

        async def silent(reader, writer):
            await read_request(reader)
            await reader.read()  # until the client gives up and disconnects
            writer.close()

        with pytest.raises(httpx.ReadTimeout):
            await post_to(silent, transport, timeout=0.1)

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_disconnect_before_answer(self, transport):
        """A connection closed before any response is RemoteProtocolError."""

        async def hang_up(reader, writer):
            await read_request(reader)
            writer.close()

        with pytest.raises(httpx.RemoteProtocolError):
            await post_to(hang_up, transport)

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_truncated_body(self, transport):
        """A body shorter than its Content-Length is RemoteProtocolError."""

        async def truncate(reader, writer):
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}")
            await writer.drain()
            writer.close()

        with pytest.raises(httpx.RemoteProtocolError):
            await post_to(truncate, transport)

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_not_http(self, transport):
        """Bytes that are not an HTTP response are RemoteProtocolError."""

        async def garbage(reader, writer):
            await read_request(reader)
            writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
            await writer.drain()
            writer.close()

        with pytest.raises(httpx.RemoteProtocolError):
            await post_to(garbage, transport)

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_pool_timeout(self, emulator, transport):
        """Waiting longer than the pool timeout for a slot is PoolTimeout."""
        emulator.add_fault(Fault.latency(0.5))
        limits = httpx.Limits(max_connections=1)
        timeout = httpx.Timeout(5.0, pool=0.05)
        async with client_for(
            transport, emulator.base_url, limits=limits, timeout=timeout
        ) as client:
            first = asyncio.ensure_future(client.post(API_PATH, content=b"{}"))
            await asyncio.sleep(0.1)
            with pytest.raises(httpx.PoolTimeout):
                await client.post(API_PATH, content=b"{}")
            await first

    async def test_unsupported_scheme(self):
        """A URL that is not http or https is UnsupportedProtocol."""
        async with client_for("aiohttp", "ftp://127.0.0.1") as client:
            with pytest.raises(httpx.UnsupportedProtocol):
                await client.get("/")

    async def test_session_maps_timeouts(self, emulator, directory):
        """Through the session, a slow server is RequestTimeoutError."""
        emulator.add_fault(Fault.latency(1.0))
        async with VoicenterSession(
            base_url=emulator.base_url, timeout=0.1, max_retries=0
        ) as session:
            with pytest.raises(RequestTimeoutError):
                await session.get_extensions(codes_of(directory)[0])

    async def test_session_maps_disconnects(self, emulator, directory):
        """Through the session, a dropped connection is TransportError."""
        emulator.add_fault(Fault.disconnect())
        async with VoicenterSession(
            base_url=emulator.base_url, max_retries=0
        ) as session:
            with pytest.raises(TransportError):
                await session.get_extensions(codes_of(directory)[0])


class TestHttpDetails:
    async def test_streamed_request_body(self, emulator, directory):
        """A request body given as an async iterator is sent in full."""
        code = codes_of(directory)[0]

        async def chunks():
            yield b'{"code": "'
            yield code.encode()
            yield b'", "showAll": 0}'

        async with client_for("aiohttp", emulator.base_url) as client:
            response = await client.post(API_PATH, content=chunks())

        assert 200 == response.status_code
        assert 3 == len(response.json()["EXTENSIONS"])

    async def test_streamed_response(self, emulator, directory):
        """client.stream reads the body in chunks and releases the slot."""
        code = codes_of(directory)[0]
        async with client_for("aiohttp", emulator.base_url) as client:
            for _ in range(LIMITS.max_connections + 1):
                async with client.stream(
                    "POST", API_PATH, content=payload(code)
                ) as response:
                    body = b"".join([chunk async for chunk in response.aiter_raw()])

        assert 3 == len(json.loads(body)["EXTENSIONS"])

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_response_metadata(self, transport):
        """Status, reason, version and headers come through unchanged."""

        async def teapot(reader, writer):
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 418 I'm a teapot\r\nX-Kind: tea\r\nX-Kind: pot\r\n"
                b"Content-Length: 2\r\n\r\nhi"
            )
            await writer.drain()
            writer.close()

        async with raw_server(teapot) as url, client_for(transport, url) as client:
            response = await client.post(API_PATH, content=b"{}")

        assert 418 == response.status_code
        assert "HTTP/1.1" == response.http_version
        assert "I'm a teapot" == response.reason_phrase
        assert ["tea", "pot"] == response.headers.get_list("x-kind")
        assert b"hi" == response.content

    async def test_request_headers_sent_once(self):
        """httpx's headers are sent as built, none doubled or added."""
        seen: list[bytes] = []

        async def echo(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head)
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
            writer.close()

        async with raw_server(echo) as url, client_for("aiohttp", url) as client:
            await client.post("/x", content=b"{}", headers={"User-Agent": "probe/1"})

        lines = [line.lower() for line in seen[0].split(b"\r\n")[1:] if line]
        names = [line.split(b":")[0] for line in lines]
        assert 1 == names.count(b"content-length")
        assert 1 == names.count(b"user-agent")
        assert b"user-agent: probe/1" in lines
        assert 1 == names.count(b"host")

    async def test_closed_transport_rejects(self):
        """A request after aclose fails instead of reopening a pool."""
        transport = AiohttpTransport(limits=LIMITS)
        await transport.aclose()
        request = httpx.Request("GET", "http://127.0.0.1:1/")

        with pytest.raises(RuntimeError, match="closed"):
            await transport.handle_async_request(request)


class TestUnits:
    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            (aiohttp.ConnectionTimeoutError("slow connect"), httpx.ConnectTimeout),
            (aiohttp.SocketTimeoutError("slow read"), httpx.ReadTimeout),
            (asyncio.TimeoutError(), httpx.ReadTimeout),
            (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
            (aiohttp.ClientPayloadError("short body"), httpx.RemoteProtocolError),
            (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
            (aiohttp.ClientConnectionResetError("reset"), httpx.ReadError),
            (aiohttp.InvalidURL("http://[::1"), httpx.UnsupportedProtocol),
            (aiohttp.ClientError("other"), httpx.TransportError),
        ],
    )
    def test_error_mapping(self, error, expected):
        """Each aiohttp error becomes the httpx error httpcore would raise."""
        with pytest.raises(httpx.TransportError) as raised:
            _raise_translated(error)

        assert expected is type(raised.value)
        assert error is raised.value.__cause__

    def test_ssl_for_http_is_default(self):
        """Plain http needs no TLS context."""
        assert AiohttpTransport()._ssl_for("http") is True

    def test_ssl_for_https_verifies(self):
        """https checks certificates with httpx's default context, built once."""
        transport = AiohttpTransport()

        context = transport._ssl_for("https")

        assert isinstance(context, ssl.SSLContext)
        assert ssl.CERT_REQUIRED == context.verify_mode
        assert context is transport._ssl_for("https")

    @pytest.mark.parametrize("verify", [False, ssl.create_default_context()])
    def test_ssl_for_https_as_given(self, verify):
        """verify=False or a caller's context is used as it is."""
        assert verify is AiohttpTransport(verify=verify)._ssl_for("https")

    async def test_unlimited_pool(self, emulator, directory):
        """max_connections=None sends without any slot limit."""
        limits = httpx.Limits(max_connections=None)
        code = codes_of(directory)[0]
        async with client_for("aiohttp", emulator.base_url, limits=limits) as client:
            responses = await asyncio.gather(
                *(client.post(API_PATH, content=payload(code)) for _ in range(5))
            )

        assert [200] * 5 == [response.status_code for response in responses]
