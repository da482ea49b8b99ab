"""The emulator's HTTP/1.1 server: asyncio streams, a fast path and h11.

Each connection starts on a fast path that parses plain requests by hand
(see ``_http1``). The first request that is not plain, and every request
after it on that connection, goes through h11, which validates and rejects
as a full HTTP/1.1 implementation does.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Iterable
from types import TracebackType

import attrs
import h11

from ._faults import Fault, FaultKind, FaultRule, FaultTable
from ._http1 import (
    MAX_HEAD_SIZE,
    find_head_end,
    parse_simple_head,
    sized_response_head,
)
from ._org import Directory, sample_organization
from ._protocol import ParsedRequest, Reply, build_reply, parse_request
from ._stats import EmulatorStats, RecordedRequest, StatsRecorder

logger = logging.getLogger("voicenter_async.testing")

HOST = "127.0.0.1"

_READ_SIZE = 65_536
# Request bodies are small JSON objects; anything this large is a client bug.
_MAX_BODY_SIZE = 1_048_576
# struct linger {int l_onoff; int l_linger;}: linger on, zero seconds, so
# close() discards unsent data and sends RST in place of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


class _NotPlainError(Exception):
    """The request on the fast path needs h11. ``eof`` is set when input ended."""

    def __init__(self, *, eof: bool) -> None:
        super().__init__()
        self.eof = eof


# No field has a validator or converter, so plain assignment skips the
# attrs hooks that would otherwise run on every request counter update.
@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class _Connection:
    """One accepted TCP connection, on the fast path or with its h11 state.

    Attributes:
        protocol: The h11 state, or None while every request so far was
            plain and went through the fast path.
        buffer: Bytes read on the fast path and not parsed yet.
    """

    id: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection | None = None
    buffer: bytearray = attrs.field(factory=bytearray)
    requests: int = 0

    def use_h11(self, *, eof: bool) -> h11.Connection:
        """Hand the buffered bytes, and the end of input if seen, to h11."""
        protocol = h11.Connection(h11.SERVER)
        protocol.receive_data(bytes(self.buffer))
        self.buffer.clear()
        if eof:
            protocol.receive_data(b"")
        self.protocol = protocol
        return protocol

    def send(self, *events: h11.Response | h11.Data | h11.EndOfMessage) -> None:
        """Send events through h11; only for connections that use h11."""
        assert self.protocol is not None
        data = b"".join(self.protocol.send(event) for event in events)
        self.writer.write(data)

    def send_head(self, reply: Reply, *, close: bool) -> None:
        if self.protocol is None:
            self.writer.write(_plain_head(reply, close=close))
            return
        headers = (*reply.headers, ("Content-Length", str(len(reply.body))))
        if close:
            headers = (*headers, ("Connection", "close"))
        self.send(h11.Response(status_code=reply.status, headers=list(headers)))

    def send_data(self, data: bytes) -> None:
        if self.protocol is None:
            self.writer.write(data)
        else:
            self.send(h11.Data(data=data))

    def send_end(self) -> None:
        if self.protocol is not None:
            self.send(h11.EndOfMessage())

    def send_response(self, reply: Reply, payload: bytes, *, close: bool) -> None:
        """Send a whole response in one write."""
        if self.protocol is not None:
            self.send_head(reply, close=close)
            self.send(h11.Data(data=payload), h11.EndOfMessage())
            return
        head = _plain_head(reply, close=close)
        self.writer.write(head + payload if payload else head)

    def reset(self) -> None:
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.writer.transport.abort()

    def close(self) -> None:
        """Start closing the socket; the event loop finishes on its next turn.

        Not awaiting ``wait_closed()`` keeps the handler's cleanup free of
        await points, so cancelling it during cleanup cannot skip any step.
        """
        self.writer.close()


def _plain_head(reply: Reply, *, close: bool) -> bytes:
    """Return the head the fast path sends for ``reply``, sized to its body."""
    return sized_response_head(
        reply.status, reply.headers, len(reply.body), close=close
    )


class VoicenterEmulator:
    """A local GetExtensions server on 127.0.0.1 for tests and benchmarks.

    The emulator is a real HTTP/1.1 server on a TCP socket, running in the
    current event loop. It serves ``GET`` and ``POST`` on
    ``/Comet/api/GetExtensions`` from a :class:`Directory` (see
    :func:`handle_request` for the responses), keeps connections alive between
    requests, counts connections and requests, and injects :class:`Fault` s on request.

    Use it as an async context manager::

        async with VoicenterEmulator(sample_organization()) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                ...

    Args:
        directory: The departments to serve; None serves
            ``sample_organization()``.
        port: The TCP port; 0 lets the operating system choose a free one.
        faults: Fault rules active from the start.
        idle_timeout: Close a keep-alive connection after this many seconds
            without a new request; None keeps it open until the client closes.
        max_requests_per_connection: Respond to the n-th request on a connection
            with ``Connection: close`` and close it; None means no limit.
        request_log_limit: How many recent requests :attr:`stats` lists; None
            keeps them all. The counters are exact either way.
        seed: Seed for the latency jitter.

    Raises:
        ValueError: An option is out of range.
    """

    def __init__(
        self,
        directory: Directory | None = None,
        *,
        port: int = 0,
        faults: Iterable[FaultRule] = (),
        idle_timeout: float | None = None,
        max_requests_per_connection: int | None = None,
        request_log_limit: int | None = 100_000,
        seed: int = 0,
    ) -> None:
        if idle_timeout is not None and idle_timeout <= 0:
            msg = f"Invalid idle_timeout={idle_timeout}: use seconds > 0 or None."
            raise ValueError(msg)
        if max_requests_per_connection is not None and max_requests_per_connection < 1:
            msg = (
                f"Invalid max_requests_per_connection={max_requests_per_connection}:"
                " use a number >= 1 or None."
            )
            raise ValueError(msg)

        self.directory = sample_organization() if directory is None else directory
        self._port = port
        self._idle_timeout = idle_timeout
        self._max_requests = max_requests_per_connection
        self._faults = FaultTable(faults, seed=seed)
        self._stats = StatsRecorder(request_log_limit)
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def __repr__(self) -> str:
        where = self.base_url if self._bound_port is not None else "not started"
        return f"<VoicenterEmulator {where} {self.directory!r}>"

    async def __aenter__(self) -> VoicenterEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def port(self) -> int:
        """The TCP port the server listens on.

        Raises:
            RuntimeError: The server is not started.
        """
        if self._bound_port is None:
            msg = "The emulator is not started: use 'async with' or await start()."
            raise RuntimeError(msg)
        return self._bound_port

    @property
    def base_url(self) -> str:
        """The URL to send requests to, such as ``http://127.0.0.1:54321``.

        Raises:
            RuntimeError: The server is not started.
        """
        return f"http://{HOST}:{self.port}"

    @property
    def stats(self) -> EmulatorStats:
        """A snapshot of the counters and the request log."""
        return self._stats.snapshot()

    @property
    def faults(self) -> tuple[FaultRule, ...]:
        """The fault rules, in the order added."""
        return self._faults.rules

    def reset_stats(self) -> None:
        """Zero the counters and clear the request log.

        Open connections and requests in flight stay counted as open and in
        flight; ``peak_in_flight`` restarts from the number in flight now.
        """
        self._stats.reset()

    def add_fault(
        self, fault: Fault, *, code: str | None = None, times: int | None = None
    ) -> FaultRule:
        """Inject ``fault`` into matching requests, starting with the next one.

        Latency faults add up: a request matching two of them waits for both.
        Of the faults that change the response, a request gets only the first
        matching one in the order added, so faults with ``times`` set act as
        a queue. Safe to call from any thread.

        Args:
            fault: The fault, such as ``Fault.status(503)``.
            code: Apply only to requests with this department code; None
                applies to every request, including other paths.
            times: Apply to the first ``times`` matching requests only; None
                means every one.

        Returns:
            The rule, for :meth:`remove_fault` and for its ``hits`` count.
        """
        return self._faults.add(FaultRule(fault, code=code, times=times))

    def remove_fault(self, rule: FaultRule) -> None:
        """Remove a rule that :meth:`add_fault` returned.

        Raises:
            ValueError: The rule is not active.
        """
        self._faults.remove(rule)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._faults.clear()

    async def start(self) -> None:
        """Start listening on 127.0.0.1.

        Raises:
            RuntimeError: The emulator is already started.
            OSError: The port is in use.
        """
        if self._server is not None:
            msg = "The emulator is already started."
            raise RuntimeError(msg)

        self._closing = False
        self._server = await asyncio.start_server(
            self._on_connection, host=HOST, port=self._port
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]
        logger.debug("Emulator listening on %s", self.base_url)

    async def aclose(self) -> None:
        """Stop listening, close every connection and wait for the handlers.

        Requests in flight are abandoned. Calling it again does nothing.
        """
        if self._server is None:
            return

        self._closing = True
        self._server.close()
        # Let connections accepted just before close() start their handler,
        # which checks _closing and returns, so none outlives this method.
        for _ in range(3):
            await asyncio.sleep(0)
        while self._tasks:
            tasks = tuple(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # Closed transports release their sockets on the next loop turn.
        await asyncio.sleep(0)
        await self._server.wait_closed()

        self._server = None
        logger.debug("Emulator on %s stopped", self.base_url)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = _Connection(self._stats.connection_opened(), reader, writer)

        try:
            if not self._closing:
                await self._serve(connection)
        except asyncio.CancelledError:
            # Only aclose() cancels handlers. Python 3.11's start_server calls
            # task.exception() on the finished handler, which raises if the
            # task ends cancelled, so the handler ends normally instead.
            if not self._closing:
                raise
        except OSError as error:
            logger.debug("Connection %d failed: %r", connection.id, error)
        except Exception:
            self._stats.handler_failed()
            logger.exception("Emulator bug on connection %d", connection.id)
        finally:
            connection.close()
            self._stats.connection_closed()
            self._tasks.discard(task)

    async def _serve(self, connection: _Connection) -> None:
        while True:
            received = await self._receive(connection)
            if received is None:
                return

            connection.requests += 1
            keep_alive = await self._respond(connection, *received)
            if not keep_alive:
                return
            protocol = connection.protocol
            if protocol is None:
                continue
            if protocol.states != {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                return

            protocol.start_next_cycle()

    async def _read(self, connection: _Connection, *, idle: bool) -> bytes | None:
        """Read from the socket; None when an idle connection timed out."""
        if not idle or self._idle_timeout is None:
            return await connection.reader.read(_READ_SIZE)

        try:
            return await asyncio.wait_for(
                connection.reader.read(_READ_SIZE), self._idle_timeout
            )
        except asyncio.TimeoutError:
            logger.debug("Closing idle connection %d", connection.id)
            return None

    async def _receive(self, connection: _Connection) -> tuple[str, str, bytes] | None:
        """Read one request's method, target and body; None ends the connection."""
        if connection.protocol is None:
            try:
                return await self._receive_plain(connection)
            except _NotPlainError as error:
                connection.use_h11(eof=error.eof)
        assert connection.protocol is not None
        return await self._receive_h11(connection, connection.protocol)

    async def _receive_plain(
        self, connection: _Connection
    ) -> tuple[str, str, bytes] | None:
        """Read a plain request by hand.

        Raises:
            _NotPlainError: h11 must take over. That happens wherever h11
                could decide something before the head is complete (a first
                byte no request line starts with, a head too long, the end of
                input), and for every head that is not plain. h11 then gets
                the same bytes it would have got from the start.
        """
        buffer = connection.buffer
        head_end = find_head_end(buffer)
        while head_end < 0:
            if buffer and (buffer[0] < 0x21 or len(buffer) > MAX_HEAD_SIZE):
                raise _NotPlainError(eof=False)
            data = await self._read(connection, idle=True)
            if data is None or not (data or buffer):
                return None
            if not data:
                raise _NotPlainError(eof=True)
            buffer += data
            head_end = find_head_end(buffer)

        request = parse_simple_head(bytes(buffer[:head_end]))
        if request is None or request.content_length > _MAX_BODY_SIZE:
            raise _NotPlainError(eof=False)
        end = head_end + request.content_length
        while len(buffer) < end:
            data = await self._read(connection, idle=False)
            if not data:
                raise _NotPlainError(eof=True)
            buffer += data

        body = bytes(buffer[head_end:end])
        del buffer[:end]
        return request.method, request.target, body

    async def _receive_h11(
        self, connection: _Connection, protocol: h11.Connection
    ) -> tuple[str, str, bytes] | None:
        request: h11.Request | None = None
        body = bytearray()

        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as error:
                await self._reject(connection, error.error_status_hint)
                return None

            if event is h11.NEED_DATA:
                data = await self._read(connection, idle=request is None)
                if data is None:
                    return None
                protocol.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY_SIZE:
                    await self._reject(connection, 413)
                    return None
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                method = request.method.decode("ascii", "replace")
                target = request.target.decode("ascii", "replace")
                return method, target, bytes(body)
            else:
                # ConnectionClosed: the client closed between requests.
                return None

    async def _reject(self, connection: _Connection, status: int) -> None:
        """Respond to a malformed request with ``status`` and close."""
        body = f"HTTP {status}\n".encode()
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        try:
            connection.send(
                h11.Response(status_code=status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            )
        except h11.LocalProtocolError:
            return
        await connection.writer.drain()

    async def _respond(
        self, connection: _Connection, method: str, target: str, body: bytes
    ) -> bool:
        """Respond to one request and return whether the connection may stay open."""
        parsed = parse_request(method, target, body)
        plan = self._faults.take(parsed.code)
        record = None
        if self._stats.keeps_requests:
            record = RecordedRequest(
                connection_id=connection.id,
                method=parsed.method,
                path=parsed.path,
                show_all=parsed.show_all,
                fingerprint=parsed.fingerprint,
                known=parsed.code is not None and parsed.code in self.directory,
                fault=None if plan.fault is None else plan.fault.kind.value,
                delay=plan.delay,
            )
        self._stats.request_started(record)

        try:
            if plan.delay > 0:
                await asyncio.sleep(plan.delay)
            return await self._send(connection, parsed, plan.fault)
        finally:
            self._stats.request_finished()

    async def _send(
        self, connection: _Connection, parsed: ParsedRequest, fault: Fault | None
    ) -> bool:
        kind = None if fault is None else fault.kind
        if kind is FaultKind.RESET:
            connection.reset()
            return False
        if kind is FaultKind.DISCONNECT:
            return False

        if fault is not None and fault.reply is not None:
            reply = fault.reply
        else:
            reply = build_reply(self.directory, parsed)
        last = (
            self._max_requests is not None and connection.requests >= self._max_requests
        )
        payload = b"" if parsed.method == "HEAD" else reply.body

        if fault is not None and kind is FaultKind.TRUNCATE:
            await self._send_truncated(connection, reply, payload, fault, close=last)
            return False
        if fault is not None and kind is FaultKind.DRIP:
            await self._send_dripped(connection, reply, payload, fault, close=last)
        else:
            connection.send_response(reply, payload, close=last)
            await connection.writer.drain()

        return not last and kind is not FaultKind.CLOSE_AFTER_RESPONSE

    @staticmethod
    async def _send_truncated(
        connection: _Connection,
        reply: Reply,
        body: bytes,
        fault: Fault,
        *,
        close: bool,
    ) -> None:
        sent = len(body) // 2 if fault.sent_bytes is None else fault.sent_bytes
        sent = max(min(sent, len(body) - 1), 0)
        connection.send_head(reply, close=close)
        connection.send_data(body[:sent])
        await connection.writer.drain()

    @staticmethod
    async def _send_dripped(
        connection: _Connection,
        reply: Reply,
        body: bytes,
        fault: Fault,
        *,
        close: bool,
    ) -> None:
        connection.send_head(reply, close=close)
        await connection.writer.drain()
        for start in range(0, len(body), fault.chunk_size):
            await asyncio.sleep(fault.interval)
            connection.send_data(body[start : start + fault.chunk_size])
            await connection.writer.drain()
        connection.send_end()
        await connection.writer.drain()
