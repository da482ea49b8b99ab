"""One GetExtensions exchange: building the request and reading the response."""

from __future__ import annotations

import email.utils
import errno
import json
import math
import time
import zlib
from collections.abc import Mapping
from datetime import timezone
from typing import Literal, Protocol, cast

import httpx

from ._errors import (
    ForbiddenError,
    HTTPStatusError,
    PoolTimeoutError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    TransportError,
    VoicenterError,
)
from ._headers import check_headers
from ._native import (
    AsyncioTransport,
    ResponseTooLargeError,
    Trace,
    WholeResponse,
    too_large_message,
)
from ._secrets import scrub_exception_chain
from ._transport import AiohttpTransport, aiohttp_headers
from ._wire import excerpt

__all__ = [
    "ENDPOINT",
    "DirectRequests",
    "ExchangeResponse",
    "Method",
    "build_request",
    "check_status",
    "header_pairs",
    "parse_retry_after",
    "safe_cause",
    "send_direct",
    "translate_httpx_error",
    "translate_unexpected_error",
]

ENDPOINT = "/Comet/api/GetExtensions"

_OPEN_FILE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})

Method = Literal["POST", "GET"]

# The library's transports, which can send a request without httpx's
# request and response objects.
_WHOLE_RESPONSE_TRANSPORTS = (AsyncioTransport, AiohttpTransport)


class ExchangeResponse(Protocol):
    """A response as the session reads it: ``httpx.Response`` or `WholeResponse`."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


def build_request(
    client: httpx.AsyncClient,
    method: Method,
    code: str,
    show_all: bool | None,
) -> httpx.Request:
    """Build a GetExtensions request as the API documents it.

    POST sends ``{"code": ..., "showAll": 0|1}`` as a JSON body, GET sends the
    same as query parameters. ``showAll`` is left out when it is None, which
    the service reads as the whole organization.
    """
    if method == "GET":
        params: dict[str, str | int] = {"code": code}
        if show_all is not None:
            params["showAll"] = int(show_all)
        return client.build_request("GET", ENDPOINT, params=params)

    return client.build_request(
        "POST",
        ENDPOINT,
        content=_encode_payload(code, show_all),
        headers={"Content-Type": "application/json"},
    )


_SHOW_ALL_TAIL = {None: b"}", True: b',"showAll":1}', False: b',"showAll":0}'}


def header_pairs(
    headers: Mapping[str | bytes, str | bytes] | Mapping[str, str | bytes],
) -> list[tuple[bytes, bytes]]:
    """Return checked session headers as byte pairs, which httpx takes as given.

    The session has checked that names are tokens and text values ASCII.
    """
    return [(_ascii(name), _ascii(value)) for name, value in headers.items()]


def _ascii(text: str | bytes) -> bytes:
    return text.encode("ascii") if isinstance(text, str) else text


def _encode_payload(code: str, show_all: bool | None) -> bytes:
    # The bytes of json.dumps({"code": code, "showAll": ...}) with compact
    # separators, at a fraction of the cost. The code is escaped by
    # json.dumps, to ASCII, as it would be inside the dict.
    return b'{"code":' + json.dumps(code).encode("ascii") + _SHOW_ALL_TAIL[show_all]


class DirectRequests:
    """Build POST requests the way `build_request` does, without the client.

    ``AsyncClient.build_request`` parses the URL twice and merges headers on
    every call, and ``Request(content=...)`` then adds ``Host`` and
    ``Content-Length`` and copies the headers again. This keeps the merged
    URL, the prepared headers and the timeout of one template request and
    reuses them, building a new template when the client's headers, timeout
    or base URL change. Each request then only copies the headers and sets
    its ``Content-Length`` in place. Two steps of the client are skipped:
    its cookies are not added, since `send_direct` never stores any, and GET
    requests still go through ``build_request``.

    When the client's transport is the library's `AiohttpTransport`, `send`
    skips httpx's request and response objects altogether and hands the
    template's URL, headers and timeout to the transport as they are.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        method: Method,
        headers: Mapping[str, str | bytes],
    ) -> None:
        self._client = client
        self._method = method
        self._headers = header_pairs(headers)
        self._source: tuple[object, ...] = ()
        self._url = client.base_url
        self._template = httpx.Headers()
        self._encoding = "ascii"
        self._timeout: dict[str, float | None] = {}
        self._url_text = ""
        self._header_items: list[tuple[str, str]] = []
        self._raw_header_items: list[tuple[str | bytes, str | bytes]] = []
        self.host = ""

    def build(self, code: str, show_all: bool | None) -> httpx.Request:
        """Return the request for one code, equal to `build_request`'s."""
        if self._method == "GET":
            request = build_request(self._client, "GET", code, show_all)
            request.headers.update(self._headers)
            self.host = request.url.host
            return request
        self._refresh()
        content = _encode_payload(code, show_all)
        # Passing the encoding saves Headers from working it out again over
        # every header when Content-Length is set.
        headers = httpx.Headers(self._template, encoding=self._encoding)
        headers["Content-Length"] = str(len(content))
        # With stream=, httpx adds no headers of its own, so the request
        # carries exactly the prepared template's, in the template's order.
        request = httpx.Request(
            "POST",
            self._url,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"timeout": dict(self._timeout)},
        )
        request.read()

        return request

    async def send(
        self, code: str, show_all: bool | None, trace: Trace | None
    ) -> ExchangeResponse:
        """Send the request for one code and return its response, body read.

        ``trace`` becomes the request's ``trace`` extension where an httpx
        request is built.

        Raises:
            httpx.HTTPError: The exchange failed.
        """
        if self._method == "POST":
            self._refresh()
            transport = self._client._transport_for_url(self._url)
            # respx's httpx mode patches _transport_for_url, so under respx
            # this is respx's transport and the request goes the httpx way.
            # Exact types: a subclass may have its own handle_async_request.
            if type(transport) in _WHOLE_RESPONSE_TRANSPORTS:
                payload = _encode_payload(code, show_all)
                sender = cast("AsyncioTransport | AiohttpTransport", transport)
                if type(transport) is AsyncioTransport:
                    # The headers' own bytes, whatever their encoding.
                    whole = await transport.send_whole(
                        "POST",
                        self._url_text,
                        self._raw_header_items,
                        payload,
                        self._timeout,
                        trace=trace,
                    )
                else:
                    whole = await cast(AiohttpTransport, transport).send_whole(
                        "POST",
                        self._url_text,
                        self._header_items,
                        payload,
                        self._timeout,
                    )
                return _decode_content(whole, sender.max_body_bytes)
        request = self.build(code, show_all)
        request.extensions["trace"] = trace

        return await send_direct(self._client, request)

    def _refresh(self) -> None:
        client = self._client
        source = (client.headers.raw, client.timeout, client.base_url)
        if source == self._source:
            return
        template = build_request(client, "POST", "", None)
        template.headers.update(self._headers)
        for name in ("Host", "Content-Length"):
            del template.headers[name]
        # Prepared as httpx prepares a request with a body, so Host and
        # Content-Length take the places they would take there. An empty
        # body would move Content-Length to the front.
        prepared = httpx.Request(
            "POST", template.url, headers=template.headers, content=b"{}"
        )
        _check_client_headers(prepared.headers)
        self._url = template.url
        self._template = prepared.headers
        self._encoding = prepared.headers.encoding
        self._timeout = template.extensions["timeout"]
        self._url_text = str(template.url)
        self._header_items = aiohttp_headers(prepared.headers)
        self._raw_header_items = [
            (name, value)
            for name, value in prepared.headers.raw
            if name.lower() not in (b"content-length", b"transfer-encoding")
        ]
        self.host = template.url.host
        self._source = source


def _check_client_headers(headers: httpx.Headers) -> None:
    """Raise for a header that cannot be sent, set on the client after the fact.

    The session checks its own ``headers`` when it is created. This check
    catches a header set later on ``session.http_client.headers``, which
    would otherwise fail at the transport and read as a network fault.

    Raises:
        httpx.LocalProtocolError: A header name or value cannot be sent.
    """
    for name, value in headers.raw:
        try:
            check_headers({name: value})
        except ValueError as exc:
            failure = f"{exc}; it was set on session.http_client.headers"
        else:
            continue
        raise httpx.LocalProtocolError(failure)


async def send_direct(
    client: httpx.AsyncClient, request: httpx.Request
) -> httpx.Response:
    """Send ``request`` through ``client``'s transport and read the body.

    This is ``AsyncClient.send`` without its redirect, auth, event-hook and
    cookie steps, which a session-owned client does not need: the session
    sets no auth or hooks, follows no redirects, and GetExtensions sets no
    cookies. The
    transport comes from ``_transport_for_url``, which respx patches in its
    ``using="httpx"`` mode, so respx still intercepts these requests.
    """
    transport = client._transport_for_url(request.url)
    response = await transport.handle_async_request(request)
    response.request = request
    try:
        await response.aread()
    except BaseException:
        await response.aclose()
        raise

    return response


def _decode_content(response: WholeResponse, limit: int) -> WholeResponse:
    """Return ``response`` with its body decoded by its ``Content-Encoding``.

    The session's requests carry httpx's ``Accept-Encoding``, so a server may
    compress its response. gzip (also named x-gzip) and deflate are decoded
    here, codings applied in turn undone in reverse order, and the decoded
    body may be at most ``limit`` bytes, so a small compressed body cannot
    expand without bound.

    Raises:
        ResponseTooLargeError: The decoded body is longer than ``limit``.
        httpx.DecodingError: The body does not decode, or uses a coding
            the session does not decode.
    """
    header = response.headers.get("Content-Encoding")
    if header is None:
        return response
    codings = [item.strip().lower() for item in header.split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    if not codings:
        return response
    body = response.content
    for coding in reversed(codings):
        body = _decode_one(coding, body, limit)

    return WholeResponse(
        status_code=response.status_code,
        reason_phrase=response.reason_phrase,
        headers=response.headers,
        content=body,
    )


def _decode_one(coding: str, body: bytes, limit: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit)
    if coding == "deflate":
        # The coding is zlib-wrapped by the standard, but some servers send
        # raw deflate data, which httpx's own decoder also accepts.
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except ResponseTooLargeError:
            raise
        except httpx.DecodingError:
            return _inflate(body, -zlib.MAX_WBITS, limit)
    name = coding if len(coding) <= 40 else coding[:37] + "..."
    msg = (
        f"Response uses the content coding {name!r}, which the session does "
        "not decode (it decodes gzip and deflate)"
    )
    raise httpx.DecodingError(msg)


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    failure = None
    try:
        # One byte past the limit separates a body at the limit from a longer one.
        decoded = inflater.decompress(body, limit + 1)
        if len(decoded) <= limit:
            decoded += inflater.flush()
    except zlib.error as exc:
        failure = str(exc)
    if failure is not None:
        raise httpx.DecodingError(failure)
    if len(decoded) > limit:
        raise ResponseTooLargeError(too_large_message(limit))

    return decoded


def safe_cause(exc: httpx.HTTPError) -> httpx.HTTPError:
    """Return a copy of an httpx exception without its request.

    The request of a GET carries the code in its URL and that of a POST in
    its body, so the error kept as ``__cause__`` is a copy of the same type
    and message, with the original traceback and cause. Call it after
    `scrub_exception_chain` has masked the messages.
    """
    try:
        copy = type(exc)(str(exc))
    except TypeError:
        copy = httpx.TransportError(f"{type(exc).__name__}: {exc}")
    copy.__cause__ = exc.__cause__
    copy.__suppress_context__ = True

    return copy.with_traceback(exc.__traceback__)


def translate_httpx_error(
    exc: httpx.HTTPError, *, label: str, code: str, host: str
) -> VoicenterError:
    """Turn an httpx exception into the library's error, without the code."""
    scrub_exception_chain(exc, code)
    if isinstance(exc, (ResponseTooLargeError, httpx.DecodingError)):
        return _response_error(exc, label=label, host=host)
    kind = type(exc).__name__
    if _too_many_open_files(exc):
        msg = (
            f"GetExtensions request for {label} to {host} failed ({kind}): "
            "this process has too many open files; lower max_connections or "
            "raise the open-file limit (ulimit -n)"
        )
        return TransportError(msg, label=label)
    if isinstance(exc, httpx.PoolTimeout):
        msg = (
            f"GetExtensions request for {label} waited too long for a free "
            f"connection to {host} ({kind}); lower the concurrency or raise "
            "max_connections or the pool timeout"
        )
        return PoolTimeoutError(msg, label=label)
    if isinstance(exc, httpx.TimeoutException):
        msg = (
            f"GetExtensions request for {label} to {host} timed out ({kind}); "
            "raise the timeout if the service is slow"
        )
        return RequestTimeoutError(msg, label=label)
    if isinstance(exc, httpx.LocalProtocolError):
        msg = f"GetExtensions request for {label} was not sent ({kind}: {exc})"
        return TransportError(msg, label=label)
    detail = str(exc) or "no detail"
    msg = (
        f"GetExtensions request for {label} to {host} failed ({kind}: "
        f"{detail}); check the base URL and the network"
    )

    return TransportError(msg, label=label)


def _response_error(
    exc: httpx.HTTPError, *, label: str, host: str
) -> ResponseFormatError:
    if isinstance(exc, ResponseTooLargeError):
        msg = (
            f"GetExtensions response for {label} from {host} was not read ({exc}); "
            "check that the base URL points at Voicenter's API, or raise "
            "max_response_bytes if the organization is that large"
        )
    else:
        msg = (
            f"GetExtensions response for {label} from {host} could not be "
            f"decoded ({type(exc).__name__}: {exc})"
        )

    return ResponseFormatError(msg, label=label)


def _too_many_open_files(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _OPEN_FILE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__

    return False


def translate_unexpected_error(
    exc: Exception, *, label: str, code: str, host: str
) -> TransportError:
    """Turn a non-httpx exception from the transport into a `TransportError`."""
    scrub_exception_chain(exc, code)
    detail = str(exc) or "no detail"
    msg = (
        f"GetExtensions request for {label} to {host} failed "
        f"({type(exc).__name__}: {detail}); check the base URL and the network"
    )

    return TransportError(msg, label=label)


def check_status(response: ExchangeResponse, *, label: str, code: str) -> None:
    """Raise the library's error for any status other than 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return

    shown = excerpt(response.content, code)
    reason = response.reason_phrase or "no reason given"
    if status == 403:
        msg = (
            f"Voicenter answered HTTP 403 Forbidden for {label}: the IP address "
            "of this server is probably not on the account's API allow-list. "
            "Add it in the Voicenter control panel or ask Voicenter support"
        )
        raise ForbiddenError(msg, label=label, status_code=status, excerpt=shown)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    wait = f"; it asked to wait {retry_after:g} s" if retry_after is not None else ""
    if status == 429:
        msg = (
            f"Voicenter answered HTTP 429 Too Many Requests for {label}{wait}; "
            "lower the concurrency or set max_requests_per_second"
        )
        raise RateLimitedError(
            msg,
            label=label,
            status_code=status,
            excerpt=shown,
            retry_after=retry_after,
        )
    if status >= 500:
        msg = (
            f"Voicenter answered HTTP {status} {reason} for {label}{wait}; "
            "the service failed or is down, try again later"
        )
        raise ServerError(
            msg,
            label=label,
            status_code=status,
            excerpt=shown,
            retry_after=retry_after,
        )
    msg = f"Voicenter answered HTTP {status} {reason} for {label}"
    raise HTTPStatusError(msg, label=label, status_code=status, excerpt=shown)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header as seconds from now.

    The header contains either a number of seconds or an HTTP-date (RFC 9110,
    section 10.2.3). A date in the past gives 0. An unreadable value gives
    None, as if the header were absent.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until(value, now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None

    return max(0.0, seconds)


def _seconds_until(http_date: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now

    return max(0.0, when.timestamp() - current)
