"""Property tests: odd and hostile responses only ever raise VoicenterError."""

from __future__ import annotations

import asyncio
import json
import tracemalloc

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicenter_async import VoicenterError, VoicenterSession
from voicenter_async._wire import parse_body
from voicenter_async.testing import Fault, ThreadedEmulator, sample_organization

CODE = "FAKEPROPERTY0000000000000000000000"
BASE = "http://voicenter.test"

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
wire_fields = st.sampled_from(
    ["SIP", "Name", "SpeedDial", "AccountID", "AccountName", "UserName", "UserEmail"]
)
records = st.dictionaries(wire_fields | st.text(max_size=6), json_values, max_size=8)
documents = st.fixed_dictionaries(
    {},
    optional={
        "ERR": json_values | st.sampled_from([0, "0", 1, "1", 2]),
        "DESC": json_values,
        "EXTENSIONS": st.lists(records | json_values, max_size=5) | json_values,
    },
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


def run_outcome(body: bytes) -> object:
    try:
        return parse_body(body, label="prop", code=CODE)
    except VoicenterError as exc:
        return exc


class TestParser:
    @PROPERTY_SETTINGS
    @given(body=st.binary(max_size=300))
    def test_any_bytes(self, body):
        """Arbitrary bytes parse or raise VoicenterError."""
        outcome = run_outcome(body)

        assert isinstance(outcome, (list, VoicenterError))

    @PROPERTY_SETTINGS
    @given(document=documents | json_values)
    def test_any_json(self, document):
        """Arbitrary JSON documents parse or raise VoicenterError."""
        body = json.dumps(document, allow_nan=True).encode()

        outcome = run_outcome(body)

        assert isinstance(outcome, (list, VoicenterError))


class TestMockTransport:
    @PROPERTY_SETTINGS
    @given(
        status=st.integers(min_value=200, max_value=599),
        body=st.binary(max_size=200) | documents.map(lambda d: json.dumps(d).encode()),
        retry_after=st.none() | header_values,
        content_type=header_values,
    )
    def test_any_response(self, status, body, retry_after, content_type):
        """Any status, header and body ends in a result or a VoicenterError."""
        headers = {"Content-Type": content_type}
        if retry_after is not None:
            headers["Retry-After"] = retry_after

        def reply(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, headers=headers, content=body)

        async def fetch() -> object:
            transport = httpx.MockTransport(reply)
            async with VoicenterSession(
                base_url=BASE, transport=transport, max_retries=1
            ) as session:
                try:
                    return await session.get_extensions(CODE)
                except VoicenterError as exc:
                    return exc

        outcome = asyncio.run(fetch())

        assert isinstance(outcome, (list, VoicenterError))


@pytest.fixture(scope="module", name="threaded")
def _threaded():
    with ThreadedEmulator(sample_organization(seed=3, departments=2)) as emulator:
        yield emulator


class TestEmulator:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        status=st.integers(min_value=200, max_value=599),
        body=st.binary(max_size=200),
        fault=st.sampled_from(["raw", "truncated", "disconnect", "reset", "html"]),
    )
    def test_any_socket_reply(self, threaded, status, body, fault):
        """Odd replies over a real socket end quickly in a VoicenterError."""
        faults = {
            "raw": Fault.raw(body, status=status),
            "truncated": Fault.truncated(sent_bytes=0),
            "disconnect": Fault.disconnect(),
            "reset": Fault.reset(),
            "html": Fault.html(status=status),
        }
        threaded.clear_faults()
        threaded.add_fault(faults[fault])

        async def fetch() -> object:
            async with VoicenterSession(
                base_url=threaded.base_url, request_deadline=5, max_retries=1
            ) as session:
                try:
                    return await session.get_extensions(CODE)
                except VoicenterError as exc:
                    return exc

        outcome = asyncio.run(fetch())
        threaded.clear_faults()

        assert isinstance(outcome, (list, VoicenterError))


def big_body(count: int) -> bytes:
    records = [
        {
            "SIP": f"{1000000 + n}",
            "Name": f"Extension {n}",
            "SpeedDial": f"{n % 10000}",
            "AccountID": 5000 + n % 40,
            "AccountName": "Sales",
            "UserName": f"User {n}",
            "UserEmail": f"user{n}@sales.example",
        }
        for n in range(count)
    ]
    document = {"ERR": 0, "DESC": "OK", "EXTENSIONS": records}

    return json.dumps(document).encode()


def parse_peak(body: bytes) -> int:
    tracemalloc.start()
    try:
        extensions = parse_body(body, label="big", code=CODE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert extensions

    return peak


def test_big_response_memory():
    """100,000 extensions parse with memory proportional to the body size."""
    small = big_body(10_000)
    large = big_body(100_000)

    small_peak = parse_peak(small)
    large_peak = parse_peak(large)

    assert large_peak < 20 * len(large)
    assert large_peak < 15 * small_peak
