"""Counters and the request log of an emulator."""

from __future__ import annotations

import collections
import threading

import attrs


@attrs.frozen
class RecordedRequest:
    """One request the emulator read in full.

    Attributes:
        connection_id: Which TCP connection carried it; ids count from 1 in
            the order connections were accepted.
        method: The HTTP method.
        path: The URL path, without the query string.
        show_all: The ``showAll`` value, or None when it was missing or
            invalid.
        fingerprint: The `voicenter_async.code_fingerprint` of the code
            sent, or None when no code was sent. Codes themselves are never recorded.
        known: Whether a department with that code exists.
        fault: The kind of the response-changing fault applied, such as
            ``"reset"``, or None.
        delay: The latency injected, in seconds.
    """

    connection_id: int
    method: str
    path: str
    show_all: bool | None
    fingerprint: str | None
    known: bool
    fault: str | None = None
    delay: float = 0.0


@attrs.frozen
class EmulatorStats:
    """A snapshot of an emulator's counters.

    Attributes:
        connections_opened: TCP connections accepted.
        connections_open: TCP connections open now.
        requests_served: Requests read in full and handled, faulty responses
            included.
        in_flight: Requests read whose response is not yet fully sent.
        peak_in_flight: The maximum of ``in_flight`` so far.
        handler_errors: Unexpected exceptions in the connection handler; any
            non-zero value is an emulator bug.
        requests: The most recent requests, oldest first, at most
            ``request_log_limit`` of them.
    """

    connections_opened: int = 0
    connections_open: int = 0
    requests_served: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    handler_errors: int = 0
    requests: tuple[RecordedRequest, ...] = attrs.field(
        default=(), repr=lambda requests: f"<{len(requests)} requests>"
    )

    @property
    def requests_per_connection(self) -> dict[int, int]:
        """How many logged requests each connection id carried."""
        return dict(collections.Counter(r.connection_id for r in self.requests))


class StatsRecorder:
    """Thread-safe counters, updated by the server and read from any thread."""

    def __init__(self, request_log_limit: int | None) -> None:
        self._lock = threading.Lock()
        self._log: collections.deque[RecordedRequest] = collections.deque(
            maxlen=request_log_limit
        )
        self._next_connection_id = 1
        self._connections_opened = 0
        self._connections_open = 0
        self._requests_served = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._handler_errors = 0

    def snapshot(self) -> EmulatorStats:
        with self._lock:
            return EmulatorStats(
                connections_opened=self._connections_opened,
                connections_open=self._connections_open,
                requests_served=self._requests_served,
                in_flight=self._in_flight,
                peak_in_flight=self._peak_in_flight,
                handler_errors=self._handler_errors,
                requests=tuple(self._log),
            )

    def reset(self) -> None:
        """Zero the counters and the log, keeping what is open or in flight."""
        with self._lock:
            self._log.clear()
            self._connections_opened = 0
            self._requests_served = 0
            self._peak_in_flight = self._in_flight
            self._handler_errors = 0

    def connection_opened(self) -> int:
        """Count a new connection and return its id."""
        with self._lock:
            connection_id = self._next_connection_id
            self._next_connection_id += 1
            self._connections_opened += 1
            self._connections_open += 1
        return connection_id

    def connection_closed(self) -> None:
        with self._lock:
            self._connections_open -= 1

    @property
    def keeps_requests(self) -> bool:
        """Whether the request log keeps records. It keeps none with a limit of 0."""
        return self._log.maxlen != 0

    def request_started(self, record: RecordedRequest | None) -> None:
        """Count a request, and log ``record`` unless it is None.

        The server passes None when :attr:`keeps_requests` is False, so it
        need not build a record the log would drop.
        """
        with self._lock:
            if record is not None:
                self._log.append(record)
            self._requests_served += 1
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def handler_failed(self) -> None:
        with self._lock:
            self._handler_errors += 1
