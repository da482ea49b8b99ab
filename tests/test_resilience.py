"""Retries, deadlines, rate limit, fail-fast, single flight, cache and
cleanup, each against the local emulator over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from voicenter_async import (
    APIError,
    ForbiddenError,
    HTTPStatusError,
    PoolTimeoutError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseEvent,
    ResponseFormatError,
    RetryEvent,
    ServerError,
    SessionStateError,
    TransportError,
    VoicenterSession,
    code_fingerprint,
)
from voicenter_async.testing import (
    Directory,
    Fault,
    VoicenterEmulator,
    sample_organization,
)

DIRECTORY = sample_organization(seed=7, departments=8, extensions_per_department=3)
CODES = [department.code for department in DIRECTORY]
CODE = CODES[0]
UNKNOWN_CODE = "FAKEUNKNOWN0000000000000000000000"


@pytest.fixture(name="directory")
def _directory() -> Directory:
    return DIRECTORY


@pytest_asyncio.fixture(name="emulator")
async def _emulator(directory: Directory) -> AsyncIterator[VoicenterEmulator]:
    async with VoicenterEmulator(directory) as emulator:
        yield emulator


# Every behaviour here must hold on each transport the session offers.
TRANSPORTS = ["asyncio", "aiohttp", "httpcore"]
_transport = {"name": TRANSPORTS[0]}


@pytest.fixture(autouse=True, params=TRANSPORTS)
def _each_transport(request: pytest.FixtureRequest) -> None:
    _transport["name"] = request.param


def make_session(emulator: VoicenterEmulator, **settings: object) -> VoicenterSession:
    settings.setdefault("transport", _transport["name"])
    return VoicenterSession(base_url=emulator.base_url, **settings)  # type: ignore[arg-type]


def library_tasks() -> set[asyncio.Task[object]]:
    """Return the running tasks started by the library, not the emulator."""
    return {
        task
        for task in asyncio.all_tasks()
        if "/voicenter_async/testing/" not in task.get_coro().cr_code.co_filename
        and task is not asyncio.current_task()
    }


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestRetries:
    @pytest.mark.parametrize("status", [429, 502, 503, 504])
    async def test_transient_status(self, emulator, status):
        """429, 502, 503 and 504 are retried until the service responds."""
        emulator.add_fault(Fault.status(status), times=2)

        async with make_session(emulator) as session:
            extensions = await session.get_extensions(CODE)
            stats = session.stats

        assert extensions
        assert 3 == emulator.stats.requests_served
        assert {f"http_{status}": 2} == dict(stats.retries)
        assert 3 == stats.requests_sent
        assert {"2xx": 1, f"{status // 100}xx": 2} == dict(stats.responses)

    @pytest.mark.parametrize(
        ("fault", "error"),
        [
            (Fault.status(403), ForbiddenError),
            (Fault.status(500), ServerError),
            (Fault.status(404), HTTPStatusError),
            (Fault.html(), ResponseFormatError),
            (Fault.empty_body(), ResponseFormatError),
            (Fault.json({"ERR": 1, "DESC": "Unauthorized"}), APIError),
        ],
    )
    async def test_not_retried(self, emulator, fault, error):
        """Other statuses, API errors and bad bodies are raised at once."""
        emulator.add_fault(fault)

        async with make_session(emulator) as session:
            with pytest.raises(error):
                await session.get_extensions(CODE)
            stats = session.stats

        assert 1 == emulator.stats.requests_served
        assert {} == dict(stats.retries)

    async def test_gives_up_after_max_retries(self, emulator):
        """The last error is raised once max_retries retries have failed."""
        emulator.add_fault(Fault.status(503))

        async with make_session(emulator, max_retries=3) as session:
            with pytest.raises(ServerError, match="HTTP 503"):
                await session.get_extensions(CODE)

        assert 4 == emulator.stats.requests_served

    async def test_zero_turns_retries_off(self, emulator):
        """max_retries=0 on the session sends one request only."""
        emulator.add_fault(Fault.status(503), times=1)

        async with make_session(emulator, max_retries=0) as session:
            with pytest.raises(ServerError):
                await session.get_extensions(CODE)

        assert 1 == emulator.stats.requests_served

    async def test_per_call_override(self, emulator):
        """max_retries on a call replaces the session's setting."""
        emulator.add_fault(Fault.status(503), times=2)

        async with make_session(emulator, max_retries=5) as session:
            with pytest.raises(ServerError):
                await session.get_extensions(CODE, max_retries=1)
            roster = await session.fetch_departments([CODE], max_retries=0)

        assert 2 == emulator.stats.requests_served - 1
        assert roster.departments[0].ok

    async def test_fanout_retries(self, emulator):
        """Each department of a fan-out is retried on its own."""
        emulator.add_fault(Fault.status(502), code=CODES[1], times=1)
        emulator.add_fault(Fault.reset(), code=CODES[2], times=1)

        async with make_session(emulator) as session:
            roster = await session.fetch_departments(CODES)
            stats = session.stats

        assert [] == list(roster.failures)
        assert {"http_502": 1, "disconnected": 1} == dict(stats.retries)

    @pytest.mark.parametrize("fault", [Fault.disconnect(), Fault.reset()])
    async def test_dropped_connection(self, emulator, fault):
        """A connection closed or reset before any response is retried."""
        emulator.add_fault(fault, times=1)

        async with make_session(emulator) as session:
            extensions = await session.get_extensions(CODE)
            stats = session.stats

        assert extensions
        assert {"disconnected": 1} == dict(stats.retries)

    async def test_truncated_body(self, emulator):
        """A body cut short by a closed connection is retried."""
        emulator.add_fault(Fault.truncated(), times=1)

        async with make_session(emulator) as session:
            extensions = await session.get_extensions(CODE)

        assert extensions
        assert 2 == emulator.stats.requests_served

    async def test_connection_refused(self):
        """A refused connection is retried, then raised as TransportError."""
        base_url = f"http://127.0.0.1:{unused_port()}"

        async with VoicenterSession(
            base_url=base_url, transport=_transport["name"]
        ) as session:
            with pytest.raises(TransportError, match="ConnectError"):
                await session.get_extensions(CODE)
            stats = session.stats

        assert {"connect_error": 2} == dict(stats.retries)
        assert 3 == stats.requests_sent

    async def test_read_timeout(self, emulator):
        """A read timeout is retried."""
        emulator.add_fault(Fault.latency(0.5), times=1)

        async with make_session(emulator, timeout=0.1) as session:
            extensions = await session.get_extensions(CODE)
            stats = session.stats

        assert extensions
        assert {"read_timeout": 1} == dict(stats.retries)

    async def test_pool_timeout_not_retried(self, emulator):
        """Waiting too long for a pooled connection is raised at once."""
        emulator.add_fault(Fault.latency(0.5), code=CODES[0])
        timeout = httpx.Timeout(5.0, pool=0.05)

        async with make_session(
            emulator, max_connections=1, timeout=timeout
        ) as session:
            slow = asyncio.create_task(session.get_extensions(CODES[0]))
            await asyncio.sleep(0.1)
            with pytest.raises(PoolTimeoutError):
                await session.get_extensions(CODES[1])
            await slow
            stats = session.stats

        assert {} == dict(stats.retries)

    async def test_stale_keepalive_after_idle_close(self, directory):
        """Two fan-outs with the server closing idle connections in between."""
        async with (
            VoicenterEmulator(directory, idle_timeout=0.2) as emulator,
            make_session(emulator, max_connections=4) as session,
        ):
            first = await session.fetch_departments(CODES)
            await asyncio.sleep(0.4)
            second = await session.fetch_departments(CODES)

        assert [] == list(first.failures)
        assert [] == list(second.failures)
        assert len(first.extensions) == len(second.extensions)

    async def test_close_after_response(self, emulator):
        """A server that closes a keep-alive connection is handled quietly."""
        emulator.add_fault(Fault.close_after_response())

        async with make_session(emulator, max_connections=2) as session:
            for _ in range(3):
                roster = await session.fetch_departments(CODES[:4])
                assert [] == list(roster.failures)

    async def test_retry_logged_without_code(self, emulator, caplog):
        """Each retry is logged at WARNING with label, attempt and reason."""
        emulator.add_fault(Fault.status(503), times=1)
        caplog.set_level(logging.DEBUG)

        async with make_session(emulator) as session:
            await session.fetch_departments({"sales": CODE})

        warnings = [
            r
            for r in caplog.records
            if r.name == "voicenter_async" and r.levelno == logging.WARNING
        ]
        assert 1 == len(warnings)
        record = warnings[0]
        assert "sales" == record.voicenter_label
        assert 1 == record.voicenter_attempt
        assert "http_503" == record.voicenter_reason
        assert 503 == record.voicenter_status
        assert "retrying in" in record.getMessage()
        for each in caplog.records:
            assert CODE not in each.getMessage()
            assert CODE not in repr(each.__dict__)


class TestRetryAfter:
    async def test_seconds(self, emulator):
        """A Retry-After in seconds is the delay before the next attempt."""
        emulator.add_fault(Fault.status(429, retry_after=3), times=1)
        events: list[RetryEvent] = []

        async with make_session(emulator, on_retry=events.append) as session:
            await session.get_extensions(CODE)

        label = code_fingerprint(CODE)
        assert [RetryEvent(label, 1, "http_429", 3.0, 429)] == events

    async def test_http_date(self, emulator):
        """A Retry-After given as an HTTP-date is honoured too."""
        when = email.utils.formatdate(time.time() + 20, usegmt=True)
        emulator.add_fault(Fault.status(503, retry_after=when), times=1)
        events: list[RetryEvent] = []

        async with make_session(emulator, on_retry=events.append) as session:
            await session.get_extensions(CODE)

        assert 1 == len(events)
        assert 17.0 < events[0].delay <= 20.0

    async def test_above_cap_is_raised(self, emulator):
        """A Retry-After above max_retry_after is raised with its delay."""
        emulator.add_fault(Fault.status(429, retry_after=120))

        async with make_session(emulator, max_retry_after=60) as session:
            with pytest.raises(RateLimitedError) as caught:
                await session.get_extensions(CODE)

        assert 120.0 == caught.value.retry_after
        assert 1 == emulator.stats.requests_served

    async def test_no_wait_past_deadline(self, emulator):
        """A backoff that would end past the deadline is not waited."""
        emulator.add_fault(Fault.status(503, retry_after=30))

        async with make_session(emulator, request_deadline=5) as session:
            with pytest.raises(ServerError):
                await session.get_extensions(CODE)

        assert 1 == emulator.stats.requests_served


class TestDeadlines:
    async def test_drip_hits_request_deadline(self, emulator):
        """A body dripped a byte at a time is cut off at request_deadline."""
        emulator.add_fault(Fault.drip(chunk_size=1, interval=0.05), times=1)

        async with make_session(
            emulator, request_deadline=0.3, max_connections=1
        ) as session:
            started = time.perf_counter()
            with pytest.raises(RequestTimeoutError, match="deadline"):
                await session.get_extensions(CODE)
            elapsed = time.perf_counter() - started
            after = time.perf_counter()
            await session.get_extensions(CODE)
            again = time.perf_counter() - after

        assert elapsed < 1.5
        assert again < 1.0

    async def test_fanout_deadline(self, emulator):
        """Departments unfinished at the deadline fail, the rest keep results."""
        for code in CODES[:2]:
            emulator.add_fault(Fault.latency(5), code=code)

        async with make_session(emulator) as session:
            started = time.perf_counter()
            roster = await session.fetch_departments(CODES, deadline=0.5)
            elapsed = time.perf_counter() - started

        failed = {d.label for d in roster.failures}
        assert elapsed < 2.0
        assert 2 == len(failed)
        for department in roster.failures:
            assert isinstance(department.error, RequestTimeoutError)
        assert len(CODES) - 2 == sum(1 for d in roster.departments if d.ok)

    async def test_queued_codes_fail_after_deadline(self, emulator):
        """Codes still queued when the deadline passes are not sent."""
        emulator.add_fault(Fault.latency(1))

        async with make_session(emulator) as session:
            roster = await session.fetch_departments(CODES, deadline=0.3, concurrency=2)

        assert 2 == emulator.stats.requests_served
        messages = [str(d.error) for d in roster.failures]
        assert len(CODES) == len(messages)
        assert len(CODES) - 2 == sum("was not sent" in message for message in messages)


class TestRateLimit:
    async def test_shared_by_fanouts(self, emulator):
        """Two fan-outs of one session share max_requests_per_second."""
        async with make_session(emulator, max_requests_per_second=20) as session:
            started = time.perf_counter()
            await asyncio.gather(
                session.fetch_departments(CODES[:5]),
                session.fetch_departments(CODES[5:]),
            )
            elapsed = time.perf_counter() - started

        assert len(CODES) == emulator.stats.requests_served
        assert elapsed >= (len(CODES) - 1) / 20 - 0.02

    def test_invalid_rate(self):
        """A rate that is not a positive number is rejected."""
        with pytest.raises(ValueError, match="max_requests_per_second"):
            VoicenterSession(base_url="http://127.0.0.1:9", max_requests_per_second=0)


class TestForbiddenFailsFast:
    async def test_queued_codes_not_sent(self, emulator):
        """After a 403, queued departments fail without a request."""
        emulator.add_fault(Fault.status(403))
        labels = {f"dept{n}": code for n, code in enumerate(CODES)}

        async with make_session(emulator) as session:
            roster = await session.fetch_departments(labels, concurrency=1)

        assert 1 == emulator.stats.requests_served
        first, *rest = roster.departments
        assert isinstance(first.error, ForbiddenError)
        for department in rest:
            assert isinstance(department.error, ForbiddenError)
            assert "was not sent because department dept0" in str(department.error)
            assert first.error is department.error.__cause__


class TestSingleFlight:
    async def test_identical_calls_share_exchange(self, emulator):
        """Concurrent identical calls send one request."""
        emulator.add_fault(Fault.latency(0.2))

        async with make_session(emulator) as session:
            results = await asyncio.gather(
                *(session.get_extensions(CODE, show_all=False) for _ in range(5)),
                session.get_extensions(CODE, show_all=True),
            )
            stats = session.stats

        assert 2 == emulator.stats.requests_served
        assert 4 == stats.single_flight_joins
        assert all(result == results[0] for result in results[:5])
        assert results[0] is not results[1]

    async def test_cancelled_caller_leaves_others(self, emulator):
        """A joined call keeps its result when the first caller is cancelled."""
        # The response comes well after the cancel, even on a loaded machine.
        emulator.add_fault(Fault.latency(1.0))

        async with make_session(emulator) as session:
            first = asyncio.create_task(session.get_extensions(CODE))
            await asyncio.sleep(0.05)
            second = asyncio.create_task(session.get_extensions(CODE))
            await asyncio.sleep(0.05)
            first.cancel()
            extensions = await second

        assert first.cancelled()
        assert extensions
        assert 1 == emulator.stats.requests_served


class TestCache:
    async def test_hit_and_invalidate(self, emulator):
        """Cached results are served until invalidated."""
        async with make_session(emulator, cache_ttl=60) as session:
            first = await session.get_extensions(CODE)
            second = await session.get_extensions(CODE)
            assert 1 == session.invalidate(CODE)
            third = await session.get_extensions(CODE)
            stats = session.stats

        assert first == second == third
        assert 2 == emulator.stats.requests_served
        assert 1 == stats.cache_hits

    async def test_empty_result_ttl(self, emulator):
        """Empty results use the shorter empty_cache_ttl."""
        async with make_session(emulator, cache_ttl=60, empty_cache_ttl=0) as session:
            await session.get_extensions(UNKNOWN_CODE)
            await session.get_extensions(UNKNOWN_CODE)

        assert 2 == emulator.stats.requests_served

    async def test_off_by_default(self, emulator):
        """Without cache_ttl every call sends a request."""
        async with make_session(emulator) as session:
            await session.get_extensions(CODE)
            await session.get_extensions(CODE)

            assert 0 == session.invalidate()

        assert 2 == emulator.stats.requests_served


class TestCancellation:
    async def test_cancel_fanout_frees_pool(self, emulator):
        """Cancelling a fan-out leaves no task and no checked-out connection."""
        async with make_session(emulator, max_connections=1) as session:
            await session.get_extensions(CODE)
            emulator.add_fault(Fault.latency(5), times=1)
            before = library_tasks()
            task = asyncio.create_task(session.fetch_departments(CODES))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert set() == library_tasks() - before
            started = time.perf_counter()
            await session.get_extensions(CODE)

        assert time.perf_counter() - started < 1.0

    async def test_wait_for_frees_pool(self, emulator):
        """asyncio.wait_for around a call leaves the pool usable at once."""
        emulator.add_fault(Fault.drip(chunk_size=1, interval=0.05), times=1)

        async with make_session(emulator, max_connections=1) as session:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(session.get_extensions(CODE), 0.2)
            extensions = await asyncio.wait_for(session.get_extensions(CODE), 1.0)

        assert extensions

    async def test_error_responses_release_connections(self, emulator):
        """Error statuses never keep a connection checked out."""
        emulator.add_fault(Fault.status(403, body=b"x" * 10_000))

        async with make_session(emulator, max_connections=1, timeout=1) as session:
            for _ in range(5):
                with pytest.raises(ForbiddenError):
                    await session.get_extensions(CODE)

    async def test_close_during_fanout(self, emulator):
        """Closing the session ends unfinished departments as SessionStateError."""
        emulator.add_fault(Fault.latency(5))
        session = make_session(emulator, max_connections=2)

        task = asyncio.create_task(session.fetch_departments(CODES))
        await asyncio.sleep(0.2)
        await session.aclose()
        roster = await asyncio.wait_for(task, 1.0)

        assert len(CODES) == len(roster.failures)
        for department in roster.failures:
            assert isinstance(department.error, SessionStateError)

    def test_second_event_loop(self, directory):
        """A second loop gets SessionStateError and no closed-loop noise."""

        async def serve_and_fetch() -> tuple[VoicenterSession, list[str]]:
            async with VoicenterEmulator(directory) as emulator:
                session = make_session(emulator)
                await session.fetch_departments(CODES)
                return session, []

        session, _ = asyncio.run(serve_and_fetch())

        async def again() -> None:
            try:
                await session.get_extensions(CODE)
            finally:
                await session.aclose()

        with pytest.raises(SessionStateError, match="another event loop"):
            asyncio.run(again())


class TestHooks:
    async def test_async_and_sync_hooks(self, emulator):
        """on_retry and on_response may be plain or coroutine functions."""
        emulator.add_fault(Fault.status(503), times=1)
        retries: list[RetryEvent] = []
        responses: list[ResponseEvent] = []

        async def on_retry(event: RetryEvent) -> None:
            await asyncio.sleep(0)
            retries.append(event)

        async with make_session(
            emulator, on_retry=on_retry, on_response=responses.append
        ) as session:
            await session.fetch_departments({"ops": CODE})

        assert [RetryEvent("ops", 1, "http_503", retries[0].delay, 503)] == retries
        assert [503, 200] == [event.status for event in responses]
        assert [1, 2] == [event.attempt for event in responses]
        assert all("ops" == event.label for event in responses)

    async def test_failing_hook_is_logged(self, emulator, caplog):
        """A hook that raises is logged and the request goes on."""

        def broken(event: ResponseEvent) -> None:
            raise RuntimeError("exporter down")

        async with make_session(emulator, on_response=broken) as session:
            extensions = await session.get_extensions(CODE)

        assert extensions
        assert any("hook" in r.getMessage() for r in caplog.records)

    async def test_connections_counted_by_default(self, emulator):
        """stats counts the TCP connections the session's own pool opened."""
        async with make_session(
            emulator, transport="asyncio", max_connections=2
        ) as session:
            await session.fetch_departments(CODES, concurrency=2)
            stats = session.stats

        assert emulator.stats.connections_opened == stats.connections_opened
        assert 2 == stats.connections_opened

    async def test_connections_counted(self, emulator):
        """stats counts the TCP connections that httpcore's pool opened."""
        transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=2))

        async with make_session(emulator, transport=transport) as session:
            await session.fetch_departments(CODES, concurrency=2)
            stats = session.stats

        assert emulator.stats.connections_opened == stats.connections_opened
        assert 2 == stats.connections_opened
