"""The path of one GetExtensions call: cache, single flight, deadline,
retries, rate limit, and finally the HTTP exchange."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import attrs
import httpx
import stamina

from ._errors import RequestTimeoutError, SessionStateError, VoicenterError
from ._flight import (
    FlightCancelledError,
    FlightExpiredError,
    ResultCache,
    SingleFlight,
    code_digest,
)
from ._http import (
    DirectRequests,
    ExchangeResponse,
    Method,
    build_request,
    check_status,
    header_pairs,
    parse_retry_after,
    safe_cause,
    translate_httpx_error,
    translate_unexpected_error,
)
from ._models import Extension
from ._ratelimit import RateLimiter
from ._resilience import (
    RETRY_STATUSES,
    RetryPolicy,
    deadline_error,
    full_jitter_backoff,
    requested_delay,
    retry_reason,
)
from ._stats import (
    ResponseEvent,
    ResponseHook,
    RetryEvent,
    RetryHook,
    StatsCounter,
    call_hook,
    status_class,
)
from ._wire import parse_body

__all__ = ["Pipeline"]

logger = logging.getLogger("voicenter_async")


@attrs.define(eq=False)
class _Attempts:
    """State the retry loop of one exchange keeps between attempts.

    Only the label is stored here. The code stays in the pipeline's call
    frames, so no retry hook, log record or stamina instrumentation gets it.
    """

    label: str
    policy: RetryPolicy
    deadline: float | None
    number: int = 0
    retry_after: float | None = None
    status: int | None = None
    pending: RetryEvent | None = None


class Pipeline:
    """Send GetExtensions requests for a session, with every safeguard.

    Args:
        client: The client that sends the requests.
        method: ``"POST"`` or ``"GET"``.
        headers: Headers added to every request.
        policy: The retry policy.
        request_deadline: Seconds one call may take, all attempts and
            backoffs included, or None for no limit.
        limiter: The session-wide rate limit, or None.
        cache: The result cache, or None.
        on_retry: Called before each retried attempt.
        on_response: Called after each response.
        owns_client: Whether the session created ``client``. Its requests
            then skip the client's build and send steps (see
            `DirectRequests` and `send_direct`).
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        method: Method,
        headers: Mapping[str, str | bytes],
        policy: RetryPolicy,
        request_deadline: float | None,
        limiter: RateLimiter | None,
        cache: ResultCache | None,
        on_retry: RetryHook | None,
        on_response: ResponseHook | None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.policy = policy
        self.cache = cache
        self.stats = StatsCounter()
        self._method = method
        self._headers = header_pairs(headers)
        self._request_deadline = request_deadline
        self._limiter = limiter
        self._on_retry = on_retry
        self._on_response = on_response
        self._flights: SingleFlight[list[Extension]] = SingleFlight()
        self._requests = (
            DirectRequests(client, method, headers) if owns_client else None
        )

    async def fetch(
        self,
        code: str,
        label: str,
        show_all: bool | None,
        *,
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> list[Extension]:
        """Fetch one code's extensions.

        Args:
            code: A validated code.
            label: The label used in messages, logs and hooks.
            show_all: ``showAll`` for the request.
            max_retries: Overrides the policy's retries for this call.
            deadline: An event-loop time after which the call must have
                ended, in addition to the request deadline.

        Raises:
            SessionStateError: The session was closed while the call ran.
            VoicenterError: The exchange failed; see `VoicenterSession`.
        """
        digest = code_digest(code)
        key = (digest, show_all, self._method)
        cached = self._cached(digest, key)
        if cached is not None:
            return cached

        attempts = _Attempts(
            label=label,
            policy=self.policy.with_retries(max_retries),
            deadline=self._deadline(deadline),
        )

        async def start() -> list[Extension]:
            extensions = await self._with_retries(code, show_all, attempts)
            if self.cache is not None:
                self.cache.put(digest, key, extensions)
            return extensions

        expired = False
        try:
            shared = await self._flights.run(
                key, start, deadline=attempts.deadline, on_join=self._count_join
            )
        except FlightExpiredError:
            expired = True
        except FlightCancelledError:
            msg = (
                f"GetExtensions request for {label} was cancelled because the "
                "session was closed while it ran; close the session only after "
                "its calls have ended"
            )
            raise SessionStateError(msg, label=label) from None
        if expired:
            # Raised here, so that no internal exception is left as context.
            raise deadline_error(label)

        return list(shared)

    def _count_join(self) -> None:
        self.stats.single_flight_joins += 1

    async def aclose(self) -> None:
        """Cancel every exchange in flight and wait until they have ended."""
        await self._flights.cancel_all()

    def _cached(self, digest: str, key: object) -> list[Extension] | None:
        if self.cache is None:
            return None
        cached = self.cache.get(digest, key)
        if cached is not None:
            self.stats.cache_hits += 1

        return cached

    def _deadline(self, deadline: float | None) -> float | None:
        if self._request_deadline is None:
            return deadline
        own = asyncio.get_running_loop().time() + self._request_deadline
        if deadline is None:
            return own

        return min(own, deadline)

    async def _with_retries(
        self, code: str, show_all: bool | None, attempts: _Attempts
    ) -> list[Extension]:
        # The first attempt runs outside stamina, which costs tens of
        # microseconds per call. Its failure is then raised again as
        # stamina's first attempt, so the decision to retry, the hooks, the
        # logs and stamina's instrumentation are those of a plain retry loop.
        attempts.number = 1
        try:
            return await self._exchange(code, show_all, attempts)
        except Exception as exc:
            first_failure: Exception | None = exc

        # stamina's retry_context passes no arguments to its instrumentation,
        # unlike its decorator, so the code cannot reach stamina's log line.
        retrying = stamina.retry_context(
            on=lambda exc: self._decide(exc, attempts),
            attempts=attempts.policy.max_retries + 1,
            timeout=None,
        )
        async for attempt in retrying:
            await self._announce(attempts)
            with attempt:
                attempts.number = attempt.num
                if first_failure is not None:
                    failure, first_failure = first_failure, None
                    raise failure
                return await self._exchange(code, show_all, attempts)

        raise AssertionError  # pragma: no cover - stamina re-raises the last error

    def _decide(self, exc: Exception, attempts: _Attempts) -> bool | float:
        """Return the delay before the next attempt, or False to give up."""
        if not isinstance(exc, VoicenterError):
            return False
        reason = retry_reason(exc)
        if reason is None or attempts.number > attempts.policy.max_retries:
            return False
        delay = self._delay(exc, attempts)
        if delay is None:
            return False

        self.stats.retries[reason] += 1
        attempts.pending = RetryEvent(
            label=attempts.label,
            attempt=attempts.number,
            reason=reason,
            delay=delay,
            status=attempts.status,
        )
        logger.warning(
            "GetExtensions for %s failed (%s) on attempt %d of %d; retrying in %.2f s",
            attempts.label,
            reason,
            attempts.number,
            attempts.policy.max_retries + 1,
            delay,
            extra={
                "voicenter_label": attempts.label,
                "voicenter_attempt": attempts.number,
                "voicenter_reason": reason,
                "voicenter_delay": delay,
                "voicenter_status": attempts.status,
            },
        )

        return delay

    def _delay(self, exc: VoicenterError, attempts: _Attempts) -> float | None:
        """Return the backoff, or None when waiting it is not allowed."""
        requested = requested_delay(exc, attempts.retry_after)
        if requested is None:
            delay = full_jitter_backoff(attempts.number, attempts.policy)
        elif requested > attempts.policy.max_retry_after:
            logger.debug(
                "not retrying %s: the service asked to wait %.1f s, more than "
                "max_retry_after %.1f s",
                attempts.label,
                requested,
                attempts.policy.max_retry_after,
                extra={"voicenter_label": attempts.label},
            )
            return None
        else:
            delay = requested
        if attempts.deadline is None:
            return delay
        if asyncio.get_running_loop().time() + delay >= attempts.deadline:
            logger.debug(
                "not retrying %s: a %.2f s backoff would end past its deadline",
                attempts.label,
                delay,
                extra={"voicenter_label": attempts.label},
            )
            return None

        return delay

    async def _announce(self, attempts: _Attempts) -> None:
        event, attempts.pending = attempts.pending, None
        if event is not None:
            await call_hook(self._on_retry, event)

    async def _exchange(
        self, code: str, show_all: bool | None, attempts: _Attempts
    ) -> list[Extension]:
        label = attempts.label
        attempts.retry_after = None
        attempts.status = None
        await self._wait_for_rate_limit(attempts)
        self.stats.requests_sent += 1
        started = time.perf_counter()
        failure: VoicenterError | None = None
        try:
            response = await self._send(code, show_all)
        except httpx.HTTPError as exc:
            failure = translate_httpx_error(
                exc, label=label, code=code, host=self._host()
            )
            failure.__cause__ = safe_cause(exc)
        except Exception as exc:
            # A transport should raise only httpx errors, but a socket-level
            # fault such as an out-of-range port can escape one as OSError or
            # OverflowError. It still ends as this department's failure.
            failure = translate_unexpected_error(
                exc, label=label, code=code, host=self._host()
            )
            failure.__cause__ = exc
        if failure is not None:
            # Raised here rather than in the except blocks, so the original
            # httpx error, whose request carries the code, is not kept as
            # __context__.
            failure.__suppress_context__ = True
            raise failure

        elapsed = time.perf_counter() - started
        status = response.status_code
        attempts.status = status
        self.stats.responses[status_class(status)] += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "GetExtensions %s %s: HTTP %d in %.3f s",
                label,
                self._method,
                status,
                elapsed,
                extra={
                    "voicenter_label": label,
                    "voicenter_method": self._method,
                    "voicenter_status": status,
                    "voicenter_elapsed": elapsed,
                    "voicenter_attempt": attempts.number,
                },
            )
        if self._on_response is not None:
            await call_hook(
                self._on_response,
                ResponseEvent(label, attempts.number, status, elapsed),
            )
        if status in RETRY_STATUSES:
            header = response.headers.get("Retry-After")
            attempts.retry_after = parse_retry_after(header)
        check_status(response, label=label, code=code)

        return parse_body(response.content, label=label, code=code)

    async def _send(self, code: str, show_all: bool | None) -> ExchangeResponse:
        if self._requests is not None:
            return await self._requests.send(code, show_all, self.stats.trace)
        request = build_request(self.client, self._method, code, show_all)
        request.headers.update(self._headers)
        request.extensions["trace"] = self.stats.trace

        return await self.client.send(request)

    def _host(self) -> str:
        if self._requests is not None and self._requests.host:
            return self._requests.host

        return self.client.base_url.host

    async def _wait_for_rate_limit(self, attempts: _Attempts) -> None:
        if self._limiter is None:
            return
        if await self._limiter.acquire(attempts.deadline):
            return
        msg = (
            f"GetExtensions request for {attempts.label} was not sent: under "
            f"max_requests_per_second={self._limiter.rate:g} its turn comes "
            "after its deadline; raise the rate or the deadline, or send fewer "
            "codes"
        )
        raise RequestTimeoutError(msg, label=attempts.label)
