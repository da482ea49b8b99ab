"""A strict reader for simple HTTP/1.1 requests and a writer for responses.

The emulator serves every well-formed, plain request through
:func:`parse_simple_head` and :func:`response_head`, which cost a few
microseconds, and hands anything else to h11, which validates and rejects
exactly as before. "Plain" means: HTTP/1.1, CRLF line endings, a token
method other than CONNECT, a target of visible ASCII, exactly one ``Host``,
at most one ``Content-Length`` of digits, and none of ``Transfer-Encoding``,
``Expect``, ``Upgrade`` or a ``Connection`` value other than ``keep-alive``.
Response heads come from h11 too, cached, so both paths write the same bytes.
"""

from __future__ import annotations

import functools
import re

import attrs
import h11

__all__ = [
    "MAX_HEAD_SIZE",
    "SimpleRequest",
    "find_head_end",
    "parse_simple_head",
    "response_head",
    "sized_response_head",
]

# h11's default max_incomplete_event_size: a head still incomplete past this
# many bytes gets 431 from h11.
MAX_HEAD_SIZE = 16 * 1024

# RFC 9110 token characters, and a field value of visible ASCII or obs-text
# with single spaces or tabs inside but none at either end.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_FIELD_VALUE = (
    rb"(?:[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?)?"
)
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1")
_HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(" + _FIELD_VALUE + rb")[ \t]*")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_DIGITS = re.compile(rb"[0-9]+")

# Headers whose presence means the request needs h11's full handling.
_COMPLEX_HEADERS = frozenset({b"transfer-encoding", b"expect", b"upgrade"})


@attrs.frozen(slots=True)
class SimpleRequest:
    """The parts of a plain request head that the emulator needs.

    Attributes:
        method: The method as sent (not case-folded).
        target: The request target: path and optional query string.
        content_length: The body size in bytes; 0 without the header.
        head_size: Bytes of the head, the blank line included.
    """

    method: str
    target: str
    content_length: int
    head_size: int


def find_head_end(buffer: bytes | bytearray) -> int:
    """Return the index just past the head's blank line, or -1 if not yet sent.

    Like h11, this accepts a bare LF as a line end, so the caller sees a
    complete head that :func:`parse_simple_head` then declines.
    """
    match = _BLANK_LINE.search(buffer)
    if match is None:
        return -1

    return match.end()


@functools.lru_cache(maxsize=256)
def parse_simple_head(head: bytes) -> SimpleRequest | None:
    """Parse a complete request head, or return None if it is not plain.

    Results are cached by the head's bytes, because a client sends the same
    head again for each request of the same size to the same target.

    Args:
        head: The bytes up to and including the blank line that ends the
            head, as :func:`find_head_end` found them.

    Returns:
        The request, or None for anything that h11 must judge: a malformed
        line, another HTTP version, framing other than Content-Length, a
        missing or repeated ``Host``, and the headers the module docstring
        lists.
    """
    if not head.endswith(b"\r\n\r\n"):
        return None
    lines = head[:-4].split(b"\r\n")
    if any(b"\n" in line for line in lines):
        return None
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None or request_line[1] == b"CONNECT":
        return None

    content_length = _plain_content_length(lines[1:])
    if content_length is None:
        return None

    return SimpleRequest(
        method=request_line[1].decode("ascii"),
        target=request_line[2].decode("ascii"),
        content_length=content_length,
        head_size=len(head),
    )


def _plain_content_length(lines: list[bytes]) -> int | None:
    """Return the body size the header lines give, or None if they are not plain."""
    hosts = 0
    content_length: bytes | None = None
    for line in lines:
        header = _HEADER_LINE.fullmatch(line)
        if header is None:
            return None
        name = header[1].lower()
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            if content_length is not None or _DIGITS.fullmatch(header[2]) is None:
                return None
            content_length = header[2]
        elif name == b"connection":
            if header[2].lower() != b"keep-alive":
                return None
        elif name in _COMPLEX_HEADERS:
            return None
    if hosts != 1:
        return None

    return 0 if content_length is None else int(content_length)


@functools.lru_cache(maxsize=1024)
def response_head(
    status: int, headers: tuple[tuple[str, str], ...], *, close: bool
) -> bytes:
    """Return the status line and headers of a response to a plain request.

    h11 itself writes the bytes, on a connection that has just read a plain
    keep-alive request, so they are exactly what the h11 path sends, and an
    invalid header raises the same ``h11.LocalProtocolError``. ``headers``
    must contain ``Content-Length``; ``close`` adds ``Connection: close``.
    The result is cached because the emulator sends the same few heads again
    and again.
    """
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(_TEMPLATE_REQUEST)
    connection.next_event()
    if close:
        headers = (*headers, ("Connection", "close"))
    response = h11.Response(status_code=status, headers=list(headers))

    return connection.send(response) or b""


def sized_response_head(
    status: int,
    headers: tuple[tuple[str, str], ...],
    content_length: int,
    *,
    close: bool,
) -> bytes:
    """Return :func:`response_head` with ``Content-Length`` appended to ``headers``.

    Bodies of many different sizes would each miss the cache of
    :func:`response_head` and cost a run of h11, so this caches the head
    around a placeholder length once per status and header tuple, and puts
    the real length in. The bytes are the same either way.
    """
    parts = _split_head(status, headers, close=close)
    if parts is None:
        length_header = ("Content-Length", str(content_length))
        return response_head(status, (*headers, length_header), close=close)

    before, after = parts
    return b"%b%d%b" % (before, content_length, after)


# The placeholder line in a head that _split_head cuts at its value.
_LENGTH_LINE = b"\r\nContent-Length: 0\r\n"
_LENGTH_VALUE_START = len(b"\r\nContent-Length: ")


@functools.lru_cache(maxsize=1024)
def _split_head(
    status: int, headers: tuple[tuple[str, str], ...], *, close: bool
) -> tuple[bytes, bytes] | None:
    """Return the head for a zero-length body, cut before and after the ``0``.

    Returns None when ``headers`` already frame the body themselves (their
    own ``Content-Length``, or a ``Transfer-Encoding`` that makes h11 drop
    the length), so the caller falls back to a whole h11 head.
    """
    if any(name.lower() == "content-length" for name, _ in headers):
        return None
    head = response_head(status, (*headers, ("Content-Length", "0")), close=close)
    if head.count(_LENGTH_LINE) != 1:
        return None

    start = head.index(_LENGTH_LINE) + _LENGTH_VALUE_START
    return head[:start], head[start + 1 :]


_TEMPLATE_REQUEST = b"GET / HTTP/1.1\r\nHost: emulator\r\n\r\n"
