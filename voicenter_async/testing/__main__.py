"""Run the emulator as a process: ``python -m voicenter_async.testing``.

The first line on stdout is the base URL, such as ``http://127.0.0.1:54321``.
The process serves ``sample_organization(seed, departments, ...)``, so a
benchmark can rebuild the same directory, codes included, in its own process.
It runs until SIGINT or SIGTERM, then writes a summary of the counters to
stderr and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from ._faults import Fault, FaultRule
from ._org import sample_organization
from ._server import VoicenterEmulator


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m voicenter_async.testing",
        description="Serve a made-up GetExtensions API on 127.0.0.1.",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 (default) picks a free one"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the sample data (default 0)"
    )
    parser.add_argument(
        "--departments", type=int, default=40, help="number of departments (default 40)"
    )
    parser.add_argument(
        "--extensions-per-department",
        type=int,
        default=10,
        help="extensions in each department (default 10)",
    )
    parser.add_argument(
        "--organizations",
        type=int,
        default=1,
        help="organizations the departments are dealt to (default 1)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="delay added to every response, in seconds (default 0)",
    )
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="upper bound of a random extra delay, in seconds (default 0)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="close keep-alive connections idle this many seconds (default never)",
    )
    parser.add_argument(
        "--max-requests-per-connection",
        type=int,
        default=None,
        help="close a connection after this many requests (default no limit)",
    )
    parser.add_argument(
        "--request-log-limit",
        type=int,
        default=1000,
        help="recent requests kept in memory (default 1000)",
    )

    return parser


def build_emulator(args: argparse.Namespace) -> VoicenterEmulator:
    """Create the emulator the parsed command line describes."""
    directory = sample_organization(
        args.seed,
        args.departments,
        args.extensions_per_department,
        organizations=args.organizations,
    )
    faults = []
    if args.latency > 0 or args.jitter > 0:
        faults.append(FaultRule(Fault.latency(args.latency, jitter=args.jitter)))

    return VoicenterEmulator(
        directory,
        port=args.port,
        faults=faults,
        idle_timeout=args.idle_timeout,
        max_requests_per_connection=args.max_requests_per_connection,
        request_log_limit=args.request_log_limit,
        seed=args.seed,
    )


async def serve(
    emulator: VoicenterEmulator, stop: asyncio.Event, out: TextIO, err: TextIO
) -> None:
    """Run ``emulator`` until ``stop`` is set, printing its URL and summary."""
    async with emulator:
        # Encode every department before announcing the URL, so the first
        # request for each one costs no more than the next.
        emulator.directory.encode_all()
        print(emulator.base_url, file=out, flush=True)
        await stop.wait()
        stats = emulator.stats

    print(
        f"connections_opened={stats.connections_opened} "
        f"requests_served={stats.requests_served} "
        f"peak_in_flight={stats.peak_in_flight} "
        f"handler_errors={stats.handler_errors}",
        file=err,
        flush=True,
    )


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows event loops have no signal handlers; Ctrl+C still stops
        # the process there, through KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)

    await serve(build_emulator(args), stop, sys.stdout, sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator process; return the exit status.

    Raises:
        SystemExit: The arguments are invalid.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        build_emulator(args)
    except ValueError as error:
        parser.error(str(error))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))

    return 0


if __name__ == "__main__":
    sys.exit(main())
