"""The transports a session can send its requests through.

httpx stays the public surface (``httpx.AsyncClient``, ``httpx.Timeout``,
``httpx.Limits``, event hooks); only the layer that moves bytes changes.

``"asyncio"`` (the default for HTTP/1.1) is `AsyncioTransport`, the
library's own HTTP/1.1 client, which does the least work per request.
``"aiohttp"`` is `AiohttpTransport`, which hands each request to an
``aiohttp.ClientSession``. httpx's own transport, ``"httpcore"``, walks
every pooled connection on each pool event, so its CPU cost per request
grows with the pool size; the other two do not. HTTP/2 needs httpcore, so
``http2=True`` selects it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Literal, NoReturn

import aiohttp
import httpx

from ._native import (
    MAX_BODY_BYTES,
    AsyncioTransport,
    ResponseTooLargeError,
    WholeResponse,
    acquire_slot,
    too_large_message,
)

__all__ = [
    "AiohttpTransport",
    "TransportName",
    "WholeResponse",
    "aiohttp_headers",
    "make_transport",
]

TransportName = Literal["asyncio", "aiohttp", "httpcore"]

TRANSPORT_NAMES: tuple[TransportName, ...] = ("asyncio", "aiohttp", "httpcore")

#: The transport a session uses for HTTP/1.1 when none is named.
DEFAULT_TRANSPORT: TransportName = "asyncio"

# Headers that httpx has already set on the request. aiohttp would otherwise
# add its own values when one is missing, so what httpx built is what is sent.
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent"})

# aiohttp computes these from the body it is given; passing httpx's copies
# too could send them twice.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})

# The server closed the connection early, cut the body short, or sent bytes
# that do not parse as an HTTP/1.1 response.
_PROTOCOL_ERRORS = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
)

_TimeoutKey = tuple[float | None, float | None]


def make_transport(
    choice: TransportName | httpx.AsyncBaseTransport | None,
    *,
    limits: httpx.Limits,
    http2: bool,
    max_body_bytes: int | None = None,
) -> httpx.AsyncBaseTransport | None:
    """Build the transport a session's client sends through.

    Args:
        choice: ``"asyncio"``, ``"aiohttp"``, ``"httpcore"``, a transport
            instance, or None for the default: ``"asyncio"``, or
            ``"httpcore"`` when ``http2`` is set.
        limits: Pool limits for the transport that is built.
        http2: Whether the caller asked for HTTP/2.
        max_body_bytes: The maximum size of a response body the built
            transport reads, or None for `MAX_BODY_BYTES`.

    Returns:
        The transport, or None when httpx should build its own httpcore
        transport from the client's ``limits`` and ``http2`` settings.

    Raises:
        ValueError: ``choice`` is an unknown name, or ``"asyncio"`` or
            ``"aiohttp"`` was asked for together with ``http2=True``.
    """
    if isinstance(choice, httpx.AsyncBaseTransport):
        return choice
    if choice is None:
        choice = "httpcore" if http2 else DEFAULT_TRANSPORT
    if choice == "httpcore":
        return None
    if choice not in TRANSPORT_NAMES:
        msg = (
            f"transport must be 'asyncio', 'aiohttp', 'httpcore' or an "
            f"httpx.AsyncBaseTransport, got {choice!r}"
        )
        raise ValueError(msg)
    if http2:
        msg = (
            f"http2=True needs the 'httpcore' transport, because the {choice!r} "
            "transport speaks HTTP/1.1 only; pass transport='httpcore' or leave "
            "transport unset"
        )
        raise ValueError(msg)
    if choice == "asyncio":
        return AsyncioTransport(limits=limits, max_body_bytes=max_body_bytes)

    return AiohttpTransport(limits=limits, max_body_bytes=max_body_bytes)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends requests with an ``aiohttp.ClientSession``.

    The aiohttp session is opened on the first request, inside the running
    event loop, and belongs to that loop. httpx's timeouts map to aiohttp's:
    ``connect`` to ``sock_connect``, ``read`` to ``sock_read``, and ``pool``
    to the wait for a free slot below ``max_connections``. NOTE: aiohttp has
    no write timeout, so httpx's ``write`` is not applied, and it writes
    header values as UTF-8 text, so a value given as bytes in another
    encoding goes out re-encoded. aiohttp errors are
    raised as the httpx exceptions that httpx's own transport raises for the
    same failure, so code written against httpx keeps working.

    Cookies and redirects are left to the httpx client, and the body is
    passed on undecoded so that httpx decodes it by ``Content-Encoding``.

    Args:
        limits: ``max_connections`` caps the connections open at once, and
            ``keepalive_expiry`` is how long an idle one is kept. aiohttp
            keeps every idle connection up to ``max_connections``, so a lower
            ``max_keepalive_connections`` is not applied.
        verify: True to check server certificates against httpx's default
            CA bundle, False not to check them, or an `ssl.SSLContext`.
        max_body_bytes: The maximum size of a response body that
            `send_whole` reads; a longer one fails with
            `ResponseTooLargeError`. None means `MAX_BODY_BYTES`. Bodies
            read through `handle_async_request` are not bounded.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        verify: bool | ssl.SSLContext = True,
        max_body_bytes: int | None = None,
    ) -> None:
        self.max_body_bytes = (
            MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
        )
        self._limits = limits or httpx.Limits()
        self._verify = verify
        self._ssl: ssl.SSLContext | bool | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[_TimeoutKey, aiohttp.ClientTimeout] = {}
        max_connections = self._limits.max_connections
        self._slots = asyncio.Semaphore(max_connections) if max_connections else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and return the response with its body unread.

        Raises:
            httpx.PoolTimeout: No connection slot became free in time.
            httpx.ConnectTimeout: Connecting took too long.
            httpx.ConnectError: The connection could not be opened.
            httpx.ReadTimeout: The server did not respond in time.
            httpx.RemoteProtocolError: The server closed the connection
                early or sent something that is not HTTP/1.1.
            httpx.ReadError: The connection failed while the response was read.
            httpx.UnsupportedProtocol: The URL is not http:// or https://.
        """
        scheme = request.url.scheme
        if scheme not in ("http", "https"):
            msg = f"Request URL has an unsupported protocol '{scheme}://'"
            raise httpx.UnsupportedProtocol(msg)
        timeouts = request.extensions.get("timeout", {})
        response = await self._start(
            request.method,
            str(request.url),
            headers=aiohttp_headers(request.headers),
            body=_request_body(request),
            timeouts=timeouts,
            scheme=scheme,
        )

        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, self._release_slot),
            extensions={
                "http_version": _http_version(response),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def send_whole(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeouts: Mapping[str, float | None],
        *,
        trace: object = None,
    ) -> WholeResponse:
        """Send one request and read its whole body, without httpx's objects.

        This is the session's path for the requests of a client it created:
        it skips building ``httpx.Request`` and ``httpx.Response`` objects
        and streaming the body through them, and raises the same httpx
        exceptions as `handle_async_request`.

        Args:
            method: The HTTP method.
            url: An absolute http:// or https:// URL.
            headers: The headers to send, without ``Content-Length``, which
                is set from ``body``.
            body: The request body.
            timeouts: httpx's timeout extension: ``connect``, ``read`` and
                ``pool`` in seconds, or None for no limit.
            trace: Not used; aiohttp reports no connection events.
        """
        scheme = "https" if url.startswith("https:") else "http"
        response = await self._start(
            method, url, headers=headers, body=body, timeouts=timeouts, scheme=scheme
        )
        try:
            content = await _read_bounded(response, self.max_body_bytes)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            _raise_translated(exc)
        finally:
            # A fully read body hands the connection back to the pool;
            # otherwise aiohttp closes it.
            response.release()
            self._release_slot()

        return WholeResponse(
            status_code=response.status,
            reason_phrase=response.reason or "",
            headers=response.headers,
            content=content,
        )

    async def _start(
        self,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
        timeouts: Mapping[str, float | None],
        scheme: str,
    ) -> aiohttp.ClientResponse:
        """Send a request and return its response, holding a pool slot."""
        session = self._session or self._open()
        await self._acquire_slot(timeouts.get("pool"))
        try:
            return await session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._client_timeout(timeouts),
                ssl=self._ssl_for(scheme),
            )
        except BaseException as exc:
            self._release_slot()
            if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
                _raise_translated(exc)
            raise

    async def aclose(self) -> None:
        """Close every pooled connection. Calling it again does nothing."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            msg = "the transport is closed; create a new client"
            raise RuntimeError(msg)
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
        )

        return self._session

    async def _acquire_slot(self, timeout: float | None) -> None:
        if self._slots is not None:
            await acquire_slot(self._slots, timeout)

    def _release_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _client_timeout(
        self, timeouts: Mapping[str, float | None]
    ) -> aiohttp.ClientTimeout:
        key = (timeouts.get("connect"), timeouts.get("read"))
        found = self._timeouts.get(key)
        if found is None:
            # The pool wait is bounded by _acquire_slot, so aiohttp's own
            # `connect` (pool wait plus connecting) and `total` stay unset.
            found = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=key[0], sock_read=key[1]
            )
            self._timeouts[key] = found

        return found

    def _ssl_for(self, scheme: str) -> ssl.SSLContext | bool:
        # aiohttp ignores this for http:// URLs; True means its default.
        if scheme != "https":
            return True
        if self._ssl is None:
            if isinstance(self._verify, ssl.SSLContext) or self._verify is False:
                self._ssl = self._verify
            else:
                # httpx's default CA bundle, so certificates are checked as
                # httpx's own transport checks them. Built on first use because
                # loading the bundle takes tens of milliseconds.
                self._ssl = httpx.create_ssl_context(verify=True)

        return self._ssl


class _ResponseStream(httpx.AsyncByteStream):
    """The body of an aiohttp response, read as httpx reads a stream."""

    def __init__(
        self, response: aiohttp.ClientResponse, on_close: Callable[[], None]
    ) -> None:
        self._response = response
        self._on_close = on_close
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            _raise_translated(exc)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A fully read body hands the connection back to the pool; otherwise
        # aiohttp closes it, because unread bytes would corrupt the next use.
        self._response.release()
        self._on_close()


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read a whole body, failing as soon as it is longer than ``limit``."""
    length = response.content_length
    if length is not None and length > limit:
        raise ResponseTooLargeError(too_large_message(limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(too_large_message(limit))
        chunks.append(chunk)

    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _http_version(response: aiohttp.ClientResponse) -> bytes:
    version = response.version
    if version is None:
        return b"HTTP/1.1"

    return b"HTTP/%d.%d" % (version.major, version.minor)


def aiohttp_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Return httpx headers as aiohttp takes them, without the body's own.

    Names and values are decoded with the encoding httpx found for them,
    since aiohttp encodes them as UTF-8 again when it writes them.
    """
    encoding = headers.encoding
    return [
        (name.decode(encoding), value.decode(encoding))
        for name, value in headers.raw
        if name.lower() not in _BODY_HEADERS
    ]


def _request_body(request: httpx.Request) -> bytes | AsyncIterator[bytes] | None:
    try:
        content = request.content
    except httpx.RequestNotRead:
        return _stream_body(request)

    return content or None


async def _stream_body(request: httpx.Request) -> AsyncIterator[bytes]:
    stream = request.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    async for chunk in stream:
        yield chunk


def _raise_translated(exc: BaseException) -> NoReturn:
    """Raise the httpx exception that httpx's own transport uses for ``exc``."""
    detail = str(exc) or type(exc).__name__
    mapped: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout
    elif isinstance(exc, asyncio.TimeoutError):
        mapped = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError
    elif isinstance(exc, _PROTOCOL_ERRORS):
        mapped = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL):
        mapped = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientConnectionError):
        mapped = httpx.ReadError
    else:
        mapped = httpx.TransportError
    raise mapped(detail) from exc
