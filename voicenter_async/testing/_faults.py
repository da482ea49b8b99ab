"""Faults the emulator injects, and the rules that select their requests."""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Iterable, Mapping

import attrs

from voicenter_async._secrets import code_fingerprint as fingerprint

from ._org import encode_json
from ._protocol import JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE, Reply

_DEFAULT_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>"
    b"<body><h1>Service temporarily unavailable</h1></body></html>\n"
)


class FaultKind(enum.Enum):
    """The kind of change a :class:`Fault` makes to a response."""

    LATENCY = "latency"
    REPLY = "reply"
    TRUNCATE = "truncate"
    DRIP = "drip"
    CLOSE_AFTER_RESPONSE = "close_after_response"
    DISCONNECT = "disconnect"
    RESET = "reset"


def _headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((headers or {}).items())


@attrs.frozen
class Fault:
    """One way to misbehave; build it with the class methods.

    A latency fault delays the response and combines with any other fault. Every
    other kind replaces or damages the response, and a request gets at most one
    of those (see :meth:`VoicenterEmulator.add_fault`).

    Attributes:
        kind: What the fault does.
        seconds: Latency, in seconds.
        jitter: Upper bound of a uniform random delay added to ``seconds``.
        reply: The canned reply for :attr:`FaultKind.REPLY`.
        sent_bytes: Body bytes sent before closing, for a truncated reply;
            None means half the body.
        chunk_size: Bytes per chunk of a dripped body.
        interval: Seconds between chunks of a dripped body.
    """

    kind: FaultKind
    seconds: float = 0.0
    jitter: float = 0.0
    reply: Reply | None = None
    sent_bytes: int | None = None
    chunk_size: int = 1
    interval: float = 0.0

    @property
    def changes_response(self) -> bool:
        """Whether the fault replaces or damages the response."""
        return self.kind is not FaultKind.LATENCY

    @classmethod
    def latency(cls, seconds: float, *, jitter: float = 0.0) -> Fault:
        """Delay the response by ``seconds`` plus a random ``0..jitter`` seconds.

        Raises:
            ValueError: ``seconds`` or ``jitter`` is negative.
        """
        if seconds < 0 or jitter < 0:
            msg = (
                f"Invalid latency {seconds}s with jitter {jitter}s: both must be >= 0."
            )
            raise ValueError(msg)

        return cls(FaultKind.LATENCY, seconds=seconds, jitter=jitter)

    @classmethod
    def status(
        cls,
        status: int,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | str | None = None,
    ) -> Fault:
        """Respond with HTTP ``status`` in place of the API response.

        Args:
            status: The status code, such as 403, 429, 500 or 503.
            body: The body; by default a plain-text line such as ``HTTP 503``.
            headers: Extra headers; ``Content-Type`` defaults to plain text.
            retry_after: Sent as the ``Retry-After`` header: seconds, or an
                HTTP date string.
        """
        all_headers = {"Content-Type": TEXT_CONTENT_TYPE, **(headers or {})}
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        if body is None:
            body = f"HTTP {status}\n".encode()

        return cls(FaultKind.REPLY, reply=Reply(status, _headers(all_headers), body))

    @classmethod
    def raw(
        cls,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = JSON_CONTENT_TYPE,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Respond with exactly ``body``, for odd-response tests.

        Args:
            body: The bytes to send as the body.
            status: The HTTP status.
            content_type: The ``Content-Type`` header.
            headers: Extra headers.
        """
        all_headers = {"Content-Type": content_type, **(headers or {})}

        return cls(FaultKind.REPLY, reply=Reply(status, _headers(all_headers), body))

    @classmethod
    def json(cls, value: object, *, status: int = 200) -> Fault:
        """Respond with ``value`` encoded as UTF-8 JSON, for odd-response tests."""
        return cls.raw(encode_json(value), status=status)

    @classmethod
    def html(cls, body: bytes = _DEFAULT_HTML, *, status: int = 200) -> Fault:
        """Respond with an HTML page, as a proxy or maintenance page would."""
        return cls.raw(body, status=status, content_type="text/html; charset=utf-8")

    @classmethod
    def empty_body(cls, *, status: int = 200) -> Fault:
        """Respond with a JSON content type and an empty body."""
        return cls.raw(b"", status=status)

    @classmethod
    def truncated(cls, *, sent_bytes: int | None = None) -> Fault:
        """Send the real response's full ``Content-Length`` but fewer bytes, then close.

        Args:
            sent_bytes: How many body bytes to send; None sends half the body.
                The server sends at most one byte less than the full body.

        Raises:
            ValueError: ``sent_bytes`` is negative.
        """
        if sent_bytes is not None and sent_bytes < 0:
            msg = f"Invalid sent_bytes={sent_bytes}: it must be >= 0."
            raise ValueError(msg)

        return cls(FaultKind.TRUNCATE, sent_bytes=sent_bytes)

    @classmethod
    def drip(cls, *, chunk_size: int = 64, interval: float = 0.01) -> Fault:
        """Send the real response's body ``chunk_size`` bytes every ``interval`` s.

        Raises:
            ValueError: ``chunk_size`` is below 1 or ``interval`` is negative.
        """
        if chunk_size < 1 or interval < 0:
            msg = (
                f"Invalid drip chunk_size={chunk_size}, interval={interval}: "
                "chunk_size must be >= 1 and interval >= 0."
            )
            raise ValueError(msg)

        return cls(FaultKind.DRIP, chunk_size=chunk_size, interval=interval)

    @classmethod
    def close_after_response(cls) -> Fault:
        """Send the real response as keep-alive, then close the connection anyway.

        The response has no ``Connection: close`` header, so the client
        believes it may reuse the connection.
        """
        return cls(FaultKind.CLOSE_AFTER_RESPONSE)

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection cleanly (FIN) without sending any response."""
        return cls(FaultKind.DISCONNECT)

    @classmethod
    def reset(cls) -> Fault:
        """Reset the connection (RST) without sending any response.

        The server sets ``SO_LINGER`` to zero before closing the socket, so
        the kernel sends RST in place of FIN.
        """
        return cls(FaultKind.RESET)


def _mask_rule_code(code: str | None) -> str:
    return "None" if code is None else fingerprint(code)


@attrs.define(eq=False)
class FaultRule:
    """A fault, the requests it applies to, and how often it may still apply.

    Attributes:
        fault: The fault to inject.
        code: Apply only to requests with this code; None means every
            request, including requests for other paths. The repr shows the
            code's fingerprint.
        times: Apply to the first ``times`` matching requests only; None
            means every matching request.
        hits: How many requests the rule has applied to so far.
    """

    fault: Fault
    code: str | None = attrs.field(default=None, kw_only=True, repr=_mask_rule_code)
    times: int | None = attrs.field(default=None, kw_only=True)
    hits: int = attrs.field(default=0, kw_only=True)

    @times.validator
    def _check_times(self, _attribute: object, value: int | None) -> None:
        if value is not None and value < 0:
            msg = f"Invalid times={value}: it must be >= 0, or None for no limit."
            raise ValueError(msg)

    @property
    def remaining(self) -> int | None:
        """How many more requests the rule applies to; None means no limit."""
        return None if self.times is None else max(self.times - self.hits, 0)

    def matches(self, code: str | None) -> bool:
        """Check whether the rule applies to a request with ``code``."""
        return self.remaining != 0 and (self.code is None or self.code == code)


@attrs.frozen
class FaultPlan:
    """The faults chosen for one request.

    Attributes:
        delay: Total latency, in seconds.
        fault: The fault that changes the response, or None.
    """

    delay: float = 0.0
    fault: Fault | None = None


class FaultTable:
    """The rules of one emulator, safe to change from any thread."""

    def __init__(self, rules: Iterable[FaultRule] = (), seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules)
        self._random = random.Random(seed)  # noqa: S311 - jitter, not secrets

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules, in the order added."""
        with self._lock:
            return tuple(self._rules)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, code: str | None) -> FaultPlan:
        """Choose the faults for a request with ``code`` and count their use.

        Every matching latency rule applies and the delays add up. Of the
        rules that change the response, only the first matching one applies,
        so rules with ``times`` set form a queue: with a 500 rule and then a
        503 rule, each ``times=1``, the first request gets 500 and the second
        503.
        """
        delay = 0.0
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(code):
                    continue
                fault = rule.fault
                if fault.changes_response:
                    if chosen is not None:
                        continue
                    chosen = fault
                else:
                    delay += fault.seconds + self._random.uniform(0, fault.jitter)
                rule.hits += 1

        return FaultPlan(delay, chosen)
