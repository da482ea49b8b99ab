"""The ``voicenter-async`` command line: ``fetch`` and ``demo``.

Both commands end in `run_fetch`, so the demo exercises exactly the code
path that fetches real departments, only pointed at a local emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import ipaddress
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import NoReturn, TextIO

import attrs
import httpx

from ._codes import (
    ENV_CODES,
    CodeEntry,
    CodesInputError,
    looks_like_code,
    merge_entries,
    parse_entry,
    parse_env_codes,
    quote_input,
    read_codes_file,
    read_stream,
)
from ._http import Method
from ._models import Roster
from ._output import (
    FORMATS,
    command_line_advice,
    printable,
    summary_lines,
    write_roster,
)
from ._progress import Progress
from ._secrets import mask_text
from ._session import DEFAULT_BASE_URL, DEFAULT_REQUEST_DEADLINE, VoicenterSession
from ._stats import SessionStats
from ._version import __version__
from .testing import Fault, VoicenterEmulator, sample_organization

__all__ = [
    "EXIT_ALL_EMPTY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "MAX_CONCURRENCY",
    "FetchSettings",
    "build_parser",
    "exit_status",
    "main",
    "run_fetch",
]

PROG = "voicenter-async"

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_ALL_EMPTY = 4
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141

ENV_BASE_URL = "VOICENTER_BASE_URL"
DEFAULT_CONCURRENCY = 10
# Each pooled connection is an open file, and 1024 open files per process is
# a common default soft limit (``ulimit -n``), so the command line stops at
# 1000. The library also compares the pool size with the process's own limit.
MAX_CONCURRENCY = 1000
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2

DEMO_DEPARTMENTS = 40
DEMO_MAX_DEPARTMENTS = 10_000
# The emulator delays each demo department's response by a fixed time drawn
# from this range, in seconds, so that requests overlap as they do in real use.
DEMO_LATENCY = (0.020, 0.080)

EXIT_STATUS_HELP = f"""\
exit status:
  {EXIT_OK}    every department was fetched
  {EXIT_PARTIAL}    some departments failed; the others are in the output
  {EXIT_USAGE}    invalid options, the codes could not be read, or stdout or stderr
       is closed, as after '>&-'
  {EXIT_FAILED}    every department failed, the roster could not be written to
       stdout, or the run stopped on an unexpected error
  {EXIT_ALL_EMPTY}    no department failed but every one came back empty, which usually
       means wrong codes, since the service returns an empty list for those
  {EXIT_INTERRUPTED}  interrupted with Ctrl-C
  {EXIT_PIPE_CLOSED}  stdout was closed before the output was written (as by 'head')
"""

FETCH_DESCRIPTION = f"""\
Fetch the extensions of many departments concurrently and print the merged
roster on stdout, with a summary on stderr.

Codes are read from, in this order of precedence:
  --codes-file PATH and --code, when given (both may repeat);
  the {ENV_CODES} environment variable, comma- or newline-separated;
  stdin, when it is not a terminal.
A codes file has one code a line, or 'label=code'. Blank lines and lines
starting with '#' are skipped. Departments without a label are named by the
code's fingerprint (dept- and 8 hex digits). No output ever shows a code.
"""

DEMO_DESCRIPTION = """\
Start a local emulator on 127.0.0.1 with a made-up organization, fetch every
department through the same code path as 'fetch', and print the roster and
a summary that shows how many TCP connections served the requests. Nothing
is sent to any other host.
"""


class UsageError(Exception):
    """The command line or its input is invalid; exit with `EXIT_USAGE`."""


class OutputError(Exception):
    """Writing the roster to stdout failed; exit with `EXIT_FAILED`."""


@attrs.frozen
class FetchSettings:
    """Settings of `run_fetch`: the service, the request options and the format.

    Attributes:
        base_url: Scheme and host of the GetExtensions service.
        method: ``"POST"`` or ``"GET"``.
        concurrency: Requests in flight at once, also the pool size.
        timeout: Seconds for connecting, each read and write, and waiting
            for a pooled connection.
        request_deadline: Seconds one department's request may take, every
            attempt and backoff included.
        deadline: Seconds the whole fan-out may take, or None for no limit.
        max_retries: Retries of a transient failure after the first attempt.
        show_all: ``showAll`` for every request.
        output_format: One of `FORMATS`.
    """

    base_url: str = DEFAULT_BASE_URL
    method: Method = "POST"
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    deadline: float | None = None
    max_retries: int = DEFAULT_RETRIES
    show_all: bool = False
    output_format: str = "json"


@attrs.frozen
class Console:
    """The streams a command writes to, and whether to draw progress."""

    stdout: TextIO
    stderr: TextIO
    progress: bool

    def warn(self, message: str) -> None:
        """Write a warning line on stderr, without control characters.

        Advice that names a library parameter is reworded to name the
        command-line option, by `command_line_advice`.
        """
        self.stderr.write(f"{PROG}: warning: {_terminal_text(message)}\n")

    def error(self, message: str) -> None:
        """Write an error line on stderr, like `warn`."""
        self.stderr.write(f"{PROG}: error: {_terminal_text(message)}\n")


def _terminal_text(message: str) -> str:
    return printable(command_line_advice(message))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Args:
        argv: The arguments without the program name; None reads
            ``sys.argv``.

    Returns:
        The exit status, as listed by ``voicenter-async --help``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits after --help, --version and usage errors.
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    if _is_closed(sys.stdout) or _is_closed(sys.stderr):
        return _report_closed_streams(sys.stdout, sys.stderr)
    stdout = _utf8(sys.stdout, errors="replace")
    stderr = _utf8(sys.stderr, errors="backslashreplace")
    console = Console(
        stdout=stdout,
        stderr=stderr,
        progress=_is_terminal(stderr) and not args.verbose,
    )
    command: Callable[[argparse.Namespace, Console], int] = args.command_function
    with _cli_logging(stderr, verbose=args.verbose):
        try:
            return command(args, console)
        except KeyboardInterrupt:
            console.error("interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            _discard_stdout()
            return EXIT_PIPE_CLOSED


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for ``voicenter-async`` and its subcommands."""
    parser = _Parser(
        prog=PROG,
        description="Fetch Voicenter extension lists with voicenter-async.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    _add_verbose_option(parser, default=False)
    commands = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True
    )
    common = _common_options()

    fetch = commands.add_parser(
        "fetch",
        parents=[common],
        help="fetch many departments and print the merged roster",
        description=FETCH_DESCRIPTION,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    _add_fetch_options(fetch)
    fetch.set_defaults(command_function=_fetch_command)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="fetch a made-up organization from a local emulator",
        description=DEMO_DESCRIPTION,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    _add_demo_options(demo)
    demo.set_defaults(command_function=_demo_command)

    return parser


def _common_options() -> _Parser:
    common = _Parser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--format",
        dest="output_format",
        choices=FORMATS,
        help=(
            "output format on stdout (default: table when stdout is a "
            "terminal, otherwise json); table shows the main columns, the "
            "others carry every field"
        ),
    )
    common.add_argument(
        "--concurrency",
        type=_concurrency,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=(
            "requests in flight at once, which is also the number of pooled "
            f"connections; at most {MAX_CONCURRENCY}, because each connection "
            f"is an open file (default: {DEFAULT_CONCURRENCY})"
        ),
    )
    # A subcommand's default would overwrite a -v given before the
    # subcommand, so here the option sets the value only when it is given.
    _add_verbose_option(common, default=argparse.SUPPRESS)

    return common


def _add_verbose_option(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help=(
            "log every request and retry of the library on stderr, in place of progress"
        ),
    )


def _add_fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--codes-file",
        dest="codes_files",
        action="append",
        default=[],
        metavar="PATH",
        help="read codes from a UTF-8 file, one a line; '-' reads stdin",
    )
    parser.add_argument(
        "--code",
        dest="codes",
        action="append",
        default=[],
        metavar="[LABEL=]CODE",
        help=(
            "one code; prints a warning, because other users can read it in "
            "the process list"
        ),
    )
    parser.add_argument(
        "--method",
        type=str.upper,
        choices=("POST", "GET"),
        default="POST",
        help=(
            "HTTP method (default: POST, which sends the code in the body; "
            "GET puts it in the URL, where proxies and access logs record it)"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=(
            "seconds allowed for connecting, for each single read and write, "
            "and for waiting for a pooled connection; this bounds each step, "
            "not the whole request, so see --request-deadline "
            f"(default: {DEFAULT_TIMEOUT:g})"
        ),
    )
    parser.add_argument(
        "--request-deadline",
        type=_positive_float,
        default=DEFAULT_REQUEST_DEADLINE,
        metavar="SECONDS",
        help=(
            "seconds one department's request may take in total, every "
            "attempt, backoff and slow body included "
            f"(default: {DEFAULT_REQUEST_DEADLINE:g})"
        ),
    )
    parser.add_argument(
        "--deadline",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help=(
            "seconds the whole run may take for all departments together; "
            "departments not finished by then fail with a timeout "
            "(default: no limit)"
        ),
    )
    parser.add_argument(
        "--retries",
        dest="max_retries",
        type=_retries,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=(
            "retries of a connection error, timeout or HTTP 429, 502, 503 or "
            f"504 after the first attempt; 0 turns retrying off "
            f"(default: {DEFAULT_RETRIES})"
        ),
    )
    parser.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help=(
            "http:// or https:// URL of the service: scheme, host and an "
            f"optional port and path (default: ${ENV_BASE_URL} when set and "
            f"not empty, otherwise {DEFAULT_BASE_URL})"
        ),
    )
    parser.add_argument(
        "--show-all",
        action="store_true",
        help=(
            "ask each code for its whole organization rather than its own "
            "department (default: own department only)"
        ),
    )


def _add_demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--departments",
        type=_demo_departments,
        default=DEMO_DEPARTMENTS,
        metavar="N",
        help=(
            "departments in the made-up organization, 10 extensions each "
            f"(default: {DEMO_DEPARTMENTS}, at most {DEMO_MAX_DEPARTMENTS})"
        ),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the made-up data and the latencies (default: 0)",
    )


def _fetch_command(args: argparse.Namespace, console: Console) -> int:
    try:
        # The base URL is checked first, so that a mistake there does not
        # consume codes piped on stdin.
        base_url = _chosen_base_url(args.base_url, os.environ)
        codes = gather_codes(
            codes_files=args.codes_files,
            command_line_codes=args.codes,
            environ=os.environ,
            stdin=sys.stdin,
            console=console,
        )
    except (CodesInputError, UsageError) as exc:
        console.error(str(exc))
        return EXIT_USAGE

    if _sends_in_clear(base_url):
        console.warn(
            f"{_origin(base_url)} uses plain http, so department codes cross "
            "the network unencrypted; use https"
        )
    settings = FetchSettings(
        base_url=base_url,
        method=args.method,
        concurrency=args.concurrency,
        timeout=args.timeout,
        request_deadline=args.request_deadline,
        deadline=args.deadline,
        max_retries=args.max_retries,
        show_all=args.show_all,
        output_format=_output_format(args.output_format, console.stdout),
    )

    return _run(run_fetch(codes, settings, console), console, codes.values())


def _demo_command(args: argparse.Namespace, console: Console) -> int:
    settings = FetchSettings(
        concurrency=args.concurrency,
        output_format=_output_format(args.output_format, console.stdout),
    )
    demo = run_demo(
        settings, departments=args.departments, seed=args.seed, console=console
    )

    return _run(demo, console, ())


def _run(
    command: Coroutine[object, object, int], console: Console, codes: Iterable[str]
) -> int:
    """Run a command's coroutine, turning an unexpected error into one line.

    The message is masked with every code of the run, in case the error
    quotes a request.
    """
    try:
        return asyncio.run(command)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except OutputError as exc:
        _discard_stdout()
        console.error(str(exc))
        return EXIT_FAILED
    except UsageError as exc:
        console.error(str(exc))
        return EXIT_USAGE
    except Exception as exc:
        # Any error ends as one line, because a traceback could quote a code.
        detail = mask_text(str(exc), *codes) or "no detail"
        console.error(f"unexpected {type(exc).__name__}: {detail}")
        return EXIT_FAILED


def gather_codes(
    *,
    codes_files: Sequence[str],
    command_line_codes: Sequence[str],
    environ: Mapping[str, str],
    stdin: TextIO | None,
    console: Console,
) -> dict[str, str]:
    """Collect the codes from the first source that is given.

    ``--codes-file`` and ``--code`` come first and combine, then
    `VOICENTER_CODES`, then stdin when it is open and not a terminal.

    Returns:
        A mapping of label to code, in input order.

    Raises:
        CodesInputError: A file cannot be read, an entry is malformed, or a
            label is reused.
        UsageError: No source contains any code, or ``--codes-file -`` is
            given while stdin is closed.
    """
    entries: list[CodeEntry] = []
    for path in codes_files:
        if path == "-":
            entries += read_stream(_open_stdin(stdin))
        else:
            entries += read_codes_file(path)
    if command_line_codes:
        console.warn(
            "--code shows the department code to every user who can list "
            f"processes; use --codes-file, stdin or {ENV_CODES} instead"
        )
        entries += [
            parse_entry(text, f"--code {number}")
            for number, text in enumerate(command_line_codes, start=1)
        ]

    searched = "--codes-file and --code"
    if not codes_files and not command_line_codes:
        entries, searched = _implicit_entries(environ, stdin)
    if not entries:
        msg = (
            f"no department codes found in {searched}; give them with "
            f"--codes-file PATH, on stdin, or in {ENV_CODES}"
        )
        raise UsageError(msg)

    return merge_entries(entries)


def _implicit_entries(
    environ: Mapping[str, str], stdin: TextIO | None
) -> tuple[list[CodeEntry], str]:
    if ENV_CODES in environ:
        return parse_env_codes(environ[ENV_CODES]), ENV_CODES
    if stdin is None or _is_closed(stdin):
        return [], f"{ENV_CODES} (unset) or stdin (closed)"
    if _is_terminal(stdin):
        return [], f"{ENV_CODES} (unset) or stdin (a terminal)"

    return read_stream(stdin), "stdin"


def _open_stdin(stdin: TextIO | None) -> TextIO:
    if stdin is None or _is_closed(stdin):
        msg = "cannot read codes from stdin for --codes-file -: stdin is closed"
        raise UsageError(msg)

    return stdin


async def run_fetch(
    codes: Mapping[str, str],
    settings: FetchSettings,
    console: Console,
    *,
    extra_summary: Callable[[], Sequence[str]] | None = None,
) -> int:
    """Fetch every department, print the roster and the summary.

    Args:
        codes: A mapping of label to code.
        settings: Where and how to fetch, and the output format.
        console: The streams to write to.
        extra_summary: Called after the fetch for more summary lines.

    Returns:
        The exit status for the roster; see `exit_status`.
    """
    progress = Progress(console.stderr, len(codes), enabled=console.progress)
    started = time.perf_counter()
    try:
        roster, stats = await _fetch_roster(codes, settings, progress)
    finally:
        progress.clear()
    elapsed = time.perf_counter() - started

    _write_output(roster, settings.output_format, console.stdout)
    lines = summary_lines(
        roster,
        elapsed,
        retries=stats.retries,
        output_format=settings.output_format,
    )
    if extra_summary is not None:
        lines += extra_summary()
    console.stderr.write("".join(f"{line}\n" for line in lines))
    console.stderr.flush()

    return exit_status(roster)


def _write_output(roster: Roster, output_format: str, stdout: TextIO) -> None:
    """Write the roster, turning a failed write into `OutputError`.

    A closed pipe still raises `BrokenPipeError`, which ends the run with
    `EXIT_PIPE_CLOSED` as a reader such as ``head`` expects.
    """
    try:
        write_roster(roster, output_format, stdout)
    except BrokenPipeError:
        raise
    except OSError as exc:
        msg = f"cannot write the roster to stdout: {exc.strerror or exc}"
        raise OutputError(msg) from None
    except ValueError:
        # A file object raises ValueError on a write after it was closed.
        if not stdout.closed:
            raise
        msg = "cannot write the roster to stdout: stdout is closed"
        raise OutputError(msg) from None


async def _fetch_roster(
    codes: Mapping[str, str], settings: FetchSettings, progress: Progress
) -> tuple[Roster, SessionStats]:
    try:
        session = VoicenterSession(
            base_url=settings.base_url,
            method=settings.method,
            max_connections=settings.concurrency,
            concurrency=settings.concurrency,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            request_deadline=settings.request_deadline,
        )
    except ValueError as exc:
        # The options passed their own checks, so what is left is a limit of
        # this machine, such as its open-file limit.
        raise UsageError(command_line_advice(str(exc))) from None
    async with session:
        progress.draw(force=True)

        roster = await session.fetch_departments(
            codes,
            show_all=settings.show_all,
            deadline=settings.deadline,
            on_result=progress.on_result,
        )

        return roster, session.stats


def exit_status(roster: Roster) -> int:
    """Return the exit status for a roster.

    `EXIT_OK` when no department failed and at least one has extensions,
    `EXIT_PARTIAL` when some failed, `EXIT_FAILED` when all failed, and
    `EXIT_ALL_EMPTY` when none failed but every one is empty. An empty
    department next to ones with extensions counts as a success.
    """
    failed = len(roster.failures)
    total = len(roster.departments)
    if failed and failed == total:
        return EXIT_FAILED
    if failed:
        return EXIT_PARTIAL
    if total and len(roster.empty_departments) == total:
        return EXIT_ALL_EMPTY

    return EXIT_OK


async def run_demo(
    settings: FetchSettings, *, departments: int, seed: int, console: Console
) -> int:
    """Serve a made-up organization on 127.0.0.1 and fetch it with `run_fetch`.

    Each department responds after its own delay from `DEMO_LATENCY`. The
    summary ends with the emulator's count of requests served and TCP
    connections opened, which shows the session reusing its connections.
    """
    directory = sample_organization(seed=seed, departments=departments)
    latency = random.Random(seed)  # noqa: S311 - demo latencies, not secrets
    async with VoicenterEmulator(directory, seed=seed) as emulator:
        for department in directory:
            delay = latency.uniform(*DEMO_LATENCY)
            emulator.add_fault(Fault.latency(delay), code=department.code)
        console.stderr.write(
            f"demo: serving {len(directory)} made-up departments on "
            f"{emulator.base_url}\n"
        )
        codes = _unique_labels((d.account_name, d.code) for d in directory)

        def pooling() -> list[str]:
            stats = emulator.stats
            return [
                f"pooling:     {stats.requests_served} requests over "
                f"{stats.connections_opened} TCP connections "
                f"(at most {stats.peak_in_flight} in flight)"
            ]

        return await run_fetch(
            codes,
            attrs.evolve(settings, base_url=emulator.base_url),
            console,
            extra_summary=pooling,
        )


def _unique_labels(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map label to code, numbering repeated labels ``name #2``, ``name #3``."""
    codes: dict[str, str] = {}
    for name, code in pairs:
        label = name
        number = 1
        while label in codes:
            number += 1
            label = f"{name} #{number}"
        codes[label] = code

    return codes


class _Parser(argparse.ArgumentParser):
    """An argument parser whose error messages never repeat a possible code.

    argparse quotes unrecognised arguments, invalid choices and values it
    cannot convert as given, and a code passed in the wrong place would end
    up on stderr. Unrecognised arguments are always masked, and the other
    values when they have the shape of a code.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        masked = printable(_mask_quoted_values(_mask_arguments(message)))
        self.exit(EXIT_USAGE, f"{self.prog}: error: {masked}\n")


_UNRECOGNIZED = "unrecognized arguments: "
# The value argparse quotes in "invalid choice: 'x'" and "invalid int value: 'x'".
_QUOTED_VALUE = re.compile(r"(invalid (?:choice|\w+ value): )('[^']*'|\"[^\"]*\")")


def _mask_quoted_values(message: str) -> str:
    def mask(match: re.Match[str]) -> str:
        value = match[2][1:-1]
        return match[1] + (quote_input(value) if looks_like_code(value) else match[2])

    return _QUOTED_VALUE.sub(mask, message)


def _mask_arguments(message: str) -> str:
    if not message.startswith(_UNRECOGNIZED):
        return message
    masked = [_mask_argument(token) for token in message[len(_UNRECOGNIZED) :].split()]

    return _UNRECOGNIZED + " ".join(masked) + " (values hidden, as they may be codes)"


def _mask_argument(token: str) -> str:
    if not token.startswith("-"):
        return "***"
    option, separator, _ = token.partition("=")

    return f"{option}=***" if separator else option


def _positive_int(text: str) -> int:
    return _whole_number(text, minimum=1)


def _concurrency(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_CONCURRENCY:
        msg = (
            f"expected at most {MAX_CONCURRENCY} requests in flight, got "
            f"{quote_input(text)}, because each connection is an open file "
            "and many systems let a process open only 1024 files"
        )
        raise argparse.ArgumentTypeError(msg)

    return value


def _retries(text: str) -> int:
    return _whole_number(text, minimum=0)


def _whole_number(text: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        msg = f"expected a whole number of at least {minimum}, got {quote_input(text)}"
        raise argparse.ArgumentTypeError(msg)

    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number of seconds, got {quote_input(text)}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 < value < float("inf"):
        msg = f"expected a number of seconds above 0, got {quote_input(text)}"
        raise argparse.ArgumentTypeError(msg)

    return value


def _demo_departments(text: str) -> int:
    value = _positive_int(text)
    if value > DEMO_MAX_DEPARTMENTS:
        msg = (
            f"expected at most {DEMO_MAX_DEPARTMENTS} departments, got "
            f"{quote_input(text)}"
        )
        raise argparse.ArgumentTypeError(msg)

    return value


def _chosen_base_url(option: str | None, environ: Mapping[str, str]) -> str:
    """Return the checked base URL from ``--base-url``, the environment or the default.

    An empty ``--base-url`` is an error, because it usually comes from an
    unset shell variable and must not select the production service. An
    empty `VOICENTER_BASE_URL` counts as unset.

    Raises:
        UsageError: The chosen URL is invalid.
    """
    if option is not None:
        return _check_base_url(option, "--base-url")
    from_environment = environ.get(ENV_BASE_URL, "")
    if from_environment:
        return _check_base_url(from_environment, ENV_BASE_URL)

    return DEFAULT_BASE_URL


# A host name in its ASCII form; httpx turns international names to "xn--".
_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _check_base_url(text: str, source: str) -> str:
    """Return ``text`` if it is an http(s) URL with a host, or raise `UsageError`.

    The port, when given, must be 1 to 65535, and a query or fragment is
    rejected because the session appends its own path and parameters. The
    message quotes the URL with any ``code=`` value masked, or not at all
    when it has the shape of a code.
    """
    shown = quote_input(mask_text(text))
    expected = "expected http:// or https:// and a host, as in https://example.com"
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        msg = f"invalid {source} {shown}: {mask_text(str(exc))}; {expected}"
        raise UsageError(msg) from None
    if url.scheme not in ("http", "https") or not url.host:
        msg = f"invalid {source} {shown}: {expected}"
        raise UsageError(msg)
    host = url.raw_host.decode("ascii")
    if not (_HOST_NAME.fullmatch(host) or _is_ip_address(host)):
        msg = f"invalid {source} {shown}: the host name is invalid"
        raise UsageError(msg)
    if url.port is not None and not 1 <= url.port <= 65535:
        msg = f"invalid {source} {shown}: the port must be 1 to 65535"
        raise UsageError(msg)
    if url.query or url.fragment:
        msg = (
            f"invalid {source} {shown}: remove the query and fragment, since "
            "the session adds its own path and parameters"
        )
        raise UsageError(msg)

    return text


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False

    return True


def _origin(base_url: str) -> str:
    """Return scheme, host and port of a URL, leaving out user info and path."""
    url = httpx.URL(base_url)
    port = "" if url.port is None else f":{url.port}"
    host = f"[{url.host}]" if ":" in url.host else url.host

    return f"{url.scheme}://{host}{port}"


def _sends_in_clear(base_url: str) -> bool:
    """Check whether a base URL sends codes unencrypted to another machine."""
    url = httpx.URL(base_url)
    if url.scheme != "http" or url.host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(url.host).is_loopback
    except ValueError:
        return True


def _output_format(chosen: str | None, stdout: TextIO) -> str:
    if chosen is not None:
        return chosen

    return "table" if _is_terminal(stdout) else "json"


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)

    return bool(isatty is not None and isatty())


def _is_closed(stream: TextIO | None) -> bool:
    """Return whether a standard stream is missing or closed, as after ``>&-``.

    Python sets a standard stream to None when its file descriptor is
    closed at start-up. A stream without a file descriptor, such as
    `io.StringIO`, counts as open unless it was closed.
    """
    if stream is None or stream.closed:
        return True
    try:
        os.fstat(stream.fileno())
    except io.UnsupportedOperation:
        return False
    except (OSError, ValueError):
        return True

    return False


def _report_closed_streams(stdout: TextIO | None, stderr: TextIO | None) -> int:
    """Write why the command cannot run on whichever stream is open.

    Returns:
        `EXIT_USAGE`, before any code is read or sent.
    """
    if not _is_closed(stdout):
        # Only stderr is closed. Nothing is written to stdout, where it
        # would end up in the caller's roster file.
        return EXIT_USAGE
    stream = stderr
    message = (
        "stdout is closed, so the roster cannot be written; run with "
        "stdout open, or redirect it to /dev/null to discard the roster"
    )
    if stream is not None and not _is_closed(stream):
        with contextlib.suppress(OSError, ValueError):
            stream.write(f"{PROG}: error: {message}\n")
            stream.flush()

    return EXIT_USAGE


def _utf8(stream: TextIO, *, errors: str) -> TextIO:
    """Switch a text stream to UTF-8, whatever the locale chose.

    Streams that cannot be reconfigured, such as `io.StringIO`, are
    returned as they are.
    """
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", errors=errors)

    return stream


def _discard_stdout() -> None:
    """Point stdout at devnull, so the interpreter's final flush cannot fail."""
    with contextlib.suppress(OSError, ValueError):
        target = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target)
        os.close(devnull)


@contextlib.contextmanager
def _cli_logging(stream: TextIO, *, verbose: bool) -> Iterator[None]:
    """Route every log record for the length of a command.

    Without ``verbose`` nothing is logged, because the summary reports
    every failure and empty department and counts the retries. A handler on
    the root logger also keeps Python's last-resort handler from printing
    bare messages of other libraries. With ``verbose``, the library's records
    down to DEBUG and other libraries' warnings are written to ``stream`` in
    one format. stamina's own record of each retry is dropped in both modes,
    because the library logs every retry with the department's label.
    """
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.NullHandler()
    library_level = logging.DEBUG if verbose else logging.WARNING
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            _routed("voicenter_async", handler, library_level, propagate=False)
        )
        stack.enter_context(
            _routed("stamina", logging.NullHandler(), logging.WARNING, propagate=False)
        )
        stack.enter_context(_routed("", handler, logging.WARNING, propagate=True))
        yield


class _OneLineFormatter(logging.Formatter):
    """Format a record as one line without control characters.

    Labels come from the user's input and bodies from the server, so either
    could carry terminal escape sequences. Advice in the message names
    command-line options, as on the summary.
    """

    def format(self, record: logging.LogRecord) -> str:
        return _terminal_text(super().format(record))


@contextlib.contextmanager
def _routed(
    name: str, handler: logging.Handler, level: int, *, propagate: bool
) -> Iterator[None]:
    """Attach ``handler`` to a logger and set its level, then restore both."""
    logger = logging.getLogger(name)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
