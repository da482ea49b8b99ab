"""The library's own HTTP/1.1 client, on asyncio protocols.

A GetExtensions exchange is one small POST and one small JSON response, so a
general-purpose client does much more per request than this exchange needs.
`AsyncioTransport` writes each request in one ``write`` call and parses the
response in place: the status line, the headers and a body framed by
``Content-Length``, chunked coding or the end of the connection. Its pool
keeps idle connections per origin, opens at most ``max_connections`` at
once, and drops a connection the server has closed before it is used again.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

__all__ = [
    "MAX_BODY_BYTES",
    "AsyncioTransport",
    "ResponseTooLargeError",
    "Trace",
    "WholeResponse",
    "acquire_slot",
    "too_large_message",
]

#: Maximum size of a response head (status line and headers), in bytes.
MAX_HEAD_BYTES = 64 * 1024

#: Default maximum size of a response body, in bytes. A whole organization
#: of 100,000 extensions is about 20 MB, so only a broken or hostile server
#: sends more, and reading on would exhaust memory before any deadline ends
#: the request.
MAX_BODY_BYTES = 64 * 1024 * 1024

_STATUS_PREFIX = b"HTTP/1."
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: (.*))?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_UNSAFE_HEADER_BYTES = re.compile(rb"[\r\n\x00]")

# Headers the transport writes itself from the body it sends.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
_NO_BODY_STATUSES = frozenset({204, 304})
# Methods whose requests go without Content-Length when they have no body,
# as httpx's own transport sends them.
_BODILESS_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"DELETE", b"TRACE"})

#: httpx's ``trace`` request extension.
Trace = Callable[[str, Mapping[str, Any]], Awaitable[None]]
_Origin = tuple[str, str, int]


@attrs.frozen(slots=True)
class WholeResponse:
    """A response whose body has been read, without httpx's objects.

    It has the attributes of ``httpx.Response`` that the session reads.
    """

    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    content: bytes


class _ProtocolError(Exception):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


class _TooLarge(_ProtocolError):
    """The response body is longer than the transport's limit."""


class ResponseTooLargeError(httpx.DecodingError):
    """The response body is longer than the limit, so it was not read.

    A subclass of ``httpx.DecodingError``: the body cannot become a result,
    and sending the request again would only fetch the same body.
    """


def too_large_message(limit: int) -> str:
    """Return the message of `ResponseTooLargeError` for a limit in bytes."""
    return f"Response body is longer than {limit} bytes."


class _Response:
    __slots__ = ("body", "headers", "keep_alive", "reason", "status", "version")

    def __init__(self) -> None:
        self.status = 0
        self.reason = b""
        self.version = b"HTTP/1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.keep_alive = True


class _Connection(asyncio.Protocol):
    """One TCP connection, carrying one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body_bytes: int) -> None:
        self._loop = loop
        self._max_body = max_body_bytes
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[_Response] | None = None
        self._response: _Response | None = None
        self._framing = ""
        self._remaining = 0
        self._chunked_bytes = 0
        self._parts: list[bytes] = []
        self._head_request = False
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Unexpected bytes: the connection's state is unknown, so it is
            # not reused.
            self.close()
            return
        self._buffer += data
        if self._read_timeout is not None:
            self._last_read = self._loop.time()
        try:
            finished = self._parse()
        except _TooLarge as exc:
            self._fail(ResponseTooLargeError(str(exc)))
            self.close()
            return
        except _ProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(str(exc)))
            self.close()
            return
        if finished:
            self._finish()

    def eof_received(self) -> bool:
        # The server will send nothing more, so the pool must not hand this
        # connection out in the loop pass before connection_lost runs.
        # Returning False closes the transport, and connection_lost follows.
        self.closed = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._framing == "close" and self._response is not None:
            self._parts.append(bytes(self._buffer))
            self._buffer.clear()
            self._response.keep_alive = False
            self._finish()
            return
        if exc is not None:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))
        elif self._response is None:
            msg = "Server disconnected without sending a response."
            self._fail(httpx.RemoteProtocolError(msg))
        else:
            msg = "Server disconnected before the whole response body was sent."
            self._fail(httpx.RemoteProtocolError(msg))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # The exchange

    async def exchange(
        self,
        data: bytes,
        *,
        head_request: bool,
        write_timeout: float | None,
        read_timeout: float | None,
    ) -> _Response:
        """Send one request and return its response, body read."""
        assert self.transport is not None
        waiter: asyncio.Future[_Response] = self._loop.create_future()
        self._waiter = waiter
        self._head_request = head_request
        self._response = None
        self._parts = []
        self.transport.write(data)
        if self._paused:
            try:
                await self._drain(write_timeout)
            except BaseException:
                # The exchange ends here. Forget the waiter, and read any error
                # connection_lost already set on it, so that asyncio does not
                # log that error as never retrieved.
                self._waiter = None
                if waiter.done() and not waiter.cancelled():
                    waiter.exception()
                raise

        self._read_timeout = read_timeout
        if read_timeout is not None:
            self._last_read = self._loop.time()
            self._timer = self._loop.call_at(
                self._last_read + read_timeout, self._check_read
            )
        try:
            return await waiter
        finally:
            self._cancel_timer()
            self._waiter = None

    async def _drain(self, timeout: float | None) -> None:
        self._drained = self._loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), timeout)
        except asyncio.TimeoutError:
            self.close()
            msg = "Timed out while sending the request"
            raise httpx.WriteTimeout(msg) from None
        if self.closed:
            msg = "Server disconnected while the request was sent."
            raise httpx.WriteError(msg)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _check_read(self) -> None:
        self._timer = None
        timeout = self._read_timeout
        if timeout is None or self._waiter is None or self._waiter.done():
            return
        due = self._last_read + timeout
        if self._loop.time() < due:
            # Bytes came in since the timer was set: wait for the rest.
            self._timer = self._loop.call_at(due, self._check_read)
            return
        self._fail(httpx.ReadTimeout("Timed out while reading the response"))
        self.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _finish(self) -> None:
        response = self._response
        assert response is not None
        parts = self._parts
        response.body = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._buffer:
            # More bytes than the response framed: do not reuse.
            response.keep_alive = False
        self._response = None
        self._parts = []
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    # Parsing

    def _parse(self) -> bool:
        """Consume what the buffer holds; return True when the response ended."""
        while self._response is None:
            if not self._parse_head():
                return False
        framing = self._framing
        buffer = self._buffer
        if framing == "length":
            remaining = self._remaining
            if len(buffer) < remaining:
                return False
            self._parts.append(bytes(buffer[:remaining]))
            del buffer[:remaining]
            return True
        if framing == "chunked":
            return self._parse_chunks()
        # Close-delimited: the body ends with the connection.
        if len(buffer) > self._max_body:
            raise _TooLarge(too_large_message(self._max_body))
        return False

    def _parse_head(self) -> bool:
        buffer = self._buffer
        if not buffer.startswith(_STATUS_PREFIX[: len(buffer)]):
            # Fail at the first bytes that cannot start a status line, rather
            # than wait for a head that a server of another protocol never sends.
            msg = "Response does not start with an HTTP/1.x status line."
            raise _ProtocolError(msg)
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                msg = f"Response head is longer than {MAX_HEAD_BYTES} bytes."
                raise _ProtocolError(msg)
            return False
        if end > MAX_HEAD_BYTES:
            msg = f"Response head is longer than {MAX_HEAD_BYTES} bytes."
            raise _ProtocolError(msg)
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[: end + 4]
        matched = _STATUS_LINE.fullmatch(lines[0])
        if matched is None:
            msg = "Response does not start with an HTTP/1.x status line."
            raise _ProtocolError(msg)
        minor, status_text, reason = matched.groups()
        status = int(status_text)
        headers = [_split_header(line) for line in lines[1:]]
        if 100 <= status < 200:
            if status == 101:
                msg = "Server switched protocols, which was not asked for."
                raise _ProtocolError(msg)
            # An interim response: the final one follows.
            return True
        response = _Response()
        response.status = status
        response.reason = reason or b""
        response.version = b"HTTP/1.0" if minor == b"0" else b"HTTP/1.1"
        response.headers = headers
        response.keep_alive = _keeps_alive(minor, headers)
        self._frame(response)
        self._response = response

        return True

    def _frame(self, response: _Response) -> None:
        if self._head_request or response.status in _NO_BODY_STATUSES:
            self._framing = "length"
            self._remaining = 0
            return

        lengths: set[bytes] = set()
        coding: bytes | None = None
        for name, value in response.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.update(item.strip() for item in value.split(b","))
            elif lowered == b"transfer-encoding":
                coding = value.split(b",")[-1].strip().lower()

        if coding is not None:
            if coding == b"chunked":
                self._framing = "chunked"
                self._remaining = -1
                self._chunked_bytes = 0
                return
            self._framing = "close"
            return
        if not lengths:
            self._framing = "close"
            return

        if len(lengths) != 1:
            msg = "Response has conflicting Content-Length values."
            raise _ProtocolError(msg)
        (length,) = lengths
        if not length.isdigit() or len(length) > 18:
            msg = "Response has an invalid Content-Length."
            raise _ProtocolError(msg)
        self._framing = "length"
        self._remaining = int(length)
        if self._remaining > self._max_body:
            raise _TooLarge(too_large_message(self._max_body))

    def _parse_chunks(self) -> bool:
        buffer = self._buffer
        while True:
            if self._remaining == -1:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 1024:
                        msg = "Chunk size line is too long."
                        raise _ProtocolError(msg)
                    return False
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
                if _HEX.fullmatch(size_text) is None:
                    msg = "Response has an invalid chunk size."
                    raise _ProtocolError(msg)
                del buffer[: end + 2]
                size = int(size_text, 16)
                self._chunked_bytes += size
                if self._chunked_bytes > self._max_body:
                    raise _TooLarge(too_large_message(self._max_body))
                if size == 0:
                    self._remaining = -2
                else:
                    self._remaining = size
            if self._remaining == -2:
                return self._parse_trailers()
            if len(buffer) < self._remaining + 2:
                return False
            size = self._remaining
            if buffer[size : size + 2] != b"\r\n":
                msg = "Chunk data is not followed by CRLF."
                raise _ProtocolError(msg)
            self._parts.append(bytes(buffer[:size]))
            del buffer[: size + 2]
            self._remaining = -1

    def _parse_trailers(self) -> bool:
        buffer = self._buffer
        if buffer[:2] == b"\r\n":
            del buffer[:2]
            return True
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                msg = "Response trailers are too long."
                raise _ProtocolError(msg)
            return False
        del buffer[: end + 4]
        return True


def _split_header(line: bytes) -> tuple[bytes, bytes]:
    name, colon, value = line.partition(b":")
    if not colon or _TOKEN.fullmatch(name) is None:
        msg = "Response has a malformed header line."
        raise _ProtocolError(msg)
    return name, value.strip(b" \t")


def _keeps_alive(minor: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(item.strip().lower() for item in value.split(b","))
    if b"close" in tokens:
        return False
    return minor == b"1" or b"keep-alive" in tokens


class _RawHeaders(Mapping[str, str]):
    """Response headers as a read-only, case-insensitive mapping.

    Building ``httpx.Headers`` costs more than the session's one look-up
    (``Retry-After``) on most responses; a repeated header gives its first
    value here.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def __getitem__(self, key: str) -> str:
        try:
            target = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            # Header names are ASCII, so this one cannot be present.
            raise KeyError(key) from None
        for name, value in self._raw:
            if name.lower() == target:
                return value.decode("latin-1")
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._raw:
            text = name.decode("latin-1")
            if text.lower() not in seen:
                seen.add(text.lower())
                yield text

    def __len__(self) -> int:
        return len({name.lower() for name, _ in self._raw})


class _Prepared:
    """A request head prepared once for many bodies."""

    __slots__ = ("head", "method", "origin", "sources")

    def __init__(
        self, origin: _Origin, method: bytes, head: bytes, sources: tuple[object, ...]
    ) -> None:
        self.origin = origin
        self.method = method
        self.head = head
        self.sources = sources


class AsyncioTransport(httpx.AsyncBaseTransport):
    """An httpx transport that speaks HTTP/1.1 over asyncio connections.

    The response body is read whole before `handle_async_request` returns,
    which suits GetExtensions' small JSON bodies but not streaming. httpx's
    ``connect``, ``read``, ``write`` and ``pool`` timeouts all apply; the
    read timeout bounds each wait for bytes, as in httpx's own transport.
    Errors are the httpx exceptions httpx's own transport raises for the same
    failures.

    Args:
        limits: ``max_connections`` caps the connections open at once,
            ``max_keepalive_connections`` the idle ones kept, and
            ``keepalive_expiry`` how long an idle one may be reused.
        verify: True to check server certificates against httpx's default
            CA bundle, False not to check them, or an `ssl.SSLContext`.
        max_body_bytes: The maximum size of a response body; a longer one
            fails with `ResponseTooLargeError`. None means `MAX_BODY_BYTES`.
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
        self._ssl: ssl.SSLContext | None = None
        self._closed = False
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        max_connections = self._limits.max_connections
        self._slots = asyncio.Semaphore(max_connections) if max_connections else None
        self._prepared: _Prepared | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and return the response with its body read.

        Raises:
            httpx.PoolTimeout: No connection slot became free in time.
            httpx.ConnectTimeout: Connecting took too long.
            httpx.ConnectError: The connection could not be opened.
            httpx.WriteTimeout: Sending the request took too long.
            httpx.ReadTimeout: The server did not respond in time.
            httpx.RemoteProtocolError: The server closed the connection
                early or sent something that is not HTTP/1.1.
            httpx.ReadError: The connection failed while the response was read.
            httpx.UnsupportedProtocol: The URL is not http:// or https://.
            httpx.LocalProtocolError: A header contains a line break.
        """
        url = request.url
        origin = _origin_of(url)
        body = await request.aread()
        head = _request_head(
            request.method.encode("ascii"), url.raw_path, request.headers.raw
        )
        response = await self._send(
            origin,
            head,
            body,
            request.extensions.get("timeout", {}),
            method=request.method.encode("ascii"),
            trace=request.extensions.get("trace"),
        )

        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=httpx.ByteStream(response.body),
            extensions={
                "http_version": response.version,
                "reason_phrase": response.reason,
            },
        )

    async def send_whole(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str | bytes, str | bytes]],
        body: bytes,
        timeouts: Mapping[str, float | None],
        *,
        trace: Trace | None = None,
    ) -> WholeResponse:
        """Send one request and return the whole response, without httpx's objects.

        The request head is prepared once for a given ``url`` and ``headers``
        object and reused while the caller passes the same ones, so pass a
        new headers object whenever the headers change.

        Args:
            method: The HTTP method.
            url: An absolute http:// or https:// URL.
            headers: The headers to send, without ``Content-Length``, which
                is set from ``body``. Bytes go out as they are, and text as
                UTF-8.
            body: The request body.
            timeouts: httpx's timeout extension: ``connect``, ``read``,
                ``write`` and ``pool`` in seconds, or None for no limit.
            trace: httpx's ``trace`` extension, awaited for each new connection.
        """
        prepared = self._prepared
        if prepared is None or prepared.sources != (method, url, headers):
            prepared = self._prepare(method, url, headers)
        response = await self._send(
            prepared.origin,
            prepared.head,
            body,
            timeouts,
            method=prepared.method,
            trace=trace,
        )

        return WholeResponse(
            status_code=response.status,
            reason_phrase=response.reason.decode("ascii", "replace"),
            headers=_RawHeaders(response.headers),
            content=response.body,
        )

    async def aclose(self) -> None:
        """Close every connection. Calling it again does nothing."""
        self._closed = True
        connections, self._open = self._open, set()
        self._idle.clear()
        for connection in connections:
            connection.close()

    def _prepare(
        self, method: str, url: str, headers: Sequence[tuple[str | bytes, str | bytes]]
    ) -> _Prepared:
        parsed = httpx.URL(url)
        raw = [(_as_bytes(name), _as_bytes(value)) for name, value in headers]
        head = _request_head(method.encode("ascii"), parsed.raw_path, raw)
        self._prepared = _Prepared(
            _origin_of(parsed), method.encode("ascii"), head, (method, url, headers)
        )

        return self._prepared

    async def _send(
        self,
        origin: _Origin,
        head: bytes,
        body: bytes,
        timeouts: Mapping[str, float | None],
        *,
        method: bytes,
        trace: Trace | None,
    ) -> _Response:
        if self._closed:
            msg = "the transport is closed; create a new client"
            raise RuntimeError(msg)
        slots = self._slots
        if slots is not None:
            await acquire_slot(slots, timeouts.get("pool"))
        connection: _Connection | None = None
        try:
            connection = self._idle_connection(origin)
            if connection is None:
                connection = await self._connect(origin, timeouts.get("connect"))
                if trace is not None:
                    # Awaited here, so the except below closes the connection
                    # if the callback raises or is cancelled.
                    await trace(
                        "connection.connect_tcp.complete", {"return_value": None}
                    )
            if body or method not in _BODILESS_METHODS:
                data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
            else:
                data = head + b"\r\n"
            response = await connection.exchange(
                data,
                head_request=method == b"HEAD",
                write_timeout=timeouts.get("write"),
                read_timeout=timeouts.get("read"),
            )
        except BaseException:
            if connection is not None:
                # Mid-exchange, the connection's state is unknown.
                connection.abort()
                self._open.discard(connection)
            raise
        finally:
            if slots is not None:
                slots.release()
        self._release(origin, connection, response.keep_alive)

        return response

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        expiry = self._limits.keepalive_expiry
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.closed:
                self._open.discard(connection)
                continue
            if expiry is not None and now - connection.idle_since > expiry:
                self._open.discard(connection)
                connection.close()
                continue
            return connection

        return None

    async def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        max_connections = self._limits.max_connections
        if max_connections is not None and len(self._open) >= max_connections:
            self._evict_idle()
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if scheme == "https" else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop, self.max_body_bytes),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            msg = f"Timed out while connecting to {host}:{port}"
            raise httpx.ConnectTimeout(msg) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self._open.add(connection)

        return connection

    def _evict_idle(self) -> None:
        # The pool is at its limit. Forget connections the server has closed,
        # then, if still at the limit, close the one idle longest (it can
        # only belong to another origin), so the new one stays within it.
        for idle in self._idle.values():
            idle[:] = [connection for connection in idle if not connection.closed]
        self._open = {connection for connection in self._open if not connection.closed}
        max_connections = self._limits.max_connections
        if max_connections is None or len(self._open) < max_connections:
            return
        oldest: tuple[_Origin, _Connection] | None = None
        for origin, idle in self._idle.items():
            for connection in idle:
                if oldest is None or connection.idle_since < oldest[1].idle_since:
                    oldest = (origin, connection)
        if oldest is not None:
            origin, connection = oldest
            self._idle[origin].remove(connection)
            self._open.discard(connection)
            connection.close()

    def _release(self, origin: _Origin, connection: _Connection, reuse: bool) -> None:
        idle = self._idle.setdefault(origin, [])
        keep = self._limits.max_keepalive_connections
        if (
            not reuse
            or connection.closed
            or self._closed
            or (keep is not None and len(idle) >= keep)
        ):
            self._open.discard(connection)
            connection.close()
            return
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if isinstance(self._verify, ssl.SSLContext):
                self._ssl = self._verify
            else:
                # httpx's default CA bundle, so certificates are checked as
                # httpx's own transport checks them. Built on first use,
                # because loading the bundle takes tens of milliseconds.
                self._ssl = httpx.create_ssl_context(verify=self._verify)

        return self._ssl


async def acquire_slot(slots: asyncio.Semaphore, timeout: float | None) -> None:
    """Take one of a pool's connection slots, waiting at most ``timeout``.

    Raises:
        httpx.PoolTimeout: No slot became free in time.
    """
    if not slots.locked():
        await slots.acquire()
        return
    try:
        await asyncio.wait_for(slots.acquire(), timeout)
    except asyncio.TimeoutError:
        msg = "Timed out waiting for a free connection in the pool"
        raise httpx.PoolTimeout(msg) from None


def _as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def _origin_of(url: httpx.URL) -> _Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        msg = f"Request URL has an unsupported protocol '{scheme}://'"
        raise httpx.UnsupportedProtocol(msg)
    port = url.port or (443 if scheme == "https" else 80)
    # The ASCII form: an internationalized name in IDNA, an IPv6 address
    # without brackets, as sockets and TLS name checks take them.
    host = url.raw_host.decode("ascii")

    return scheme, host, port


def _request_head(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> bytes:
    """Return the request line and headers, without the blank line that ends them."""
    lines = [b"%s %s HTTP/1.1\r\n" % (method, target)]
    for name, value in headers:
        if name.lower() in _BODY_HEADERS:
            continue
        if _UNSAFE_HEADER_BYTES.search(name) or _UNSAFE_HEADER_BYTES.search(value):
            msg = "A request header contains a line break or a NUL byte."
            raise httpx.LocalProtocolError(msg)
        lines.append(b"%s: %s\r\n" % (name, value))

    return b"".join(lines)
