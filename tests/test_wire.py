"""Decoding GetExtensions bodies into records."""

from __future__ import annotations

import gc
import json
from typing import Any

import attrs
import cattrs
import pytest

from voicenter_async import (
    APIError,
    Extension,
    ResponseFormatError,
    UnauthorizedError,
    _wire,
)
from voicenter_async._wire import EXCERPT_LENGTH, WIRE_NAMES, parse_body

CODE = "Q7rT9wXv2LmN4pK8"
WIRE_TO_ATTRIBUTE = {wire: attribute for attribute, wire in WIRE_NAMES.items()}

FULL_RECORD = {
    "SIP": "1001",
    "Name": "דנה כהן",
    "SpeedDial": "101",
    "AccountID": 4521,
    "AccountName": "מכירות",
    "UserName": "Dana Cohen",
    "UserEmail": "dana@example.com",
}


def body(
    extensions: Any = None, *, err: Any = 0, desc: Any = "OK", **extra: Any
) -> bytes:
    document: dict[str, Any] = {"ERR": err, "DESC": desc, **extra}
    if extensions is not None:
        document["EXTENSIONS"] = extensions

    return json.dumps(document, ensure_ascii=False).encode()


def parse(raw: bytes) -> list[Extension]:
    return parse_body(raw, label="sales", code=CODE)


class TestSuccess:
    def test_full_record(self):
        """Every wire field maps to its snake_case attribute."""
        [extension] = parse(body([FULL_RECORD]))

        assert (
            Extension(
                sip="1001",
                name="דנה כהן",
                speed_dial="101",
                account_id=4521,
                account_name="מכירות",
                user_name="Dana Cohen",
                user_email="dana@example.com",
            )
            == extension
        )

    def test_order_kept(self):
        """Records come back in the order the service listed them."""
        records = [{"SIP": str(n)} for n in (3, 1, 2)]

        assert ["3", "1", "2"] == [e.sip for e in parse(body(records))]

    @pytest.mark.parametrize("err", [0, "0", " 0 "])
    def test_err_zero_forms(self, err):
        """ERR may arrive as a number or a string."""
        assert 1 == len(parse(body([FULL_RECORD], err=err)))

    @pytest.mark.parametrize(("raw", "expected"), [(4521, 4521), ("4521", 4521)])
    def test_account_id_forms(self, raw, expected):
        """AccountID may arrive as an int or a digit string."""
        [extension] = parse(body([{**FULL_RECORD, "AccountID": raw}]))

        assert expected == extension.account_id

    @pytest.mark.parametrize(("raw", "expected"), [("101", "101"), (101, "101")])
    def test_speed_dial_forms(self, raw, expected):
        """SpeedDial may arrive as a string or an int and is kept as text."""
        [extension] = parse(body([{**FULL_RECORD, "SpeedDial": raw}]))

        assert expected == extension.speed_dial

    def test_numeric_sip_becomes_text(self):
        """A numeric SIP is kept as text, like the documented string."""
        [extension] = parse(body([{"SIP": 1001}]))

        assert "1001" == extension.sip

    @pytest.mark.parametrize(
        "field",
        ["Name", "SpeedDial", "AccountID", "AccountName", "UserName", "UserEmail"],
    )
    def test_null_optional_is_none(self, field):
        """A null optional field becomes None, never the text 'None'."""
        [extension] = parse(body([{**FULL_RECORD, field: None}]))

        values = attrs.asdict(extension)
        assert "None" not in values.values()
        assert values[WIRE_TO_ATTRIBUTE[field]] is None

    def test_missing_optionals_are_none(self):
        """A record with only a SIP has None for every other field."""
        [extension] = parse(body([{"SIP": "7"}]))

        assert Extension(sip="7") == extension

    def test_unknown_keys_ignored(self):
        """Keys the library does not know are skipped."""
        record = {**FULL_RECORD, "Department": "x", "Extra": [1, 2]}

        assert 1 == len(parse(body([record], TOP_LEVEL="y")))

    @pytest.mark.parametrize("extensions", [None, []])
    def test_missing_or_null_list_is_empty(self, extensions):
        """EXTENSIONS missing or null is an empty list."""
        raw = body(extensions)
        if extensions is None:
            raw = body(EXTENSIONS=None)

        assert [] == parse(raw)

    def test_extensions_key_absent(self):
        """A body without EXTENSIONS is an empty list."""
        assert [] == parse(b'{"ERR":0,"DESC":"OK"}')

    def test_utf8_bom_free_hebrew(self):
        """Hebrew text arrives intact."""
        [extension] = parse(body([{"SIP": "1", "Name": "שלום עולם"}]))

        assert "שלום עולם" == extension.name


class TestApiErrors:
    def test_err_one_is_unauthorized(self):
        """ERR 1 raises UnauthorizedError with ERR and DESC."""
        with pytest.raises(UnauthorizedError) as info:
            parse(body([], err=1, desc="Unauthorized"))

        assert 1 == info.value.err
        assert "Unauthorized" == info.value.desc
        assert "sales" == info.value.label

    @pytest.mark.parametrize("err", [2, "7", -1])
    def test_other_err_is_api_error(self, err):
        """Any other non-zero ERR raises APIError with the raw values."""
        with pytest.raises(APIError) as info:
            parse(body([], err=err, desc="Internal error."))

        assert not isinstance(info.value, UnauthorizedError)
        assert int(err) == info.value.err
        assert "Internal error." == info.value.desc

    def test_non_text_desc_dropped(self):
        """A DESC that is not text is reported as None."""
        with pytest.raises(APIError) as info:
            parse(body([], err=3, desc=5))

        assert info.value.desc is None


class TestBadBodies:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"<html><body>Service Unavailable</body></html>",
            b'{"ERR":0,"DESC":"OK","EXTENSIONS":[{"SIP":"1"',
            b"\xff\xfe\x00",
        ],
        ids=["empty", "html", "truncated", "binary"],
    )
    def test_not_json(self, raw):
        """A body that is not JSON raises ResponseFormatError."""
        with pytest.raises(ResponseFormatError) as info:
            parse(raw)

        assert info.value.path is None
        assert "not valid JSON" in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__context__ is None

    @pytest.mark.parametrize("raw", [b"[]", b'"OK"', b"0", b"null"])
    def test_not_an_object(self, raw):
        """A JSON value that is not an object raises ResponseFormatError."""
        with pytest.raises(ResponseFormatError, match="not a JSON object"):
            parse(raw)

    @pytest.mark.parametrize("err", [None, "x", 1.5, True, [], "١"])
    def test_invalid_err(self, err):
        """An ERR that is not an integer raises with path ERR."""
        with pytest.raises(ResponseFormatError) as info:
            parse(body([], err=err))

        assert "ERR" == info.value.path

    def test_err_missing(self):
        """A body without ERR raises with path ERR."""
        with pytest.raises(ResponseFormatError) as info:
            parse(b'{"DESC":"OK","EXTENSIONS":[]}')

        assert "ERR" == info.value.path

    @pytest.mark.parametrize("extensions", [{}, "x", 3])
    def test_extensions_not_a_list(self, extensions):
        """EXTENSIONS that is not a list raises with its path."""
        with pytest.raises(ResponseFormatError) as info:
            parse(body(extensions))

        assert "EXTENSIONS" == info.value.path

    def test_record_not_an_object(self):
        """A record that is not an object names its index."""
        with pytest.raises(ResponseFormatError) as info:
            parse(body([FULL_RECORD, "1002"]))

        assert "EXTENSIONS[1]" == info.value.path

    @pytest.mark.parametrize("sip", [None, "", "MISSING"])
    def test_record_without_sip(self, sip):
        """A record without a SIP is an error, not skipped."""
        record = {k: v for k, v in FULL_RECORD.items() if k != "SIP"}
        if sip != "MISSING":
            record["SIP"] = sip

        with pytest.raises(ResponseFormatError) as info:
            parse(body([FULL_RECORD, FULL_RECORD, FULL_RECORD, record]))

        assert "EXTENSIONS[3].SIP" == info.value.path

    @pytest.mark.parametrize("account_id", [12.7, 12.0, True, "12a", "", [], "١٢"])
    def test_bad_account_id(self, account_id):
        """A float, bool or non-digit AccountID is an error, not truncated."""
        records = [FULL_RECORD] * 3 + [{**FULL_RECORD, "AccountID": account_id}]

        with pytest.raises(ResponseFormatError) as info:
            parse(body(records))

        assert "EXTENSIONS[3].AccountID" == info.value.path
        assert "EXTENSIONS[3].AccountID" in str(info.value)
        assert f"got {account_id!r}" in str(info.value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("Name", 5),
            ("UserEmail", ["a@b"]),
            ("AccountName", {"he": "x"}),
            ("SpeedDial", 1.5),
            ("SpeedDial", False),
            ("SIP", 1.5),
            ("UserName", True),
        ],
    )
    def test_bad_field_types(self, field, value):
        """A field of the wrong type is reported with its path."""
        with pytest.raises(ResponseFormatError) as info:
            parse(body([{**FULL_RECORD, field: value}]))

        assert f"EXTENSIONS[0].{field}" == info.value.path
        assert isinstance(info.value.__cause__, cattrs.ClassValidationError)

    def test_excerpt_is_short_and_masked(self):
        """The excerpt is at most about 100 characters, with the code masked."""
        raw = (f"<html>bad code {CODE} " + "x" * 500).encode()

        with pytest.raises(ResponseFormatError) as info:
            parse(raw)

        assert CODE not in info.value.excerpt
        assert CODE not in str(info.value)
        assert len(info.value.excerpt) <= EXCERPT_LENGTH + 3
        assert info.value.excerpt.startswith("<html>bad code ***")

    def test_value_with_code_masked(self):
        """A bad value that contains the code is masked before it is shortened."""
        long_code = "K" * 60
        record = {**FULL_RECORD, "AccountID": f"id {long_code}"}

        with pytest.raises(ResponseFormatError) as info:
            parse_body(body([record]), label="x", code=long_code)

        assert "KKKK" not in str(info.value)
        assert "got 'id ***'" in str(info.value)

    @pytest.mark.parametrize(
        "raw",
        [b"[" * 100_000 + b"]" * 100_000, b'{"ERR":0,"EXTENSIONS":' + b"[" * 50_000],
        ids=["nested-array", "nested-unclosed"],
    )
    def test_deep_nesting(self, raw):
        """A body nested past the recursion limit is a bad body, not a crash."""
        with pytest.raises(ResponseFormatError) as info:
            parse(raw)

        assert info.value.__cause__ is None
        assert info.value.__context__ is None

    @pytest.mark.parametrize(
        ("document", "path"),
        [
            ({"ERR": "1" * 5000}, "ERR"),
            (
                {"ERR": 0, "EXTENSIONS": [{"SIP": "1", "AccountID": "9" * 5000}]},
                "EXTENSIONS[0].AccountID",
            ),
            (
                {"ERR": 0, "EXTENSIONS": [{"SIP": "1", "AccountID": "9" * 21}]},
                "EXTENSIONS[0].AccountID",
            ),
        ],
        ids=["err", "account-id-huge", "account-id-21-digits"],
    )
    def test_overlong_digit_strings(self, document, path):
        """Digit strings far too long for an id are rejected with their path."""
        with pytest.raises(ResponseFormatError) as info:
            parse(json.dumps(document).encode())

        assert path == info.value.path

    def test_twenty_digit_id_accepted(self):
        """An id of 20 digits is still read as an integer."""
        [extension] = parse(body([{"SIP": "1", "AccountID": "9" * 20}]))

        assert int("9" * 20) == extension.account_id

    def test_excerpt_is_one_line(self):
        """Newlines, tabs and control characters become single spaces."""
        with pytest.raises(ResponseFormatError) as info:
            parse(b"<!DOCTYPE html>\r\n<html>\n\t<body>\x1b[31mdown</body>")

        assert "<!DOCTYPE html> <html> <body> [31mdown</body>" == info.value.excerpt

    def test_empty_excerpt_is_named(self):
        """An empty body is shown as <empty> in the message."""
        with pytest.raises(ResponseFormatError, match="<empty>"):
            parse(b"")


def parse_by_converter(raw: bytes) -> list[Extension]:
    """Parse with the fast path switched off, as the reference."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_wire, "_parse_fast", lambda *_args, **_kwargs: None)
        return parse(raw)


def outcome(parser, raw: bytes) -> object:
    try:
        return parser(raw)
    except ResponseFormatError as exc:
        return (type(exc), str(exc), exc.path)
    except APIError as exc:
        return (type(exc), str(exc))


class TestFastPath:
    """The msgspec fast path agrees with the cattrs converter everywhere."""

    def test_record_class_is_plain(self):
        """Extension has no validator, converter or post-init hook to skip."""
        fields = attrs.fields(Extension)

        assert all(field.validator is None for field in fields)
        assert all(field.converter is None for field in fields)
        assert not hasattr(Extension, "__attrs_post_init__")
        assert [field.name for field in fields] == list(WIRE_NAMES)

    @pytest.mark.parametrize(
        "record",
        [
            FULL_RECORD,
            {"SIP": 1001, "SpeedDial": 7, "AccountID": " 42 "},
            {"SIP": "1", "AccountID": "0042", "Name": None},
            {"SIP": "1", "AccountID": 2**70},
            {"SIP": "1", "AccountID": 1.0},
            {"SIP": "1", "AccountID": True},
            {"SIP": "1", "AccountID": "4.5"},
            {"SIP": "1", "AccountID": "١٢"},
            {"SIP": ""},
            {"SIP": None},
            {"SIP": 1.5},
            {"SIP": "1", "Name": 5},
            {"SIP": "1", "SpeedDial": False},
            {"SIP": "1", "UserEmail": ["a@b.c"]},
            {"Name": "no sip"},
            "not an object",
        ],
    )
    def test_same_outcome(self, record):
        """Records and errors match the converter's, message and path included."""
        raw = body([FULL_RECORD, record])

        assert outcome(parse_by_converter, raw) == outcome(parse, raw)

    @pytest.mark.parametrize(
        "raw",
        [
            body(None),
            body([], err="0"),
            body({"SIP": "1"}),
            body([FULL_RECORD], err=1, desc="bad code"),
            body([{"SIP": None}], err=3),
            body([FULL_RECORD], err=0.0),
            b"\xef\xbb\xbf" + body([FULL_RECORD]),
            b'{"ERR": 0, "EXTENSIONS": [{"SIP": NaN}]}',
            b"[]",
            b"",
        ],
    )
    def test_same_outcome_documents(self, raw):
        """Whole-body cases match the converter's outcome."""
        assert outcome(parse_by_converter, raw) == outcome(parse, raw)

    def test_account_names_shared(self):
        """Every record of a department shares one department-name string."""
        records = [dict(FULL_RECORD, SIP=str(sip)) for sip in range(3)]

        first, second, third = parse(body(records))

        assert first.account_name is second.account_name
        assert second.account_name is third.account_name

    def test_account_names_shared_when_departments_alternate(self):
        """Names are shared even when departments' records are interleaved."""
        names = ["Sales", "Support", None, "Sales", "Support"]
        records = [
            dict(FULL_RECORD, SIP=str(sip), AccountName=name)
            for sip, name in enumerate(names)
        ]

        sales, support, none, sales_again, support_again = parse(body(records))

        assert sales.account_name is sales_again.account_name
        assert support.account_name is support_again.account_name
        assert none.account_name is None

    def test_number_sip_goes_through_python_builder(self):
        """Wire variants that msgspec cannot build directly are still converted."""
        raw = body([dict(FULL_RECORD, SIP=1001, SpeedDial=7, AccountID="42")])

        [extension] = parse(raw)

        assert ("1001", "7", 42) == (
            extension.sip,
            extension.speed_dial,
            extension.account_id,
        )
        assert outcome(parse_by_converter, raw) == [extension]


def large_body(count: int, **overrides: Any) -> bytes:
    return body(
        [{**FULL_RECORD, "SIP": str(1000 + n), **overrides} for n in range(count)]
    )


def gc_state_while_building(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    build = _wire._build

    def watched(document: Any) -> Any:
        seen.append(gc.isenabled())
        return build(document)

    monkeypatch.setattr(_wire, "_build", watched)
    return seen


class TestLargeBodies:
    """Large bodies are built with the cyclic garbage collector paused."""

    @pytest.mark.parametrize("overrides", [{}, {"SIP": 5, "AccountID": "7"}])
    def test_collector_paused_then_enabled(self, monkeypatch, overrides):
        """The collector is off during the build and on again after it."""
        seen = gc_state_while_building(monkeypatch)
        raw = large_body(_wire._PAUSE_GC_RECORDS, **overrides)

        extensions = parse(raw)

        assert [False] == seen
        assert gc.isenabled()
        assert _wire._PAUSE_GC_RECORDS == len(extensions)
        assert outcome(parse_by_converter, raw) == extensions

    def test_small_body_leaves_collector_alone(self, monkeypatch):
        """A body under the threshold is built with the collector running."""
        seen = gc_state_while_building(monkeypatch)

        parse(large_body(_wire._PAUSE_GC_RECORDS - 1))

        assert [True] == seen

    def test_disabled_collector_stays_disabled(self, monkeypatch):
        """A caller who disabled the collector finds it still disabled."""
        seen = gc_state_while_building(monkeypatch)
        gc.disable()
        try:
            parse(large_body(_wire._PAUSE_GC_RECORDS))
            still_disabled = not gc.isenabled()
        finally:
            gc.enable()

        assert [False] == seen
        assert still_disabled

    def test_collector_enabled_after_failure(self, monkeypatch):
        """An error while building still turns the collector back on."""

        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise MemoryError

        monkeypatch.setattr(_wire.msgspec, "convert", fail)

        with pytest.raises(ResponseFormatError, match="MemoryError"):
            parse(large_body(_wire._PAUSE_GC_RECORDS))
        assert gc.isenabled()
