"""Asyncio client for Voicenter's Organizational Extension List API.

One `VoicenterSession` owns one pooled `httpx.AsyncClient`, fetches the
extensions of one department code or of many codes at once, and returns typed
`attrs` records. `parse_codes` and `read_codes` read lists of ``label=code``
entries in the format of the command line's codes files.
"""

from ._codes import CodesInputError, parse_codes, read_codes
from ._errors import (
    APIError,
    DepartmentsFailedError,
    ForbiddenError,
    HTTPStatusError,
    InvalidCodeError,
    PoolTimeoutError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    SessionStateError,
    TransportError,
    UnauthorizedError,
    VoicenterError,
)
from ._models import DepartmentResult, Extension, Roster, SipConflict
from ._secrets import code_fingerprint
from ._session import DEFAULT_BASE_URL, VoicenterSession, VoicenterWarning
from ._stats import ResponseEvent, RetryEvent, SessionStats
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "CodesInputError",
    "DepartmentResult",
    "DepartmentsFailedError",
    "Extension",
    "ForbiddenError",
    "HTTPStatusError",
    "InvalidCodeError",
    "PoolTimeoutError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ResponseEvent",
    "ResponseFormatError",
    "RetryEvent",
    "Roster",
    "ServerError",
    "SessionStateError",
    "SessionStats",
    "SipConflict",
    "TransportError",
    "UnauthorizedError",
    "VoicenterError",
    "VoicenterSession",
    "VoicenterWarning",
    "__version__",
    "code_fingerprint",
    "parse_codes",
    "read_codes",
]
