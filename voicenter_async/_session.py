"""The pooled async session: one httpx client shared by every code."""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType

import httpx

from ._errors import DepartmentsFailedError, SessionStateError, VoicenterError
from ._fanout import plan_jobs, run_jobs, validate_code
from ._flight import ResultCache, code_digest
from ._headers import check_headers
from ._http import Method
from ._models import DepartmentResult, Extension, Roster
from ._pipeline import Pipeline
from ._ratelimit import RateLimiter
from ._resilience import FanoutGuard, RetryPolicy, check_seconds
from ._secrets import code_fingerprint, install_httpx_log_filter, mask_text
from ._stats import ResponseHook, RetryHook, SessionStats
from ._transport import TransportName, make_transport
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "VoicenterSession", "VoicenterWarning"]

logger = logging.getLogger("voicenter_async")

#: Voicenter's monitor host, where GetExtensions is served.
DEFAULT_BASE_URL = "https://monitor.voicenter.co.il"

DEFAULT_MAX_CONNECTIONS = 20

# Open files kept free for the process's own use when sizing the pool.
_OPEN_FILE_RESERVE = 64
DEFAULT_TIMEOUT = 10.0
DEFAULT_KEEPALIVE_EXPIRY = 30.0
DEFAULT_REQUEST_DEADLINE = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_EMPTY_CACHE_TTL = 5.0

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
            monitor host; point it at a local emulator in tests. With
            ``http_client``, leave it out and set the client's own base URL.
        method: ``"POST"`` (the default) sends the code in a JSON body, which
            keeps it out of URLs, proxies and access logs. ``"GET"`` sends it
            as a query parameter.
        max_connections: Size of the connection pool.
        keepalive_expiry: Seconds an idle pooled connection is kept open.
        timeout: Seconds for connecting, each read, each write and waiting
            for a pooled connection, or an `httpx.Timeout` for finer control.
        concurrency: Default number of requests in flight in
            `fetch_departments`. Defaults to ``max_connections``.
        headers: Extra headers sent with every request. Names must be HTTP
            tokens. Values are ASCII str, or bytes for any other text, in
            the encoding the server expects. A value must not contain a
            control character other than tab or start or end with
            whitespace.
        http2: Use HTTP/2 where the server offers it. Needs the ``h2``
            extra: ``pip install "voicenter-async[h2]"``.
        http_client: A client of your own to send requests with. The session
            uses it as it is, ignores the pool and timeout settings above, and
            does not close it.
        transport: The transport of the session's own client.
            ``"asyncio"``, the default for HTTP/1.1, is the library's own
            HTTP/1.1 client, which spends the least CPU per request.
            ``"aiohttp"`` sends through an ``aiohttp.ClientSession``.
            ``"httpcore"`` is httpx's own transport and the default with
            ``http2=True``, which only it supports. Any
            `httpx.AsyncBaseTransport` also works, for example
            `httpx.MockTransport` in tests.
        max_retries: Retries of a transient failure after the first attempt:
            connection errors, connect and read timeouts, a pooled
            connection the server had closed, and HTTP 429, 502, 503 and
            504. 0 turns retrying off. GetExtensions only reads, so resending
            a request, POST included, is safe.
        backoff_initial: Upper bound in seconds of the random wait before
            the first retry. Each further retry doubles the bound.
        backoff_max: Upper bound in seconds of any wait between attempts.
        max_retry_after: The longest ``Retry-After`` in seconds that the
            session waits for. A longer one is raised as the error, with the
            requested delay on its ``retry_after``.
        request_deadline: Seconds one call may take in total, every attempt,
            backoff and rate-limit wait included, even when the server sends
            its body slowly. None for no limit.
        max_response_bytes: The maximum size of a response body the
            session's own client reads, after decompression: 64 MiB by
            default, about 300,000 extensions. A longer one fails the call
            as a `ResponseFormatError` without being read further. It
            applies on the ``"asyncio"`` and ``"aiohttp"`` transports;
            ``"httpcore"`` and a client of your own read bodies whole.
        max_requests_per_second: Requests the whole session may start per
            second, retries included, shared by every call and fan-out.
            None (the default) for no limit.
        cache_ttl: Seconds a successful result is cached per code, ``showAll``
            and method. None (the default) turns caching off.
        empty_cache_ttl: Seconds an empty result is cached, at most
            ``cache_ttl``, since an empty list often means a wrong code that
            is about to be fixed.
        on_retry: Called with a `RetryEvent` before each retried attempt.
            May be a plain function or a coroutine function.
        on_response: Called with a `ResponseEvent` after each HTTP response.
            May be a plain function or a coroutine function.

    Raises:
        ValueError: A setting is out of range, or a header cannot be sent.
    """

    def __init__(
        self,
        *,
        base_url: str | httpx.URL | None = None,
        method: Method = "POST",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        concurrency: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        http2: bool = False,
        http_client: httpx.AsyncClient | None = None,
        transport: TransportName | httpx.AsyncBaseTransport | None = None,
        max_retries: int = 2,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        max_retry_after: float = 60.0,
        request_deadline: float | None = DEFAULT_REQUEST_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_requests_per_second: float | None = None,
        cache_ttl: float | None = None,
        empty_cache_ttl: float = DEFAULT_EMPTY_CACHE_TTL,
        on_retry: RetryHook | None = None,
        on_response: ResponseHook | None = None,
    ) -> None:
        self._method = _check_method(method)
        self._base_url = _choose_base_url(base_url, http_client)
        _check_flag("http2", http2)
        _check_hook("on_retry", on_retry, "RetryEvent")
        _check_hook("on_response", on_response, "ResponseEvent")
        _check_positive("max_connections", max_connections)
        _check_positive("max_response_bytes", max_response_bytes)
        _check_open_file_limit(max_connections)
        check_seconds("keepalive_expiry", keepalive_expiry, allow_zero=True)
        if concurrency is not None:
            _check_positive("concurrency", concurrency)
        self._concurrency = concurrency or max_connections
        self._headers: dict[str, str | bytes] = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._headers.update(check_headers(headers))
        self._state = "open"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._pool_released = False
        install_httpx_log_filter()

        policy = RetryPolicy(
            max_retries=max_retries,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
        )
        if request_deadline is not None:
            request_deadline = check_seconds("request_deadline", request_deadline)
        limiter = (
            None
            if max_requests_per_second is None
            else RateLimiter(max_requests_per_second)
        )
        cache = _make_cache(cache_ttl, empty_cache_ttl)

        if http_client is not None:
            self._client = http_client
            self._owns_client = False
            self._pool_size: int | None = None
        else:
            self._owns_client = True
            self._pool_size = max_connections
            self._client = _make_client(
                base_url=self._base_url,
                max_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
                timeout=timeout,
                http2=http2,
                transport=transport,
                max_response_bytes=max_response_bytes,
            )
        self._pipeline = Pipeline(
            client=self._client,
            method=self._method,
            headers=self._headers,
            policy=policy,
            request_deadline=request_deadline,
            limiter=limiter,
            cache=cache,
            on_retry=on_retry,
            on_response=on_response,
            owns_client=self._owns_client,
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
        """The `httpx.AsyncClient` that sends the session's requests.

        When the session created the client, POST requests go straight to its
        transport: headers, timeout and base URL set on it here still apply,
        but event hooks, auth and cookies do not, and it follows no
        redirects. Pass your own client as ``http_client`` to use those.
        """
        return self._client

    @property
    def stats(self) -> SessionStats:
        """A snapshot of the session's counters: requests, retries, cache."""
        return self._pipeline.stats.snapshot()

    def invalidate(self, code: str | None = None) -> int:
        """Drop cached results, of one code or of every code.

        Args:
            code: The code whose results to drop, for every ``showAll`` and
                method; None drops the whole cache.

        Returns:
            How many cached results were dropped; 0 when caching is off.
        """
        cache = self._pipeline.cache
        if cache is None:
            return 0
        digest = None if code is None else code_digest(validate_code(code))

        return cache.invalidate(digest)

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

        Requests still in flight are cancelled first, and the calls waiting
        for them raise `SessionStateError`. In a running `fetch_departments`,
        every department not yet finished ends as a `SessionStateError`
        failure. A client passed as ``http_client`` is left open. Calling
        this more than once is harmless.
        """
        if self._state == "closed":
            return
        self._state = "closed"
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            self._abandon_pool()
            return
        await self._stop_keeper()
        await self._pipeline.aclose()
        if self._owns_client and not self._pool_released:
            await self._client.aclose()
        logger.debug("VoicenterSession closed")

    async def get_extensions(
        self,
        code: str,
        *,
        show_all: bool | None = None,
        max_retries: int | None = None,
    ) -> list[Extension]:
        """Fetch the extensions one department code can see.

        Transient failures are retried (see the session's ``max_retries``),
        which is safe because GetExtensions only reads. Identical calls in
        flight at the same time share one HTTP exchange, and its result or
        error.

        Args:
            code: The department's secret code.
            show_all: True for the whole organization, False for the code's
                own department only. None leaves ``showAll`` out of the
                request, which the service reads as the whole organization.
            max_retries: Retries for this call, in place of the session's
                setting; 0 turns retrying off.

        Returns:
            The extensions in the order the service listed them.

        Raises:
            InvalidCodeError: The code is empty or not a string; nothing was
                sent.
            UnauthorizedError: The service rejected the code's format.
            ForbiddenError: This server's IP is not on the allow-list.
            HTTPStatusError: Another HTTP error status.
            TransportError: The network failed or the request timed out.
            RateLimitedError: HTTP 429 after every retry, or with a
                ``Retry-After`` longer than ``max_retry_after``.
            ResponseFormatError: The body is not a valid response.
            RequestTimeoutError: The call passed ``request_deadline``.
            SessionStateError: The session is closed, or was closed while
                the call ran.
        """
        valid = validate_code(code)
        _check_show_all(show_all)
        retries = _check_retries(max_retries)

        return await self._fetch(
            valid, code_fingerprint(valid), show_all, max_retries=retries
        )

    async def fetch_departments(
        self,
        codes: Iterable[str] | Mapping[str, str],
        *,
        concurrency: int | None = None,
        show_all: bool | None = False,
        raise_on_error: bool = False,
        max_retries: int | None = None,
        deadline: float | None = None,
        on_result: Callable[[DepartmentResult], object] | None = None,
    ) -> Roster:
        """Fetch many departments concurrently and merge their extensions.

        Each distinct code is fetched once. A failing code never stops the
        others: it ends as a `DepartmentResult` with its error. The one
        exception is HTTP 403, which means this server's IP is not allowed
        and so affects every code: the departments not yet sent then fail at
        once with a `ForbiddenError` that names the department that got it.
        Retrying is safe because GetExtensions only reads.

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
            max_retries: Retries per request, in place of the session's
                setting; 0 turns retrying off.
            deadline: Seconds the whole fan-out may take. When they pass,
                every department not yet finished ends as a
                `RequestTimeoutError` failure, the finished ones keep their
                results, and no backoff waits past it. None for no limit.
            on_result: A function called in the event loop with each
                department's `DepartmentResult` as soon as it is known, for
                progress or metrics. Keep it quick. What it raises is logged
                and does not stop the fan-out.

        Returns:
            The merged `Roster`, one result per distinct code in input order.

        Raises:
            DepartmentsFailedError: With ``raise_on_error``, when any
                department failed. Its ``roster`` contains every result.
            InvalidCodeError: ``codes`` is a single string, or neither an
                iterable nor a mapping.
            SessionStateError: The session is closed. Departments still
                unfinished when the session is closed during the call end as
                `SessionStateError` failures instead.
            ValueError: ``deadline`` or ``max_retries`` is out of range.
        """
        self._check_usable()
        _check_show_all(show_all)
        limit = self._effective_concurrency(concurrency)
        retries = _check_retries(max_retries)
        guard = FanoutGuard(_deadline_at(deadline))
        jobs = plan_jobs(codes)

        async def fetch(code: str, label: str) -> list[Extension]:
            guard.check(label)
            try:
                return await self._fetch(
                    code,
                    label,
                    show_all,
                    max_retries=retries,
                    deadline=guard.deadline,
                )
            except VoicenterError as exc:
                guard.record(exc)
                raise

        results = await run_jobs(jobs, fetch, concurrency=limit, on_result=on_result)
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
        if self._loop is loop and self._pool_released:
            msg = (
                "this VoicenterSession released its connection pool because "
                "the task that guards it was cancelled, as happens when its "
                "event loop shuts down; create a new session"
            )
            raise SessionStateError(msg)
        if self._loop is loop:
            return
        if self._loop is not None:
            msg = (
                "this VoicenterSession was first used in another event loop, "
                "and its pooled connections belong to that loop; create one "
                "session per event loop (for example inside the function "
                "that asyncio.run runs)"
            )
            raise SessionStateError(msg)
        self._loop = loop
        self._keeper = loop.create_task(
            self._keep_pool(), name="voicenter_async pool keeper"
        )

    async def _keep_pool(self) -> None:
        """Wait until cancelled, then close the pool if the loop is ending.

        ``asyncio.run`` cancels every task before it closes its loop, so this
        task lets a session that was never closed release its connections
        in the loop they belong to. Without it, a later `aclose` from
        another loop would fail with "Event loop is closed", and the sockets
        would be reported as unclosed transports.
        """
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            if self._state != "closed":
                await self._pipeline.aclose()
                if self._owns_client:
                    await self._client.aclose()
                    self._pool_released = True

    async def _stop_keeper(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is None or keeper.done():
            return
        keeper.cancel()
        await asyncio.wait({keeper})

    def _abandon_pool(self) -> None:
        """Close from a loop other than the one that owns the connections."""
        if self._pool_released or not self._owns_client:
            logger.debug("VoicenterSession closed")
            return
        logger.warning(
            "VoicenterSession closed from another event loop than the one it "
            "ran in, so its pooled connections could not be closed; close the "
            "session in the event loop that used it"
        )

    async def _fetch(
        self,
        code: str,
        label: str,
        show_all: bool | None,
        *,
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> list[Extension]:
        self._check_usable()

        return await self._pipeline.fetch(
            code, label, show_all, max_retries=max_retries, deadline=deadline
        )


def _make_client(
    *,
    base_url: httpx.URL,
    max_connections: int,
    keepalive_expiry: float,
    timeout: float | httpx.Timeout,
    http2: bool,
    transport: TransportName | httpx.AsyncBaseTransport | None,
    max_response_bytes: int,
) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
    )
    checked_timeout = _check_timeout(timeout)
    chosen = make_transport(
        transport, limits=limits, http2=http2, max_body_bytes=max_response_bytes
    )
    try:
        return httpx.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=checked_timeout,
            http2=http2,
            transport=chosen,
            trust_env=False,
        )
    except ImportError:
        msg = (
            "http2=True needs the h2 package; install it with "
            "'pip install \"voicenter-async[h2]\"'"
        )
        raise ImportError(msg) from None


def _make_cache(cache_ttl: float | None, empty_cache_ttl: float) -> ResultCache | None:
    empty_ttl = check_seconds("empty_cache_ttl", empty_cache_ttl, allow_zero=True)
    if cache_ttl is None:
        return None

    return ResultCache(check_seconds("cache_ttl", cache_ttl), empty_ttl)


def _check_retries(max_retries: int | None) -> int | None:
    if max_retries is None:
        return None

    return RetryPolicy(max_retries=max_retries).max_retries


def _deadline_at(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    seconds = check_seconds("deadline", deadline)

    return asyncio.get_running_loop().time() + seconds


def _check_method(method: object) -> Method:
    upper = method.upper() if isinstance(method, str) else method
    if upper == "POST":
        return "POST"
    if upper == "GET":
        return "GET"
    msg = f"method must be 'POST' or 'GET', got {method!r}"
    raise ValueError(msg)


def _choose_base_url(
    base_url: object, http_client: httpx.AsyncClient | None
) -> httpx.URL:
    """Return the URL requests go to, from the argument or the caller's client.

    A caller's client sends every request to its own base URL, so a second
    one given to the session would be silently ignored. That is an error,
    because a test could then reach the real service while aiming at an
    emulator.
    """
    if http_client is None:
        return _check_base_url(DEFAULT_BASE_URL if base_url is None else base_url)
    if base_url is not None:
        msg = (
            "base_url and http_client were both given, but requests go to the "
            "client's own base URL; set it on the client, as in "
            "httpx.AsyncClient(base_url=...), and leave base_url out"
        )
        raise ValueError(msg)
    if not http_client.base_url.host:
        msg = (
            "http_client has no base URL, so requests would have no host; "
            "create it with httpx.AsyncClient(base_url=...)"
        )
        raise ValueError(msg)

    return _check_base_url(http_client.base_url)


def _check_base_url(base_url: object) -> httpx.URL:
    # Any user:password part is masked, since it is a credential too.
    shown = repr(mask_text(re.sub(r"//[^/@]*@", "//***@", str(base_url))))
    expected = "an http:// or https:// URL with a host, such as http://127.0.0.1:8080"
    if not isinstance(base_url, (str, httpx.URL)):
        msg = f"base_url must be {expected}, got {type(base_url).__name__}"
        raise ValueError(msg)
    try:
        url = httpx.URL(str(base_url))
        port = url.port
    except (httpx.InvalidURL, ValueError) as exc:
        msg = f"base_url {shown} is invalid ({exc}); expected {expected}"
        raise ValueError(msg) from None
    if url.scheme not in ("http", "https") or not url.host:
        msg = f"base_url must be {expected}, got {shown}"
        raise ValueError(msg)
    if port is not None and not 1 <= port <= 65535:
        msg = f"base_url {shown} has port {port}; a port is 1 to 65535"
        raise ValueError(msg)
    if url.query:
        msg = "base_url must not carry a query string; give only scheme and host"
        raise ValueError(msg)
    if url.userinfo:
        msg = (
            "base_url must not carry a user name or password, because "
            "GetExtensions authenticates by department code alone"
        )
        raise ValueError(msg)

    return url


def _check_open_file_limit(max_connections: int) -> None:
    """Reject a pool larger than the process may open files for.

    Each pooled connection is an open file, so past the limit connections
    fail with "Too many open files" one by one, deep inside a fan-out.
    """
    try:
        import resource  # noqa: PLC0415 - POSIX only; absent on Windows
    except ImportError:  # pragma: no cover - Windows
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Leave room for the files the process already has open.
    room = soft - _OPEN_FILE_RESERVE
    if soft == resource.RLIM_INFINITY or max_connections <= room:
        return
    msg = (
        f"max_connections {max_connections} is above what this process can "
        f"open: its open-file limit is {soft}, and each connection is an open "
        f"file; lower max_connections to {max(room, 1)} or less, or raise the "
        "limit (ulimit -n)"
    )
    raise ValueError(msg)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, got {value!r}"
        raise ValueError(msg)


def _check_hook(name: str, hook: object, event: str) -> None:
    if hook is None or callable(hook):
        return
    msg = (
        f"{name} must be a function that takes a {event}, or None, "
        f"got {type(hook).__name__}"
    )
    raise TypeError(msg)


def _check_show_all(show_all: object) -> None:
    if show_all is None or isinstance(show_all, bool):
        return
    msg = (
        "show_all must be True (whole organization), False (the code's own "
        f"department) or None (leave it to the service), got {show_all!r}"
    )
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

    return httpx.Timeout(check_seconds("timeout", timeout))
