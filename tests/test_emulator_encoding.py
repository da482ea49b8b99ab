"""The emulator's cached response bodies, and a request log limit of 0."""

from __future__ import annotations

import json

import httpx
import pytest

from voicenter_async.testing import (
    API_PATH,
    Department,
    Directory,
    VoicenterEmulator,
    handle_request,
    sample_organization,
)
from voicenter_async.testing._org import encode_json
from voicenter_async.testing._protocol import parse_request


def listing(departments: list[Department]) -> bytes:
    """Encode a successful listing the plain way, as one JSON document."""
    extensions = [item for d in departments for item in d.wire_extensions()]
    return encode_json({"ERR": 0, "DESC": "OK", "EXTENSIONS": extensions})


def post_body(directory: Directory, code: str, show_all: object) -> bytes:
    payload = json.dumps({"code": code, "showAll": show_all}).encode()
    return handle_request(directory, "POST", API_PATH, payload).body


@pytest.fixture(name="directory")
def _directory() -> Directory:
    directory = sample_organization(5, 6, 3, organizations=2)
    # A department without extensions must not leave an empty array item.
    directory.add_department(
        "FAKEempty0001", account_id=1, account_name="ריק", organization="sample-5-0"
    )
    directory.add_department(
        "FAKEempty0002", account_id=2, account_name="Empty", organization="lonely"
    )
    return directory


class TestListingBodies:
    def test_own_department_matches_json(self, directory):
        """showAll=0 lists the department's records, byte for byte."""
        for department in directory:
            body = post_body(directory, department.code, 0)

            assert listing([department]) == body

    def test_organization_matches_json(self, directory):
        """showAll=1 lists every department of the organization in order."""
        for department in directory:
            members = list(directory.organization(department.organization))
            body = post_body(directory, department.code, 1)

            assert listing(members) == body

    def test_empty_organization(self, directory):
        """An organization with no extensions lists an empty array."""
        body = post_body(directory, "FAKEempty0002", True)

        assert b'{"ERR":0,"DESC":"OK","EXTENSIONS":[]}' == body

    def test_organization_body_shared(self, directory):
        """Every code of an organization gets the same cached body object."""
        first, second, *_ = directory.organization("sample-5-1")

        assert post_body(directory, first.code, 1) is post_body(
            directory, second.code, 1
        )

    def test_added_department_listed(self, directory):
        """A body cached before an addition is rebuilt with the new department."""
        department = next(iter(directory))
        post_body(directory, department.code, 1)

        added = directory.add_department(
            "FAKEadded0001",
            account_id=3,
            account_name="New",
            extensions=[{"SIP": "42"}],
            organization=department.organization,
        )

        body = post_body(directory, department.code, 1)
        members = list(directory.organization(department.organization))
        assert added in members
        assert listing(members) == body

    def test_encode_all_fills_cache(self, directory, monkeypatch):
        """After encode_all(), serving a department encodes nothing."""
        directory.encode_all()

        def fail(self: Department) -> None:
            raise AssertionError("department encoded again after encode_all()")

        monkeypatch.setattr(Department, "wire_extensions", fail)
        for department in directory:
            assert post_body(directory, department.code, 0)
            assert post_body(directory, department.code, 1)


class TestParseTarget:
    @pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
    def test_bare_path_same_as_split(self, method):
        """The bare API path parses as it does with an empty query string."""
        body = b'{"code": "FAKEsales0001", "showAll": 0}'

        assert parse_request(method, API_PATH + "?", body) == parse_request(
            method, API_PATH, body
        )


class TestRequestLogOff:
    async def test_counts_without_log(self):
        """With request_log_limit=0 the counters stay exact and the log empty."""
        directory = sample_organization(0, 2, 1)
        code = next(iter(directory)).code
        async with VoicenterEmulator(directory, request_log_limit=0) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                for _ in range(3):
                    response = await client.post(API_PATH, json={"code": code})
                    assert 200 == response.status_code

            stats = emulator.stats
            assert 3 == stats.requests_served
            assert () == stats.requests
            assert 0 == stats.handler_errors
