"""Sharing one exchange between identical calls, and caching its result."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

import attrs

from ._models import Extension

__all__ = ["FlightCancelledError", "ResultCache", "SingleFlight", "code_digest"]

T = TypeVar("T")


def code_digest(code: str) -> str:
    """Return the full SHA-256 hex digest of a code, used as a cache key.

    Keys hold this digest instead of the code, so a dump of the session's
    state does not reveal any code.
    """
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


class FlightCancelledError(Exception):
    """The shared exchange was cancelled by `SingleFlight.cancel_all`."""


@attrs.define(eq=False)
class _Flight(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0
    # One future per caller, resolved when the task ends. A caller that is
    # cancelled cancels only its own future, never the task.
    wakers: list[asyncio.Future[None]] = attrs.Factory(list)


class SingleFlight(Generic[T]):
    """Run at most one task per key; later callers with the key wait for it.

    The task runs apart from its callers, so it outlives a caller that is
    cancelled while others still wait. When the last caller leaves, the task
    is cancelled, and that caller returns only after the task has ended, so
    no request is left running and no pooled connection stays checked out.
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
        on_join: Callable[[], object] | None = None,
    ) -> T:
        """Join the flight for ``key``, starting it with ``start`` if none runs.

        ``on_join`` is called when the caller joins a flight already running.

        Returns:
            The task's result, the same object for every caller.

        Raises:
            FlightCancelledError: `cancel_all` cancelled the flight.
            Exception: Whatever the task raised.
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(start()))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda _: self._finish(key, flight))
        elif on_join is not None:
            on_join()
        waker = flight.task.get_loop().create_future()
        flight.wakers.append(waker)
        flight.waiters += 1
        try:
            await waker
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()
                await _settle(flight.task)
        if flight.task.cancelled():
            raise FlightCancelledError

        return flight.task.result()

    async def cancel_all(self) -> None:
        """Cancel every flight and wait until all have ended."""
        tasks = [flight.task for flight in self._flights.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            await _settle(task)

    def _finish(self, key: Hashable, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        # Marks an error as retrieved even when every caller had left.
        if not flight.task.cancelled():
            flight.task.exception()
        for waker in flight.wakers:
            if not waker.done():
                waker.set_result(None)


async def _settle(task: asyncio.Task[Any]) -> None:
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
