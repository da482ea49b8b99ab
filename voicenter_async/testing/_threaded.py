"""Run the emulator on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from types import TracebackType

from ._faults import Fault, FaultRule
from ._org import Directory
from ._server import VoicenterEmulator
from ._stats import EmulatorStats

_START_TIMEOUT = 10.0


class ThreadedEmulator:
    """A :class:`VoicenterEmulator` in a background thread, for sync code.

    The thread runs its own event loop, so the emulator works with sync
    clients, with code that runs its own loop, and with code that blocks the
    caller's loop. It takes the same arguments as :class:`VoicenterEmulator`
    and offers the same ``base_url``, ``stats`` and fault methods, all safe
    to call from any thread::

        with ThreadedEmulator(sample_organization()) as emulator:
            httpx.get(f"{emulator.base_url}/Comet/api/GetExtensions", ...)
    """

    def __init__(
        self,
        directory: Directory | None = None,
        *,
        port: int = 0,
        faults: Iterable[FaultRule] = (),
        idle_timeout: float | None = None,
        max_requests_per_connection: int | None = None,
        request_log_limit: int | None = 100_000,
        seed: int = 0,
    ) -> None:
        self.emulator = VoicenterEmulator(
            directory,
            port=port,
            faults=faults,
            idle_timeout=idle_timeout,
            max_requests_per_connection=max_requests_per_connection,
            request_log_limit=request_log_limit,
            seed=seed,
        )
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<ThreadedEmulator {self.emulator!r}>"

    def __enter__(self) -> ThreadedEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def directory(self) -> Directory:
        """The departments the emulator serves."""
        return self.emulator.directory

    @property
    def base_url(self) -> str:
        """The URL to send requests to; see :attr:`VoicenterEmulator.base_url`."""
        return self.emulator.base_url

    @property
    def stats(self) -> EmulatorStats:
        """A snapshot of the counters; see :attr:`VoicenterEmulator.stats`."""
        return self.emulator.stats

    def reset_stats(self) -> None:
        """Zero the counters; see :meth:`VoicenterEmulator.reset_stats`."""
        self.emulator.reset_stats()

    def add_fault(
        self, fault: Fault, *, code: str | None = None, times: int | None = None
    ) -> FaultRule:
        """Inject a fault; see :meth:`VoicenterEmulator.add_fault`."""
        return self.emulator.add_fault(fault, code=code, times=times)

    def remove_fault(self, rule: FaultRule) -> None:
        """Remove a fault rule; see :meth:`VoicenterEmulator.remove_fault`."""
        self.emulator.remove_fault(rule)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.emulator.clear_faults()

    def start(self) -> None:
        """Start the thread and wait until the server listens.

        Raises:
            RuntimeError: The emulator is already started, or its thread did
                not start listening within 10 seconds.
            OSError: The port is in use.
        """
        if self._thread is not None:
            msg = "The threaded emulator is already started."
            raise RuntimeError(msg)

        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name="voicenter-emulator", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            msg = f"The emulator thread did not start within {_START_TIMEOUT} s."
            raise RuntimeError(msg)
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def close(self) -> None:
        """Stop the server, close its connections and join the thread.

        Calling it again, or before :meth:`start`, does nothing.
        """
        if self._thread is None:
            return

        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None
        self._loop = None
        self._stop = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            # start() re-raises it in the caller's thread.
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.emulator:
            self._ready.set()
            await self._stop.wait()
