"""A department code never shows in a repr, a message or a log record."""

from __future__ import annotations

import asyncio
import html
import html.entities
import json
import logging
import re
import traceback
import urllib.parse
from collections.abc import Callable

import httpx
import pytest
import respx

from voicenter_async import (
    ResponseFormatError,
    VoicenterError,
    VoicenterSession,
    code_fingerprint,
)
from voicenter_async._secrets import (
    MASK,
    _escaped_code_pattern,
    _written_forms,
    mask_text,
    scrub_exception_chain,
)

BASE = "http://voicenter.test"
PATH = "/Comet/api/GetExtensions"
SENTINEL = "ZZsentinelCODE42"

OK = {"ERR": 0, "DESC": "OK", "EXTENSIONS": [{"SIP": "1", "Name": "x"}]}

# Every way a request can end, each echoing the code back where it can.
OUTCOMES = {
    "ok": httpx.Response(200, json=OK),
    "empty": httpx.Response(200, json={"ERR": 0, "DESC": "OK", "EXTENSIONS": []}),
    "err1": httpx.Response(200, json={"ERR": 1, "DESC": f"bad {SENTINEL}"}),
    "err2": httpx.Response(200, json={"ERR": 2, "DESC": "Internal error."}),
    "403": httpx.Response(403, text=f"denied for code={SENTINEL}"),
    "429": httpx.Response(429, headers={"Retry-After": "1"}, text=SENTINEL),
    "500": httpx.Response(500, text=f"<pre>{SENTINEL}</pre>"),
    "404": httpx.Response(404, text=SENTINEL),
    "html": httpx.Response(200, html=f"<html>{SENTINEL}</html>"),
    "bad-field": httpx.Response(
        200, json={"ERR": 0, "EXTENSIONS": [{"SIP": "1", "AccountID": SENTINEL}]}
    ),
    "connect": httpx.ConnectError(f"cannot reach {BASE}{PATH}?code={SENTINEL}"),
    "read-timeout": httpx.ReadTimeout(f"timed out: code={SENTINEL}"),
    "protocol": httpx.RemoteProtocolError(f"Server disconnected ({SENTINEL})"),
}


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)) + "".join(
        traceback.format_exception(exc)
    )


def collect_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.__dict__))

    return "\n".join(parts)


@pytest.fixture(autouse=True)
def _all_loggers_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("voicenter_async", "httpx", "httpcore", ""):
        caplog.set_level(logging.DEBUG, logger=name)


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("outcome", list(OUTCOMES))
async def test_sentinel_nowhere(method, outcome, caplog):
    """Success and every failure, in both methods, never show the code."""
    with respx.mock(base_url=BASE, using="httpx") as api:
        route = api.route(method=method, path=PATH)
        effect = OUTCOMES[outcome]
        if isinstance(effect, Exception):
            route.mock(side_effect=effect)
        else:
            route.mock(return_value=effect)

        async with VoicenterSession(base_url=BASE, method=method) as session:
            seen = [repr(session)]
            try:
                seen.append(repr(await session.get_extensions(SENTINEL)))
            except VoicenterError as exc:
                seen.append(exception_text(exc))
            roster = await session.fetch_departments([SENTINEL])
            seen.append(repr(roster))
            seen.append(str(roster))
            for department in roster.departments:
                seen.append(repr(department))
                if department.error is not None:
                    seen.append(exception_text(department.error))

    text = "\n".join(seen) + collect_log_text(caplog)
    assert SENTINEL not in text
    assert caplog.records


async def test_mapping_labels_kept(caplog):
    """A label given by the caller is used, and the code still never shows."""
    with respx.mock(base_url=BASE, using="httpx") as api:
        api.post(PATH).mock(return_value=httpx.Response(500, text=SENTINEL))
        async with VoicenterSession(base_url=BASE) as session:
            roster = await session.fetch_departments({"billing": SENTINEL})

    assert "billing" == roster.departments[0].label
    assert SENTINEL not in repr(roster) + collect_log_text(caplog)


def test_httpx_info_line_masked(caplog):
    """httpx's request line is masked when the URL carries a code."""
    from voicenter_async._secrets import install_httpx_log_filter

    install_httpx_log_filter()
    url = httpx.URL(f"{BASE}{PATH}?code={SENTINEL}&showAll=0")

    logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", url)

    message = caplog.records[-1].getMessage()
    assert SENTINEL not in message
    assert "code=***&showAll=0" in message


def test_filter_leaves_numbers_and_plain_text(caplog):
    """Records without a code pass through unchanged."""
    from voicenter_async._secrets import install_httpx_log_filter

    install_httpx_log_filter()
    logging.getLogger("httpx").info("plain %s %d", "text", 5)

    assert "plain text 5" == caplog.records[-1].getMessage()


def test_filter_masks_message_itself(caplog):
    """A code in the message text itself is masked too."""
    from voicenter_async._secrets import install_httpx_log_filter

    install_httpx_log_filter()
    # The code must sit in the message text itself, not in its arguments.
    logging.getLogger("httpx").info(f"GET /x?code={SENTINEL}")  # noqa: G004

    assert SENTINEL not in caplog.records[-1].getMessage()


@pytest.mark.parametrize(
    "name",
    [
        "httpcore.connection",
        "httpcore.http11",
        "httpcore.http2",
        "httpcore.proxy",
        "httpcore.socks",
    ],
)
def test_filter_masks_httpcore_children(name, caplog):
    """Records logged on httpcore's child loggers are masked too."""
    from voicenter_async._secrets import install_httpx_log_filter

    install_httpx_log_filter()
    logging.getLogger(name).debug(f"return_value=b'/login?code={SENTINEL}'")  # noqa: G004

    message = caplog.records[-1].getMessage()
    assert name == caplog.records[-1].name
    assert SENTINEL not in message
    assert "?code=***" in message


def test_filter_masks_other_existing_children(caplog):
    """Any logger below httpx or httpcore that exists when installing is masked."""
    from voicenter_async._secrets import install_httpx_log_filter

    children = [logging.getLogger("httpx.extra"), logging.getLogger("httpcore.a.b")]
    install_httpx_log_filter()
    for child in children:
        child.info("GET /x?code=%s", SENTINEL)

        assert SENTINEL not in caplog.records[-1].getMessage()


def test_filter_leaves_root_and_handlers():
    """Installing touches neither the root logger nor any handler."""
    from voicenter_async._secrets import install_httpx_log_filter

    root = logging.getLogger()
    filters_before = list(root.filters)
    handler_filters_before = [list(handler.filters) for handler in root.handlers]

    install_httpx_log_filter()

    assert filters_before == root.filters
    assert handler_filters_before == [
        list(handler.filters) for handler in root.handlers
    ]


def test_filter_added_once():
    """Installing again adds no second filter to a logger."""
    from voicenter_async._secrets import install_httpx_log_filter

    install_httpx_log_filter()
    install_httpx_log_filter()

    assert 1 == len(logging.getLogger("httpcore.http11").filters)


async def test_httpcore_redirect_header_masked(caplog):
    """httpcore's DEBUG record of a redirect to a URL with the code is masked."""

    async def redirect(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        location = b"/login?code=" + SENTINEL.encode()
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: " + location)
        writer.write(b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with VoicenterSession(
            base_url=f"http://127.0.0.1:{port}",
            transport="httpcore",
            method="GET",
            max_retries=0,
        ) as session:
            with pytest.raises(VoicenterError):
                await session.get_extensions(SENTINEL)
    finally:
        server.close()
        await server.wait_closed()

    names = {record.name for record in caplog.records}
    assert "httpcore.http11" in names
    assert SENTINEL not in collect_log_text(caplog)


def test_filter_formats_before_masking(caplog):
    """A format string with its placeholder after code= still formats."""
    from voicenter_async._secrets import install_httpx_log_filter

    install_httpx_log_filter()
    logging.getLogger("httpx").info("GET /x?code=%s&showAll=%d", SENTINEL, 1)

    message = caplog.records[-1].getMessage()
    assert SENTINEL not in message
    assert "GET /x?code=***&showAll=1" == message


def test_filter_keeps_malformed_record():
    """A record whose arguments do not fit its format is masked, not dropped."""
    from voicenter_async._secrets import _FILTER

    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "?code=%s %s", (SENTINEL,), None
    )

    assert _FILTER.filter(record)
    assert "?code=*** %s" == record.msg
    assert (SENTINEL,) == record.args


class TestHelpers:
    def test_fingerprint_stable_and_short(self):
        """A fingerprint is stable, short and free of the code."""
        label = code_fingerprint(SENTINEL)

        assert label == code_fingerprint(SENTINEL)
        assert label != code_fingerprint(SENTINEL + "x")
        assert 13 == len(label)
        assert SENTINEL not in label

    def test_mask_text(self):
        """Known codes and code= query values are masked."""
        text = f"a {SENTINEL} b ?code=other&x=1 &CODE=third"

        assert "a *** b ?code=***&x=1 &CODE=***" == mask_text(text, SENTINEL)

    def test_scrub_chain(self):
        """Causes and notes down the chain are scrubbed."""
        inner = ValueError(f"inner {SENTINEL}")
        outer = RuntimeError(f"outer {SENTINEL}")
        outer.__cause__ = inner
        outer.__notes__ = [f"note {SENTINEL}"]

        scrub_exception_chain(outer, SENTINEL)

        assert "outer ***" == str(outer)
        assert "inner ***" == str(inner)
        assert ["note ***"] == outer.__notes__

    def test_scrub_handles_cycles(self):
        """A cyclic chain is walked once."""
        first = ValueError(SENTINEL)
        second = ValueError(SENTINEL)
        first.__context__ = second
        second.__context__ = first

        scrub_exception_chain(first, SENTINEL)

        assert "***" == str(second)


# Valid codes that JSON, repr and URL encoding each write differently.
ESCAPED_CODES = ["K\u00f3d-XYZ-123", 'Sec"ret-XYZ', "Back\\slash-9", "it's/a+b"]


def escaped_forms(code: str) -> dict[str, str]:
    return {
        "raw": code,
        "json": json.dumps(code)[1:-1],
        "json-unicode": json.dumps(code, ensure_ascii=False)[1:-1],
        "repr": repr(code)[1:-1],
        "bytes-repr": repr(code.encode())[2:-1],
        "url": urllib.parse.quote(code, safe=""),
    }


class TestEscapedForms:
    @pytest.mark.parametrize("code", ESCAPED_CODES)
    def test_each_form_masked(self, code):
        """A code is masked however it was escaped."""
        for kind, form in escaped_forms(code).items():
            masked = mask_text(f"<pre>{form}</pre>", code)

            assert "<pre>***</pre>" == masked, kind

    def test_plain_code_one_form(self):
        """A plain ASCII code needs only its raw text matched."""
        assert ("Plain-Code_1.2~x",) == _written_forms("Plain-Code_1.2~x")

    def test_empty_code_ignored(self):
        """An empty code masks nothing."""
        assert "text" == mask_text("text", "")

    def test_lone_surrogate_masked(self):
        """A code that cannot be encoded as UTF-8 is still masked."""
        code = "a\udc80b"

        assert "***" == mask_text(code, code)
        assert "***" == mask_text("a\\udc80b", code)

    @pytest.mark.parametrize("method", ["POST", "GET"])
    @pytest.mark.parametrize("code", ESCAPED_CODES)
    async def test_echoed_code_masked(self, method, code, caplog):
        """A server quoting the request as it was sent never shows the code."""

        async def echo(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = 0
            for line in lines:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            quoted = await reader.readexactly(length)
            if method == "GET":
                # The query value as sent, without its "code=" name.
                target = lines[0].split(b" ")[1]
                quoted = target.split(b"code=")[1].split(b"&")[0]
            body = b"<pre>bad request: " + quoted + b"</pre>"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            writer.write(body)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with VoicenterSession(
                base_url=f"http://127.0.0.1:{port}", method=method, max_retries=0
            ) as session:
                roster = await session.fetch_departments([code])
        finally:
            server.close()
            await server.wait_closed()

        error = roster.failures[0].error
        text = exception_text(error) + repr(vars(error)) + collect_log_text(caplog)
        assert "bad request: " in str(error)
        assert "***" in str(error)
        for kind, form in escaped_forms(code).items():
            assert form not in text, kind


# Codes with characters that other encoders than Python's escape.
FOREIGN_CODES = [
    "K\u00f3d/XYZ-123",
    "a&b<c>d-42",
    "Sec\"ret'Key",
    "Back\\slash/9",
    "two words+x",
    "\u00dcn\u00ef/&<\"' \\+",
]


def _utf8(char: str) -> bytes:
    return char.encode("utf-8", "surrogatepass")


# How one character may be written, each by a common encoder.
CHAR_ENCODERS: dict[str, Callable[[str], str]] = {
    "json-lower": lambda c: f"\\u{ord(c):04x}",
    "json-upper": lambda c: f"\\u{ord(c):04X}",
    "json-short": lambda c: "\\" + c if c in '"\\/' else c,
    "url-lower": lambda c: "".join(f"%{byte:02x}" for byte in _utf8(c)),
    "url-upper": lambda c: "".join(f"%{byte:02X}" for byte in _utf8(c)),
    "url-plus": lambda c: "+" if c == " " else urllib.parse.quote(c, safe=""),
    "html-named": lambda c: (
        f"&{html.entities.codepoint2name[ord(c)]};"
        if ord(c) in html.entities.codepoint2name
        else c
    ),
    "html-decimal": lambda c: f"&#{ord(c)};",
    "html-hex-lower": lambda c: f"&#x{ord(c):x};",
    "html-hex-upper": lambda c: f"&#X{ord(c):X};",
    "repr-x": lambda c: f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}",
    "bytes-repr": lambda c: "".join(f"\\x{byte:02x}" for byte in _utf8(c)),
}


def each_char(encoder: Callable[[str], str]) -> Callable[[str], str]:
    return lambda code: "".join(encoder(char) for char in code)


def alternating(*names: str) -> Callable[[str], str]:
    """Return an encoder that cycles through character encoders by position."""
    encoders = [CHAR_ENCODERS[name] for name in names]

    return lambda code: "".join(
        encoders[index % len(encoders)](char) for index, char in enumerate(code)
    )


def lower_percent_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def upper_json_hex(text: str) -> str:
    return re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group()[2:].upper(), text)


def php_json(code: str, *, ensure_ascii: bool = True) -> str:
    """Return the JSON string body that PHP's json_encode writes by default."""
    return json.dumps(code, ensure_ascii=ensure_ascii)[1:-1].replace("/", "\\/")


# How a whole code may be written: by other libraries' encoders, by one
# character encoder for every character, and by a mix of them.
CODE_ENCODERS: dict[str, Callable[[str], str]] = {
    "php-json": php_json,
    "php-json-unicode": lambda code: php_json(code, ensure_ascii=False),
    "json-upper-hex": lambda code: upper_json_hex(json.dumps(code)[1:-1]),
    "url-keep-slash": urllib.parse.quote,
    "url-lower-hex": lambda code: lower_percent_hex(urllib.parse.quote(code, safe="")),
    "url-plus-lower-hex": lambda code: lower_percent_hex(urllib.parse.quote_plus(code)),
    "html-escape": html.escape,
    "html-escape-no-quotes": lambda code: html.escape(code, quote=False),
    "ascii": lambda code: ascii(code)[1:-1],
    **{name: each_char(encoder) for name, encoder in CHAR_ENCODERS.items()},
    "mix-json-case": alternating("json-upper", "json-lower"),
    "mix-url-case": alternating("url-upper", "url-lower"),
    "mix-html-hex-case": alternating("html-hex-upper", "html-hex-lower"),
    "mix-html-json-url": alternating("html-named", "json-short", "url-lower"),
    "mix-all": alternating(*CHAR_ENCODERS),
    "mix-all-reversed": alternating(*reversed(CHAR_ENCODERS)),
}


class TestForeignEncoders:
    @pytest.mark.parametrize("encoder", list(CODE_ENCODERS))
    @pytest.mark.parametrize("code", FOREIGN_CODES)
    def test_each_encoder_masked(self, code, encoder):
        """A code is masked however another encoder wrote it."""
        form = CODE_ENCODERS[encoder](code)

        masked = mask_text(f"<p>invalid code {form}</p>", code)

        assert form not in masked
        assert code not in masked
        assert MASK in masked
        assert "<p>invalid code ***</p>" == masked

    @pytest.mark.parametrize(
        ("code", "form"),
        [
            ("\\\\<", "\\\\&lt;"),
            ("\\\\<", "\\\\\\\\\\u003C"),
            ("%25&amp;\\", "%25&amp;amp;\\"),
            ("%25&amp;\\", "%2525%26amp%3B%5C"),
            ("&amp;", "&amp;amp;"),
            ("&amp;", "&ampamp;"),
            ("\\x5c", "\\\\x5c"),
            ("\U0001f600/x", "\\ud83d\\ude00\\/x"),
            ("\U0001f600/x", "\\uD83D\\uDE00/x"),
            ("\U0001f600/x", "&#x1F600;&#47;x"),
            ("\U0001f600/x", "\\U0001f600/x"),
        ],
    )
    def test_escape_like_code_masked(self, code, form):
        """A code that itself looks like an escape is masked in each form."""
        assert "<p>***</p>" == mask_text(f"<p>{form}</p>", code)

    @pytest.mark.parametrize(
        "text",
        [
            "K&#243;d/XYZ-124",
            "K\\u00f3d/XYZ-12",
            "K%C3%B3d%2FXYZ-124",
            "K\u00f3d/XYZ-12 3",
        ],
    )
    def test_other_text_kept(self, text):
        """Text that decodes to something other than the code is kept."""
        assert text == mask_text(text, "K\u00f3d/XYZ-123")

    def test_numeric_reference_needs_end(self):
        """A numeric reference that runs on into more digits is another character."""
        assert "&#395" == mask_text("&#395", "'5")
        assert "***" == mask_text("&#39;5", "'5")
        assert "***" == mask_text("&#39x", "'x")

    def test_alphanumeric_code_compiles_nothing(self):
        """A code of ASCII letters and digits is masked by replacing it alone."""
        _escaped_code_pattern.cache_clear()

        masked = mask_text(f"&#75; %4B {SENTINEL} \\u004b", SENTINEL)

        assert f"&#75; %4B {MASK} \\u004b" == masked
        assert 0 == _escaped_code_pattern.cache_info().currsize

    def test_text_without_escapes_compiles_nothing(self):
        """A text with no escape in it needs only the raw code replaced."""
        _escaped_code_pattern.cache_clear()

        assert "a *** b" == mask_text("a K\u00f3d/XYZ-123 b", "K\u00f3d/XYZ-123")
        assert 0 == _escaped_code_pattern.cache_info().currsize

    def test_lone_surrogate_escaped(self):
        """A code with a lone surrogate is masked in escaped forms too."""
        code = "a\udc80/b"

        assert "***" == mask_text("a\\uDC80\\/b", code)
        assert "***" == mask_text("a\\xed\\xb2\\x80%2fb", code)
        assert "***" == mask_text("a%ED%B2%80/b", code)

    def test_long_code_with_escape_starts(self):
        """A long code with \\, % and & is masked in a long text of escapes."""
        code = "\\%&x" * 64
        text = "\\\\%25&amp;x" * 20_000 + json.dumps(code)

        masked = mask_text(text, code)

        assert masked.endswith(f'"{MASK}"')
        assert code not in masked

    def test_pattern_cache_small(self):
        """The cache of compiled patterns keeps only a few codes."""
        for number in range(100):
            mask_text("&amp;", f"code-{number}")

        assert 16 >= _escaped_code_pattern.cache_info().currsize

    @pytest.mark.parametrize("method", ["POST", "GET"])
    async def test_echoed_foreign_forms_masked(self, method, caplog):
        """A server echoing a code in other encoders' forms never shows it."""
        code = "K\u00f3d/a&b<c>'d\"e"
        forms = {
            name: CODE_ENCODERS[name](code)
            for name in (
                "php-json",
                "json-upper-hex",
                "url-lower-hex",
                "url-keep-slash",
                "html-escape",
                "html-decimal",
                "mix-all",
            )
        }
        body = "<html><body>invalid code " + " ; ".join(forms.values())
        body += "</body></html>"

        async def echo(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            payload = body.encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n" % len(payload))
            writer.write(payload)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with VoicenterSession(
                base_url=f"http://127.0.0.1:{port}", method=method, max_retries=0
            ) as session:
                roster = await session.fetch_departments([code])
                with pytest.raises(ResponseFormatError) as info:
                    await session.get_extensions(code)
        finally:
            server.close()
            await server.wait_closed()

        for error in (roster.failures[0].error, info.value):
            assert isinstance(error, ResponseFormatError)
            message = str(error)
            chain = "".join(
                exception_text(exc) + repr(vars(exc)) for exc in chain_of(error)
            )
            assert "invalid code *** ; *** ; ***" in error.excerpt
            assert MASK in message
            for name, form in forms.items():
                assert form not in message, name
                assert form not in error.excerpt, name
                assert form not in chain, name
        records = collect_log_text(caplog)
        assert caplog.records
        for name, form in forms.items():
            assert form not in records, name


def chain_of(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]

    return found


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("fault", ["truncated", "reset", "disconnect"])
async def test_error_chain_holds_no_request(method, fault):
    """No exception in the chain, cause or context, keeps the request."""
    from voicenter_async.testing import Fault, VoicenterEmulator
    from voicenter_async.testing import sample_organization as organization

    directory = organization(seed=1, departments=1)
    code = next(iter(directory)).code
    async with VoicenterEmulator(directory) as emulator:
        emulator.add_fault(getattr(Fault, fault)(), code=code)
        async with VoicenterSession(
            base_url=emulator.base_url, method=method, max_retries=1
        ) as session:
            with pytest.raises(VoicenterError) as info:
                await session.get_extensions(code)

    for exc in chain_of(info.value):
        request = getattr(exc, "_request", None)
        assert request is None, f"{type(exc).__name__} keeps its request"
        assert code not in repr(vars(exc))
