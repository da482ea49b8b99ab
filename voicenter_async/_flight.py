"""Sharing one exchange between identical calls, and caching its result."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

import attrs

from ._models import Extension

__all__ = [
    "FlightCancelledError",
    "FlightExpiredError",
    "ResultCache",
    "SingleFlight",
    "code_digest",
]

T = TypeVar("T")


def code_digest(code: str) -> str:
    """Return the full SHA-256 hex digest of a code, used as a cache key.

    Keys hold this digest instead of the code, so a dump of the session's
    state does not reveal any code.
    """
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


class FlightCancelledError(Exception):
    """The shared exchange was cancelled by `SingleFlight.cancel_all`."""


class FlightExpiredError(Exception):
    """The caller's deadline passed before the shared exchange ended."""


# Set as a waker's result by the caller's deadline timer.
_EXPIRED = object()


class _Flight(Generic[T]):
    """One shared exchange: its task, its outcome and its waiting callers."""

    __slots__ = ("done", "error", "task", "value", "waiters", "wakers")

    def __init__(self) -> None:
        self.task: asyncio.Future[None] | None = None
        self.waiters = 0
        # One future per caller, resolved when the exchange ends. A caller
        # that is cancelled cancels only its own future, never the task.
        self.wakers: list[asyncio.Future[object]] = []
        self.done = False
        self.value: T | None = None
        self.error: Exception | None = None


class SingleFlight(Generic[T]):
    """Run at most one task per key; later callers with the key wait for it.

    The task runs apart from its callers, so it outlives a caller that is
    cancelled, or whose deadline passes, while others still wait. When the
    last caller leaves, the task is cancelled, and that caller returns only
    after the task has ended, so no request is left running and no pooled
    connection stays checked out.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._flights

    async def run(
        self,
        key: Hashable,
        start: Callable[[], Coroutine[Any, Any, T]],
        *,
        deadline: float | None = None,
        on_join: Callable[[], object] | None = None,
    ) -> T:
        """Join the flight for ``key``, starting it with ``start`` if none runs.

        Args:
            key: What identifies identical calls.
            start: Returns the exchange to run when no flight for ``key`` runs.
            deadline: Event-loop time at which this caller stops waiting, or
                None to wait as long as the exchange takes.
            on_join: Called when the caller joins a flight already running.

        Returns:
            The exchange's result, the same object for every caller.

        Raises:
            FlightCancelledError: `cancel_all` cancelled the flight.
            FlightExpiredError: ``deadline`` passed first.
            Exception: Whatever the exchange raised.
        """
        loop = asyncio.get_running_loop()
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight()
            self._flights[key] = flight
            flight.task = loop.create_task(self._drive(key, flight, start))
        elif on_join is not None:
            on_join()
        task = flight.task
        assert task is not None
        waker: asyncio.Future[object] = loop.create_future()
        flight.wakers.append(waker)
        flight.waiters += 1
        # A timer on the caller's own future, rather than a timeout scope
        # around the wait, is one loop callback and needs no cancellation.
        timer = None if deadline is None else loop.call_at(deadline, _expire, waker)
        try:
            await waker
        finally:
            if timer is not None:
                timer.cancel()
            flight.waiters -= 1
            if flight.waiters == 0 and not task.done():
                task.cancel()
                await _settle(task)
        if waker.result() is _EXPIRED and not flight.done:
            raise FlightExpiredError
        if not flight.done:
            raise FlightCancelledError
        if flight.error is not None:
            raise flight.error

        return flight.value  # type: ignore[return-value]

    async def cancel_all(self) -> None:
        """Cancel every flight and wait until all have ended."""
        flights = list(self._flights.items())
        for _, flight in flights:
            assert flight.task is not None
            flight.task.cancel()
        for key, flight in flights:
            assert flight.task is not None
            await _settle(flight.task)
            # A task cancelled before it started never ran _drive's finally.
            self._finish(key, flight)

    async def _drive(
        self,
        key: Hashable,
        flight: _Flight[T],
        start: Callable[[], Coroutine[Any, Any, T]],
    ) -> None:
        # The outcome is kept on the flight and the task itself ends without
        # an error, so no error goes unretrieved when every caller has left.
        # Waking the callers from here, instead of from a done callback,
        # saves the event loop one callback per exchange.
        try:
            flight.value = await start()
            flight.done = True
        except Exception as exc:
            flight.error = exc
            flight.done = True
        finally:
            self._finish(key, flight)

    def _finish(self, key: Hashable, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        for waker in flight.wakers:
            if not waker.done():
                waker.set_result(None)


def _expire(waker: asyncio.Future[object]) -> None:
    if not waker.done():
        waker.set_result(_EXPIRED)


async def _settle(task: asyncio.Future[Any]) -> None:
    """Wait until ``task`` has ended, even if the caller is being cancelled.

    A caller cancelled a second time while it waits stops waiting, and the
    task ends on its own moments later.
    """
    if not task.done():
        await asyncio.wait({task})


@attrs.define(eq=False)
class _Entry:
    expires: float
    extensions: tuple[Extension, ...]


class ResultCache:
    """Successful results by key, each kept for a time to live.

    Args:
        ttl: Seconds a non-empty result is kept.
        empty_ttl: Seconds an empty result is kept; at most ``ttl``.
        clock: Monotonic clock, replaceable in tests.
    """

    def __init__(
        self,
        ttl: float,
        empty_ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.empty_ttl = min(empty_ttl, ttl)
        self._clock = clock
        self._entries: dict[tuple[str, Hashable], _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str, variant: Hashable) -> list[Extension] | None:
        """Return a fresh copy of the cached result, or None when absent."""
        key = (digest, variant)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None

        return list(entry.extensions)

    def put(self, digest: str, variant: Hashable, extensions: list[Extension]) -> None:
        """Store a result; an empty one expires after ``empty_ttl``."""
        ttl = self.ttl if extensions else self.empty_ttl
        if ttl <= 0:
            return
        self._entries[(digest, variant)] = _Entry(
            self._clock() + ttl, tuple(extensions)
        )

    def invalidate(self, digest: str | None = None) -> int:
        """Drop the entries of one code's digest, or every entry.

        Returns:
            How many entries were dropped.
        """
        if digest is None:
            count = len(self._entries)
            self._entries.clear()
            return count
        keys = [key for key in self._entries if key[0] == digest]
        for key in keys:
            del self._entries[key]

        return len(keys)
