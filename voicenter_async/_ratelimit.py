"""A session-wide limit on requests per second."""

from __future__ import annotations

import asyncio
import math

__all__ = ["RateLimiter"]


class RateLimiter:
    """Space requests evenly so that at most ``rate`` start per second.

    This is the generic cell rate algorithm with a burst of one: every
    caller books the next free start time before it sleeps, so concurrent
    callers queue in arrival order and never need a lock. A caller that is
    cancelled while it waits leaves its slot unused, which only makes the
    limit stricter.

    Args:
        rate: Requests per second, more than 0.

    Raises:
        ValueError: ``rate`` is not a positive finite number.
    """

    def __init__(self, rate: float) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            msg = f"max_requests_per_second must be a number, got {rate!r}"
            raise ValueError(msg)
        if not (rate > 0 and math.isfinite(rate)):
            msg = f"max_requests_per_second must be more than 0, got {rate!r}"
            raise ValueError(msg)
        self.rate = float(rate)
        self._interval = 1.0 / self.rate
        self._next_start = -math.inf

    def __repr__(self) -> str:
        return f"<RateLimiter {self.rate:g}/s>"

    async def acquire(self, deadline: float | None = None) -> bool:
        """Wait for the next free start time.

        Args:
            deadline: Event-loop time after which waiting is pointless.

        Returns:
            True once the caller may send. False at once, without booking a
            slot, when the free slot comes after ``deadline``.
        """
        now = asyncio.get_running_loop().time()
        start = max(now, self._next_start)
        if deadline is not None and start > deadline:
            return False
        self._next_start = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)

        return True
