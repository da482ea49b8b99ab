"""Exceptions raised by voicenter-async.

Every error the library raises derives from `VoicenterError`::

    VoicenterError
    ├── InvalidCodeError          (also ValueError) code rejected before sending
    ├── SessionStateError         (also RuntimeError) closed, re-entered or
    │                             used from another event loop
    ├── APIError                  the service answered with a non-zero ERR
    │   └── UnauthorizedError     ERR 1: the code's format is invalid
    ├── HTTPStatusError           a status other than 2xx
    │   ├── ForbiddenError        403: the caller's IP is not allowed
    │   ├── RateLimitedError      429
    │   └── ServerError           5xx
    ├── TransportError            the exchange failed on the network
    │   └── RequestTimeoutError   (also TimeoutError)
    │       └── PoolTimeoutError  no pooled connection became free in time
    └── ResponseFormatError       the body is not a valid GetExtensions answer

`DepartmentsFailedError` is an `ExceptionGroup` of the errors above, raised by
`VoicenterSession.fetch_departments(raise_on_error=True)`.

Messages name the department by its label, never by its code, because a code
is a credential.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if sys.version_info < (3, 11):  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._models import Roster

__all__ = [
    "APIError",
    "DepartmentsFailedError",
    "ForbiddenError",
    "HTTPStatusError",
    "InvalidCodeError",
    "PoolTimeoutError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ResponseFormatError",
    "ServerError",
    "SessionStateError",
    "TransportError",
    "UnauthorizedError",
    "VoicenterError",
]


class VoicenterError(Exception):
    """Base class of every error raised by voicenter-async.

    Attributes:
        label: The department label the failed request was for, or None when
            the error is not tied to one department. Never the code itself.
    """

    def __init__(self, message: str, *, label: str | None = None) -> None:
        super().__init__(message)
        self.label = label

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""


class InvalidCodeError(VoicenterError, ValueError):
    """A department code was rejected before any request was sent."""


class SessionStateError(VoicenterError, RuntimeError):
    """The session is closed, entered twice, or bound to another event loop."""


class APIError(VoicenterError):
    """The service returned a non-zero ``ERR``.

    Attributes:
        err: The raw ``ERR`` value, as an int.
        desc: The raw ``DESC`` text, or None when it was missing.
    """

    def __init__(
        self, message: str, *, label: str | None, err: int, desc: str | None
    ) -> None:
        super().__init__(message, label=label)
        self.err = err
        self.desc = desc


class UnauthorizedError(APIError):
    """``ERR`` 1, "Unauthorized": the service rejected the code's format."""


class HTTPStatusError(VoicenterError):
    """The service returned an HTTP status other than 2xx.

    Attributes:
        status_code: The HTTP status code.
        excerpt: The start of the response body, with any code masked.
        retry_after: The delay in seconds that the service requested through
            ``Retry-After`` with a 429 or 5xx status, or None when it sent none.
    """

    def __init__(
        self,
        message: str,
        *,
        label: str | None,
        status_code: int,
        excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, label=label)
        self.status_code = status_code
        self.excerpt = excerpt
        self.retry_after = retry_after


class ForbiddenError(HTTPStatusError):
    """HTTP 403: the calling server's IP is probably not on the allow-list."""


class RateLimitedError(HTTPStatusError):
    """HTTP 429: the service throttled the caller.

    ``retry_after`` is the delay the service requested, or None.
    """


class ServerError(HTTPStatusError):
    """HTTP 5xx: the service failed or is unavailable.

    ``retry_after`` is the delay the service requested, or None.
    """


class TransportError(VoicenterError):
    """The request could not be completed on the network."""


class RequestTimeoutError(TransportError, TimeoutError):
    """The request did not finish within its timeout or deadline."""


class PoolTimeoutError(RequestTimeoutError):
    """No pooled connection became free within the pool timeout."""


class ResponseFormatError(VoicenterError):
    """The response body is not a valid GetExtensions answer.

    Attributes:
        path: Where in the body the problem is, such as
            ``EXTENSIONS[3].AccountID``, or None for the body as a whole.
        excerpt: The start of the response body, with any code masked.
    """

    def __init__(
        self,
        message: str,
        *,
        label: str | None = None,
        path: str | None = None,
        excerpt: str = "",
    ) -> None:
        super().__init__(message, label=label)
        self.path = path
        self.excerpt = excerpt


class DepartmentsFailedError(ExceptionGroup[VoicenterError]):
    """Some departments of a fan-out failed.

    Raised by ``fetch_departments(raise_on_error=True)``. The roster with the
    departments that did succeed stays reachable as ``roster``.

    Attributes:
        roster: The complete `Roster`, failures included.
    """

    roster: Roster

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[VoicenterError],
        roster: Roster,
    ) -> DepartmentsFailedError:
        self = super().__new__(cls, message, exceptions)
        self.roster = roster
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[VoicenterError],
        roster: Roster,
    ) -> None:
        super().__init__(message, exceptions)

    def derive(  # type: ignore[override]
        self, excs: Sequence[VoicenterError]
    ) -> DepartmentsFailedError:
        """Build a group with a subset of the errors and the same roster."""
        return DepartmentsFailedError(self.message, excs, self.roster)
