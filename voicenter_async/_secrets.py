"""Keeping department codes out of reprs, messages and log records."""

from __future__ import annotations

import hashlib
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


def code_fingerprint(code: str) -> str:
    """Return a short, stable label for a code that does not reveal it.

    The label is ``dept-`` followed by the first 8 hex digits of the code's
    SHA-256, so the same code always gets the same label and logs from
    different runs can be matched up.
    """
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()

    return f"dept-{digest[:8]}"


def mask_text(text: str, *codes: str) -> str:
    """Replace every known code, and any ``code=`` query value, with a mask.

    Each code is masked in its raw text and in the escaped forms that a
    server may echo back or a log may show. Those are its JSON string (with
    and without ``ensure_ascii``), the Python repr of the string and of its
    UTF-8 bytes, and its URL encoding in a GET query.
    """
    for code in codes:
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
