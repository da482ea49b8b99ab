"""Retry rules, backoff delays and time limits on requests.

GetExtensions only reads, so sending the same request again, POST included,
cannot change anything on the service. That is what makes retrying safe.
"""

from __future__ import annotations

import asyncio
import math
import random

import attrs
import httpx

from ._errors import (
    ForbiddenError,
    HTTPStatusError,
    RateLimitedError,
    RequestTimeoutError,
    VoicenterError,
)

__all__ = [
    "RETRY_STATUSES",
    "FanoutGuard",
    "RetryPolicy",
    "deadline_error",
    "full_jitter_backoff",
    "retry_reason",
]

#: Statuses that mean "try again later" rather than "this request is wrong".
RETRY_STATUSES = frozenset({429, 502, 503, 504})

# httpx errors after which the same request can succeed on a new connection.
# A pooled keep-alive connection that the server closed while it sat idle
# fails with one of the last three, and httpx does not retry those itself.
_TRANSIENT_HTTPX_ERRORS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "connect_timeout"),
    (httpx.ReadTimeout, "read_timeout"),
    (httpx.ConnectError, "connect_error"),
    (httpx.RemoteProtocolError, "disconnected"),
    (httpx.ReadError, "disconnected"),
    (httpx.WriteError, "disconnected"),
)


@attrs.frozen(slots=True)
class RetryPolicy:
    """Settings for retrying transient failures.

    Attributes:
        max_retries: Retries after the first attempt; 0 turns retrying off.
        backoff_initial: Upper bound in seconds of the first backoff.
        backoff_max: Upper bound in seconds of any backoff.
        max_retry_after: The longest ``Retry-After`` in seconds that the
            session waits for; a longer one is raised to the caller.
    """

    max_retries: int = 2
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    max_retry_after: float = 60.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            msg = f"max_retries must be a whole number, got {self.max_retries!r}"
            raise ValueError(msg)
        if self.max_retries < 0:
            msg = f"max_retries must be 0 or more, got {self.max_retries!r}"
            raise ValueError(msg)
        for name in ("backoff_initial", "backoff_max", "max_retry_after"):
            check_seconds(name, getattr(self, name), allow_zero=True)

    def with_retries(self, max_retries: int | None) -> RetryPolicy:
        """Return the policy with a per-call ``max_retries``, if one is given."""
        if max_retries is None:
            return self

        return attrs.evolve(self, max_retries=max_retries)


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as seconds, or raise `ValueError` naming the setting."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{name} must be a number of seconds, got {value!r}"
        raise ValueError(msg)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and math.isfinite(value)):
        bound = "0 or more" if allow_zero else "more than 0"
        msg = f"{name} must be {bound} seconds, got {value!r}"
        raise ValueError(msg)

    return float(value)


def retry_reason(error: VoicenterError) -> str | None:
    """Return why ``error`` is worth retrying, or None when it is not.

    Retried: connection failures, connect and read timeouts, a connection
    the server closed before responding, and HTTP 429, 502, 503 and 504.
    Never retried: any other status (403 above all), an API error, a bad
    body, a pool timeout (a retry would only join the same queue again) and
    the session's own deadline.
    """
    if isinstance(error, HTTPStatusError):
        if error.status_code in RETRY_STATUSES:
            return f"http_{error.status_code}"
        return None
    cause = error.__cause__
    if not isinstance(cause, httpx.HTTPError) or isinstance(cause, httpx.PoolTimeout):
        return None
    for kind, reason in _TRANSIENT_HTTPX_ERRORS:
        if isinstance(cause, kind):
            return reason

    return None


def full_jitter_backoff(
    retry_number: int, policy: RetryPolicy, rng: random.Random | None = None
) -> float:
    """Return a random backoff for the given retry, counting from 1.

    The delay is uniform between 0 and ``backoff_initial * 2 ** (n - 1)``,
    capped at ``backoff_max`` ("full jitter"), so clients that failed
    together do not retry together.
    """
    exponent = min(retry_number - 1, 64)
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2.0**exponent)

    return (rng or random).uniform(0.0, ceiling)


def requested_delay(error: VoicenterError, retry_after: float | None) -> float | None:
    """Return the delay the service asked for, from the error or the header."""
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return error.retry_after

    return retry_after


def deadline_error(label: str) -> RequestTimeoutError:
    msg = (
        f"GetExtensions request for {label} did not finish before its deadline; "
        "raise request_deadline or the fan-out deadline if the service is slow"
    )

    return RequestTimeoutError(msg, label=label)


class FanoutGuard:
    """Stop a fan-out from sending requests that are bound to fail.

    After one department gets HTTP 403, which means this server's IP is not
    on the allow-list and so affects every code, the departments still
    queued fail at once with a copy of that error. After the fan-out's
    deadline, they fail at once with `RequestTimeoutError`.

    Args:
        deadline: Event-loop time at which the fan-out ends, or None.
    """

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.forbidden: ForbiddenError | None = None

    def check(self, label: str) -> None:
        """Raise the error a department gets instead of being sent.

        Raises:
            ForbiddenError: Another department of the fan-out got 403.
            RequestTimeoutError: The fan-out's deadline has passed.
        """
        if self.forbidden is not None:
            msg = (
                f"GetExtensions request for {label} was not sent because "
                f"department {self.forbidden.label} got HTTP 403 Forbidden in "
                "the same fetch_departments call: the IP address of this "
                "server is probably not on the account's API allow-list. Add "
                "it in the Voicenter control panel, then fetch again"
            )
            raise ForbiddenError(
                msg, label=label, status_code=403, excerpt=self.forbidden.excerpt
            ) from self.forbidden
        if self.deadline is None:
            return
        if asyncio.get_running_loop().time() >= self.deadline:
            msg = (
                f"GetExtensions request for {label} was not sent because the "
                "fan-out's deadline passed first; raise deadline or "
                "concurrency, or fetch fewer codes"
            )
            raise RequestTimeoutError(msg, label=label)

    def record(self, error: VoicenterError) -> None:
        """Remember the first 403 of the fan-out."""
        if isinstance(error, ForbiddenError) and self.forbidden is None:
            self.forbidden = error
