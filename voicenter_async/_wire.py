"""Mapping between GetExtensions' JSON and the library's records.

The service is loose about types (``ERR`` as 0 or "0", ``AccountID`` as a
number or a digit string), so the parser accepts each documented variant, and
rejects anything that could silently corrupt data, such as a float id or a
record without a SIP.
"""

from __future__ import annotations

import json
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import APIError, ResponseFormatError, UnauthorizedError
from ._models import Extension
from ._secrets import mask_text

__all__ = ["EXCERPT_LENGTH", "excerpt", "parse_body"]

EXCERPT_LENGTH = 100

#: Wire name of each `Extension` field.
WIRE_NAMES = {
    "sip": "SIP",
    "name": "Name",
    "speed_dial": "SpeedDial",
    "account_id": "AccountID",
    "account_name": "AccountName",
    "user_name": "UserName",
    "user_email": "UserEmail",
}


class _FieldError(ValueError):
    """A wire value that cannot become the field's type.

    The message says only what was expected. The caller adds the value,
    masked, because only the caller knows the code to mask.
    """


def _structure_id(value: object, _: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    msg = "expected an integer or a string of digits"
    raise _FieldError(msg)


def _structure_text(value: object, _: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    msg = "expected a string"
    raise _FieldError(msg)


def _structure_text_or_number(value: object, _: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    msg = "expected a string or an integer"
    raise _FieldError(msg)


def _structure_sip(value: object, _: object) -> str:
    sip = _structure_text_or_number(value, _)
    if not sip:
        msg = "expected a non-empty SIP"
        raise _FieldError(msg)

    return sip


def _show(value: object, code: str) -> str:
    """Return a short repr of a wire value for a message, with the code masked."""
    text = mask_text(repr(value), code)
    if len(text) > 40:
        text = text[:37] + "..."

    return text


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()

    structure = make_dict_structure_fn(
        Extension,
        converter,
        _cattrs_detailed_validation=True,
        sip=override(rename="SIP", struct_hook=_structure_sip),
        name=override(rename="Name", struct_hook=_structure_text),
        speed_dial=override(rename="SpeedDial", struct_hook=_structure_text_or_number),
        account_id=override(rename="AccountID", struct_hook=_structure_id),
        account_name=override(rename="AccountName", struct_hook=_structure_text),
        user_name=override(rename="UserName", struct_hook=_structure_text),
        user_email=override(rename="UserEmail", struct_hook=_structure_text),
    )
    converter.register_structure_hook(Extension, structure)

    return converter


_CONVERTER = _make_converter()
_structure_extension = _CONVERTER.get_structure_hook(Extension)


def excerpt(body: bytes | str, *codes: str) -> str:
    """Return the start of a body for an error message, with codes masked."""
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    text = mask_text(text, *codes)
    if len(text) > EXCERPT_LENGTH:
        text = text[:EXCERPT_LENGTH] + "..."

    return text


def parse_body(body: bytes, *, label: str | None, code: str) -> list[Extension]:
    """Decode a GetExtensions body into extensions.

    Args:
        body: The raw response body.
        label: The department label, for error messages.
        code: The code that was sent, so it can be masked in excerpts.

    Raises:
        UnauthorizedError: ``ERR`` is 1.
        APIError: ``ERR`` is any other non-zero value.
        ResponseFormatError: The body is not JSON, or not shaped like a
            GetExtensions answer.
    """
    document = _decode(body, label=label, code=code)
    _check_err(document, body=body, label=label, code=code)
    records = document.get("EXTENSIONS")
    if records is None:
        return []
    if not isinstance(records, list):
        msg = (
            f"GetExtensions response for {label} has an invalid EXTENSIONS: "
            f"expected a list, got {type(records).__name__}"
        )
        raise ResponseFormatError(
            msg, label=label, path="EXTENSIONS", excerpt=excerpt(body, code)
        )

    return [
        _structure_record(record, index, body=body, label=label, code=code)
        for index, record in enumerate(records)
    ]


def _decode(body: bytes, *, label: str | None, code: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        shown = excerpt(body, code) or "<empty>"
        msg = (
            f"GetExtensions response for {label} is not valid JSON "
            f"({type(exc).__name__}); body starts with: {shown}"
        )
        raise ResponseFormatError(msg, label=label, excerpt=shown) from None
    if not isinstance(document, dict):
        msg = (
            f"GetExtensions response for {label} is not a JSON object: "
            f"got {type(document).__name__}"
        )
        raise ResponseFormatError(msg, label=label, excerpt=excerpt(body, code))

    return document


def _check_err(
    document: dict[str, Any], *, body: bytes, label: str | None, code: str
) -> None:
    raw = document.get("ERR")
    try:
        err = _structure_id(raw, None)
    except _FieldError:
        err = None
    if err is None:
        msg = (
            f"GetExtensions response for {label} has an invalid ERR: "
            f"expected 0 or another integer, got {_show(raw, code)}"
        )
        raise ResponseFormatError(
            msg, label=label, path="ERR", excerpt=excerpt(body, code)
        )
    if err == 0:
        return

    desc = document.get("DESC")
    desc = mask_text(desc, code) if isinstance(desc, str) else None
    if err == 1:
        msg = (
            f"Voicenter rejected the code of {label} as invalid (ERR 1, "
            f"{desc!r}); check that the code was copied whole"
        )
        raise UnauthorizedError(msg, label=label, err=err, desc=desc)
    msg = f"Voicenter returned ERR {err} ({desc!r}) for {label}"
    raise APIError(msg, label=label, err=err, desc=desc)


def _structure_record(
    record: object, index: int, *, body: bytes, label: str | None, code: str
) -> Extension:
    path = f"EXTENSIONS[{index}]"
    if not isinstance(record, dict):
        msg = (
            f"GetExtensions response for {label} has an invalid {path}: "
            f"expected an object, got {type(record).__name__}"
        )
        raise ResponseFormatError(
            msg, label=label, path=path, excerpt=excerpt(body, code)
        )
    if record.get("SIP") is None:
        msg = f"GetExtensions response for {label} has no SIP in {path}"
        raise ResponseFormatError(
            msg, label=label, path=f"{path}.SIP", excerpt=excerpt(body, code)
        )
    try:
        return _structure_extension(record, Extension)  # type: ignore[no-any-return]
    except cattrs.ClassValidationError as exc:
        field, reason = _first_field_error(exc)
        wire_name = WIRE_NAMES.get(field, field)
        field_path = f"{path}.{wire_name}"
        shown = _show(record.get(wire_name), code)
        msg = (
            f"GetExtensions response for {label} has an invalid {field_path}: "
            f"{reason}, got {shown}"
        )
        raise ResponseFormatError(
            msg, label=label, path=field_path, excerpt=excerpt(body, code)
        ) from None


def _first_field_error(group: cattrs.ClassValidationError) -> tuple[str, str]:
    for error in group.exceptions:
        for note in getattr(error, "__notes__", ()):
            name = getattr(note, "name", None)
            if isinstance(name, str):
                return name, str(error)

    return "?", str(group.exceptions[0])
