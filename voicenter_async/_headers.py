"""Checking the extra request headers a session is given.

A header that cannot be sent would otherwise fail every request at the
transport, reported as a network error. Messages name the header but never
its value, which may be a secret such as a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["check_headers"]

# RFC 9110, section 5.6.2: a field name is a token of these characters.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")

# RFC 9110, section 5.5: a field value may contain tab, space, visible ASCII
# and bytes 0x80-0xFF, and starts and ends with neither tab nor space. CR, LF
# and NUL end a header early, so they are checked first for a clearer message.
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_NAME_CHARACTERS = "ASCII letters, digits and !#$%&'*+-.^_`|~"


def check_headers(headers: object) -> dict[str, str | bytes]:
    """Return the headers as a dict, or raise for one that cannot be sent.

    Names must be HTTP tokens, given as str or bytes. Values must be str of
    ASCII characters, or bytes, and neither may contain a control character
    other than tab or start or end with whitespace.

    Raises:
        ValueError: ``headers`` is not a mapping, or a name or value is of
            the wrong type or cannot be sent.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        msg = (
            "headers must be a mapping of header name to value, such as "
            f"{{'X-Team': 'sales'}}, got {type(headers).__name__}"
        )
        raise ValueError(msg)

    checked: dict[str, str | bytes] = {}
    for name, value in headers.items():
        text_name = _check_name(name)
        _check_value(text_name, value)
        checked[text_name] = value

    return checked


def _check_name(name: object) -> str:
    if isinstance(name, bytes):
        text = name.decode("latin-1")
    elif isinstance(name, str):
        text = name
    else:
        msg = f"header names must be str or bytes, got {type(name).__name__}"
        raise ValueError(msg)
    if _TOKEN.fullmatch(text) is None:
        msg = (
            f"header name {text!r} is invalid: a header name is one or more "
            f"of {_NAME_CHARACTERS}, with no spaces or colons"
        )
        raise ValueError(msg)

    return text


def _check_value(name: str, value: object) -> None:
    if isinstance(value, bytes):
        # Latin-1 maps each byte to the code point of the same number, so
        # the checks below read the bytes as they are.
        text = value.decode("latin-1")
    elif isinstance(value, str):
        if not value.isascii():
            msg = (
                f"header {name!r} has a non-ASCII value, which HTTP cannot "
                "send as text; pass the value as bytes in the encoding the "
                "server expects, such as value.encode('utf-8')"
            )
            raise ValueError(msg)
        text = value
    else:
        msg = (
            f"header {name!r} must have a str or bytes value, got "
            f"{type(value).__name__}; convert it, as in str(value)"
        )
        raise ValueError(msg)

    fault = _value_fault(text)
    if fault is not None:
        msg = f"header {name!r} has an invalid value: {fault}"
        raise ValueError(msg)


def _value_fault(text: str) -> str | None:
    if _LINE_BREAK.search(text):
        return (
            "it contains a line break or a NUL character, which would end "
            "the header early; remove it"
        )
    if _CONTROL.search(text):
        return "it contains a control character other than tab; remove it"
    if text != text.strip(" \t"):
        return (
            "it starts or ends with whitespace, which HTTP does not keep; "
            "strip the value"
        )

    return None
