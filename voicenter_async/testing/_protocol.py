"""The GetExtensions protocol as one pure function, shared by every emulator.

The socket server and the respx helper both call :func:`handle_request`, so
a response cannot depend on which of the two produced it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from voicenter_async._secrets import code_fingerprint as fingerprint

from ._org import Directory, encode_json, is_valid_code

API_PATH = "/Comet/api/GetExtensions"

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

_TRUE_VALUES = frozenset({"1", "true"})
_FALSE_VALUES = frozenset({"0", "false"})


# A successful listing is encode_json({"ERR": 0, "DESC": "OK", "EXTENSIONS":
# [...]}), written as these two ends around the array items.
_LISTING_START = b'{"ERR":0,"DESC":"OK","EXTENSIONS":['
_LISTING_END = b"]}"


def _mask_optional_code(code: str | None) -> str:
    return "None" if code is None else fingerprint(code)


@attrs.frozen
class Reply:
    """An HTTP response before it is written to a socket or a mock.

    Attributes:
        status: The HTTP status code.
        headers: Header name and value pairs, without ``Content-Length``,
            which the transport adds.
        body: The response body.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header, or None if there is none."""
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        return None


@attrs.frozen
class ParsedRequest:
    """A request after parsing, before any department is looked up.

    Attributes:
        method: The HTTP method, upper case.
        path: The URL path without the query string.
        code: The ``code`` parameter, or None when it is missing or not a
            string. The repr shows its fingerprint.
        show_all: The ``showAll`` value; None when it is missing.
        error: Why the request cannot get a normal response, or None. One of
            ``"not_found"``, ``"method_not_allowed"``, ``"invalid_body"``
            and ``"invalid_show_all"``.
    """

    method: str
    path: str
    code: str | None = attrs.field(repr=_mask_optional_code)
    show_all: bool | None = None
    error: str | None = None

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of :attr:`code`, or None when there is no code."""
        return None if self.code is None else fingerprint(self.code)


def _parse_show_all(value: object) -> tuple[bool | None, bool]:
    """Return the ``showAll`` flag and whether ``value`` was valid."""
    if value is None:
        return None, True
    if isinstance(value, bool):
        return value, True
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE_VALUES:
            return True, True
        if lowered in _FALSE_VALUES:
            return False, True

    return None, False


def _query_params(query: str) -> dict[str, Any]:
    """Return the first value of each query parameter."""
    values = parse_qs(query, keep_blank_values=True)

    return {name: items[0] for name, items in values.items()}


def parse_request(method: str, target: str, body: bytes = b"") -> ParsedRequest:
    """Parse a request line target and body into a :class:`ParsedRequest`.

    For ``POST``, the body is a JSON object with the keys ``code`` and
    ``showAll``. Query parameters fill in keys the body leaves out, and an
    empty body counts as ``{}``.

    Args:
        method: The HTTP method.
        target: The request target, a path with an optional query string.
        body: The request body.
    """
    method = method.upper()
    if target == API_PATH:
        # The usual POST target has no query string, so parsing can skip it.
        path = API_PATH
        params: dict[str, Any] = {}
    else:
        split = urlsplit(target)
        path = split.path
        params = _query_params(split.query)

    if path != API_PATH:
        return ParsedRequest(method, path, None, error="not_found")
    if method not in {"GET", "POST"}:
        return ParsedRequest(method, path, None, error="method_not_allowed")

    if method == "POST" and body.strip():
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return ParsedRequest(method, path, None, error="invalid_body")
        params.update(payload)

    code = params.get("code")
    show_all, valid = _parse_show_all(params.get("showAll"))

    return ParsedRequest(
        method,
        path,
        code if isinstance(code, str) else None,
        show_all,
        None if valid else "invalid_show_all",
    )


def _json_reply(value: object, status: int = 200) -> Reply:
    return Reply(status, (("Content-Type", JSON_CONTENT_TYPE),), encode_json(value))


def _api_reply(err: int, desc: str, extensions: list[dict[str, Any]]) -> Reply:
    return _json_reply({"ERR": err, "DESC": desc, "EXTENSIONS": extensions})


def _error_reply(request: ParsedRequest) -> Reply:
    if request.error == "not_found":
        return Reply(404, (("Content-Type", TEXT_CONTENT_TYPE),), b"Not Found")
    if request.error == "method_not_allowed":
        headers = (("Content-Type", TEXT_CONTENT_TYPE), ("Allow", "GET, POST"))
        return Reply(405, headers, b"Method Not Allowed")
    if request.error == "invalid_body":
        body = {"ERR": 1, "DESC": "Invalid JSON body", "EXTENSIONS": []}
        return _json_reply(body, status=400)

    return _api_reply(1, "Invalid showAll value", [])


def build_reply(directory: Directory, request: ParsedRequest) -> Reply:
    """Build the response to a parsed request from ``directory``.

    Responses, in order of precedence:

    * a path other than :data:`API_PATH`: 404, plain text;
    * a method other than GET or POST: 405 with ``Allow: GET, POST``;
    * a POST body that is not a JSON object: 400 with ERR 1;
    * a missing code, or one that is not 8 to 64 ASCII letters or digits:
      ERR 1, DESC ``Unauthorized``, no extensions;
    * a ``showAll`` other than 1, 0, true or false (as numbers, booleans or
      case-insensitive strings): ERR 1, DESC ``Invalid showAll value``;
    * a well-formed code no department uses: ERR 0, DESC ``OK``, no
      extensions;
    * otherwise ERR 0, DESC ``OK``, and the extensions of every department
      of the code's organization, or only of the code's department when
      ``showAll`` is 0 or false.

    API responses are HTTP 200 with ``Content-Type: application/json;
    charset=utf-8``.
    """
    if request.error in {"not_found", "method_not_allowed", "invalid_body"}:
        return _error_reply(request)
    if not is_valid_code(request.code):
        return _api_reply(1, "Unauthorized", [])
    if request.error is not None:
        return _error_reply(request)

    assert request.code is not None
    department = directory.get(request.code)
    if department is None:
        return _api_reply(0, "OK", [])

    if request.show_all is False:
        items = directory.encoded_extensions(department)
        body = _LISTING_START + items + _LISTING_END
    else:
        organization = department.organization
        body = directory.organization_body(
            organization, lambda: _encode_organization(directory, organization)
        )

    return Reply(200, (("Content-Type", JSON_CONTENT_TYPE),), body)


def _encode_organization(directory: Directory, organization: str) -> bytes:
    departments = directory.organization(organization)
    # A department without extensions has no items, and so adds no comma.
    items = [directory.encoded_extensions(d) for d in departments]
    joined = b",".join(item for item in items if item)

    return _LISTING_START + joined + _LISTING_END


def handle_request(
    directory: Directory, method: str, target: str, body: bytes = b""
) -> Reply:
    """Build the response to one GetExtensions request, as the emulator does.

    This is the whole protocol of the emulator as a pure function; see
    :func:`build_reply` for the responses. Use it to build your own transport,
    for example an ``httpx.MockTransport``.

    Args:
        directory: The departments to list.
        method: The HTTP method.
        target: The request target: path and optional query string, such as
            ``/Comet/api/GetExtensions?code=...&showAll=0``.
        body: The request body; for POST, a JSON object.

    Returns:
        The reply to send.
    """
    return build_reply(directory, parse_request(method, target, body))
