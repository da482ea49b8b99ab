"""Mapping between GetExtensions' JSON and the library's records.

The service is loose about types: ``ERR`` comes as 0 or "0", and
``AccountID`` as a number or a digit string. The parser accepts each
documented variant. It rejects anything that could silently corrupt data,
such as a float id or a record without a SIP.

The private cattrs converter defines the mapping. A body is first decoded by
msgspec into typed structs that accept the same wire types, and msgspec then
builds the records from the structs, which is several times faster for large
bodies. Records with a number for a SIP or a speed dial, or an id as a
string, are built from the structs in Python instead. Any body that this
fast path does not accept as it is goes through ``json`` and the converter,
so every error is raised, with its message and path, by the converter's path
alone.
"""

from __future__ import annotations

import gc
import json
import re
import sys
from typing import Annotated, Any

import attrs
import cattrs
import msgspec
from cattrs.gen import make_dict_structure_fn, override

from ._errors import APIError, ResponseFormatError, UnauthorizedError, VoicenterError
from ._models import Extension
from ._secrets import mask_text

__all__ = ["EXCERPT_LENGTH", "excerpt", "parse_body"]

EXCERPT_LENGTH = 100

_CONTROL_RUN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")

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


# Ids are database integers. The bound keeps int() far below CPython's
# 4,300-digit conversion limit, past which it raises ValueError.
_MAX_ID_DIGITS = 20


class _FieldError(ValueError):
    """A wire value that cannot become the field's type.

    The message contains only what was expected. The caller adds the value,
    masked, because only the caller knows the code to mask.
    """


def _structure_id(value: object, _: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    digits = value.strip() if isinstance(value, str) else ""
    if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_ID_DIGITS:
        return int(digits)
    msg = f"expected an integer or a string of at most {_MAX_ID_DIGITS} digits"
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
        sip=override(rename=WIRE_NAMES["sip"], struct_hook=_structure_sip),
        name=override(rename=WIRE_NAMES["name"], struct_hook=_structure_text),
        speed_dial=override(
            rename=WIRE_NAMES["speed_dial"], struct_hook=_structure_text_or_number
        ),
        account_id=override(rename=WIRE_NAMES["account_id"], struct_hook=_structure_id),
        account_name=override(
            rename=WIRE_NAMES["account_name"], struct_hook=_structure_text
        ),
        user_name=override(rename=WIRE_NAMES["user_name"], struct_hook=_structure_text),
        user_email=override(
            rename=WIRE_NAMES["user_email"], struct_hook=_structure_text
        ),
    )
    converter.register_structure_hook(Extension, structure)

    return converter


_CONVERTER = _make_converter()
_structure_extension = _CONVERTER.get_structure_hook(Extension)


class _WireExtension(msgspec.Struct, rename=WIRE_NAMES, gc=False):
    """One record as the fast path decodes it, with the converter's wire types.

    A float, a boolean or a nested value where these types do not allow it
    makes msgspec reject the body, which sends it to the converter's path.
    """

    sip: Annotated[str, msgspec.Meta(min_length=1)] | int
    name: str | None = None
    speed_dial: str | int | None = None
    account_id: int | str | None = None
    account_name: str | None = None
    user_name: str | None = None
    user_email: str | None = None


class _WireDocument(msgspec.Struct):
    """A GetExtensions body as the fast path decodes it."""

    ERR: Any = None
    DESC: Any = None
    EXTENSIONS: list[_WireExtension] | None = None


_FAST_DECODER = msgspec.json.Decoder(_WireDocument)


class _Records(msgspec.Struct):
    """The records of a decoded document, as msgspec builds them.

    msgspec caches a struct type's conversion plan on the type, so converting
    to this struct costs less per call than converting to ``list[Extension]``.
    """

    EXTENSIONS: list[Extension]


#: Bodies with at least this many records are built with the cyclic garbage
#: collector paused.
_PAUSE_GC_RECORDS = 1_000

# The slot descriptors of `Extension`, in field order. Setting slots directly
# skips the frozen class's name-based ``object.__setattr__`` calls, which are
# most of the cost of building a record. This is only equivalent to calling
# ``Extension(...)`` while the class has no validators, converters or
# ``__attrs_post_init__``; a test checks that.
_SLOT_SETTERS = tuple(
    Extension.__dict__[field.name].__set__ for field in attrs.fields(Extension)
)


def excerpt(body: bytes | str, *codes: str) -> str:
    """Return the start of a body for an error message, with codes masked.

    Runs of whitespace and control characters become one space, so that an
    excerpt stays on one line in a message or a log record and cannot forge
    a log line of its own.
    """
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    text = mask_text(text, *codes)
    text = _CONTROL_RUN.sub(" ", text).strip()
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
            GetExtensions response.
    """
    try:
        return _parse(body, label=label, code=code)
    except VoicenterError:
        raise
    except Exception as exc:
        # Whatever else parsing raises, such as RecursionError for a deeply
        # nested body, is still a bad body for this department only. It is
        # raised outside this block, so that no exception holding parts of
        # the body stays attached as __context__.
        failure = type(exc).__name__
    msg = (
        f"GetExtensions response for {label} could not be parsed "
        f"({failure}); body starts with: {excerpt(body, code)}"
    )
    raise ResponseFormatError(msg, label=label, excerpt=excerpt(body, code))


def _parse(body: bytes, *, label: str | None, code: str) -> list[Extension]:
    fast = _parse_fast(body, label=label, code=code)
    if fast is not None:
        return fast

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


def _parse_fast(body: bytes, *, label: str | None, code: str) -> list[Extension] | None:
    """Parse a valid body quickly, or return None to use the converter's path.

    Returns None, and raises nothing of its own, for any body whose records
    it cannot convert exactly as the converter would. An ``ERR`` other than
    0 is raised here as on the converter's path.
    """
    try:
        document = _FAST_DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    header = {"ERR": document.ERR, "DESC": document.DESC}
    _check_err(header, body=body, label=label, code=code)
    records = document.EXTENSIONS
    if records is None:
        return []
    if len(records) < _PAUSE_GC_RECORDS or not gc.isenabled():
        return _build(document)
    # Each record is a new object tracked by the cyclic garbage collector,
    # so a large body sets off many collections, a full one among them,
    # which take about a third of the build. The records hold no cycles,
    # so collecting is only postponed to after the build. Another thread
    # that disables the collector meanwhile finds it enabled again.
    gc.disable()
    try:
        return _build(document)
    finally:
        gc.enable()


def _build(document: _WireDocument) -> list[Extension] | None:
    try:
        # Records whose wire types are already the record's types, as in
        # nearly every real body, are built by msgspec in one pass.
        built = msgspec.convert(document, _Records, from_attributes=True)
    except msgspec.ValidationError:
        # A number for a SIP or a speed dial, or an id as a string: the
        # message names a field, never its value, and is dropped here.
        return _convert_fast(document.EXTENSIONS or [])
    _share_account_names(built.EXTENSIONS)

    return built.EXTENSIONS


def _share_account_names(extensions: list[Extension]) -> None:
    # Department names repeat on every extension of a department, so one
    # interned copy serves a whole roster.
    intern = sys.intern
    set_account_name = _SLOT_SETTERS[4]
    previous: str | None = None
    for extension in extensions:
        name = extension.account_name
        if name is None or name is previous:
            continue
        if name == previous:
            set_account_name(extension, previous)
        else:
            previous = intern(name)
            if previous is not name:
                set_account_name(extension, previous)


def _convert_fast(records: list[_WireExtension]) -> list[Extension] | None:
    intern = sys.intern
    new = object.__new__
    set_sip, set_name, set_speed_dial, set_account_id = _SLOT_SETTERS[:4]
    set_account_name, set_user_name, set_user_email = _SLOT_SETTERS[4:]
    extensions: list[Extension] = []
    append = extensions.append
    for record in records:
        sip = record.sip
        if type(sip) is not str:
            sip = str(sip)
        speed_dial = record.speed_dial
        if speed_dial is not None and type(speed_dial) is not str:
            speed_dial = str(speed_dial)
        account_id = record.account_id
        if account_id is not None and type(account_id) is not int:
            try:
                account_id = _structure_id(account_id, None)
            except _FieldError:
                return None
        account_name = record.account_name
        if account_name is not None:
            # Department names repeat on every extension of a department, so
            # one interned copy serves a whole roster.
            account_name = intern(account_name)

        extension = new(Extension)
        set_sip(extension, sip)
        set_name(extension, record.name)
        set_speed_dial(extension, speed_dial)
        set_account_id(extension, account_id)
        set_account_name(extension, account_name)
        set_user_name(extension, record.user_name)
        set_user_email(extension, record.user_email)
        append(extension)

    return extensions


def _decode(body: bytes, *, label: str | None, code: str) -> dict[str, Any]:
    # The decoder's error keeps the whole body, which may echo the code, so
    # it is raised outside the except block, leaving no __context__ behind.
    failure = None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        failure = type(exc).__name__
    if failure is not None:
        shown = excerpt(body, code) or "<empty>"
        msg = (
            f"GetExtensions response for {label} is not valid JSON "
            f"({failure}); body starts with: {shown}"
        )
        raise ResponseFormatError(msg, label=label, excerpt=shown)
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
        # The converter's errors contain only what was expected, never the
        # value, so they are safe to keep as the cause.
        raise ResponseFormatError(
            msg, label=label, path=field_path, excerpt=excerpt(body, code)
        ) from exc


def _first_field_error(group: cattrs.ClassValidationError) -> tuple[str, str]:
    for error in group.exceptions:
        for note in getattr(error, "__notes__", ()):
            name = getattr(note, "name", None)
            if isinstance(name, str):
                return name, str(error)

    return "?", str(group.exceptions[0])
