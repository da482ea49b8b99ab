"""Counters and hooks that let a caller observe a session without a metrics
package."""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

import attrs

__all__ = [
    "ResponseEvent",
    "ResponseHook",
    "RetryEvent",
    "RetryHook",
    "SessionStats",
    "StatsCounter",
    "call_hook",
    "status_class",
]

logger = logging.getLogger("voicenter_async")

EventT = TypeVar("EventT", "RetryEvent", "ResponseEvent")


@attrs.frozen(slots=True)
class RetryEvent:
    """One retry the session decided on, given to the ``on_retry`` hook.

    Attributes:
        label: The department label of the request. Never the code.
        attempt: The number of the attempt that failed, starting at 1.
        reason: Why the request is retried, such as ``"http_503"``,
            ``"read_timeout"`` or ``"disconnected"``.
        delay: Seconds the session waits before the next attempt.
        status: The HTTP status of the failed attempt, or None when no
            response arrived.
    """

    label: str
    attempt: int
    reason: str
    delay: float
    status: int | None = None


@attrs.frozen(slots=True)
class ResponseEvent:
    """One HTTP response the session received, given to ``on_response``.

    Attributes:
        label: The department label of the request. Never the code.
        attempt: The number of the attempt, starting at 1.
        status: The HTTP status code.
        elapsed: Seconds from sending the request to reading the whole body.
    """

    label: str
    attempt: int
    status: int
    elapsed: float


RetryHook = Callable[[RetryEvent], Awaitable[None] | None]
ResponseHook = Callable[[ResponseEvent], Awaitable[None] | None]


@attrs.frozen(slots=True)
class SessionStats:
    """A snapshot of what a session has done since it was created.

    Attributes:
        requests_sent: HTTP requests handed to the connection pool, retries
            included.
        responses: Responses received, by status class such as ``"2xx"``.
        retries: Retries, by reason (see `RetryEvent.reason`).
        cache_hits: Calls served from the result cache.
        single_flight_joins: Calls that shared the exchange of an identical
            call already in flight instead of sending their own.
        connections_opened: TCP connections the pool opened, as reported
            through httpx's ``trace`` request extension. The ``"asyncio"``
            and ``"httpcore"`` transports report them; with ``"aiohttp"``
            this stays 0.
    """

    requests_sent: int = 0
    responses: Mapping[str, int] = attrs.field(factory=dict)
    retries: Mapping[str, int] = attrs.field(factory=dict)
    cache_hits: int = 0
    single_flight_joins: int = 0
    connections_opened: int = 0


class StatsCounter:
    """The mutable counters behind `SessionStats`."""

    def __init__(self) -> None:
        self.requests_sent = 0
        self.responses: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.cache_hits = 0
        self.single_flight_joins = 0
        self.connections_opened = 0

    def snapshot(self) -> SessionStats:
        """Copy the counters into a frozen `SessionStats`."""
        return SessionStats(
            requests_sent=self.requests_sent,
            responses=MappingProxyType(dict(self.responses)),
            retries=MappingProxyType(dict(self.retries)),
            cache_hits=self.cache_hits,
            single_flight_joins=self.single_flight_joins,
            connections_opened=self.connections_opened,
        )

    async def trace(self, event: str, info: Mapping[str, object]) -> None:
        """Count new connections from the transport's ``trace`` events."""
        if event == "connection.connect_tcp.complete":
            self.connections_opened += 1


def status_class(status: int) -> str:
    """Return the class of an HTTP status, such as ``"4xx"`` for 403."""
    return f"{status // 100}xx"


async def call_hook(
    hook: Callable[[EventT], Awaitable[None] | None] | None,
    event: EventT,
) -> None:
    """Call a user's hook, awaiting it when it returns an awaitable.

    An `Exception` from the hook is logged at WARNING and otherwise
    ignored, so a broken metrics exporter does not fail the request.
    """
    if hook is None:
        return
    try:
        outcome = hook(event)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        logger.warning(
            "voicenter_async hook %r raised on %s for %s; the request went on",
            hook,
            type(event).__name__,
            event.label,
            exc_info=True,
            extra={"voicenter_label": event.label},
        )
