"""The command line, end to end against the emulator on 127.0.0.1.

Every run goes through `check_run`, which also asserts that no department
code of the emulator, nor any other code the test used, appears on stdout
or stderr.
"""

from __future__ import annotations

import asyncio
import csv
import errno
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import voicenter_async.__main__ as voicenter_main
from voicenter_async import (
    DEFAULT_BASE_URL,
    DepartmentResult,
    Extension,
    Roster,
    VoicenterError,
    VoicenterSession,
    VoicenterWarning,
    _cli,
    _http,
    _resilience,
    code_fingerprint,
)
from voicenter_async.__main__ import main
from voicenter_async._cli import (
    EXIT_ALL_EMPTY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    MAX_CONCURRENCY,
    _sends_in_clear,
)
from voicenter_async._output import (
    MAX_SUMMARY_LABELS,
    command_line_advice,
    display_width,
    fit,
    printable,
    summary_lines,
    write_roster,
)
from voicenter_async._progress import Progress
from voicenter_async.testing import (
    Directory,
    Fault,
    ThreadedEmulator,
    sample_organization,
)

SENTINEL = "SENTINELcode4242xyz"
UNKNOWN = "UnknownCode00000"
HEBREW_NAME = "דָּנָה כֹּהֵן"
HEBREW_DEPARTMENT = "מכירות - תל אביב"
SENTINEL_SIP = "5550001"


def build_directory() -> Directory:
    directory = sample_organization(seed=3, departments=4, extensions_per_department=3)
    directory.add_department(
        SENTINEL,
        account_id=4242,
        account_name=HEBREW_DEPARTMENT,
        extensions=[
            {
                "SIP": SENTINEL_SIP,
                "Name": HEBREW_NAME,
                "SpeedDial": "300",
                "UserName": HEBREW_NAME,
                "UserEmail": "dana.cohen@org.example",
            }
        ],
        organization="sentinel-org",
    )
    return directory


@pytest.fixture(name="emulator", scope="module")
def _emulator() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(build_directory()) as emulator:
        yield emulator


@pytest.fixture(name="server")
def _server(emulator: ThreadedEmulator) -> Iterator[ThreadedEmulator]:
    """The shared emulator with no faults and zeroed counters."""
    emulator.clear_faults()
    emulator.reset_stats()
    yield emulator
    emulator.clear_faults()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's codes and base URL out of every test."""
    monkeypatch.delenv("VOICENTER_CODES", raising=False)
    monkeypatch.delenv("VOICENTER_BASE_URL", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def all_codes(server: ThreadedEmulator) -> list[str]:
    return [d.code for d in server.directory] + [UNKNOWN]


def codes_file(tmp_path: Path, server: ThreadedEmulator, *extra: str) -> Path:
    """Write a codes file with every department, labelled by account name."""
    lines = ["# departments of the test organization", ""]
    for department in server.directory:
        if department.code != SENTINEL:
            lines.append(f"  {department.account_name} = {department.code}  ")
    lines += ["sentinel=" + SENTINEL, *extra]
    path = tmp_path / "codes.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_run(
    capsys: pytest.CaptureFixture[str], server: ThreadedEmulator, *argv: str
) -> tuple[int, str, str]:
    """Run main in-process; check that no code leaked into its output."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    for code in [*all_codes(server), SENTINEL]:
        assert code not in out
        assert code not in err
    return status, out, err


def fetch_args(server: ThreadedEmulator, path: Path, *extra: str) -> list[str]:
    return ["fetch", "--base-url", server.base_url, "--codes-file", str(path), *extra]


class TestFormats:
    def test_json(self, capsys, server, tmp_path):
        """JSON contains every extension, Hebrew intact, and each department."""
        path = codes_file(tmp_path, server)

        status, out, _ = check_run(capsys, server, *fetch_args(server, path))

        document = json.loads(out)
        assert EXIT_OK == status
        assert 13 == len(document["extensions"])
        sentinel = next(e for e in document["extensions"] if e["sip"] == SENTINEL_SIP)
        assert HEBREW_NAME == sentinel["name"]
        assert HEBREW_DEPARTMENT == sentinel["account_name"]
        assert 4242 == sentinel["account_id"]
        assert HEBREW_NAME in out
        labels = [d["label"] for d in document["departments"]]
        assert "sentinel" in labels
        assert {"ok"} == {d["status"] for d in document["departments"]}

    def test_ndjson(self, capsys, server, tmp_path):
        """NDJSON is one extension object per line, Hebrew unescaped."""
        path = codes_file(tmp_path, server)

        status, out, _ = check_run(
            capsys, server, *fetch_args(server, path, "--format", "ndjson")
        )

        records = [json.loads(line) for line in out.splitlines()]
        assert EXIT_OK == status
        assert 13 == len(records)
        assert HEBREW_NAME in {r["name"] for r in records}
        assert HEBREW_NAME in out

    def test_csv(self, capsys, server, tmp_path):
        """CSV has a header row and one row per extension, Hebrew intact."""
        path = codes_file(tmp_path, server)

        status, out, _ = check_run(
            capsys, server, *fetch_args(server, path, "--format", "csv")
        )

        rows = list(csv.DictReader(io.StringIO(out)))
        assert EXIT_OK == status
        assert 13 == len(rows)
        sentinel = next(r for r in rows if r["sip"] == SENTINEL_SIP)
        assert HEBREW_NAME == sentinel["name"]
        assert "4242" == sentinel["account_id"]
        assert "sip" == out.split(",", 1)[0]

    def test_table_alignment(self, capsys, server, tmp_path):
        """Every table column starts at the same display column on each row."""
        path = codes_file(tmp_path, server)

        status, out, _ = check_run(
            capsys, server, *fetch_args(server, path, "--format", "table")
        )

        lines = out.splitlines()
        assert EXIT_OK == status
        assert 2 + 13 == len(lines)
        assert HEBREW_NAME in out
        ruler = lines[1]
        starts = [m.start() for m in re.finditer(r"-+", ruler)]
        for line in lines[2:]:
            for start in starts[1:]:
                if display_width(line) <= start:
                    continue
                prefix = _prefix_of_width(line, start)
                assert start == display_width(prefix)
                assert prefix.endswith("  ")

    def test_json_when_piped(self, capsys, server, tmp_path):
        """Without --format, output that is not a terminal is JSON."""
        path = codes_file(tmp_path, server)

        _, out, _ = check_run(capsys, server, *fetch_args(server, path))

        assert isinstance(json.loads(out), dict)


def _prefix_of_width(line: str, width: int) -> str:
    prefix = ""
    for ch in line:
        if display_width(prefix) >= width:
            break
        prefix += ch
    return prefix


class TestExitStatus:
    def test_all_ok(self, capsys, server, tmp_path):
        """Every department fetched: status 0 and a summary with counts."""
        path = codes_file(tmp_path, server)

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_OK == status
        assert "departments: 5 (5 ok, 0 empty, 0 failed)" in err
        assert "extensions:  13" in err
        assert "elapsed:" in err

    def test_partial_failure(self, capsys, server, tmp_path):
        """One department gets HTTP 500: status 1, its label and error listed."""
        server.add_fault(Fault.status(500), code=SENTINEL)
        path = codes_file(tmp_path, server)

        status, out, err = check_run(capsys, server, *fetch_args(server, path))

        document = json.loads(out)
        assert EXIT_PARTIAL == status
        assert "departments: 5 (4 ok, 0 empty, 1 failed)" in err
        assert re.search(r"failed: +sentinel: .*HTTP 500", err)
        failed = [d for d in document["departments"] if d["status"] == "failed"]
        assert ["sentinel"] == [d["label"] for d in failed]
        assert "ServerError" == failed[0]["error"]["type"]
        assert 12 == len(document["extensions"])

    def test_total_failure(self, capsys, server, tmp_path):
        """Every department gets HTTP 403: status 3, each failure listed."""
        server.add_fault(Fault.status(403))
        path = codes_file(tmp_path, server)

        status, out, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_FAILED == status
        assert "departments: 5 (0 ok, 0 empty, 5 failed)" in err
        assert 5 == err.count("HTTP 403 Forbidden")
        assert [] == json.loads(out)["extensions"]

    def test_timeout(self, capsys, server, tmp_path):
        """--timeout applies: a slower response fails that department."""
        server.add_fault(Fault.latency(1.0), code=SENTINEL)
        path = codes_file(tmp_path, server)

        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--timeout", "0.2")
        )

        assert EXIT_PARTIAL == status
        assert re.search(r"failed: +sentinel: .*timed out", err)

    def test_empty_department(self, capsys, server, tmp_path):
        """An unknown code is empty, not failed: status 0 and a hint."""
        path = codes_file(tmp_path, server, f"typo={UNKNOWN}", f"again={UNKNOWN}")

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_OK == status
        assert "departments: 6 (5 ok, 1 empty, 0 failed)" in err
        assert re.search(r"empty: +typo \(also again\) \(", err)
        assert "every department came back empty" not in err

    def test_all_empty(self, capsys, server, tmp_path):
        """Every department empty: status 4, a warning, labels capped at 20."""
        path = tmp_path / "codes.txt"
        lines = [f"d{i}=Unknown{i:08d}" for i in range(25)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        empty_line = next(
            line for line in err.splitlines() if line.startswith("empty:")
        )
        assert EXIT_ALL_EMPTY == status
        assert "departments: 25 (0 ok, 25 empty, 0 failed)" in err
        assert "every department came back empty" in err
        assert "d0, d1, " in empty_line
        assert "d19 and 5 more (" in empty_line
        assert "d20" not in empty_line
        for i in range(25):
            assert f"Unknown{i:08d}" not in err

    def test_empty_and_failed(self, capsys, server, tmp_path):
        """Failures take precedence over empty departments in the status."""
        server.add_fault(Fault.status(500), code=SENTINEL)
        path = tmp_path / "codes.txt"
        path.write_text(f"s={SENTINEL}\ntypo={UNKNOWN}\n", encoding="utf-8")

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_PARTIAL == status
        assert "every department came back empty" not in err

    @pytest.mark.parametrize(
        "argv",
        [
            ["fetch", "--concurrency", "0"],
            ["fetch", "--concurrency", "many"],
            ["fetch", "--timeout", "-1"],
            ["fetch", "--timeout", "soon"],
            ["fetch", "--format", "xml"],
            ["fetch", "--base-url", "ftp://example.invalid"],
            ["fetch", "--base-url", "https://"],
            ["fetch", "--base-url", "http://a:b:c"],
            ["fetch", "--base-url", "http://example.invalid/?a=1"],
            ["fetch", "--no-such-option"],
            ["demo", "--departments", "0"],
            ["demo", "--departments", "100001"],
            [],
        ],
    )
    def test_bad_usage(self, capsys, argv):
        """Invalid options exit with 2 before anything is sent."""
        status = main(argv)

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "error:" in err

    def test_no_codes(self, capsys):
        """No codes from any source is a usage error naming the sources."""
        status = main(["fetch", "--base-url", "http://127.0.0.1:9"])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "no department codes found in stdin" in err
        assert "VOICENTER_CODES" in err

    def test_stdin_terminal(self, capsys, monkeypatch):
        """A terminal on stdin is not read, and the error names the code sources."""
        monkeypatch.setattr(sys, "stdin", _Terminal())

        status = main(["fetch"])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "stdin (a terminal)" in err

    def test_invalid_env_base_url(self, capsys, monkeypatch):
        """An invalid VOICENTER_BASE_URL is a usage error naming the variable."""
        monkeypatch.setenv("VOICENTER_CODES", SENTINEL)
        monkeypatch.setenv("VOICENTER_BASE_URL", "ftp://example.invalid")

        status = main(["fetch"])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "invalid VOICENTER_BASE_URL 'ftp://example.invalid'" in err

    def test_codes_not_utf8(self, capsys, monkeypatch, tmp_path):
        """Codes that are not UTF-8, in a file or on stdin, are usage errors."""
        path = tmp_path / "codes.txt"
        path.write_bytes(b"label=\xff\xfe\n")
        binary = io.TextIOWrapper(io.BytesIO(b"\xff\n"))
        monkeypatch.setattr(sys, "stdin", binary)

        file_status = main(["fetch", "--codes-file", str(path)])
        stdin_status = main(["fetch", "--codes-file", "-"])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == file_status
        assert EXIT_USAGE == stdin_status
        assert "codes.txt: it is not valid UTF-8" in err
        assert "stdin: the input is not valid UTF-8" in err

    def test_missing_codes_file(self, capsys, tmp_path):
        """An unreadable codes file is a one-line usage error."""
        status = main(["fetch", "--codes-file", str(tmp_path / "absent.txt")])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert 1 == len(err.splitlines())
        assert "cannot read codes file" in err
        assert "Traceback" not in err

    def test_label_reused(self, capsys, server, tmp_path):
        """One label for two codes is a usage error naming both lines."""
        path = tmp_path / "codes.txt"
        path.write_text(f"a={SENTINEL}\na={UNKNOWN}\n", encoding="utf-8")

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_USAGE == status
        assert "line 1 of codes.txt and line 2 of codes.txt" in err

    def test_help_lists_statuses(self, capsys):
        """--help documents every exit status."""
        status = main(["fetch", "--help"])

        out, _ = capsys.readouterr()
        assert EXIT_OK == status
        for line in (
            "0    every",
            "1    some",
            "2    invalid",
            "3    every",
            "4    no department failed but every one came back empty",
        ):
            assert line in out
        assert "default: 10" in out


class TestCodeSources:
    def test_comments_and_labels(self, capsys, server, tmp_path):
        """Comments and blanks are skipped; labels and bare codes both work."""
        path = tmp_path / "codes.txt"
        path.write_text(
            f"# a comment\n\n   \nsentinel = {SENTINEL}\n  {UNKNOWN}  \n",
            encoding="utf-8",
        )

        _, out, _ = check_run(capsys, server, *fetch_args(server, path))

        labels = [d["label"] for d in json.loads(out)["departments"]]
        assert ["sentinel", code_fingerprint(UNKNOWN)] == labels

    def test_stdin_dash(self, capsys, monkeypatch, server):
        """--codes-file - reads UTF-8 stdin, Hebrew labels included."""
        data = f"מכירות={SENTINEL}\n".encode()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

        _, out, _ = check_run(
            capsys,
            server,
            "fetch",
            "--base-url",
            server.base_url,
            "--codes-file",
            "-",
        )

        assert ["מכירות"] == [d["label"] for d in json.loads(out)["departments"]]

    def test_stdin_implicit(self, capsys, monkeypatch, server):
        """Without other sources, codes piped on stdin are read."""
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"s={SENTINEL}\n"))

        status, out, _ = check_run(
            capsys, server, "fetch", "--base-url", server.base_url
        )

        assert EXIT_OK == status
        assert ["s"] == [d["label"] for d in json.loads(out)["departments"]]

    def test_environment(self, capsys, monkeypatch, server):
        """VOICENTER_CODES takes commas and newlines, and wins over stdin."""
        monkeypatch.setenv("VOICENTER_CODES", f" s={SENTINEL} ,\n{UNKNOWN},,")
        monkeypatch.setenv("VOICENTER_BASE_URL", server.base_url)
        monkeypatch.setattr(sys, "stdin", io.StringIO("ignored=IgnoredCode123\n"))

        status, out, _ = check_run(capsys, server, "fetch")

        labels = [d["label"] for d in json.loads(out)["departments"]]
        assert EXIT_OK == status
        assert ["s", code_fingerprint(UNKNOWN)] == labels

    def test_code_option_warns(self, capsys, server):
        """--code works, but warns that the code shows in the process list."""
        status, out, err = check_run(
            capsys,
            server,
            "fetch",
            "--base-url",
            server.base_url,
            "--code",
            f"s={SENTINEL}",
        )

        assert EXIT_OK == status
        assert "warning: --code shows the department code" in err
        assert SENTINEL_SIP in out


class TestNoCodeInOutput:
    @pytest.mark.parametrize(
        "fault",
        [
            Fault.status(500, body=f"<pre>{SENTINEL}</pre>".encode()),
            Fault.status(403, body=f"denied code={SENTINEL}".encode()),
            Fault.json({"ERR": 1, "DESC": f"bad code {SENTINEL}"}),
            Fault.html(f"<html>{SENTINEL}</html>".encode()),
            Fault.reset(),
        ],
        ids=["500", "403", "err1", "html", "reset"],
    )
    def test_failures(self, capsys, server, tmp_path, fault):
        """A failing department is reported by label, never by code."""
        server.add_fault(fault, code=SENTINEL)
        path = codes_file(tmp_path, server)

        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--method", "get", "-v")
        )

        assert EXIT_PARTIAL == status
        assert "failed:      sentinel:" in err

    def test_unlabelled_failure(self, capsys, server, tmp_path):
        """An unlabelled failing code is named by its fingerprint."""
        server.add_fault(Fault.status(500), code=SENTINEL)
        path = tmp_path / "codes.txt"
        path.write_text(f"{SENTINEL}\n", encoding="utf-8")

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_FAILED == status
        assert f"failed:      {code_fingerprint(SENTINEL)}:" in err

    def test_unrecognized_arguments(self, capsys, server):
        """A code given where no option expects it is masked in the error."""
        status, _, err = check_run(
            capsys, server, "fetch", SENTINEL, f"--codes={SENTINEL}"
        )

        assert EXIT_USAGE == status
        assert "*** --codes=***" in err

    def test_invalid_code(self, capsys, server, tmp_path):
        """A code the library rejects fails alone, with its label."""
        path = codes_file(tmp_path, server, "bad=x" * 60)

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_PARTIAL == status
        assert re.search(r"failed: +bad: department code for bad is invalid", err)


class TestRoster:
    def test_conflicts_and_aliases(self, capsys, tmp_path):
        """SIP conflicts and a code given under two labels are summarised."""
        directory = Directory()
        for code, name in (("FirstCode111", "אבי"), ("SecondCode22", "Avi")):
            directory.add_department(
                code,
                account_id=1,
                account_name="a",
                extensions=[{"SIP": "100", "Name": name}],
            )
        path = tmp_path / "codes.txt"
        path.write_text(
            "one=FirstCode111\ntwo=SecondCode22\nthree=FirstCode111\n",
            encoding="utf-8",
        )

        with ThreadedEmulator(directory) as server:
            status = main(
                ["fetch", "--base-url", server.base_url, "--codes-file", str(path)]
            )

        out, err = capsys.readouterr()
        document = json.loads(out)
        assert EXIT_OK == status
        assert [{"sip": "100", "labels": ["one", "two"]}] == document["conflicts"]
        assert ["אבי"] == [e["name"] for e in document["extensions"]]
        assert ["three"] == document["departments"][0]["aliases"]
        assert "1 SIP returned with different data" in err
        assert "FirstCode111" not in out + err

    def test_show_all(self, capsys, server, tmp_path):
        """--show-all returns the whole organization for one code."""
        department = server.directory.organization("sample-3-0")[0]
        path = tmp_path / "codes.txt"
        path.write_text(f"one={department.code}\n", encoding="utf-8")

        _, out, _ = check_run(capsys, server, *fetch_args(server, path, "--show-all"))

        assert 12 == len(json.loads(out)["extensions"])
        assert [True] == [r.show_all for r in server.stats.requests]


class TestStubbedRun:
    """Paths that need no server: the fetch itself is replaced."""

    @pytest.fixture(name="codes")
    def _codes(self, monkeypatch):
        monkeypatch.setenv("VOICENTER_CODES", f"s={SENTINEL}")

    def stub(self, monkeypatch, error):
        async def run_fetch(*_args, **_kwargs):
            if error is not None:
                raise error
            return EXIT_OK

        monkeypatch.setattr(_cli, "run_fetch", run_fetch)

    def test_plain_http_warns(self, capsys, monkeypatch, codes):
        """A plain http base URL on another host warns before sending."""
        self.stub(monkeypatch, None)

        status = main(["fetch", "--base-url", "http://voicenter.test"])

        assert EXIT_OK == status
        assert "uses plain http" in capsys.readouterr().err

    def test_unexpected_error(self, capsys, monkeypatch, codes):
        """An unexpected error is one masked line and status 3."""
        self.stub(monkeypatch, RuntimeError(f"boom at ?code={SENTINEL}"))

        status = main(["fetch", "--base-url", "http://127.0.0.1:9"])

        err = capsys.readouterr().err
        assert EXIT_FAILED == status
        assert "error: unexpected RuntimeError: boom at ?code=***" in err
        assert SENTINEL not in err
        assert "Traceback" not in err

    def test_interrupted(self, capsys, monkeypatch, codes):
        """Ctrl-C ends with status 130 and one line."""
        self.stub(monkeypatch, KeyboardInterrupt())

        status = main(["fetch", "--base-url", "http://127.0.0.1:9"])

        assert EXIT_INTERRUPTED == status
        assert "error: interrupted" in capsys.readouterr().err

    def test_broken_pipe(self, monkeypatch, codes):
        """A reader that closes stdout early ends the run with status 141."""
        self.stub(monkeypatch, BrokenPipeError())

        status = main(["fetch", "--base-url", "http://127.0.0.1:9"])

        assert EXIT_PIPE_CLOSED == status


class TestDemo:
    def test_pooling(self, capsys):
        """The demo exits 0 and opens fewer connections than it sends requests."""
        status = main(["demo", "--departments", "55", "--format", "ndjson"])

        out, err = capsys.readouterr()
        match = re.search(r"pooling: +(\d+) requests over (\d+) TCP connections", err)
        assert EXIT_OK == status
        assert 550 == len(out.splitlines())
        assert "departments: 55 (55 ok, 0 empty, 0 failed)" in err
        assert match is not None
        requests, connections = int(match[1]), int(match[2])
        assert 55 == requests
        assert connections < requests
        assert "FAKE" not in out + err

    def test_table(self, capsys):
        """The demo's default table, with Hebrew departments, exits 0."""
        status = main(["demo", "--departments", "3", "--format", "table"])

        out, _ = capsys.readouterr()
        assert EXIT_OK == status
        assert 2 + 30 == len(out.splitlines())


class TestSubprocess:
    def run(self, server, *argv, env=None, stdin=b""):
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("VOICENTER_")
        }
        environment.update(env or {})
        environment["PYTHONIOENCODING"] = "ascii"
        return subprocess.run(
            [sys.executable, "-m", "voicenter_async", *argv],
            input=stdin,
            capture_output=True,
            env=environment,
            timeout=60,
            check=False,
        )

    def test_fetch(self, server):
        """python -m voicenter_async writes UTF-8 even with an ASCII locale."""
        codes = f"s={SENTINEL}\n{UNKNOWN}\n"

        result = self.run(
            server,
            "fetch",
            "--format",
            "csv",
            env={"VOICENTER_CODES": codes, "VOICENTER_BASE_URL": server.base_url},
        )

        out = result.stdout.decode("utf-8")
        err = result.stderr.decode("utf-8")
        assert EXIT_OK == result.returncode
        assert HEBREW_NAME in out
        assert "departments: 2 (1 ok, 1 empty, 0 failed)" in err
        for code in (SENTINEL, UNKNOWN):
            assert code not in out
            assert code not in err

    def test_partial_failure(self, server):
        """The exit status of a partial failure reaches the shell."""
        server.add_fault(Fault.status(403), code=SENTINEL)
        stdin = f"s={SENTINEL}\n{server.directory.organization('sample-3-0')[0].code}"

        result = self.run(
            server, "fetch", "--base-url", server.base_url, stdin=stdin.encode()
        )

        assert EXIT_PARTIAL == result.returncode
        assert b"Traceback" not in result.stderr
        assert SENTINEL.encode() not in result.stdout + result.stderr

    @pytest.mark.parametrize(
        "fault",
        [Fault.status(429, retry_after=0), Fault.reset()],
        ids=["429", "reset"],
    )
    def test_retries_not_logged_twice(self, server, fault):
        """A retry leaves no stray stamina line, and -v reports it once."""
        env = {
            "VOICENTER_CODES": f"s={SENTINEL}",
            "VOICENTER_BASE_URL": server.base_url,
        }
        summary = re.compile(
            r"(departments|extensions|elapsed|retries): +|voicenter-async: warning: "
        )

        server.add_fault(fault, code=SENTINEL, times=1)
        quiet = self.run(server, "fetch", "--format", "csv", env=env)
        server.add_fault(fault, code=SENTINEL, times=1)
        verbose = self.run(server, "fetch", "--format", "csv", "-v", env=env)

        quiet_lines = quiet.stderr.decode("utf-8").splitlines()
        verbose_err = verbose.stderr.decode("utf-8")
        assert EXIT_OK == quiet.returncode
        assert EXIT_OK == verbose.returncode
        assert [line for line in quiet_lines if not summary.match(line)] == []
        assert any(line.startswith("retries:     1 (") for line in quiet_lines)
        assert "stamina" not in verbose_err
        assert 1 == verbose_err.count("; retrying in ")

    def test_demo(self, server):
        """The demo runs as a process and exits 0."""
        result = self.run(server, "demo", "--departments", "12")

        assert EXIT_OK == result.returncode
        assert 120 == len(json.loads(result.stdout)["extensions"])
        assert b"pooling:" in result.stderr


class TestUnits:
    def test_display_width(self):
        """Hebrew points take no column, wide characters take two."""
        assert 13 == len(HEBREW_NAME)
        assert 7 == display_width(HEBREW_NAME)
        assert 4 == display_width("日本")

    def test_fit(self):
        """A long cell is cut to the width, ending with an ellipsis."""
        cut = fit("א" * 50, 10)

        assert 10 == display_width(cut)
        assert cut.endswith("…")

    def test_progress(self):
        """Progress draws on a terminal and erases its line at the end."""
        stream = _Terminal()
        progress = Progress(stream, 3, enabled=True)

        progress.draw(force=True)
        progress.on_result(DepartmentResult(label="a"))
        progress.on_result(DepartmentResult(label="b", error=VoicenterError("x")))
        progress.on_result(DepartmentResult(label="c"))
        progress.clear()

        assert "fetched 0 of 3 departments, 0 failed" in stream.getvalue()
        assert "fetched 3 of 3 departments, 1 failed" in stream.getvalue()
        assert stream.getvalue().endswith("\r\x1b[K")

    def test_progress_in_main(self, capsys, monkeypatch, server):
        """With stderr on a terminal, main draws progress before the summary."""
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)

        status = main(
            ["fetch", "--base-url", server.base_url, "--code", f"s={SENTINEL}"]
        )

        assert EXIT_OK == status
        assert "fetched 1 of 1 departments, 0 failed" in terminal.getvalue()
        assert SENTINEL not in terminal.getvalue()

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("http://10.0.0.1", True),
            ("https://10.0.0.1", False),
            ("http://127.0.0.1:8080", False),
            ("http://localhost", False),
            ("http://[::1]:80", False),
            ("http://voicenter.test", True),
        ],
    )
    def test_plain_http_warning(self, url, expected):
        """Only plain http to a host other than this machine is flagged."""
        assert expected == _sends_in_clear(url)


class TestMalformedEntries:
    """Entries that would show a code as a label are usage errors."""

    @pytest.mark.parametrize(
        "entry",
        [
            f"{SENTINEL}=",
            f"{SENTINEL}=sales",
            f"{SENTINEL} = sales team",
            f"{SENTINEL}=ab\x01cdefgh",
            "sales=",
            "=",
        ],
        ids=[
            "empty-code",
            "swapped",
            "swapped-spaces",
            "control",
            "label-only",
            "bare",
        ],
    )
    def test_codes_file(self, capsys, server, tmp_path, entry):
        """A malformed line is named by its place, and nothing is sent."""
        path = tmp_path / "codes.txt"
        path.write_text(f"# header\nok={UNKNOWN}\n{entry}\n", encoding="utf-8")

        status, out, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_USAGE == status
        assert "" == out
        assert "error: line 3 of codes.txt " in err
        assert "sales" not in err
        assert 0 == server.stats.requests_served

    def test_environment(self, capsys, monkeypatch, server):
        """A swapped entry in VOICENTER_CODES is named by its position."""
        monkeypatch.setenv("VOICENTER_CODES", f"ok={UNKNOWN},{SENTINEL}=sales")

        status, _, err = check_run(
            capsys, server, "fetch", "--base-url", server.base_url
        )

        assert EXIT_USAGE == status
        assert "error: entry 2 of VOICENTER_CODES looks like code=label" in err
        assert 0 == server.stats.requests_served

    @pytest.mark.parametrize("value", [f"{SENTINEL}=", ""])
    def test_code_option(self, capsys, server, value):
        """An empty --code, or one with nothing after '=', is rejected."""
        status, _, err = check_run(
            capsys, server, "fetch", "--base-url", server.base_url, "--code", value
        )

        assert EXIT_USAGE == status
        assert "error: --code 1 " in err
        assert 0 == server.stats.requests_served

    def test_word_label_with_code(self, capsys, server, tmp_path):
        """A label with the shape of a code is kept when a code follows it."""
        path = tmp_path / "codes.txt"
        path.write_text(f"support2024={SENTINEL}\n", encoding="utf-8")

        status, out, _ = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_OK == status
        assert ["support2024"] == [d["label"] for d in json.loads(out)["departments"]]

    def test_reused_code_shaped_label(self, capsys, server, tmp_path):
        """A reused label with the shape of a code is not quoted in the error."""
        path = tmp_path / "codes.txt"
        path.write_text(
            f"support2024={SENTINEL}\nsupport2024={UNKNOWN}\n", encoding="utf-8"
        )

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_USAGE == status
        assert "the same label is given to two different codes" in err
        assert "support2024" not in err


class TestNoEchoedInput:
    """Values with the shape of a code are never quoted in usage errors."""

    @pytest.mark.parametrize(
        "argv",
        [
            ["fetch", "--format", SENTINEL],
            ["fetch", "--method", SENTINEL],
            ["fetch", "--concurrency", SENTINEL],
            ["fetch", "--timeout", SENTINEL],
            ["fetch", "--retries", SENTINEL],
            ["fetch", "--deadline", SENTINEL],
            ["demo", "--seed", SENTINEL],
            ["demo", "--departments", "12345678"],
            [SENTINEL],
        ],
        ids=[
            "format",
            "method",
            "concurrency",
            "timeout",
            "retries",
            "deadline",
            "seed",
            "departments",
            "command",
        ],
    )
    def test_option_values(self, capsys, server, argv):
        """argparse's own messages and the option checks both hide the value."""
        status, _, err = check_run(capsys, server, *argv)

        assert EXIT_USAGE == status
        assert "error:" in err
        assert "12345678" not in err

    def test_other_values_quoted(self, capsys):
        """A value that cannot be a code is still shown, to help fix it."""
        status = main(["fetch", "--format", "xml", "--concurrency", "1"])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "invalid choice: 'xml'" in err

    def test_codes_file_named_like_code(self, capsys, server, tmp_path, monkeypatch):
        """A code passed as --codes-file is not echoed when it cannot be read."""
        monkeypatch.chdir(tmp_path)

        status, _, err = check_run(capsys, server, "fetch", "--codes-file", SENTINEL)

        assert EXIT_USAGE == status
        assert "cannot read codes file (name not shown" in err

    @pytest.mark.parametrize(
        "url",
        [SENTINEL, f"http://127.0.0.1:9/?code={SENTINEL}"],
        ids=["bare", "query"],
    )
    def test_base_url(self, capsys, server, url):
        """A code inside or instead of the base URL is masked."""
        status, _, err = check_run(capsys, server, "fetch", "--base-url", url)

        assert EXIT_USAGE == status
        assert "invalid --base-url" in err

    def test_control_characters(self, capsys, tmp_path):
        """Terminal escapes in a message are removed, line breaks become spaces."""
        path = tmp_path / "codes\x1b[2J\nfile.txt"

        status = main(["fetch", "--codes-file", str(path)])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "\x1b" not in err
        assert "codes[2J file.txt" in err
        assert 1 == len(err.splitlines())


class TestBaseUrl:
    def test_empty_option(self, capsys, monkeypatch):
        """--base-url '' is a usage error, not Voicenter's production host."""
        monkeypatch.setenv("VOICENTER_CODES", f"s={SENTINEL}")

        status = main(["fetch", "--base-url", ""])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert (
            "error: invalid --base-url '': expected http:// or https:// and a host"
            in err
        )

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("example.com", "expected http:// or https://"),
            ("ftp://example.com", "expected http:// or https://"),
            ("https://", "expected http:// or https://"),
            ("http:///path", "expected http:// or https://"),
            ("http://a:b:c", "Invalid port"),
            ("http://example.com:0", "the port must be 1 to 65535"),
            ("http://example.com:65536", "the port must be 1 to 65535"),
            ("http://example.com:-1", "the port must be 1 to 65535"),
            ("http://exa%20mple.com", "the host name is invalid"),
            ("http://example.com/?a=1", "remove the query and fragment"),
            ("http://example.com/#top", "remove the query and fragment"),
            ("http://example.com\t/", "non-printable"),
        ],
    )
    def test_invalid(self, capsys, monkeypatch, url, reason):
        """Each part of the URL is checked before any code is read or sent."""
        stdin = io.StringIO(f"s={SENTINEL}\n")
        monkeypatch.setattr(sys, "stdin", stdin)

        status = main(["fetch", "--base-url", url])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert "error: invalid --base-url " in err
        assert reason in err
        assert 0 == stdin.tell()

    @pytest.fixture(name="captured")
    def _captured(self, monkeypatch):
        """Replace run_fetch with a stub that records its settings."""
        settings = []

        async def run_fetch(_codes, fetch_settings, _console, **_kwargs):
            settings.append(fetch_settings)
            return EXIT_OK

        monkeypatch.setattr(_cli, "run_fetch", run_fetch)
        monkeypatch.setenv("VOICENTER_CODES", f"s={SENTINEL}")
        return settings

    def test_empty_environment(self, captured, monkeypatch):
        """An empty VOICENTER_BASE_URL counts as unset."""
        monkeypatch.setenv("VOICENTER_BASE_URL", "")

        status = main(["fetch"])

        assert EXIT_OK == status
        assert DEFAULT_BASE_URL == captured[0].base_url

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8080",
            "https://example.com:443/prefix/",
            "http://[::1]:65535",
            "https://מכירות.example",
        ],
    )
    def test_valid(self, captured, url):
        """Ports, IPv6 hosts, paths and international names are accepted."""
        status = main(["fetch", "--base-url", url])

        assert EXIT_OK == status
        assert url == captured[0].base_url

    def test_plain_http_warning_names_origin(self, capsys, captured):
        """The plain http warning shows scheme, host and port only."""
        main(["fetch", "--base-url", "http://user:secret@voicenter.test:8080/api"])

        err = capsys.readouterr().err
        assert "warning: http://voicenter.test:8080 uses plain http" in err
        assert "secret" not in err


class TestRequestBounds:
    def test_help(self, capsys):
        """The help gives unit and default of every time and retry option."""
        main(["fetch", "--help"])

        out = " ".join(capsys.readouterr().out.split())
        assert "bounds each step, not the whole request" in out
        assert "--request-deadline SECONDS" in out
        assert "(default: 60)" in out
        assert "--deadline SECONDS" in out
        assert "(default: no limit)" in out
        assert "--retries N" in out
        assert "(default: 2)" in out

    def test_request_deadline(self, capsys, server, tmp_path):
        """--request-deadline ends a request whose body drips in slowly."""
        server.add_fault(Fault.drip(chunk_size=1, interval=0.2), code=SENTINEL)
        path = codes_file(tmp_path, server)

        started = time.perf_counter()
        status, _, err = check_run(
            capsys,
            server,
            *fetch_args(server, path, "--timeout", "1", "--request-deadline", "0.5"),
        )

        assert EXIT_PARTIAL == status
        assert time.perf_counter() - started < 5
        assert re.search(r"failed: +sentinel: .*deadline", err)

    def test_deadline(self, capsys, server, tmp_path):
        """--deadline bounds the whole run, whatever each request allows."""
        server.add_fault(Fault.latency(10), code=SENTINEL)
        path = codes_file(tmp_path, server)

        started = time.perf_counter()
        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--deadline", "0.5")
        )

        assert EXIT_PARTIAL == status
        assert time.perf_counter() - started < 5
        assert "departments: 5 (4 ok, 0 empty, 1 failed)" in err
        assert re.search(r"failed: +sentinel: .*deadline", err)

    @pytest.mark.parametrize(("retries", "attempts"), [("0", 1), ("3", 4)])
    def test_retries(self, capsys, server, tmp_path, retries, attempts):
        """--retries sets how often a transient failure is sent again."""
        server.add_fault(Fault.status(503), code=SENTINEL)
        path = codes_file(tmp_path, server)

        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--retries", retries)
        )

        sent = [
            r
            for r in server.stats.requests
            if r.fingerprint == code_fingerprint(SENTINEL)
        ]
        assert EXIT_PARTIAL == status
        assert attempts == len(sent)
        if attempts > 1:
            assert f"retries:     {attempts - 1} ({attempts - 1} http_503)" in err
        else:
            assert "retries:" not in err

    @pytest.mark.parametrize(
        "argv",
        [
            ["--retries", "-1"],
            ["--retries", "1.5"],
            ["--deadline", "0"],
            ["--deadline", "inf"],
            ["--request-deadline", "soon"],
            ["--request-deadline", "-2"],
        ],
    )
    def test_invalid(self, capsys, argv):
        """Negative, zero or non-numeric bounds are usage errors."""
        status = main(["fetch", *argv])

        _, err = capsys.readouterr()
        assert EXIT_USAGE == status
        assert f"argument {argv[0]}: expected " in err


class TestLogging:
    def test_verbose_before_command(self, capsys, server):
        """-v is accepted before the subcommand as well as after it."""
        for argv in (["-v", "fetch"], ["fetch", "-v"]):
            status, _, err = check_run(
                capsys,
                server,
                *argv,
                "--base-url",
                server.base_url,
                "--code",
                f"s={SENTINEL}",
            )

            assert EXIT_OK == status
            assert "DEBUG voicenter_async: GetExtensions s POST: HTTP 200" in err

    def test_quiet_by_default(self, capsys, server):
        """Without -v, no log record reaches stderr."""
        server.add_fault(Fault.status(429, retry_after=0), code=SENTINEL, times=1)

        status, _, err = check_run(
            capsys,
            server,
            "fetch",
            "--base-url",
            server.base_url,
            "--code",
            f"s={SENTINEL}",
        )

        assert EXIT_OK == status
        assert "voicenter_async" not in err
        assert "retries:     1 (1 http_429)" in err

    def test_loggers_restored(self, capsys, server):
        """The command leaves every logger as it found it."""
        loggers = [logging.getLogger(n) for n in ("", "voicenter_async", "stamina")]
        before = [(lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]

        check_run(
            capsys,
            server,
            "-v",
            "fetch",
            "--base-url",
            server.base_url,
            "--code",
            f"s={SENTINEL}",
        )

        after = [(lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]
        assert before == after


class TestPrintable:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("<!DOCTYPE html>\n<html>", "<!DOCTYPE html> <html>"),
            ("a \r\n\t  b", "a b"),
            ("a\u2028b\x85c", "a b c"),
            ("red \x1b[31malert\x1b[0m", "red [31malert[0m"),
            ("nul\x00 and bell\x07", "nul and bell"),
            ("not decoded: \ufffd", "not decoded: \ufffd"),
            ("two  spaces", "two  spaces"),
            ("דָּנָה כֹּהֵן", "דָּנָה כֹּהֵן"),
        ],
    )
    def test_units(self, text, expected):
        """Whitespace controls become one space, other controls are removed."""
        assert expected == printable(text)

    def test_body_excerpt(self, capsys, server, tmp_path):
        """A multi-line HTML body is shown on one line without U+FFFD."""
        server.add_fault(
            Fault.html(b"<!DOCTYPE html>\n<html>\r\n\t<body>down</body></html>\n"),
            code=SENTINEL,
        )
        path = codes_file(tmp_path, server)

        status, _, err = check_run(capsys, server, *fetch_args(server, path))

        assert EXIT_PARTIAL == status
        assert "<!DOCTYPE html> <html> <body>down</body>" in err
        assert "\ufffd" not in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestBidiControls:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("\u202egnirts\u202c", "gnirts"),
            ("a\u202ab\u202bc\u202dd", "abcd"),
            ("\u2066x\u2069 \u2067y\u2069 \u2068z\u2069", "x y z"),
            ("a\u200fb\u200ec", "a\u200fb\u200ec"),
        ],
        ids=["override", "embedding", "isolate", "marks-kept"],
    )
    def test_printable(self, text, expected):
        """Embedding, override and isolate controls go, direction marks stay."""
        assert expected == printable(text)

    def test_table_cells(self):
        """A table cell with an override neither reorders nor misaligns the row."""
        roster = Roster.from_departments(
            [
                DepartmentResult(
                    label="a",
                    extensions=(
                        Extension(sip="1", name="\u202eabc\u202c", user_email="x"),
                        Extension(sip="2", name="\u05d0\u200f", user_email="y"),
                    ),
                )
            ]
        )
        stream = io.StringIO()

        write_roster(roster, "table", stream)

        lines = stream.getvalue().splitlines()
        for control in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
            assert control not in stream.getvalue()
        assert "\u200f" in lines[3]
        email_x = display_width(lines[2][: lines[2].index("x")])
        email_y = display_width(lines[3][: lines[3].index("y")])
        assert email_x == email_y


def _failed_roster(count: int) -> Roster:
    return Roster.from_departments(
        DepartmentResult(label=f"d{number}", error=VoicenterError("down"))
        for number in range(1, count + 1)
    )


class TestFailedLines:
    def test_capped(self):
        """Only the first failed departments get a line, then one count."""
        lines = summary_lines(_failed_roster(25), 1.0, output_format="csv")

        failed = [line for line in lines if line.startswith("failed:")]
        assert MAX_SUMMARY_LABELS + 1 == len(failed)
        assert "failed:      d1: down" == failed[0]
        assert "failed:      d20: down" == failed[-2]
        assert "failed:      and 5 more failed; use --format json for all" == failed[-1]

    def test_json_output_named(self):
        """When stdout carries JSON, the count line points there."""
        lines = summary_lines(_failed_roster(1021), 1.0, output_format="json")

        assert "failed:      and 1,001 more failed; the JSON output lists all" in lines

    def test_not_capped_at_limit(self):
        """Exactly the maximum number of failures shows every line."""
        lines = summary_lines(_failed_roster(MAX_SUMMARY_LABELS), 1.0)

        failed = [line for line in lines if line.startswith("failed:")]
        assert MAX_SUMMARY_LABELS == len(failed)
        assert not any("more failed" in line for line in failed)

    def test_fetch(self, capsys, server, tmp_path):
        """A run with many failures prints a bounded summary and exits 3."""
        codes = [f"FailingCode{number:05d}" for number in range(30)]
        path = tmp_path / "codes.txt"
        path.write_text("\n".join(codes) + "\n", encoding="utf-8")
        server.add_fault(Fault.status(500))

        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--retries", "0")
        )

        failed = [line for line in err.splitlines() if line.startswith("failed:")]
        assert EXIT_FAILED == status
        assert "departments: 30 (0 ok, 0 empty, 30 failed)" in err
        assert 21 == len(failed)
        assert failed[-1].endswith("and 10 more failed; the JSON output lists all")
        for code in codes:
            assert code not in err


class TestConcurrencyBound:
    def test_above_open_file_limit(self, capsys, monkeypatch):
        """A pool past the open-file limit is a usage error naming the option."""
        resource = pytest.importorskip("resource")
        monkeypatch.setattr(resource, "getrlimit", lambda _kind: (100, 100))

        status = main(["demo", "--concurrency", "50", "--format", "json"])

        err = " ".join(capsys.readouterr().err.split())
        assert EXIT_USAGE == status
        assert "--concurrency 50 is above what this process can open" in err
        assert "lower --concurrency to 36 or less" in err
        assert "max_connections" not in err

    @pytest.mark.parametrize("command", ["fetch", "demo"])
    def test_above_maximum(self, capsys, command):
        """More than the maximum is a usage error that gives the reason."""
        status = main([command, "--concurrency", str(MAX_CONCURRENCY + 1)])

        err = " ".join(capsys.readouterr().err.split())
        assert EXIT_USAGE == status
        assert f"expected at most {MAX_CONCURRENCY} requests in flight" in err
        assert "each connection is an open file" in err

    def test_maximum_accepted(self, monkeypatch):
        """The maximum itself reaches the fetch settings."""
        settings = []

        async def run_fetch(_codes, fetch_settings, _console, **_kwargs):
            settings.append(fetch_settings)
            return EXIT_OK

        monkeypatch.setattr(_cli, "run_fetch", run_fetch)
        monkeypatch.setenv("VOICENTER_CODES", f"s={SENTINEL}")

        status = main(
            [
                "fetch",
                "--base-url",
                "http://127.0.0.1:9",
                "--concurrency",
                str(MAX_CONCURRENCY),
            ]
        )

        assert EXIT_OK == status
        assert MAX_CONCURRENCY == settings[0].concurrency

    def test_help(self, capsys):
        """The help gives the maximum and its reason."""
        main(["fetch", "--help"])

        out = " ".join(capsys.readouterr().out.split())
        assert f"at most {MAX_CONCURRENCY}, because each connection is an open" in out


# Words of the library's advice that name a Python parameter, or a setting
# that the command line calls by another name.
LIBRARY_WORDS = (
    "request_deadline",
    "max_connections",
    "max_requests_per_second",
    "fan-out deadline",
    "pool timeout",
    "the timeout",
    "raise deadline",
    "the concurrency",
)


def _deadline_error() -> VoicenterError:
    return _resilience.deadline_error("sales")


def _not_sent_error() -> VoicenterError:
    async def check() -> None:
        _resilience.FanoutGuard(deadline=float("-inf")).check("sales")

    with pytest.raises(VoicenterError) as caught:
        asyncio.run(check())
    return caught.value


def _rate_limited_error() -> VoicenterError:
    request = httpx.Request("POST", "http://127.0.0.1:9/")
    response = httpx.Response(429, headers={"Retry-After": "1"}, request=request)
    with pytest.raises(VoicenterError) as caught:
        _http.check_status(response, label="sales", code=SENTINEL)
    return caught.value


def _pool_timeout_error() -> VoicenterError:
    return _http.translate_httpx_error(
        httpx.PoolTimeout("no connection"),
        label="sales",
        code=SENTINEL,
        host="127.0.0.1",
    )


def _read_timeout_error() -> VoicenterError:
    return _http.translate_httpx_error(
        httpx.ReadTimeout("slow"), label="sales", code=SENTINEL, host="127.0.0.1"
    )


class TestCommandLineAdvice:
    def test_json_error_message(self):
        """JSON error messages name the command line's options too."""
        from voicenter_async import RequestTimeoutError
        from voicenter_async._output import department_record

        error = RequestTimeoutError(
            "x did not finish before its deadline; raise request_deadline or "
            "the fan-out deadline if the service is slow",
            label="x",
        )

        record = department_record(DepartmentResult(label="x", error=error))

        assert "raise --request-deadline or --deadline" in record["error"]["message"]

    @pytest.mark.parametrize(
        ("make_error", "advice"),
        [
            (_deadline_error, "raise --request-deadline or --deadline"),
            (_not_sent_error, "raise --deadline or --concurrency, or fetch fewer"),
            (_rate_limited_error, "it asked to wait 1 s; lower --concurrency"),
            (_pool_timeout_error, "lower --concurrency or raise --timeout"),
            (_read_timeout_error, "raise --timeout if the service is slow"),
        ],
        ids=["request-deadline", "not-sent", "429", "pool-timeout", "timeout"],
    )
    def test_library_errors(self, make_error, advice):
        """Each known advice of the library is reworded in its own message."""
        shown = command_line_advice(make_error().message)

        assert advice in shown
        for word in LIBRARY_WORDS:
            assert word not in shown

    def test_pool_size_warning(self):
        """The session's pool-size warning is reworded too."""
        session = VoicenterSession(max_connections=1)
        with pytest.warns(VoicenterWarning) as caught:
            session._effective_concurrency(2)

        shown = command_line_advice(str(caught[0].message))

        assert "raise --concurrency to send more at once" in shown
        assert "max_connections" not in shown

    def test_other_text_kept(self):
        """A message without known advice is returned unchanged."""
        message = "GetExtensions request for sales failed; check the base URL"

        assert message == command_line_advice(message)

    def test_error_line(self):
        """Error and warning lines of the console name command-line options."""
        stream = io.StringIO()
        console = _cli.Console(stdout=io.StringIO(), stderr=stream, progress=False)

        console.error(_deadline_error().message)
        console.warn(_pool_timeout_error().message)

        lines = stream.getvalue().splitlines()
        assert "raise --request-deadline or --deadline" in lines[0]
        assert "lower --concurrency or raise --timeout" in lines[1]

    def test_log_line(self):
        """-v log lines name command-line options."""
        formatter = _cli._OneLineFormatter("%(message)s")
        record = logging.LogRecord(
            "voicenter_async",
            logging.INFO,
            __file__,
            1,
            "%s",
            (_rate_limited_error().message,),
            None,
        )

        shown = formatter.format(record)

        assert shown.endswith("lower --concurrency")

    def test_rate_limited(self, capsys, server, tmp_path):
        """HTTP 429 in the summary names --concurrency, not a rate setting."""
        server.add_fault(Fault.status(429, retry_after=1), code=SENTINEL)
        path = codes_file(tmp_path, server)

        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--retries", "0")
        )

        assert EXIT_PARTIAL == status
        assert re.search(r"failed: +sentinel: .*; lower --concurrency$", err, re.M)
        assert "max_requests_per_second" not in err

    def test_request_deadline(self, capsys, server, tmp_path):
        """A request past its deadline names --request-deadline and --deadline."""
        server.add_fault(Fault.latency(10), code=SENTINEL)
        path = codes_file(tmp_path, server)

        status, _, err = check_run(
            capsys, server, *fetch_args(server, path, "--request-deadline", "0.3")
        )

        assert EXIT_PARTIAL == status
        assert "raise --request-deadline or --deadline if the service" in err
        for word in LIBRARY_WORDS:
            assert word not in err

    def test_fanout_deadline(self, capsys, server, tmp_path):
        """Departments left unsent by --deadline name --deadline and --concurrency."""
        server.add_fault(Fault.latency(10), code=SENTINEL)
        path = tmp_path / "codes.txt"
        later = [d.code for d in server.directory if d.code != SENTINEL]
        path.write_text(
            "\n".join([f"sentinel={SENTINEL}", *later]) + "\n", encoding="utf-8"
        )

        status, _, err = check_run(
            capsys,
            server,
            *fetch_args(server, path, "--deadline", "0.3", "--concurrency", "1"),
        )

        assert EXIT_FAILED == status
        assert "raise --deadline or --concurrency, or fetch fewer codes" in err
        for word in LIBRARY_WORDS:
            assert word not in err


class _Unwritable(io.StringIO):
    """A stdout whose writes fail as on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone, as when piped to ``head``."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


class _ClosingOnWrite(io.StringIO):
    """A stdout that is closed by the time the roster is written."""

    def write(self, text: str) -> int:
        self.close()
        return super().write(text)


class _BrokenWriter(io.StringIO):
    """A stdout whose write fails with ValueError while it is open."""

    def write(self, text: str) -> int:
        raise ValueError("not a stream problem")


class TestClosedStreams:
    @pytest.fixture(autouse=True)
    def _codes(self, monkeypatch, server):
        monkeypatch.setenv("VOICENTER_CODES", f"s={SENTINEL}")
        monkeypatch.setenv("VOICENTER_BASE_URL", server.base_url)

    def test_stdout_missing(self, capsys, monkeypatch, server):
        """A missing stdout is a usage error on stderr, before any request."""
        monkeypatch.setattr(sys, "stdout", None)

        status = main(["fetch"])

        err = capsys.readouterr().err
        assert EXIT_USAGE == status
        assert "error: stdout is closed, so the roster cannot be written" in err
        assert 1 == len(err.splitlines())
        assert 0 == server.stats.requests_served

    def test_stderr_missing(self, capsys, monkeypatch, server):
        """A missing stderr exits 2 before any request, writing nothing."""
        monkeypatch.setattr(sys, "stderr", None)

        status = main(["fetch"])

        out = capsys.readouterr().out
        assert EXIT_USAGE == status
        assert "" == out
        assert 0 == server.stats.requests_served

    def test_both_missing(self, monkeypatch, server):
        """With neither stream, the status alone reports the problem."""
        monkeypatch.setattr(sys, "stdout", None)
        monkeypatch.setattr(sys, "stderr", None)

        status = main(["fetch"])

        assert EXIT_USAGE == status
        assert 0 == server.stats.requests_served

    def test_closed_file_object(self, capsys, monkeypatch):
        """A stdout object that was closed counts as closed."""
        closed = io.StringIO()
        closed.close()
        monkeypatch.setattr(sys, "stdout", closed)

        status = main(["fetch"])

        assert EXIT_USAGE == status
        assert "stdout is closed" in capsys.readouterr().err

    def test_closed_descriptor(self, capsys, monkeypatch):
        """A stdout whose file descriptor was closed counts as closed."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        stream = open(write_end, "w", closefd=False)  # noqa: SIM115
        os.close(write_end)
        monkeypatch.setattr(sys, "stdout", stream)
        try:
            status = main(["fetch"])
        finally:
            stream.close()

        assert EXIT_USAGE == status
        assert "stdout is closed" in capsys.readouterr().err

    def test_write_fails(self, capsys, monkeypatch):
        """A failing write of the roster is one line and status 3."""
        monkeypatch.setattr(sys, "stdout", _Unwritable())

        status = main(["fetch", "--format", "csv"])

        err = capsys.readouterr().err
        assert EXIT_FAILED == status
        assert "error: cannot write the roster to stdout: No space left" in err
        assert "unexpected" not in err

    def test_pipe_closed_during_write(self, capsys, monkeypatch):
        """A reader that has gone still ends the run with status 141."""
        monkeypatch.setattr(sys, "stdout", _ClosedPipe())

        status = main(["fetch", "--format", "csv"])

        assert EXIT_PIPE_CLOSED == status
        assert "error:" not in capsys.readouterr().err

    def test_closed_during_write(self, capsys, monkeypatch):
        """A stdout closed by the time of writing is named as closed."""
        monkeypatch.setattr(sys, "stdout", _ClosingOnWrite())

        status = main(["fetch", "--format", "csv"])

        err = capsys.readouterr().err
        assert EXIT_FAILED == status
        assert "error: cannot write the roster to stdout: stdout is closed" in err

    def test_other_value_error(self, capsys, monkeypatch):
        """A ValueError from an open stdout stays an unexpected error."""
        monkeypatch.setattr(sys, "stdout", _BrokenWriter())

        status = main(["fetch", "--format", "csv"])

        err = capsys.readouterr().err
        assert EXIT_FAILED == status
        assert "error: unexpected ValueError: not a stream problem" in err

    def test_stdin_missing(self, capsys, monkeypatch):
        """A closed stdin is no source of codes, and the error names it."""
        monkeypatch.delenv("VOICENTER_CODES")
        monkeypatch.setattr(sys, "stdin", None)

        status = main(["fetch"])

        err = capsys.readouterr().err
        assert EXIT_USAGE == status
        assert "VOICENTER_CODES (unset) or stdin (closed)" in err

    def test_stdin_dash_missing(self, capsys, monkeypatch):
        """--codes-file - with a closed stdin is a usage error."""
        monkeypatch.setattr(sys, "stdin", None)

        status = main(["fetch", "--codes-file", "-"])

        err = capsys.readouterr().err
        assert EXIT_USAGE == status
        assert "cannot read codes from stdin for --codes-file -: stdin is" in err


@pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX shell")
class TestClosedStreamsProcess:
    def run(self, server, redirect):
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("VOICENTER_")
        }
        environment["VOICENTER_CODES"] = f"s={SENTINEL}"
        environment["VOICENTER_BASE_URL"] = server.base_url
        script = f'exec "$0" -m voicenter_async fetch --format csv {redirect}'
        return subprocess.run(
            ["/bin/sh", "-c", script, sys.executable],
            capture_output=True,
            env=environment,
            timeout=60,
            check=False,
        )

    def test_stdout_closed(self, server):
        """>&- exits 2 with one line on stderr and sends nothing."""
        result = self.run(server, ">&-")

        assert EXIT_USAGE == result.returncode
        assert b"error: stdout is closed" in result.stderr
        assert b"Traceback" not in result.stderr
        assert 0 == server.stats.requests_served

    def test_stderr_closed(self, server):
        """2>&- exits 2 and leaves stdout, the roster's file, empty."""
        result = self.run(server, "2>&-")

        assert EXIT_USAGE == result.returncode
        assert b"" == result.stdout

    @pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
    def test_disk_full(self, server):
        """A full device ends with one line and status 3, not a flush error."""
        result = self.run(server, ">/dev/full")

        assert EXIT_FAILED == result.returncode
        assert b"cannot write the roster to stdout: No space left" in result.stderr
        assert b"Exception ignored" not in result.stderr


class _InterruptingImport:
    """A meta path finder that acts as Ctrl-C while one module is imported."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            raise KeyboardInterrupt
        return


class TestInterruptAtStart:
    def test_during_import(self, capsys, monkeypatch):
        """Ctrl-C while the command line is imported exits 130 with one line."""
        monkeypatch.delitem(sys.modules, "voicenter_async._cli")
        monkeypatch.setattr(
            sys, "meta_path", [_InterruptingImport("voicenter_async._cli")]
        )

        status = main(["--version"])

        err = capsys.readouterr().err
        assert EXIT_INTERRUPTED == status
        assert "voicenter-async: error: interrupted\n" == err

    def test_during_parsing(self, capsys, monkeypatch):
        """Ctrl-C before the command starts exits 130 with one line."""
        monkeypatch.setattr(_cli, "build_parser", _raise_interrupt)

        status = main(["fetch"])

        assert EXIT_INTERRUPTED == status
        assert "error: interrupted" in capsys.readouterr().err

    def test_without_stderr(self, monkeypatch):
        """With stderr closed, the interrupt still exits 130."""
        monkeypatch.setattr(_cli, "build_parser", _raise_interrupt)
        monkeypatch.setattr(sys, "stderr", None)

        assert EXIT_INTERRUPTED == main(["fetch"])

    def test_unwritable_stderr(self, monkeypatch):
        """A stderr that fails to take the line still leaves status 130."""
        monkeypatch.setattr(_cli, "build_parser", _raise_interrupt)
        monkeypatch.setattr(sys, "stderr", _Unwritable())

        assert EXIT_INTERRUPTED == main(["fetch"])

    def test_constant(self):
        """The early status equals the command line's own."""
        assert EXIT_INTERRUPTED == voicenter_main._EXIT_INTERRUPTED

    def test_process(self):
        """python -m voicenter_async interrupted in its imports prints no traceback."""
        script = (
            "import runpy, sys\n"
            "class Interrupt:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'voicenter_async._cli':\n"
            "            raise KeyboardInterrupt\n"
            "import voicenter_async\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "sys.argv = ['voicenter-async', '--version']\n"
            "runpy.run_module('voicenter_async', run_name='__main__')\n"
        )

        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            timeout=60,
            check=False,
        )

        assert EXIT_INTERRUPTED == result.returncode
        assert b"error: interrupted" in result.stderr
        assert b"Traceback" not in result.stderr


def _raise_interrupt():
    raise KeyboardInterrupt
