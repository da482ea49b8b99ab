"""One GetExtensions exchange: building the request and reading the answer."""

from __future__ import annotations

import email.utils
import json
import math
import time
from datetime import timezone
from typing import Literal

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
from ._secrets import scrub_exception_chain
from ._wire import excerpt

__all__ = [
    "ENDPOINT",
    "Method",
    "build_request",
    "check_status",
    "parse_retry_after",
    "translate_httpx_error",
    "translate_unexpected_error",
]

ENDPOINT = "/Comet/api/GetExtensions"

Method = Literal["POST", "GET"]


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
    payload: dict[str, str | int] = {"code": code}
    if show_all is not None:
        payload["showAll"] = int(show_all)
    if method == "GET":
        return client.build_request("GET", ENDPOINT, params=payload)
    body = json.dumps(payload, separators=(",", ":")).encode()

    return client.build_request(
        "POST",
        ENDPOINT,
        content=body,
        headers={"Content-Type": "application/json"},
    )


def translate_httpx_error(
    exc: httpx.HTTPError, *, label: str, code: str, host: str
) -> VoicenterError:
    """Turn an httpx exception into the library's error, without the code."""
    scrub_exception_chain(exc, code)
    kind = type(exc).__name__
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
    if isinstance(exc, httpx.DecodingError):
        msg = (
            f"GetExtensions response for {label} from {host} could not be "
            f"decoded ({kind}: {exc})"
        )
        return ResponseFormatError(msg, label=label)
    detail = str(exc) or "no detail"
    msg = (
        f"GetExtensions request for {label} to {host} failed ({kind}: "
        f"{detail}); check the base URL and the network"
    )

    return TransportError(msg, label=label)


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


def check_status(response: httpx.Response, *, label: str, code: str) -> None:
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
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = (
            f"; it asked to wait {retry_after:g} s" if retry_after is not None else ""
        )
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
            f"Voicenter answered HTTP {status} {reason} for {label}; "
            "the service failed or is down, try again later"
        )
        raise ServerError(msg, label=label, status_code=status, excerpt=shown)
    msg = f"Voicenter answered HTTP {status} {reason} for {label}"
    raise HTTPStatusError(msg, label=label, status_code=status, excerpt=shown)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header as seconds from now.

    The header holds either a number of seconds or an HTTP-date (RFC 9110,
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
