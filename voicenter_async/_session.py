"""The pooled async session: one httpx client shared by every code."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Iterable, Mapping
from types import TracebackType

import httpx

from ._errors import DepartmentsFailedError, SessionStateError
from ._fanout import plan_jobs, run_jobs, validate_code
from ._http import Method, build_request, check_status, translate_httpx_error
from ._models import Extension, Roster
from ._secrets import code_fingerprint, install_httpx_log_filter
from ._version import __version__
from ._wire import parse_body

__all__ = ["DEFAULT_BASE_URL", "VoicenterSession", "VoicenterWarning"]

logger = logging.getLogger("voicenter_async")

#: Voicenter's monitor host, where GetExtensions is served.
DEFAULT_BASE_URL = "https://monitor.voicenter.co.il"

DEFAULT_MAX_CONNECTIONS = 20
DEFAULT_TIMEOUT = 10.0
DEFAULT_KEEPALIVE_EXPIRY = 30.0

USER_AGENT = f"voicenter-async/{__version__}"


class VoicenterWarning(UserWarning):
    """A setting is legal but almost certainly not what the caller meant."""


class VoicenterSession:
    """An async session that fetches GetExtensions over one connection pool.

    Use it as an async context manager, or call `aclose` when done. Every
    request of the session, for every code, rides the same `httpx.AsyncClient`,
    so connections are opened once and reused.

    Args:
        base_url: Scheme and host of the service. Defaults to Voicenter's
            monitor host; point it at a local emulator in tests.
        method: ``"POST"`` (the default) sends the code in a JSON body, which
            keeps it out of URLs, proxies and access logs. ``"GET"`` sends it
            as a query parameter.
        max_connections: Size of the connection pool.
        keepalive_expiry: Seconds an idle pooled connection is kept open.
        timeout: Seconds for connecting, each read, each write and waiting
            for a pooled connection, or an `httpx.Timeout` for finer control.
        concurrency: Default number of requests in flight in
            `fetch_departments`. Defaults to ``max_connections``.
        headers: Extra headers sent with every request.
        http2: Use HTTP/2 where the server offers it. Needs the ``h2``
            extra: ``pip install "voicenter-async[h2]"``.
        http_client: A client of your own to send requests with. The session
            uses it as it is, ignores the pool and timeout settings above, and
            does not close it.
        transport: An httpx transport for the session's own client, for
            example `httpx.MockTransport` in tests.

    Raises:
        ValueError: A setting is out of range.
    """

    def __init__(
        self,
        *,
        base_url: str | httpx.URL = DEFAULT_BASE_URL,
        method: Method = "POST",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        concurrency: int | None = None,
        headers: Mapping[str, str] | None = None,
        http2: bool = False,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._method = _check_method(method)
        self._base_url = httpx.URL(str(base_url))
        _check_base_url(self._base_url)
        _check_positive("max_connections", max_connections)
        if concurrency is not None:
            _check_positive("concurrency", concurrency)
        self._concurrency = concurrency or max_connections
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self._headers.update(headers or {})
        self._state = "open"
        self._loop: asyncio.AbstractEventLoop | None = None
        install_httpx_log_filter()

        if http_client is not None:
            self._client = http_client
            self._owns_client = False
            self._pool_size: int | None = None
            return

        self._owns_client = True
        self._pool_size = max_connections
        self._client = _make_client(
            base_url=self._base_url,
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            timeout=timeout,
            http2=http2,
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"<VoicenterSession {self._base_url.scheme}://{self._base_url.host} "
            f"method={self._method} state={self._state}>"
        )

    @property
    def closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self._state == "closed"

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The `httpx.AsyncClient` that sends the session's requests."""
        return self._client

    async def __aenter__(self) -> VoicenterSession:
        if self._state == "closed":
            msg = "this VoicenterSession is closed; create a new one"
            raise SessionStateError(msg)
        if self._state == "entered":
            msg = (
                "this VoicenterSession is already entered; use one "
                "'async with' block per session"
            )
            raise SessionStateError(msg)
        self._state = "entered"

        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session and its connection pool.

        A client passed as ``http_client`` is left open. Calling this more
        than once is harmless.
        """
        if self._state == "closed":
            return
        self._state = "closed"
        if self._owns_client:
            await self._client.aclose()
        logger.debug("VoicenterSession closed")

    async def get_extensions(
        self, code: str, *, show_all: bool | None = None
    ) -> list[Extension]:
        """Fetch the extensions one department code can see.

        Args:
            code: The department's secret code.
            show_all: True for the whole organization, False for the code's
                own department only. None leaves ``showAll`` out of the
                request, which the service reads as the whole organization.

        Returns:
            The extensions in the order the service listed them.

        Raises:
            InvalidCodeError: The code is empty or not a string; nothing was
                sent.
            UnauthorizedError: The service rejected the code's format.
            ForbiddenError: This server's IP is not on the allow-list.
            HTTPStatusError: Another HTTP error status.
            TransportError: The network failed or the request timed out.
            ResponseFormatError: The body is not a valid answer.
            SessionStateError: The session is closed.
        """
        valid = validate_code(code)

        return await self._fetch(valid, code_fingerprint(valid), show_all)

    async def fetch_departments(
        self,
        codes: Iterable[str] | Mapping[str, str],
        *,
        concurrency: int | None = None,
        show_all: bool | None = False,
        raise_on_error: bool = False,
    ) -> Roster:
        """Fetch many departments concurrently and merge their extensions.

        Each distinct code is fetched once. A failing code never stops the
        others: it ends as a `DepartmentResult` with its error.

        Args:
            codes: Codes, or a mapping of label to code. Without labels,
                each department is labelled by its code's fingerprint.
            concurrency: Requests in flight at once. Defaults to the
                session's setting, and is lowered to the pool size if above
                it, since more could only wait inside the pool.
            show_all: ``showAll`` for every request; False by default, so
                each code returns its own department only.
            raise_on_error: Raise `DepartmentsFailedError` when any
                department failed, instead of returning the roster.

        Returns:
            The merged `Roster`, one result per distinct code in input order.

        Raises:
            DepartmentsFailedError: With ``raise_on_error``, when any
                department failed. Its ``roster`` holds every result.
            InvalidCodeError: ``codes`` is a single string.
            SessionStateError: The session is closed.
        """
        self._check_usable()
        limit = self._effective_concurrency(concurrency)
        jobs = plan_jobs(codes)

        async def fetch(code: str, label: str) -> list[Extension]:
            return await self._fetch(code, label, show_all)

        results = await run_jobs(jobs, fetch, concurrency=limit)
        roster = Roster.from_departments(results)
        if raise_on_error and roster.failures:
            errors = [d.error for d in roster.failures if d.error is not None]
            msg = f"{len(errors)} of {len(results)} departments failed"
            raise DepartmentsFailedError(msg, errors, roster)

        return roster

    def _effective_concurrency(self, concurrency: int | None) -> int:
        if concurrency is None:
            limit = self._concurrency
        else:
            _check_positive("concurrency", concurrency)
            limit = concurrency
        if self._pool_size is not None and limit > self._pool_size:
            msg = (
                f"concurrency {limit} is above the pool size of "
                f"{self._pool_size} connections, so it was lowered to "
                f"{self._pool_size}; raise max_connections to send more at once"
            )
            warnings.warn(msg, VoicenterWarning, stacklevel=3)
            limit = self._pool_size

        return limit

    def _check_usable(self) -> None:
        if self._state == "closed":
            msg = "this VoicenterSession is closed; create a new one"
            raise SessionStateError(msg)
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            msg = (
                "this VoicenterSession was first used in another event loop, "
                "and its pooled connections belong to that loop; create one "
                "session per event loop (for example inside the function "
                "that asyncio.run runs)"
            )
            raise SessionStateError(msg)

    async def _fetch(
        self, code: str, label: str, show_all: bool | None
    ) -> list[Extension]:
        self._check_usable()
        request = build_request(self._client, self._method, code, show_all)
        request.headers.update(self._headers)
        started = time.perf_counter()
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as exc:
            error = translate_httpx_error(
                exc, label=label, code=code, host=self._base_url.host
            )
            raise error from exc

        elapsed = time.perf_counter() - started
        logger.debug(
            "GetExtensions %s %s: HTTP %d in %.3f s",
            label,
            self._method,
            response.status_code,
            elapsed,
            extra={
                "voicenter_label": label,
                "voicenter_method": self._method,
                "voicenter_status": response.status_code,
                "voicenter_elapsed": elapsed,
            },
        )
        check_status(response, label=label, code=code)

        return parse_body(response.content, label=label, code=code)


def _make_client(
    *,
    base_url: httpx.URL,
    max_connections: int,
    keepalive_expiry: float,
    timeout: float | httpx.Timeout,
    http2: bool,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
    )
    try:
        return httpx.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=_check_timeout(timeout),
            http2=http2,
            transport=transport,
            trust_env=False,
        )
    except ImportError:
        msg = (
            "http2=True needs the h2 package; install it with "
            "'pip install \"voicenter-async[h2]\"'"
        )
        raise ImportError(msg) from None


def _check_method(method: object) -> Method:
    upper = method.upper() if isinstance(method, str) else method
    if upper == "POST":
        return "POST"
    if upper == "GET":
        return "GET"
    msg = f"method must be 'POST' or 'GET', got {method!r}"
    raise ValueError(msg)


def _check_base_url(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https") or not url.host:
        msg = (
            f"base_url must be an http:// or https:// URL with a host, got {str(url)!r}"
        )
        raise ValueError(msg)
    if url.query:
        msg = "base_url must not carry a query string; give only scheme and host"
        raise ValueError(msg)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a whole number of at least 1, got {value!r}"
        raise ValueError(msg)


def _check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        msg = (
            f"timeout must be a number of seconds or an httpx.Timeout, got {timeout!r}"
        )
        raise ValueError(msg)
    if not timeout > 0:
        msg = f"timeout must be more than 0 seconds, got {timeout!r}"
        raise ValueError(msg)

    return httpx.Timeout(float(timeout))
