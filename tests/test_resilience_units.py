"""Unit tests of the resilience parts: policy, backoff, cache, rate limit."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from voicenter_async import (
    ForbiddenError,
    RequestTimeoutError,
    SessionStateError,
    VoicenterSession,
)
from voicenter_async._flight import (
    FlightCancelledError,
    FlightExpiredError,
    ResultCache,
    SingleFlight,
    code_digest,
)
from voicenter_async._models import Extension
from voicenter_async._ratelimit import RateLimiter
from voicenter_async._resilience import (
    FanoutGuard,
    RetryPolicy,
    check_seconds,
    full_jitter_backoff,
)

CODE = "FAKEUNITS0000000000000000000000000"
BODY = b'{"ERR":0,"DESC":"OK","EXTENSIONS":[{"SIP":"1000001"}]}'


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestPolicy:
    @pytest.mark.parametrize("retries", [-1, 1.5, True, "2"])
    def test_invalid_retries(self, retries):
        """max_retries must be a whole number of 0 or more."""
        with pytest.raises(ValueError, match="max_retries"):
            RetryPolicy(max_retries=retries)

    @pytest.mark.parametrize("seconds", [-1, float("inf"), "1", None])
    def test_invalid_seconds(self, seconds):
        """Settings in seconds reject negative, infinite and non-numbers."""
        with pytest.raises(ValueError, match="backoff_max"):
            check_seconds("backoff_max", seconds)

    def test_zero_seconds(self):
        """0 s is rejected unless the setting allows it."""
        assert 0.0 == check_seconds("x", 0, allow_zero=True)
        with pytest.raises(ValueError, match="more than 0"):
            check_seconds("x", 0)

    def test_backoff_bounds(self):
        """Full-jitter backoff stays between 0 and the capped ceiling."""
        policy = RetryPolicy(backoff_initial=0.5, backoff_max=3.0)
        rng = random.Random(1)

        for retry in range(1, 80):
            delay = full_jitter_backoff(retry, policy, rng)
            assert 0.0 <= delay <= min(3.0, 0.5 * 2 ** (retry - 1))

    def test_session_rejects_bad_deadline(self):
        """A request_deadline of 0 is rejected when the session is built."""
        with pytest.raises(ValueError, match="request_deadline"):
            VoicenterSession(base_url="http://127.0.0.1:9", request_deadline=0)


class TestCache:
    def test_expiry(self):
        """Entries expire after their TTL, empty ones sooner."""
        clock = FakeClock()
        cache = ResultCache(10, 2, clock=clock)
        extension = Extension(sip="1")
        cache.put("full", 1, [extension])
        cache.put("empty", 1, [])

        clock.now = 5
        assert [extension] == cache.get("full", 1)
        assert cache.get("empty", 1) is None
        clock.now = 10
        assert cache.get("full", 1) is None
        assert 0 == len(cache)

    def test_invalidate_all(self):
        """invalidate() with no digest clears the cache."""
        cache = ResultCache(10, 10)
        cache.put(code_digest(CODE), 1, [Extension(sip="1")])
        cache.put(code_digest(CODE), 2, [Extension(sip="1")])

        assert 2 == cache.invalidate()
        assert 0 == len(cache)

    def test_key_is_not_code(self):
        """Cache keys hold the SHA-256 digest, not the code."""
        assert CODE not in code_digest(CODE)
        assert 64 == len(code_digest(CODE))

    async def test_session_invalidate_all(self):
        """session.invalidate() drops every cached result."""
        transport = httpx.MockTransport(ok)
        async with VoicenterSession(
            base_url="http://voicenter.test", transport=transport, cache_ttl=60
        ) as session:
            await session.get_extensions(CODE)

            assert 1 == session.invalidate()


class TestRateLimiter:
    @pytest.mark.parametrize("rate", [0, -1, float("nan"), "5", True])
    def test_invalid(self, rate):
        """A rate that is not a positive number is rejected."""
        with pytest.raises(ValueError, match="max_requests_per_second"):
            RateLimiter(rate)

    async def test_slot_after_deadline(self):
        """A slot after the deadline is not booked."""
        limiter = RateLimiter(1)
        now = asyncio.get_running_loop().time()

        assert await limiter.acquire(now + 5)
        assert not await limiter.acquire(now + 0.5)
        assert "<RateLimiter 1/s>" == repr(limiter)

    async def test_session_deadline_error(self):
        """A call whose rate-limit slot comes after its deadline fails."""
        transport = httpx.MockTransport(ok)
        async with VoicenterSession(
            base_url="http://voicenter.test",
            transport=transport,
            max_requests_per_second=1,
            request_deadline=0.5,
        ) as session:
            await session.get_extensions(CODE)
            with pytest.raises(RequestTimeoutError, match="max_requests_per_second"):
                await session.get_extensions(CODE)


class TestFanoutGuard:
    async def test_forbidden_once(self):
        """The first 403 is kept, later ones are ignored."""
        guard = FanoutGuard(None)
        first = ForbiddenError("no", label="a", status_code=403)
        guard.record(first)
        guard.record(ForbiddenError("no", label="b", status_code=403))

        with pytest.raises(ForbiddenError, match="department a got HTTP 403"):
            guard.check("c")


class TestSingleFlight:
    async def test_cancel_all(self):
        """cancel_all ends every flight and its callers see it."""
        flights: SingleFlight[int] = SingleFlight()

        async def slow() -> int:
            await asyncio.sleep(10)
            return 1

        caller = asyncio.create_task(flights.run("key", slow))
        await asyncio.sleep(0)
        assert 1 == len(flights)
        await flights.cancel_all()

        with pytest.raises(FlightCancelledError):
            await caller
        assert 0 == len(flights)

    async def test_cancelled_caller_leaves_others(self):
        """Cancelling one of three callers leaves one run and two results."""
        flights: SingleFlight[int] = SingleFlight()
        release = asyncio.Event()
        runs = 0

        async def exchange() -> int:
            nonlocal runs
            runs += 1
            await release.wait()
            return 7

        callers = [asyncio.create_task(flights.run("key", exchange)) for _ in range(3)]
        await asyncio.sleep(0)
        callers[1].cancel()
        await asyncio.sleep(0)
        release.set()
        first, second = await asyncio.gather(callers[0], callers[2])

        assert 7 == first
        assert 7 == second
        assert callers[1].cancelled()
        assert 1 == runs
        assert 0 == len(flights)

    async def test_last_caller_cancels_exchange(self):
        """When every caller is cancelled, the exchange ends before they do."""
        flights: SingleFlight[int] = SingleFlight()
        exchange_cancelled = False

        async def exchange() -> int:
            nonlocal exchange_cancelled
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                exchange_cancelled = True
                raise
            return 1

        caller = asyncio.create_task(flights.run("key", exchange))
        await asyncio.sleep(0)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

        assert exchange_cancelled
        assert 0 == len(flights)

    async def test_cancel_all_before_start(self):
        """A flight cancelled before its task ran still wakes its callers."""
        flights: SingleFlight[int] = SingleFlight()
        ran = False

        async def exchange() -> int:
            nonlocal ran
            ran = True
            return 1

        caller = asyncio.create_task(flights.run("key", exchange))
        await asyncio.sleep(0)
        # The caller has started the task, which has not run yet.
        await flights.cancel_all()

        with pytest.raises(FlightCancelledError):
            await caller
        assert not ran
        assert 0 == len(flights)

    async def test_error_reaches_every_caller(self):
        """Each caller gets the exchange's error, and the flight is gone."""
        flights: SingleFlight[int] = SingleFlight()
        release = asyncio.Event()

        async def exchange() -> int:
            await release.wait()
            raise ValueError("bad body")

        callers = [asyncio.create_task(flights.run("key", exchange)) for _ in range(2)]
        await asyncio.sleep(0)
        release.set()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)

        assert [ValueError, ValueError] == [type(outcome) for outcome in outcomes]
        assert 0 == len(flights)

    async def test_deadline_of_last_caller_cancels_exchange(self):
        """A caller alone past its deadline ends the exchange, then raises."""
        flights: SingleFlight[int] = SingleFlight()
        exchange_cancelled = False

        async def exchange() -> int:
            nonlocal exchange_cancelled
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                exchange_cancelled = True
                raise
            return 1

        deadline = asyncio.get_running_loop().time() + 0.05
        with pytest.raises(FlightExpiredError):
            await flights.run("key", exchange, deadline=deadline)

        assert exchange_cancelled
        assert 0 == len(flights)

    async def test_deadline_of_one_caller_leaves_others(self):
        """A caller past its deadline leaves; the other still gets the result."""
        flights: SingleFlight[int] = SingleFlight()
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def exchange() -> int:
            await release.wait()
            return 7

        hurried = asyncio.create_task(
            flights.run("key", exchange, deadline=loop.time() + 0.05)
        )
        patient = asyncio.create_task(flights.run("key", exchange))
        with pytest.raises(FlightExpiredError):
            await hurried
        release.set()

        assert 7 == await patient

    async def test_result_at_deadline_is_kept(self):
        """A result already there when the deadline fires is returned."""
        flights: SingleFlight[int] = SingleFlight()

        async def exchange() -> int:
            await asyncio.sleep(0)
            return 3

        # The timer fires one loop pass before the exchange returns, and the
        # caller runs after both.
        deadline = asyncio.get_running_loop().time()

        assert 3 == await flights.run("key", exchange, deadline=deadline)

    async def test_error_after_callers_left_is_not_reported(self, caplog):
        """An exchange that fails after every caller left logs nothing."""
        flights: SingleFlight[int] = SingleFlight()

        async def exchange() -> int:
            try:
                await asyncio.sleep(10)
            finally:
                raise ValueError("cleanup failed")

        caller = asyncio.create_task(flights.run("key", exchange))
        await asyncio.sleep(0)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.sleep(0)

        assert "never retrieved" not in caplog.text


class TestKeeper:
    async def test_cancelled_keeper_releases_pool(self):
        """After the pool keeper is cancelled, calls raise SessionStateError."""
        transport = httpx.MockTransport(ok)
        session = VoicenterSession(
            base_url="http://voicenter.test", transport=transport
        )
        await session.get_extensions(CODE)
        keeper = session._keeper
        assert keeper is not None

        keeper.cancel()
        await asyncio.wait({keeper})

        with pytest.raises(SessionStateError, match="released its connection pool"):
            await session.get_extensions(CODE)
        await session.aclose()
