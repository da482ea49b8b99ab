"""Keeping department codes out of reprs, messages and log records."""

from __future__ import annotations

import functools
import hashlib
import html.entities
import itertools
import json
import logging
import re
import urllib.parse

__all__ = [
    "MASK",
    "code_fingerprint",
    "install_httpx_log_filter",
    "mask_text",
    "scrub_exception_chain",
]

MASK = "***"

# Matches the value of a ``code`` query parameter in any URL text.
_CODE_QUERY = re.compile(r"(?i)([?&]code=)[^&#\s\"']*")

# Characters that JSON strings, Python reprs and URL encoding all leave as
# they are, so a code made of them only is written the same way in each.
_PLAIN_CODE = re.compile(r"[A-Za-z0-9._~-]*")

# A code made of these only has no escaped form in common use, so
# `str.replace` masks it and no pattern is compiled for it.
_ALPHANUMERIC_CODE = re.compile(r"[A-Za-z0-9]*")

# Characters whose raw form also starts an escape of the same character,
# such as ``\\`` in JSON, ``%25`` in URLs and ``&amp;`` in HTML.
_ESCAPE_STARTS = frozenset("\\%&")

# Short backslash escapes that JSON or Python write for a character.
_SHORT_ESCAPES = {
    '"': '\\"',
    "'": "\\'",
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def code_fingerprint(code: str) -> str:
    """Return a short, stable label for a code that does not reveal it.

    The label is ``dept-`` followed by the first 8 hex digits of the code's
    SHA-256, so the same code always gets the same label and logs from
    different runs can be matched up.
    """
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()

    return f"dept-{digest[:8]}"


def mask_text(text: str, *codes: str) -> str:
    r"""Replace every known code, and any ``code=`` query value, with a mask.

    Each code is masked in its raw text and in the escaped forms that a
    server may echo back or a log may show. Each character of the code may
    be raw or escaped, with any mix of escapes from one character to the
    next. The escapes are JSON's ``\uXXXX`` and short escapes such as
    ``\"``, ``\\`` and ``\/``, and Python's ``\xNN``, ``\uNNNN`` and
    ``\UNNNNNNNN``, also per UTF-8 byte as in a bytes repr. They are also
    URL encoding's ``%XX`` per UTF-8 byte and ``+`` for a space, and HTML's
    named, decimal and hex character references. Hex digits may be in
    either case. An empty code is skipped.
    """
    for code in codes:
        if not code:
            continue
        # The pattern goes first, because replacing the raw code first would
        # leave the rest of a longer form, such as "amp;" of "&amp;amp;" for
        # the code "&amp;".
        if not _ALPHANUMERIC_CODE.fullmatch(code) and _may_hold_escapes(text):
            text = _escaped_code_pattern(code).sub(MASK, text)
        for form in _written_forms(code):
            text = text.replace(form, MASK)

    return _CODE_QUERY.sub(lambda m: m.group(1) + MASK, text)


def _written_forms(code: str) -> tuple[str, ...]:
    """Return the distinct ways a code can be written, longest first."""
    if not code:
        return ()
    if _PLAIN_CODE.fullmatch(code):
        return (code,)
    forms = {
        code,
        json.dumps(code)[1:-1],
        json.dumps(code, ensure_ascii=False)[1:-1],
        repr(code)[1:-1],
        # httpcore logs header values as bytes reprs.
        repr(code.encode("utf-8", "surrogatepass"))[2:-1],
        # httpx writes query values with quote_plus, which for a code (never
        # a space) gives the same text as quote.
        urllib.parse.quote(code, safe="", errors="surrogatepass"),
    }
    # Longer forms first, so that a form that contains another is masked whole.
    return tuple(sorted(forms, key=len, reverse=True))


def _may_hold_escapes(text: str) -> bool:
    """Return whether ``text`` contains a character that starts an escape.

    A text without any can hold a code only in its raw form, which
    `str.replace` masks.
    """
    return any(start in text for start in _ESCAPE_STARTS) or "+" in text


@functools.lru_cache(maxsize=16)
def _escaped_code_pattern(code: str) -> re.Pattern[str]:
    r"""Compile a regex for a code with each character raw or escaped.

    Every character is matched by an atomic group, so the time to search a
    text grows linearly with its length and never exponentially. An atomic
    group keeps the first of its alternatives that matches, and that is
    ambiguous for ``\``, ``%`` and ``&``, whose raw form also starts their
    escapes: the raw ``\\`` of a code such as ``\\<`` also reads as the
    JSON escape of one ``\``. So the regex has one branch for each subset
    of these characters in the code, in which the subset tries escapes
    first and the others try their raw form first. Larger subsets come
    first, so that of two branches that match at the same place, the one
    that reads more of the text as escapes, and so masks more, is taken.

    NOTE: one occurrence that writes such a character raw at one place and
    escaped at another is missed when the raw one is followed by text that
    also reads as its escape. For the code ``\\a`` that is ``\\u005ca``, a
    raw ``\`` and then ``\u005c``. No common encoder writes that.
    """
    ambiguous = sorted(_ESCAPE_STARTS.intersection(code))
    branches: list[str] = []
    for size in range(len(ambiguous), -1, -1):
        for escaped in itertools.combinations(ambiguous, size):
            prefix = f"b{len(branches)}_"
            branches.append(_code_regex(code, prefix, frozenset(escaped)))

    return re.compile("|".join(branches))


def _code_regex(code: str, prefix: str, escaped_first: frozenset[str]) -> str:
    groups = []
    for index, char in enumerate(code):
        forms = _escaped_forms(char)
        raw = re.escape(char)
        forms = [*forms, raw] if char in escaped_first else [raw, *forms]
        # Python's re has atomic groups only from 3.11, and a lookahead,
        # which never backtracks, with a back-reference does the same.
        name = f"{prefix}{index}"
        groups.append(f"(?=(?P<{name}>{'|'.join(forms)}))(?P={name})")

    return "".join(groups)


def _escaped_forms(char: str) -> list[str]:
    """Return regexes for the escaped forms of a character.

    Of two forms where one can be a prefix of the other, the longer one comes
    first, because the atomic group in `_code_regex` keeps the first match.
    """
    point = ord(char)
    utf8 = char.encode("utf-8", "surrogatepass")
    forms = []
    if point >= 0x80:
        # A bytes repr, which httpcore writes for header values.
        forms.append("".join(rf"\\x{_hex(byte, 2)}" for byte in utf8))
    if point > 0xFFFF:
        # JSON writes a character outside the BMP as a surrogate pair.
        high, low = divmod(point - 0x10000, 0x400)
        forms.append(rf"\\u{_hex(0xD800 + high, 4)}\\u{_hex(0xDC00 + low, 4)}")
        forms.append(rf"\\U{_hex(point, 8)}")
    else:
        forms.append(rf"\\u{_hex(point, 4)}")
    if point <= 0xFF:
        forms.append(rf"\\x{_hex(point, 2)}")
    if char in _SHORT_ESCAPES:
        forms.append(re.escape(_SHORT_ESCAPES[char]))
    forms.extend(f"&{re.escape(name)}" for name in _html_names().get(char, ()))
    # A numeric reference ends at ";" or, as browsers also accept, at the
    # first character that is not a digit.
    forms.append(f"&#[xX]0*{_hex(point, 1)}(?:;|(?![0-9A-Fa-f]))")
    forms.append(f"&#0*{point}(?:;|(?![0-9]))")
    forms.append("".join(f"%{_hex(byte, 2)}" for byte in utf8))
    if char == " ":
        forms.append(r"\+")

    return forms


def _hex(value: int, width: int) -> str:
    """Return a regex for ``value`` in hex digits of either case."""
    digits = f"{value:0{width}x}"

    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


@functools.lru_cache(maxsize=1)
def _html_names() -> dict[str, tuple[str, ...]]:
    """Return the HTML5 named references of each character, longest first.

    A name without a trailing ``;``, such as ``amp``, is one of the legacy
    names that browsers read without it.
    """
    names: dict[str, list[str]] = {}
    for name, value in html.entities.html5.items():
        if len(value) == 1:
            names.setdefault(value, []).append(name)

    return {
        char: tuple(sorted(found, key=len, reverse=True))
        for char, found in names.items()
    }


def scrub_exception_chain(exc: BaseException, code: str) -> None:
    """Mask a code in the messages of an exception and of its causes.

    httpx and the transports below it may put the request URL, which contains the
    code when the request is a GET, into their messages. The exceptions are
    kept as ``__cause__`` for debugging, so their text is cleaned in place.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(
            mask_text(arg, code) if isinstance(arg, str) else arg
            for arg in current.args
        )
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [mask_text(str(note), code) for note in notes]
        current = current.__cause__ or current.__context__


class _MaskCodeFilter(logging.Filter):
    """Mask ``code=`` query values in records that name a request URL.

    httpx logs every request at INFO with its full URL, so a GET request
    would otherwise write the department code into the application's logs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_mask_arg(arg) for arg in record.args)
        if isinstance(record.msg, str) and "code=" in record.msg.lower():
            # Masking a format string such as "?code=%s" would remove its
            # placeholder, so the message is formatted before it is masked.
            message = record.msg
            if record.args:
                try:
                    message = record.getMessage()
                    record.args = ()
                except (TypeError, ValueError, KeyError):
                    pass  # The handler reports the malformed record itself.
            record.msg = mask_text(message)

        return True


def _mask_arg(arg: object) -> object:
    if isinstance(arg, (int, float)):
        return arg
    text = str(arg)
    if "code=" not in text.lower():
        return arg

    return mask_text(text)


_FILTER = _MaskCodeFilter()

# The roots of the logger trees to mask, and the child loggers that httpcore
# 1.0 logs on. A logger's filters do not run for records that propagate up
# from its children, so each logger in a tree needs the filter of its own.
_MASKED_ROOTS = ("httpx", "httpcore")
_KNOWN_CHILDREN = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def install_httpx_log_filter() -> None:
    """Attach the masking filter to httpx's and httpcore's loggers.

    The filter goes on each root logger, on httpcore's known children and on
    every other logger below the roots that exists by now. Calling it again
    covers loggers created since, and adds no filter twice.

    NOTE: a child logger that a later httpcore release creates after this
    call, and that is not among the known children, stays unmasked until
    the next call, which every new `VoicenterSession` makes.
    """
    prefixes = tuple(f"{root}." for root in _MASKED_ROOTS)
    existing = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.startswith(prefixes)
    ]
    for name in (*_MASKED_ROOTS, *_KNOWN_CHILDREN, *existing):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
