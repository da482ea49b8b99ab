"""The emulator's protocol, counters, variants and data, over real sockets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading

import attrs
import httpx
import pytest

import voicenter_async.testing as vt
from voicenter_async import code_fingerprint as fingerprint
from voicenter_async.testing import (
    API_PATH,
    Department,
    Directory,
    DirectoryExtension,
    Fault,
    ThreadedEmulator,
    VoicenterEmulator,
    handle_request,
    mock_voicenter,
    sample_organization,
)
from voicenter_async.testing.__main__ import build_emulator, build_parser, main, serve

SALES = "FAKEsales0001"
SUPPORT = "FAKEsupport0002"
OTHER_ORG = "FAKEotherorg0003"
UNKNOWN = "FAKEunknown0009"


class NotifyingStream(io.StringIO):
    """A text stream that sets an event on its first write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


def make_directory() -> Directory:
    directory = Directory()
    directory.add_department(
        SALES,
        account_id=101,
        account_name="מכירות",
        extensions=[
            DirectoryExtension(
                "1000001", "דנה כהן", "201", "דנה כהן", "dana@org-a.example"
            ),
            DirectoryExtension("1000002", "Reception", "202"),
        ],
        organization="org-a",
    )
    directory.add_department(
        SUPPORT,
        account_id=102,
        account_name="Support",
        extensions=[
            {
                "SIP": "1000003",
                "Name": "Ben Adler",
                "SpeedDial": "203",
                "UserName": "Ben Adler",
                "UserEmail": "ben@org-a.example",
            }
        ],
        organization="org-a",
    )
    directory.add_department(
        OTHER_ORG,
        account_id=201,
        account_name="הנהלה",
        extensions=[DirectoryExtension("2000001", "משה לוי", "301")],
        organization="org-b",
    )
    return directory


def sips(response: httpx.Response) -> list[str]:
    return [item["SIP"] for item in response.json()["EXTENSIONS"]]


@pytest.fixture(name="directory")
def _directory() -> Directory:
    return make_directory()


@pytest.fixture(name="emulator")
async def _emulator(directory):
    async with VoicenterEmulator(directory) as emulator:
        yield emulator


@pytest.fixture(name="client")
async def _client(emulator):
    async with httpx.AsyncClient(base_url=emulator.base_url) as client:
        yield client


class TestProtocol:
    async def test_get_own_department(self, client):
        """showAll=0 lists only the code's department, with its account."""
        response = await client.get(API_PATH, params={"code": SALES, "showAll": 0})

        assert 200 == response.status_code
        body = response.json()
        assert 0 == body["ERR"]
        assert "OK" == body["DESC"]
        assert ["1000001", "1000002"] == sips(response)
        assert {
            "SIP": "1000001",
            "Name": "דנה כהן",
            "SpeedDial": "201",
            "AccountID": 101,
            "AccountName": "מכירות",
            "UserName": "דנה כהן",
            "UserEmail": "dana@org-a.example",
        } == body["EXTENSIONS"][0]

    @pytest.mark.parametrize("show_all", ["1", "true", "TRUE", None])
    async def test_get_whole_organization(self, client, show_all):
        """showAll=1 or no showAll lists every department of the organization."""
        params = {"code": SUPPORT}
        if show_all is not None:
            params["showAll"] = show_all

        response = await client.get(API_PATH, params=params)

        assert ["1000001", "1000002", "1000003"] == sips(response)

    @pytest.mark.parametrize(
        ("show_all", "expected"),
        [
            (1, ["1000001", "1000002", "1000003"]),
            (True, ["1000001", "1000002", "1000003"]),
            ("1", ["1000001", "1000002", "1000003"]),
            ("true", ["1000001", "1000002", "1000003"]),
            (None, ["1000001", "1000002", "1000003"]),
            (0, ["1000003"]),
            (False, ["1000003"]),
            ("0", ["1000003"]),
            ("false", ["1000003"]),
        ],
    )
    async def test_post_show_all_values(self, client, show_all, expected):
        """POST accepts showAll as a number, a boolean or a string."""
        payload = {"code": SUPPORT, "showAll": show_all}

        response = await client.post(API_PATH, json=payload)

        assert expected == sips(response)

    async def test_post_without_show_all(self, client):
        """A POST body without showAll lists the whole organization."""
        response = await client.post(API_PATH, json={"code": SALES})

        assert 3 == len(sips(response))

    async def test_post_falls_back_to_query(self, client):
        """An empty POST body takes its parameters from the query string."""
        response = await client.post(API_PATH, params={"code": SALES, "showAll": 0})

        assert ["1000001", "1000002"] == sips(response)

    async def test_other_organization_not_listed(self, client):
        """showAll=1 never lists departments of another organization."""
        response = await client.get(API_PATH, params={"code": OTHER_ORG})

        assert ["2000001"] == sips(response)

    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"code": ""},
            {"code": "short12"},
            {"code": "has-dash-0001"},
            {"code": "x" * 65},
            {"code": "עברית12345"},
        ],
    )
    async def test_invalid_code_unauthorized(self, client, params):
        """A missing or malformed code gets ERR 1 Unauthorized and no list."""
        response = await client.get(API_PATH, params=params)

        assert 200 == response.status_code
        assert {"ERR": 1, "DESC": "Unauthorized", "EXTENSIONS": []} == response.json()

    async def test_post_non_string_code(self, client):
        """A code that is not a JSON string is unauthorized."""
        response = await client.post(API_PATH, json={"code": 12345678})

        assert 1 == response.json()["ERR"]

    async def test_unknown_code_empty(self, client):
        """A well-formed code no department uses gets ERR 0 and an empty list."""
        response = await client.get(API_PATH, params={"code": UNKNOWN})

        assert {"ERR": 0, "DESC": "OK", "EXTENSIONS": []} == response.json()

    async def test_invalid_show_all(self, client):
        """A showAll that is not 1, 0, true or false gets ERR 1."""
        response = await client.get(API_PATH, params={"code": SALES, "showAll": "yes"})

        assert 1 == response.json()["ERR"]
        assert "Invalid showAll value" == response.json()["DESC"]

    @pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe"])
    async def test_invalid_json_body(self, client, content):
        """A POST body that is not a JSON object gets 400 with ERR 1."""
        response = await client.post(API_PATH, content=content)

        assert 400 == response.status_code
        assert 1 == response.json()["ERR"]

    @pytest.mark.parametrize(
        "path", ["/", "/Comet/api/GetExtensions/", "/comet/api/getextensions"]
    )
    async def test_other_path_404(self, client, path):
        """Any other path gets 404."""
        response = await client.get(path, params={"code": SALES})

        assert 404 == response.status_code

    async def test_other_method_405(self, client):
        """Methods other than GET and POST get 405 with an Allow header."""
        response = await client.put(API_PATH, json={"code": SALES})
        head = await client.head(API_PATH)

        assert 405 == response.status_code
        assert "GET, POST" == response.headers["allow"]
        assert 405 == head.status_code
        assert b"" == head.content

    async def test_hebrew_utf8(self, client):
        """Responses are UTF-8 JSON with Hebrew left unescaped."""
        response = await client.get(API_PATH, params={"code": SALES})

        assert "application/json; charset=utf-8" == response.headers["content-type"]
        assert "מכירות".encode() in response.content
        assert b"\\u" not in response.content
        assert int(response.headers["content-length"]) == len(response.content)


def test_reply_without_content_type():
    """Reply.content_type is None when no such header is set."""
    assert vt.Reply(204, (), b"").content_type is None


class TestConnections:
    async def test_keep_alive_reuse(self, emulator, client):
        """Twenty sequential requests on one client share one connection."""
        for _ in range(20):
            await client.get(API_PATH, params={"code": SALES})

        stats = emulator.stats
        assert 1 == stats.connections_opened
        assert 20 == stats.requests_served
        assert {1: 20} == stats.requests_per_connection

    async def test_connection_close_header(self, emulator, client):
        """A request with Connection: close gets it back and a new connection."""
        for _ in range(3):
            response = await client.get(
                API_PATH, params={"code": SALES}, headers={"Connection": "close"}
            )
            assert "close" == response.headers["connection"]

        assert 3 == emulator.stats.connections_opened

    async def test_concurrent_requests_counted(self, emulator, client):
        """Requests handled at the same time raise peak_in_flight."""
        emulator.add_fault(Fault.latency(0.1))

        await asyncio.gather(
            *(client.get(API_PATH, params={"code": SALES}) for _ in range(8))
        )

        stats = emulator.stats
        assert 8 == stats.peak_in_flight
        assert 0 == stats.in_flight
        assert 8 == stats.connections_opened

    async def test_idle_timeout(self, directory):
        """An idle keep-alive connection is closed after idle_timeout."""
        async with VoicenterEmulator(directory, idle_timeout=0.05) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                await client.get(API_PATH, params={"code": SALES})
                await asyncio.sleep(0.2)
                open_after_idle = emulator.stats.connections_open
                await client.get(API_PATH, params={"code": SALES})

            assert 0 == open_after_idle
            assert 2 == emulator.stats.connections_opened

    async def test_idle_timeout_spares_busy(self, directory):
        """Requests sent more often than idle_timeout keep one connection."""
        async with VoicenterEmulator(directory, idle_timeout=0.5) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                for _ in range(3):
                    await client.get(API_PATH, params={"code": SALES})

            assert 1 == emulator.stats.connections_opened

    async def test_max_requests_per_connection(self, directory):
        """The n-th request on a connection gets Connection: close."""
        async with VoicenterEmulator(
            directory, max_requests_per_connection=3
        ) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                responses = [
                    await client.get(API_PATH, params={"code": SALES}) for _ in range(7)
                ]

            assert 3 == emulator.stats.connections_opened
            assert "close" == responses[2].headers["connection"]
            assert "connection" not in responses[1].headers
            assert {1: 3, 2: 3, 3: 1} == emulator.stats.requests_per_connection

    async def test_malformed_request_400(self, emulator):
        """Bytes that are not HTTP get 400 and a closed connection."""
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        data = await reader.read()
        writer.close()
        await writer.wait_closed()

        assert data.startswith(b"HTTP/1.1 400 ")

    async def test_oversized_body_413(self, emulator, client):
        """A request body over 1 MiB gets 413."""
        response = await client.post(API_PATH, content=b"x" * 1_100_000)

        assert 413 == response.status_code

    async def test_close_with_open_connection(self, directory):
        """aclose() closes idle keep-alive connections and leaves no task."""
        emulator = VoicenterEmulator(directory)
        await emulator.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        await asyncio.sleep(0.01)

        await emulator.aclose()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()

        assert b"" == data
        assert 0 == emulator.stats.connections_open
        await emulator.aclose()


class TestHandlerErrors:
    async def test_bug_counted_and_logged(self, emulator, client, monkeypatch, caplog):
        """An unexpected exception closes the connection and is counted."""

        def broken(*args: object) -> None:
            raise RuntimeError("planted failure")

        monkeypatch.setattr(emulator, "_respond", broken)
        caplog.set_level(logging.ERROR, logger="voicenter_async.testing")

        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(API_PATH, params={"code": SALES})

        assert 1 == emulator.stats.handler_errors
        assert "Emulator bug on connection 1" in caplog.text


class TestStats:
    async def test_recorded_requests(self, emulator, client):
        """Each request is logged with its fingerprint, never its code."""
        await client.get(API_PATH, params={"code": SALES, "showAll": 0})
        await client.post(API_PATH, json={"code": UNKNOWN})
        await client.get("/elsewhere")

        first, second, third = emulator.stats.requests
        assert (
            vt.RecordedRequest(1, "GET", API_PATH, False, fingerprint(SALES), True)
            == first
        )
        assert ("POST", None, fingerprint(UNKNOWN), False) == (
            second.method,
            second.show_all,
            second.fingerprint,
            second.known,
        )
        assert ("/elsewhere", None) == (third.path, third.fingerprint)
        assert SALES not in repr(emulator.stats.requests)

    async def test_reset_stats(self, emulator, client):
        """reset_stats() zeroes the counters and the log."""
        await client.get(API_PATH, params={"code": SALES})

        emulator.reset_stats()

        stats = emulator.stats
        assert 0 == stats.requests_served
        assert 0 == stats.connections_opened
        assert 1 == stats.connections_open
        assert () == stats.requests

    async def test_request_log_limit(self, directory):
        """The log keeps the latest requests while the counter stays exact."""
        async with VoicenterEmulator(directory, request_log_limit=2) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                for _ in range(5):
                    await client.get(API_PATH, params={"code": SALES})

            assert 5 == emulator.stats.requests_served
            assert 2 == len(emulator.stats.requests)

    async def test_directory_changes_seen(self, emulator, client, directory):
        """A department added while serving is listed at once."""
        before = await client.get(API_PATH, params={"code": UNKNOWN, "showAll": 0})
        await client.get(API_PATH, params={"code": SALES})
        directory.add_department(
            UNKNOWN, account_id=7, account_name="New", organization="org-a"
        )

        after = await client.get(API_PATH, params={"code": SALES})

        assert [] == sips(before)
        assert 3 == len(sips(after))
        assert 0 == emulator.stats.handler_errors


class TestLifecycle:
    def test_base_url_before_start(self, directory):
        """base_url raises until the emulator is started."""
        emulator = VoicenterEmulator(directory)

        with pytest.raises(RuntimeError, match="not started"):
            _ = emulator.base_url
        assert "not started" in repr(emulator)

    async def test_start_twice(self, emulator):
        """Starting a running emulator raises."""
        with pytest.raises(RuntimeError, match="already started"):
            await emulator.start()

    async def test_repr_and_url(self, emulator):
        """The base URL is on 127.0.0.1 and the repr shows it."""
        assert emulator.base_url.startswith("http://127.0.0.1:")
        assert emulator.base_url in repr(emulator)

    @pytest.mark.parametrize(
        "options",
        [{"idle_timeout": 0}, {"max_requests_per_connection": 0}],
    )
    def test_invalid_options(self, options):
        """Out-of-range server options raise ValueError."""
        with pytest.raises(ValueError, match="Invalid"):
            VoicenterEmulator(Directory(), **options)

    async def test_default_directory(self):
        """Without a directory the emulator serves the seed-0 sample."""
        async with VoicenterEmulator() as emulator:
            assert 40 == len(emulator.directory)


class TestThreaded:
    def test_sync_client(self, directory):
        """The threaded emulator serves a sync client and counts requests."""
        with ThreadedEmulator(directory) as emulator:
            with httpx.Client(base_url=emulator.base_url) as client:
                for _ in range(3):
                    response = client.get(API_PATH, params={"code": SALES})
            rule = emulator.add_fault(Fault.status(503), times=1)
            with httpx.Client(base_url=emulator.base_url) as client:
                failed = client.get(API_PATH, params={"code": SALES})
            stats = emulator.stats
            emulator.remove_fault(rule)
            emulator.clear_faults()
            emulator.reset_stats()

            assert 200 == response.status_code
            assert 503 == failed.status_code
            assert 4 == stats.requests_served
            assert 2 == stats.connections_opened
            assert 0 == emulator.stats.requests_served
            assert emulator.directory is directory
            assert "ThreadedEmulator" in repr(emulator)

    async def test_inside_running_loop(self, directory):
        """The threaded emulator works while the caller's loop is running."""
        with ThreadedEmulator(directory) as emulator:
            async with httpx.AsyncClient(base_url=emulator.base_url) as client:
                response = await client.get(API_PATH, params={"code": SALES})

        assert 200 == response.status_code

    def test_start_twice_and_close_twice(self, directory):
        """start() on a running emulator raises; close() is idempotent."""
        emulator = ThreadedEmulator(directory)
        emulator.close()
        emulator.start()
        try:
            with pytest.raises(RuntimeError, match="already started"):
                emulator.start()
        finally:
            emulator.close()
            emulator.close()

    def test_port_in_use(self, directory):
        """A busy port raises OSError from start()."""
        with ThreadedEmulator(directory) as first:
            port = int(first.base_url.rsplit(":", 1)[1])
            second = ThreadedEmulator(directory, port=port)

            with pytest.raises(OSError):
                second.start()


class TestProcess:
    def test_module_process(self):
        """python -m voicenter_async.testing prints its URL and serves."""
        code = next(iter(sample_organization(seed=3, departments=2))).code
        command = [
            sys.executable,
            "-m",
            "voicenter_async.testing",
            "--seed=3",
            "--departments=2",
            "--latency=0.001",
        ]
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            try:
                assert process.stdout is not None
                base_url = process.stdout.readline().strip()
                response = httpx.get(
                    f"{base_url}{API_PATH}", params={"code": code, "showAll": 0}
                )
            finally:
                process.terminate()
                _, err = process.communicate(timeout=10)

        assert base_url.startswith("http://127.0.0.1:")
        assert 10 == len(sips(response))
        assert 0 == process.returncode
        assert "requests_served=1" in err

    async def test_serve_until_stopped(self, capsys):
        """serve() prints the URL, serves, and prints a summary when stopped."""
        args = build_parser().parse_args(["--departments=1", "--jitter=0.001"])
        emulator = build_emulator(args)
        stop = asyncio.Event()
        out = NotifyingStream()
        task = asyncio.create_task(serve(emulator, stop, out, sys.stderr))
        await out.written.wait()

        async with httpx.AsyncClient(base_url=emulator.base_url) as client:
            await client.get(API_PATH, params={"code": UNKNOWN})
        stop.set()
        await task

        assert emulator.base_url == out.getvalue().strip()
        assert "requests_served=1" in capsys.readouterr().err

    def test_main_stops_on_sigterm(self, monkeypatch, capsys):
        """main() serves until SIGTERM, then returns 0."""
        printed = threading.Event()

        class Stdout(io.StringIO):
            def write(self, text: str) -> int:
                printed.set()
                return super().write(text)

        def terminate_when_ready() -> None:
            printed.wait(10)
            os.kill(os.getpid(), signal.SIGTERM)

        stdout = Stdout()
        monkeypatch.setattr(sys, "stdout", stdout)
        killer = threading.Thread(target=terminate_when_ready)
        killer.start()

        status = main(["--departments=1"])
        killer.join()

        assert 0 == status
        assert stdout.getvalue().startswith("http://127.0.0.1:")
        assert "requests_served=0" in capsys.readouterr().err

    def test_invalid_arguments(self, capsys):
        """Out-of-range options exit with status 2 and a message."""
        with pytest.raises(SystemExit) as caught:
            main(["--idle-timeout=-1"])

        assert 2 == caught.value.code
        assert "idle_timeout" in capsys.readouterr().err


class TestRespx:
    def test_same_responses_as_socket(self, directory):
        """The respx router responds exactly as handle_request does."""
        url = f"http://voicenter.test{API_PATH}"
        with mock_voicenter(directory) as router, httpx.Client() as client:
            get = client.get(url, params={"code": SALES, "showAll": 0})
            post = client.post(url, json={"code": SUPPORT})
            missing = client.get("http://voicenter.test/nope")
            calls = router.calls.call_count

        expected_get = handle_request(
            directory, "GET", f"{API_PATH}?code={SALES}&showAll=0"
        )
        assert expected_get.body == get.content
        assert expected_get.content_type == get.headers["content-type"]
        assert 3 == len(sips(post))
        assert 404 == missing.status_code
        assert 3 == calls

    def test_other_host_rejected(self, directory):
        """Requests to any other host fail instead of reaching the network."""
        import respx

        with (
            mock_voicenter(directory),
            httpx.Client() as client,
            pytest.raises(respx.models.AllMockedAssertionError),
        ):
            client.get("http://other.test/")

    async def test_async_client_and_base_url(self, directory):
        """The router serves async clients on a custom base URL."""
        with mock_voicenter(directory, base_url="http://emulated.test"):
            async with httpx.AsyncClient(base_url="http://emulated.test") as client:
                response = await client.get(API_PATH, params={"code": OTHER_ORG})

        assert ["2000001"] == sips(response)

    def test_respx_missing(self, directory, monkeypatch):
        """Without respx, mock_voicenter() raises ModuleNotFoundError."""
        monkeypatch.setitem(sys.modules, "respx", None)

        with pytest.raises(ModuleNotFoundError, match="requires respx"):
            mock_voicenter(directory)

    def test_package_imports_without_respx(self):
        """The testing package imports when respx is not importable."""
        script = (
            "import sys; sys.modules['respx'] = None; "
            "import voicenter_async.testing as t; print(t.VoicenterEmulator.__name__)"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=False,
        )

        assert 0 == result.returncode, result.stderr
        assert "VoicenterEmulator" == result.stdout.strip()


class TestPlugin:
    async def test_emulator_fixture(self, voicenter_emulator, voicenter_directory):
        """The plugin's emulator serves the plugin's directory."""
        code = next(iter(voicenter_directory)).code
        async with httpx.AsyncClient(base_url=voicenter_emulator.base_url) as client:
            response = await client.get(API_PATH, params={"code": code, "showAll": 0})

        assert 10 == len(sips(response))
        assert voicenter_emulator.directory is voicenter_directory

    def test_respx_fixture(self, voicenter_respx, voicenter_directory):
        """The plugin's respx router is active on http://voicenter.test."""
        code = next(iter(voicenter_directory)).code

        response = httpx.get(f"http://voicenter.test{API_PATH}", params={"code": code})

        assert 400 == len(sips(response))
        assert 1 == voicenter_respx.calls.call_count


class TestSampleOrganization:
    def test_deterministic(self):
        """The same seed builds the same directory, codes included."""
        first = [attrs.asdict(d) for d in sample_organization(seed=7)]
        second = [attrs.asdict(d) for d in sample_organization(seed=7)]
        other = [attrs.asdict(d) for d in sample_organization(seed=8)]

        assert first == second
        assert first != other

    def test_shape(self):
        """Counts, code format and uniqueness follow the arguments."""
        directory = sample_organization(
            seed=1, departments=12, extensions_per_department=5, organizations=3
        )
        departments = list(directory)
        extensions = [e for d in departments for e in d.extensions]

        assert 12 == len(departments)
        assert 60 == len(extensions)
        assert 60 == len({e.sip for e in extensions})
        assert ("sample-1-0", "sample-1-1", "sample-1-2") == directory.organizations
        assert all(d.code.startswith("FAKE") for d in departments)
        assert all(len(d.code) == 32 and d.code.isalnum() for d in departments)
        for organization in directory.organizations:
            dials = [
                e.speed_dial
                for d in directory.organization(organization)
                for e in d.extensions
            ]
            assert len(dials) == len(set(dials))

    def test_realistic_names(self):
        """Names mix Hebrew and Latin, and users have example.* e-mails."""
        extensions = [e for d in sample_organization() for e in d.extensions]
        names = " ".join(e.name for e in extensions)
        emails = [e.user_email for e in extensions if e.user_email]

        assert any("\u0590" <= ch <= "\u05ff" for ch in names)
        assert any("a" <= ch <= "z" for ch in names)
        assert emails
        assert all(email.endswith(".example") for email in emails)
        assert any(not e.user_name for e in extensions)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"departments": -1},
            {"extensions_per_department": -1},
            {"organizations": 0},
        ],
    )
    def test_invalid_sizes(self, kwargs):
        """Negative counts or no organization raise ValueError."""
        with pytest.raises(ValueError, match="Invalid"):
            sample_organization(**kwargs)


class TestDirectory:
    def test_masked_reprs(self, directory):
        """Reprs show fingerprints, never the characters of a code."""
        department = directory.get(SALES)
        rule = vt.FaultRule(Fault.reset(), code=SALES)
        parsed = vt._protocol.parse_request("GET", f"{API_PATH}?code={SALES}")
        reprs = [repr(department), repr(directory), repr(rule), repr(parsed)]

        for text in reprs:
            assert SALES not in text
        assert fingerprint(SALES) in repr(department)
        assert fingerprint(SALES) in repr(rule)
        assert fingerprint(SALES) in repr(parsed)
        assert "Directory(departments=3, organizations=2, extensions=4)" == repr(
            directory
        )

    def test_fingerprint_format(self):
        """A fingerprint is dept- and 8 hex digits of the code's SHA-256."""
        assert "dept-" == fingerprint(SALES)[:5]
        assert 13 == len(fingerprint(SALES))
        assert fingerprint(SALES) != fingerprint(SUPPORT)

    def test_lookup(self, directory):
        """Departments are found by code and grouped by organization."""
        assert SALES in directory
        assert UNKNOWN not in directory
        assert directory.get(UNKNOWN) is None
        assert 3 == len(directory)
        assert ("org-a", "org-b") == directory.organizations
        assert [SALES, SUPPORT] == [d.code for d in directory.organization("org-a")]

    def test_duplicate_code(self, directory):
        """Adding a second department with the same code raises."""
        with pytest.raises(ValueError, match="Duplicate"):
            directory.add_department(SALES, account_id=1, account_name="x")

    @pytest.mark.parametrize("code", ["", "short", "bad code 123", "x" * 65])
    def test_invalid_code(self, code):
        """Codes outside 8 to 64 letters or digits are rejected."""
        with pytest.raises(ValueError, match="Invalid code"):
            Directory().add_department(code, account_id=1, account_name="x")

    def test_default_organization(self):
        """Departments added without an organization share 'default'."""
        directory = Directory([Department(SALES, 1, "a"), Department(SUPPORT, 2, "b")])

        response = handle_request(directory, "GET", f"{API_PATH}?code={SALES}")

        assert ("default",) == directory.organizations
        assert {"ERR": 0, "DESC": "OK", "EXTENSIONS": []} == json.loads(response.body)

    def test_from_wire_requires_sip(self):
        """A wire record without SIP is a ValueError that names the key."""
        with pytest.raises(ValueError, match="no 'SIP' key") as caught:
            DirectoryExtension.from_wire({"Name": "x"})

        assert not isinstance(caught.value, KeyError)
        assert "keys given: Name" in str(caught.value)

    def test_from_wire_defaults(self):
        """Every key but SIP is optional and defaults to an empty string."""
        extension = DirectoryExtension.from_wire({"SIP": 1001})

        assert DirectoryExtension("1001", "", "", "", "") == extension

    def test_add_department_without_names(self):
        """add_department takes extension mappings that lack Name."""
        directory = Directory()

        department = directory.add_department(
            SALES, account_id=1, account_name="a", extensions=[{"SIP": "100"}]
        )

        assert ("100",) == tuple(e.sip for e in department.extensions)
        with pytest.raises(ValueError, match="no 'SIP' key"):
            directory.add_department(
                SUPPORT, account_id=2, account_name="b", extensions=[{"Name": "x"}]
            )


def test_all_sorted_and_complete():
    """__all__ is sorted and names exactly the public attributes."""
    public = {
        name
        for name in vars(vt)
        if not name.startswith("_") and name not in {"annotations", "pytest_plugin"}
    }

    def isort_key(name: str) -> tuple[bool, bool, str]:
        return (not name.isupper(), not name[0].isupper(), name)

    assert sorted(vt.__all__, key=isort_key) == vt.__all__
    assert set(vt.__all__) == public
