"""fetch_departments: distinct codes, every outcome kept, merging, limits."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import httpx
import pytest
import respx

from voicenter_async import (
    DepartmentsFailedError,
    Extension,
    ForbiddenError,
    InvalidCodeError,
    ServerError,
    VoicenterSession,
    VoicenterWarning,
    code_fingerprint,
)
from voicenter_async._fanout import validate_code

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

BASE = "http://voicenter.test"
PATH = "/Comet/api/GetExtensions"

# Each test code maps to the extensions its department returns.
DEPARTMENTS = {
    "SalesCode0001": [
        {
            "SIP": "100",
            "Name": "רונית",
            "AccountID": 1,
            "UserEmail": "Ronit@Example.com",
        },
        {"SIP": "101", "Name": "Avi", "AccountID": 1, "UserEmail": "avi@example.com"},
    ],
    "SupportCode002": [
        {"SIP": "200", "Name": "Noa", "AccountID": 2, "UserEmail": "noa@example.com"},
        {"SIP": "201", "Name": "Avi", "AccountID": 2, "UserEmail": "avi@example.com"},
    ],
    "EmptyCode00003": [],
}


def answer(request: httpx.Request) -> httpx.Response:
    code = json.loads(request.content)["code"]
    if code == "BrokenCode0004":
        return httpx.Response(500, text="boom")
    return httpx.Response(
        200,
        json={"ERR": 0, "DESC": "OK", "EXTENSIONS": DEPARTMENTS.get(code, [])},
    )


@pytest.fixture(name="api")
def _api():
    with respx.mock(base_url=BASE, using="httpx", assert_all_called=False) as router:
        router.post(PATH).mock(side_effect=answer)
        yield router


@pytest.fixture(name="session")
async def _session():
    async with VoicenterSession(base_url=BASE, max_connections=4) as session:
        yield session


def sent_codes(api: respx.MockRouter) -> list[str]:
    return [json.loads(call.request.content)["code"] for call in api.calls]


class TestResults:
    async def test_mapping_labels(self, api, session):
        """A mapping gives each department its label, in input order."""
        roster = await session.fetch_departments(
            {"support": "SupportCode002", "sales": "SalesCode0001"}
        )

        assert ["support", "sales"] == [d.label for d in roster.departments]
        assert all(d.ok for d in roster.departments)
        assert ["200", "201", "100", "101"] == [e.sip for e in roster.extensions]

    async def test_iterable_labels_are_fingerprints(self, api, session):
        """Codes without labels are labelled by fingerprint, never the code."""
        roster = await session.fetch_departments(["SalesCode0001", "SupportCode002"])

        labels = [d.label for d in roster.departments]
        assert [
            code_fingerprint("SalesCode0001"),
            code_fingerprint("SupportCode002"),
        ] == labels
        assert all(label.startswith("dept-") for label in labels)

    async def test_show_all_zero_by_default(self, api, session):
        """Every fan-out request sends showAll 0 unless show_all is given."""
        await session.fetch_departments(["SalesCode0001", "SupportCode002"])

        assert [0, 0] == [json.loads(c.request.content)["showAll"] for c in api.calls]

    async def test_show_all_passed_on(self, api, session):
        """show_all=True sends showAll 1."""
        await session.fetch_departments(["SalesCode0001"], show_all=True)

        assert 1 == json.loads(api.calls.last.request.content)["showAll"]

    async def test_distinct_codes_fetched_once(self, api, session):
        """A repeated code is fetched once and its labels are kept."""
        roster = await session.fetch_departments(
            {"a": "SalesCode0001", "b": "SalesCode0001", "c": "SupportCode002"}
        )

        assert ["SalesCode0001", "SupportCode002"] == sorted(sent_codes(api))
        assert ["a", "c"] == [d.label for d in roster.departments]
        assert ("b",) == roster.departments[0].aliases

    async def test_repeated_code_in_list(self, api, session):
        """A code listed twice without labels gives one result."""
        roster = await session.fetch_departments(["SalesCode0001"] * 3)

        assert 1 == len(roster.departments)
        assert 1 == len(api.calls)

    async def test_failure_does_not_hide_others(self, api, session):
        """A failing code ends as a failure and the others still succeed."""
        roster = await session.fetch_departments(
            {"sales": "SalesCode0001", "broken": "BrokenCode0004"}
        )

        assert ["broken"] == [d.label for d in roster.failures]
        assert isinstance(roster.failures[0].error, ServerError)
        assert roster.departments[0].ok
        assert not roster.ok
        assert 2 == len(roster.extensions)

    async def test_invalid_codes_reported(self, api, session):
        """Invalid codes end as failures in place; nothing is sent for them."""
        roster = await session.fetch_departments(
            ["SalesCode0001", "", None, "has space"]  # type: ignore[list-item]
        )

        labels = [d.label for d in roster.departments]
        assert [code_fingerprint("SalesCode0001"), "codes[1]", "codes[2]"] == (
            labels[:3]
        )
        assert 4 == len(roster.departments)
        assert 3 == len(roster.failures)
        assert all(isinstance(d.error, InvalidCodeError) for d in roster.failures)
        assert ["SalesCode0001"] == sent_codes(api)

    async def test_single_string_rejected(self, api, session):
        """A single string is not treated as a list of characters."""
        with pytest.raises(InvalidCodeError, match="wrap one code in a list"):
            await session.fetch_departments("SalesCode0001")

        assert not api.calls

    @pytest.mark.parametrize("codes", [None, 5, 1.5, object()])
    async def test_non_iterable_rejected(self, api, session, codes):
        """A value that is no collection of codes is rejected by name."""
        with pytest.raises(InvalidCodeError) as info:
            await session.fetch_departments(codes)

        message = str(info.value)
        assert message.startswith("codes must be an iterable of codes")
        assert f"got {type(codes).__name__};" in message
        assert "pass a list such as [code]" in message
        assert info.value.__cause__ is None
        assert not api.calls

    async def test_empty_input(self, api, session):
        """No codes give an empty roster."""
        roster = await session.fetch_departments([])

        assert () == roster.departments
        assert roster.ok

    async def test_generator_input(self, api, session):
        """Any iterable of codes works, a generator included."""
        roster = await session.fetch_departments(
            code for code in ("SalesCode0001", "SupportCode002")
        )

        assert 2 == len(roster.departments)

    async def test_elapsed_recorded(self, api, session):
        """Each result records how long it took."""
        roster = await session.fetch_departments(["SalesCode0001"])

        assert roster.departments[0].elapsed > 0


class TestEmptyDepartments:
    async def test_empty_flagged(self, api, session):
        """A department with no extension is flagged as empty."""
        roster = await session.fetch_departments({"ghost": "EmptyCode00003"})

        [result] = roster.departments
        assert result.empty
        assert result.ok
        assert (result,) == roster.empty_departments

    async def test_empty_logged(self, api, session, caplog):
        """An empty department is logged at WARNING with its label."""
        caplog.set_level(logging.WARNING, logger="voicenter_async")

        await session.fetch_departments({"ghost": "EmptyCode00003"})

        [record] = [r for r in caplog.records if "no extensions" in r.getMessage()]
        assert logging.WARNING == record.levelno
        assert "ghost" == record.voicenter_label

    async def test_failure_logged(self, api, session, caplog):
        """A failed department is logged at WARNING with its label."""
        caplog.set_level(logging.WARNING, logger="voicenter_async")

        await session.fetch_departments({"broken": "BrokenCode0004"})

        assert any(
            r.levelno == logging.WARNING and "broken" in r.getMessage()
            for r in caplog.records
        )


class TestOnResult:
    async def test_called_once_per_department(self, api, session):
        """on_result gets every department once, invalid codes included."""
        seen = []

        roster = await session.fetch_departments(
            {"sales": "SalesCode0001", "bad": "", "broken": "BrokenCode0004"},
            on_result=seen.append,
        )

        assert sorted(["sales", "bad", "broken"]) == sorted(r.label for r in seen)
        assert set(roster.departments) == set(seen)

    async def test_hook_error_logged_not_raised(self, api, session, caplog):
        """A hook that raises is logged and the fan-out completes."""
        caplog.set_level(logging.WARNING, logger="voicenter_async")

        def broken(_result: object) -> None:
            raise RuntimeError("hook bug")

        roster = await session.fetch_departments(
            {"sales": "SalesCode0001", "support": "SupportCode002"},
            on_result=broken,
        )

        assert roster.ok
        hook_records = [r for r in caplog.records if "on_result" in r.getMessage()]
        assert 2 == len(hook_records)
        assert hook_records[0].exc_info is not None

    async def test_invalid_code_logged(self, api, session, caplog):
        """An invalid code is logged at WARNING like any failure."""
        caplog.set_level(logging.WARNING, logger="voicenter_async")

        await session.fetch_departments({"bad": ""})

        assert any(
            r.levelno == logging.WARNING and "bad" in r.getMessage()
            for r in caplog.records
        )


class TestRaiseOnError:
    async def test_group_raised_with_roster(self, api, session):
        """raise_on_error raises a group that still carries the roster."""
        with pytest.raises(DepartmentsFailedError) as info:
            await session.fetch_departments(
                {"sales": "SalesCode0001", "broken": "BrokenCode0004"},
                raise_on_error=True,
            )

        group = info.value
        assert isinstance(group, ExceptionGroup)
        assert [ServerError] == [type(e) for e in group.exceptions]
        assert "1 of 2 departments failed" == group.message
        assert 2 == len(group.roster.departments)
        assert 2 == len(group.roster.extensions)

    async def test_split_by_kind(self, api, session):
        """Splitting the group by error kind keeps the roster."""
        with pytest.raises(DepartmentsFailedError) as info:
            await session.fetch_departments(
                {"broken": "BrokenCode0004"}, raise_on_error=True
            )

        matched, rest = info.value.split(ServerError)

        assert rest is None
        assert isinstance(matched, DepartmentsFailedError)
        assert 1 == len(matched.roster.departments)

    async def test_no_raise_when_all_ok(self, api, session):
        """raise_on_error returns the roster when nothing failed."""
        roster = await session.fetch_departments(["SalesCode0001"], raise_on_error=True)

        assert roster.ok

    def test_derive_keeps_roster(self):
        """Splitting the group keeps the roster on both parts."""
        errors = [
            ServerError("x", label="a", status_code=500),
            ForbiddenError("y", label="b", status_code=403),
        ]
        group = DepartmentsFailedError("2 failed", errors, roster=None)  # type: ignore[arg-type]

        matched, rest = group.split(ServerError)

        assert isinstance(matched, DepartmentsFailedError)
        assert isinstance(rest, DepartmentsFailedError)
        assert matched.roster is None
        assert [errors[0]] == list(matched.exceptions)


class TestConcurrency:
    async def test_limit_holds(self, api):
        """No more than `concurrency` requests are in flight at once."""
        in_flight = 0
        peak = 0

        async def slow(request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return answer(request)

        api.routes.clear()
        api.post(PATH).mock(side_effect=slow)
        codes = [f"LoadCode{n:05d}" for n in range(30)]

        async with VoicenterSession(base_url=BASE, max_connections=10) as session:
            roster = await session.fetch_departments(codes, concurrency=3)

        assert 3 == peak
        assert 30 == len(roster.departments)

    async def test_clamped_to_pool(self, api):
        """A concurrency above the pool size is lowered, with a warning."""
        async with VoicenterSession(base_url=BASE, max_connections=2) as session:
            with pytest.warns(VoicenterWarning, match="lowered to 2") as warned:
                await session.fetch_departments(["SalesCode0001"], concurrency=50)

        assert __file__ == warned[0].filename

    async def test_session_default_concurrency(self, api):
        """The session's concurrency setting is the fan-out default."""
        async with VoicenterSession(
            base_url=BASE, max_connections=8, concurrency=2
        ) as session:
            assert 2 == session._effective_concurrency(None)

    async def test_invalid_concurrency(self, api, session):
        """A concurrency below 1 raises ValueError before any request."""
        with pytest.raises(ValueError, match="concurrency"):
            await session.fetch_departments(["SalesCode0001"], concurrency=0)

        assert not api.calls

    async def test_cancel_leaves_no_task(self, api):
        """Cancelling a fan-out cancels its requests and leaves no task."""
        started = asyncio.Event()

        async def hang(request: httpx.Request) -> httpx.Response:
            started.set()
            await asyncio.sleep(30)
            return answer(request)

        api.routes.clear()
        api.post(PATH).mock(side_effect=hang)
        before = asyncio.all_tasks()

        async with VoicenterSession(base_url=BASE) as session:
            task = asyncio.create_task(
                session.fetch_departments([f"HangCode{n:05d}" for n in range(5)])
            )
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        assert set() == asyncio.all_tasks() - before

    async def test_unexpected_error_cancels_workers(self, api, monkeypatch):
        """A bug in a worker propagates and leaves no worker running."""
        from voicenter_async import _fanout

        async def broken(*_args: object) -> object:
            raise KeyError("bug")

        monkeypatch.setattr(_fanout, "_run_one", broken)
        before = asyncio.all_tasks()

        async with VoicenterSession(base_url=BASE) as session:
            with pytest.raises(KeyError):
                await session.fetch_departments(["SalesCode0001", "SupportCode002"])

        assert set() == asyncio.all_tasks() - before


class TestUnexpectedErrors:
    async def test_bug_becomes_failure(self, api, session, monkeypatch):
        """A non-library exception ends as that department's failure."""
        from voicenter_async import _pipeline

        real = _pipeline.parse_body

        def flaky(body: bytes, *, label: str | None, code: str) -> object:
            if code == "SupportCode002":
                raise KeyError(f"bug near {code}")
            return real(body, label=label, code=code)

        monkeypatch.setattr(_pipeline, "parse_body", flaky)

        roster = await session.fetch_departments(
            {"sales": "SalesCode0001", "support": "SupportCode002"}
        )

        [failed] = roster.failures
        assert "support" == failed.label
        assert "bug in voicenter-async" in str(failed.error)
        assert "SupportCode002" not in str(failed.error)
        assert "SupportCode002" not in str(failed.error.__cause__)
        assert isinstance(failed.error.__cause__, KeyError)
        assert roster.departments[0].ok


class TestMerge:
    async def test_conflict_recorded(self, api, session):
        """The same SIP with different data from two codes is a conflict."""
        DEPARTMENTS["ClashCode00005"] = [
            {"SIP": "100", "Name": "Someone else", "AccountID": 9}
        ]
        try:
            roster = await session.fetch_departments(
                {"sales": "SalesCode0001", "clash": "ClashCode00005"}
            )
        finally:
            del DEPARTMENTS["ClashCode00005"]

        [conflict] = roster.conflicts
        assert "100" == conflict.sip
        assert ["sales", "clash"] == [label for label, _ in conflict.variants]
        assert "רונית" == roster.by_sip("100").name

    async def test_identical_duplicates_merge_quietly(self, api, session):
        """The same record from two codes is kept once, without a conflict."""
        DEPARTMENTS["CopyCode000006"] = list(DEPARTMENTS["SalesCode0001"])
        try:
            roster = await session.fetch_departments(
                ["SalesCode0001", "CopyCode000006"]
            )
        finally:
            del DEPARTMENTS["CopyCode000006"]

        assert 2 == len(roster.extensions)
        assert () == roster.conflicts

    async def test_lookups(self, api, session):
        """Look-ups by SIP, by e-mail (any case) and by department."""
        roster = await session.fetch_departments(["SalesCode0001", "SupportCode002"])

        assert "Noa" == roster.by_sip("200").name
        assert roster.by_sip("999") is None
        assert ["100"] == [e.sip for e in roster.by_email("RONIT@example.COM")]
        assert ["101", "201"] == [e.sip for e in roster.by_email("avi@example.com")]
        assert () == roster.by_email("nobody@example.com")
        groups = roster.by_account()
        assert [1, 2] == sorted(groups)
        assert ["200", "201"] == [e.sip for e in groups[2]]
        assert 4 == len(roster)

    async def test_extensions_are_records(self, api, session):
        """Merged extensions are Extension records."""
        roster = await session.fetch_departments(["SalesCode0001"])

        assert all(isinstance(e, Extension) for e in roster.extensions)


class TestCodeCharacters:
    def test_space_only_printable_whitespace(self):
        """The code check relies on space being the only printable whitespace."""
        printable_spaces = [
            chr(point)
            for point in range(sys.maxunicode + 1)
            if chr(point).isspace() and chr(point).isprintable()
        ]

        assert [" "] == printable_spaces

    @pytest.mark.parametrize(
        "code", ["a b", "a\tb", "a\u00a0b", "a\u2028b", "a\u3000b", "a\x00b", "a\x7fb"]
    )
    def test_rejects_space_and_control(self, code):
        """Whitespace and control characters anywhere make a code invalid."""
        with pytest.raises(InvalidCodeError, match="whitespace or control"):
            validate_code(code, label="d")

    @pytest.mark.parametrize(
        "code", ["abc", "caf\u00e9", "\u05e7\u05d5\u05d3", "a-b_c"]
    )
    def test_accepts_printable_code(self, code):
        """Printable codes without spaces pass unchanged."""
        assert code == validate_code(code, label="d")
