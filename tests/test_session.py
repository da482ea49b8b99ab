"""The session: request building, status handling, lifecycle and settings."""

from __future__ import annotations

import asyncio
import errno
import json
import sys

import httpx
import pytest
import respx

from voicenter_async import (
    DEFAULT_BASE_URL,
    Extension,
    ForbiddenError,
    HTTPStatusError,
    InvalidCodeError,
    PoolTimeoutError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    SessionStateError,
    TransportError,
    UnauthorizedError,
    VoicenterError,
    VoicenterSession,
    __version__,
    code_fingerprint,
)

BASE = "http://voicenter.test"
PATH = "/Comet/api/GetExtensions"
CODE = "Sentinel7Code9Zq"
OK_BODY = {
    "ERR": 0,
    "DESC": "OK",
    "EXTENSIONS": [{"SIP": "1001", "Name": "אבי לוי", "AccountID": 7}],
}


@pytest.fixture(name="api")
def _api():
    with respx.mock(base_url=BASE, using="httpx", assert_all_called=False) as router:
        yield router


@pytest.fixture(name="session")
async def _session():
    async with VoicenterSession(base_url=BASE) as session:
        yield session


def ok(*_args: object) -> httpx.Response:
    return httpx.Response(200, json=OK_BODY)


class TestRequest:
    async def test_post_body(self, api, session):
        """POST sends exactly the documented JSON body, code lowercase."""
        route = api.post(PATH).mock(side_effect=ok)

        await session.get_extensions(CODE, show_all=False)

        request = route.calls.last.request
        assert {"code": CODE, "showAll": 0} == json.loads(request.content)
        assert "application/json" == request.headers["Content-Type"]
        assert "" == request.url.query.decode()

    @pytest.mark.parametrize(("show_all", "expected"), [(True, 1), (False, 0)])
    async def test_post_show_all(self, api, session, show_all, expected):
        """showAll is sent as 1 or 0."""
        route = api.post(PATH).mock(side_effect=ok)

        await session.get_extensions(CODE, show_all=show_all)

        assert expected == json.loads(route.calls.last.request.content)["showAll"]

    async def test_post_show_all_omitted(self, api, session):
        """Without show_all, showAll is left out of the body."""
        route = api.post(PATH).mock(side_effect=ok)

        await session.get_extensions(CODE)

        assert {"code": CODE} == json.loads(route.calls.last.request.content)

    @pytest.mark.parametrize(
        ("show_all", "expected"),
        [(None, {"code": CODE}), (True, {"code": CODE, "showAll": "1"})],
    )
    async def test_get_query(self, api, show_all, expected):
        """GET sends the same parameters in the query string, and no body."""
        route = api.get(PATH).mock(side_effect=ok)

        async with VoicenterSession(base_url=BASE, method="GET") as session:
            await session.get_extensions(CODE, show_all=show_all)

        request = route.calls.last.request
        assert expected == dict(request.url.params)
        assert b"" == request.content

    async def test_headers(self, api):
        """User-Agent names the library and extra headers are sent."""
        route = api.post(PATH).mock(side_effect=ok)

        async with VoicenterSession(
            base_url=BASE, headers={"X-Trace": "abc"}
        ) as session:
            await session.get_extensions(CODE)

        headers = route.calls.last.request.headers
        assert f"voicenter-async/{__version__}" == headers["User-Agent"]
        assert "abc" == headers["X-Trace"]

    async def test_returns_extensions(self, api, session):
        """The body becomes a list of Extension records."""
        api.post(PATH).mock(side_effect=ok)

        result = await session.get_extensions(CODE)

        assert [Extension(sip="1001", name="אבי לוי", account_id=7)] == result

    async def test_json_labelled_html_is_fine(self, api, session):
        """A valid JSON body is accepted whatever its Content-Type."""
        api.post(PATH).mock(
            return_value=httpx.Response(
                200,
                content=json.dumps(OK_BODY).encode(),
                headers={"Content-Type": "text/html"},
            )
        )

        assert 1 == len(await session.get_extensions(CODE))

    async def test_html_page_is_error(self, api, session):
        """An HTML page with status 200 raises ResponseFormatError."""
        api.post(PATH).mock(
            return_value=httpx.Response(200, html="<html>Maintenance</html>")
        )

        with pytest.raises(ResponseFormatError, match="Maintenance"):
            await session.get_extensions(CODE)

    @pytest.mark.parametrize("code", ["", "   ", "ab cd", "ab\ncd", "x" * 300])
    async def test_bad_code_not_sent(self, api, session, code):
        """An empty or malformed code is rejected before any request."""
        route = api.post(PATH).mock(side_effect=ok)

        with pytest.raises(InvalidCodeError):
            await session.get_extensions(code)

        assert not route.called

    @pytest.mark.parametrize("code", [None, 123, b"bytes-code", ["a"]])
    async def test_non_string_code_not_sent(self, api, session, code):
        """A code that is not a string is rejected before any request."""
        route = api.post(PATH).mock(side_effect=ok)

        with pytest.raises(InvalidCodeError, match="must be a string"):
            await session.get_extensions(code)

        assert not route.called

    async def test_invalid_code_is_value_error(self, session):
        """InvalidCodeError can be caught as ValueError."""
        with pytest.raises(ValueError, match="empty"):
            await session.get_extensions("")


class TestStatus:
    async def test_403_allow_list(self, api, session):
        """HTTP 403 raises ForbiddenError that points at the allow-list."""
        api.post(PATH).mock(return_value=httpx.Response(403, text="Forbidden"))

        with pytest.raises(ForbiddenError) as info:
            await session.get_extensions(CODE)

        assert 403 == info.value.status_code
        assert "allow-list" in str(info.value)
        assert "control panel" in str(info.value)
        assert code_fingerprint(CODE) == info.value.label

    async def test_429_retry_after(self, api, session):
        """HTTP 429 raises RateLimitedError with the requested delay."""
        api.post(PATH).mock(
            return_value=httpx.Response(429, headers={"Retry-After": "120"})
        )

        with pytest.raises(RateLimitedError) as info:
            await session.get_extensions(CODE)

        assert 120.0 == info.value.retry_after
        assert 429 == info.value.status_code

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    async def test_5xx(self, api, session, status):
        """A 5xx status raises ServerError with the status."""
        api.post(PATH).mock(return_value=httpx.Response(status, text="<h1>down</h1>"))

        with pytest.raises(ServerError) as info:
            await session.get_extensions(CODE)

        assert status == info.value.status_code
        assert "<h1>down</h1>" == info.value.excerpt

    @pytest.mark.parametrize("status", [301, 400, 404, 418])
    async def test_other_status(self, api, session, status):
        """Any other status raises HTTPStatusError with the status."""
        api.post(PATH).mock(return_value=httpx.Response(status))

        with pytest.raises(HTTPStatusError) as info:
            await session.get_extensions(CODE)

        assert status == info.value.status_code
        assert f"HTTP {status}" in str(info.value)

    async def test_err_one(self, api, session):
        """ERR 1 raises UnauthorizedError."""
        api.post(PATH).mock(
            return_value=httpx.Response(
                200, json={"ERR": 1, "DESC": "Unauthorized", "EXTENSIONS": []}
            )
        )

        with pytest.raises(UnauthorizedError):
            await session.get_extensions(CODE)

    def test_status_error_excerpt_masks_code(self):
        """An error body that echoes the code is masked in the excerpt."""
        from voicenter_async._http import check_status

        response = httpx.Response(500, text=f"bad code {CODE}")

        with pytest.raises(ServerError) as info:
            check_status(response, label="x", code=CODE)

        assert CODE not in info.value.excerpt


class TestTransportErrors:
    @pytest.mark.parametrize(
        "exc",
        [httpx.ConnectTimeout("t"), httpx.ReadTimeout("t"), httpx.WriteTimeout("t")],
    )
    async def test_timeouts(self, api, session, exc):
        """httpx timeouts become RequestTimeoutError, kept as the cause."""
        api.post(PATH).mock(side_effect=exc)

        with pytest.raises(RequestTimeoutError) as info:
            await session.get_extensions(CODE)

        assert isinstance(info.value, TimeoutError)
        assert type(exc) is type(info.value.__cause__)
        assert str(exc) == str(info.value.__cause__)

    async def test_pool_timeout(self, api, session):
        """A pool timeout has its own error, naming the setting to change."""
        api.post(PATH).mock(side_effect=httpx.PoolTimeout("t"))

        with pytest.raises(PoolTimeoutError, match="max_connections"):
            await session.get_extensions(CODE)

    @pytest.mark.parametrize(
        "exc",
        [
            httpx.ConnectError("refused"),
            httpx.ReadError("reset"),
            httpx.RemoteProtocolError("Server disconnected"),
        ],
    )
    async def test_network_errors(self, api, session, exc):
        """Connection failures become TransportError, kept as the cause."""
        api.post(PATH).mock(side_effect=exc)

        with pytest.raises(TransportError) as info:
            await session.get_extensions(CODE)

        assert not isinstance(info.value, RequestTimeoutError)
        assert type(exc) is type(info.value.__cause__)
        assert str(exc) == str(info.value.__cause__)
        assert "voicenter.test" in str(info.value)

    async def test_non_httpx_transport_error(self):
        """A transport that raises a non-httpx error gives TransportError."""

        async def broken(request: httpx.Request) -> httpx.Response:
            raise OverflowError(f"connect(): port must be 0-65535 for {CODE}")

        async with VoicenterSession(
            base_url=BASE, transport=httpx.MockTransport(broken), max_retries=0
        ) as session:
            with pytest.raises(TransportError, match="OverflowError") as info:
                await session.get_extensions(CODE)
            roster = await session.fetch_departments({"a": CODE})

        assert CODE not in str(info.value)
        assert CODE not in str(info.value.__cause__)
        assert isinstance(roster.departments[0].error, TransportError)

    async def test_too_many_open_files(self):
        """Running out of open files is named, not blamed on the network."""

        async def exhausted(request: httpx.Request) -> httpx.Response:
            error = httpx.ConnectError("cannot connect")
            raise error from OSError(errno.EMFILE, "Too many open files")

        async with VoicenterSession(
            base_url=BASE, transport=httpx.MockTransport(exhausted), max_retries=0
        ) as session:
            with pytest.raises(TransportError, match="too many open files") as info:
                await session.get_extensions(CODE)

        assert "ulimit -n" in str(info.value)

    @pytest.mark.parametrize("method", ["GET", "POST"])
    async def test_cause_holds_no_request(self, api, method):
        """The httpx error kept as the cause no longer carries the request."""
        api.route(method=method, path=PATH).mock(side_effect=httpx.ReadError("reset"))

        async with VoicenterSession(
            base_url=BASE, method=method, max_retries=0
        ) as session:
            with pytest.raises(TransportError) as info:
                await session.get_extensions(CODE)

        cause = info.value.__cause__
        assert isinstance(cause, httpx.ReadError)
        assert "reset" == str(cause)
        with pytest.raises(RuntimeError):
            _ = cause.request
        assert cause.__context__ is None or cause.__suppress_context__

    async def test_decoding_error(self, api, session):
        """A body that httpx cannot decode becomes ResponseFormatError."""
        api.post(PATH).mock(side_effect=httpx.DecodingError("bad gzip"))

        with pytest.raises(ResponseFormatError):
            await session.get_extensions(CODE)

    async def test_cause_message_scrubbed(self, api, session):
        """A cause whose message contains the code is masked."""
        leak = httpx.ConnectError(f"failed for {BASE}{PATH}?code={CODE}")
        api.post(PATH).mock(side_effect=leak)

        with pytest.raises(TransportError) as info:
            await session.get_extensions(CODE)

        assert CODE not in str(info.value)
        assert CODE not in str(info.value.__cause__)

    async def test_connection_refused_on_socket(self, unused_tcp_port):
        """A real refused connection to 127.0.0.1 becomes TransportError."""
        base = f"http://127.0.0.1:{unused_tcp_port}"

        async with VoicenterSession(base_url=base, timeout=2) as session:
            with pytest.raises(TransportError) as info:
                await session.get_extensions(CODE)

        assert isinstance(info.value.__cause__, httpx.HTTPError)
        assert isinstance(info.value, VoicenterError)


class TestLifecycle:
    async def test_closed_session_rejects_calls(self, api):
        """Using a closed session raises SessionStateError."""
        session = VoicenterSession(base_url=BASE)
        await session.aclose()

        with pytest.raises(SessionStateError, match="closed"):
            await session.get_extensions(CODE)
        with pytest.raises(SessionStateError, match="closed"):
            await session.fetch_departments([CODE])

    async def test_enter_closed_session(self):
        """Entering a closed session raises SessionStateError."""
        session = VoicenterSession(base_url=BASE)
        await session.aclose()

        with pytest.raises(SessionStateError, match="closed"):
            async with session:
                pass

    async def test_enter_twice(self):
        """Entering a session twice raises SessionStateError."""
        async with VoicenterSession(base_url=BASE) as session:
            with pytest.raises(SessionStateError, match="already entered"):
                async with session:
                    pass

    async def test_aclose_idempotent(self):
        """aclose can be called more than once and closes the client."""
        session = VoicenterSession(base_url=BASE)

        await session.aclose()
        await session.aclose()

        assert session.closed
        assert session.http_client.is_closed

    async def test_without_context_manager(self, api):
        """A session works without 'async with' until aclose."""
        api.post(PATH).mock(side_effect=ok)
        session = VoicenterSession(base_url=BASE)

        try:
            assert 1 == len(await session.get_extensions(CODE))
        finally:
            await session.aclose()

    async def test_user_client_not_closed(self, api):
        """A client passed in is used and left open."""
        route = api.post(PATH).mock(side_effect=ok)

        async with httpx.AsyncClient(base_url=BASE) as client:
            async with VoicenterSession(http_client=client) as session:
                await session.get_extensions(CODE)

            assert route.called
            assert session.http_client is client
            assert not client.is_closed

    async def test_user_client_with_base_url_rejected(self):
        """base_url next to http_client is an error, not silently ignored."""
        async with httpx.AsyncClient(base_url=BASE) as client:
            with pytest.raises(ValueError, match="both given"):
                VoicenterSession(base_url="http://127.0.0.1:9", http_client=client)

    async def test_user_client_without_base_url_rejected(self):
        """A client with no base URL is rejected up front."""
        async with httpx.AsyncClient() as client:
            with pytest.raises(ValueError, match="has no base URL"):
                VoicenterSession(http_client=client)

    async def test_user_client_base_url_in_repr(self):
        """The repr names the host the caller's client sends to."""
        async with httpx.AsyncClient(base_url="http://127.0.0.1:8123") as client:
            session = VoicenterSession(http_client=client)

            assert "http://127.0.0.1 " in repr(session)

    async def test_one_client_for_all_codes(self, api, session):
        """Every request rides the session's one client."""
        api.post(PATH).mock(side_effect=ok)
        client = session.http_client

        await session.fetch_departments([f"{CODE}{n}" for n in range(5)])

        assert client is session.http_client

    def test_other_event_loop(self, api):
        """A session used from a second event loop raises a clear error."""
        api.post(PATH).mock(side_effect=ok)
        session = VoicenterSession(base_url=BASE)

        asyncio.run(session.get_extensions(CODE))

        async def again() -> None:
            try:
                await session.get_extensions(CODE)
            finally:
                await session.aclose()

        with pytest.raises(SessionStateError, match="event loop"):
            asyncio.run(again())

    def test_repr_has_no_code(self):
        """The session's repr names host, method and state."""
        session = VoicenterSession(base_url=BASE)

        assert "<VoicenterSession http://voicenter.test method=POST state=open>" == (
            repr(session)
        )
        asyncio.run(session.aclose())


class TestSettings:
    def test_default_base_url(self):
        """The default base URL is Voicenter's monitor host over https."""
        assert "https://monitor.voicenter.co.il" == DEFAULT_BASE_URL

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"method": "PUT"},
            {"method": 1},
            {"max_connections": 0},
            {"max_connections": True},
            {"max_connections": 2.5},
            {"concurrency": 0},
            {"timeout": 0},
            {"timeout": -1.0},
            {"timeout": "10"},
            {"base_url": "ftp://example.test"},
            {"base_url": "voicenter.test"},
            {"base_url": "http://voicenter.test/?code=abc"},
            {"base_url": "http://127.0.0.1:99999"},
            {"base_url": "http://user:secret@voicenter.test"},
            {"base_url": "http://256.1.1.1"},
            {"base_url": ""},
            {"base_url": 8080},
            {"keepalive_expiry": -1},
            {"keepalive_expiry": float("inf")},
            {"timeout": float("inf")},
            {"timeout": float("nan")},
        ],
    )
    def test_invalid_settings(self, kwargs):
        """A setting out of range raises ValueError naming it."""
        name = next(iter(kwargs))

        with pytest.raises(ValueError, match=name):
            VoicenterSession(**{"base_url": BASE, **kwargs})

    def test_base_url_secrets_masked(self):
        """A rejected base URL is shown without its password or code."""
        with pytest.raises(ValueError, match="base_url") as info:
            VoicenterSession(base_url="http://user:hunter2@256.1.1.1/?code=abc12345")

        assert "hunter2" not in str(info.value)
        assert "abc12345" not in str(info.value)

    def test_pool_above_open_file_limit(self, monkeypatch):
        """A pool larger than the open-file limit allows is rejected."""
        resource = pytest.importorskip("resource")
        monkeypatch.setattr(resource, "getrlimit", lambda _kind: (100, 100))

        with pytest.raises(ValueError, match=r"open-file limit is 100") as info:
            VoicenterSession(base_url=BASE, max_connections=50)

        assert "36 or less" in str(info.value)
        assert VoicenterSession(base_url=BASE, max_connections=36)

    @pytest.mark.parametrize("show_all", ["yes", "no", 2, 0, 1.0])
    async def test_invalid_show_all(self, api, show_all):
        """show_all other than True, False or None is rejected before sending."""
        route = api.post(PATH).mock(side_effect=ok)

        async with VoicenterSession(base_url=BASE) as session:
            with pytest.raises(ValueError, match="show_all"):
                await session.get_extensions(CODE, show_all=show_all)
            with pytest.raises(ValueError, match="show_all"):
                await session.fetch_departments([CODE], show_all=show_all)

        assert not route.called

    @pytest.mark.parametrize("method", ["get", "post", "GET"])
    async def test_method_case_insensitive(self, method):
        """The method is accepted in any case."""
        async with VoicenterSession(base_url=BASE, method=method) as session:
            assert method.upper() in repr(session)

    async def test_timeout_object(self, api):
        """An httpx.Timeout is used as given."""
        timeout = httpx.Timeout(3.0, connect=1.0)

        async with VoicenterSession(base_url=BASE, timeout=timeout) as session:
            assert timeout == session.http_client.timeout

    async def test_timeout_number(self):
        """A number of seconds sets every timeout."""
        async with VoicenterSession(base_url=BASE, timeout=4) as session:
            assert httpx.Timeout(4.0) == session.http_client.timeout

    def test_http2_without_h2(self, monkeypatch):
        """http2=True without the h2 package names the extra to install."""
        monkeypatch.setitem(sys.modules, "h2", None)

        with pytest.raises(ImportError, match=r"voicenter-async\[h2\]"):
            VoicenterSession(base_url=BASE, http2=True)


# Header values below look like secrets, so a message must never show them.
INVALID_HEADERS = [
    ({"X-Team": "Secret-Grüße"}, "header 'X-Team' has a non-ASCII value"),
    ({"X-Team": "Secret\r\nInjected: 1"}, "header 'X-Team' has an invalid value"),
    ({"X-Team": "Secret\nmore"}, "contains a line break or a NUL character"),
    ({"X-Team": b"Secret\rmore"}, "contains a line break or a NUL character"),
    ({"X-Team": "Secret\x00more"}, "contains a line break or a NUL character"),
    ({"X-Team": "Secret\x01more"}, "control character other than tab"),
    ({"X-Team": "Secret\x0bmore"}, "control character other than tab"),
    ({"X-Team": b"Secret\x7fmore"}, "control character other than tab"),
    ({"X-Team": " Secret-lead"}, "starts or ends with whitespace"),
    ({"X-Team": b"Secret-trail\t"}, "starts or ends with whitespace"),
    ({"X-Retries": 5}, "header 'X-Retries' must have a str or bytes value, got int"),
    ({"X-Team": None}, "got NoneType"),
    ({"X Team": "x"}, "header name 'X Team' is invalid"),
    ({"X:Team": "x"}, "header name 'X:Team' is invalid"),
    ({"": "x"}, "header name '' is invalid"),
    ({"X-Ü": "x"}, "header name 'X-Ü' is invalid"),
    ({b"X\rTeam": "x"}, "header name 'X\\rTeam' is invalid"),
    ({5: "x"}, "header names must be str or bytes, got int"),
]


class TestHookAndFlagChecks:
    @pytest.mark.parametrize("name", ["on_retry", "on_response"])
    @pytest.mark.parametrize("hook", [5, "log", object()])
    def test_hook_must_be_callable(self, name, hook):
        """A hook that cannot be called is a TypeError naming the parameter."""
        with pytest.raises(TypeError, match=f"{name} must be a function"):
            VoicenterSession(base_url="http://voicenter.test", **{name: hook})

    @pytest.mark.parametrize("value", ["yes", 1, None])
    def test_http2_must_be_bool(self, value):
        """http2 takes True or False only."""
        with pytest.raises(ValueError, match="http2 must be True or False"):
            VoicenterSession(base_url="http://voicenter.test", http2=value)

    def test_callable_hooks_accepted(self):
        """Functions and callable objects are accepted as hooks."""

        class Hook:
            def __call__(self, event: object) -> None:
                pass

        session = VoicenterSession(
            base_url="http://voicenter.test", on_retry=print, on_response=Hook()
        )

        assert not session.closed


class TestHeaders:
    @pytest.mark.parametrize(("headers", "fragment"), INVALID_HEADERS)
    def test_invalid_header_rejected(self, headers, fragment):
        """A header that cannot be sent is rejected by name, value unseen."""
        with pytest.raises(ValueError) as info:
            VoicenterSession(base_url=BASE, headers=headers)

        message = str(info.value)
        assert fragment in message
        assert "Secret" not in message

    def test_non_ascii_value_names_fix(self):
        """A non-ASCII str value is met with the advice to pass bytes."""
        with pytest.raises(ValueError, match="pass the value as bytes"):
            VoicenterSession(base_url=BASE, headers={"X-Team": "שלום"})

    def test_non_mapping_rejected(self):
        """Headers given as a list of pairs are rejected with an example."""
        with pytest.raises(ValueError, match="headers must be a mapping"):
            VoicenterSession(base_url=BASE, headers=[("X-Team", "x")])  # type: ignore[arg-type]

    async def test_valid_headers_sent(self, api):
        """Bytes values, tabs, empty values and bytes names are sent as given."""
        route = api.post(PATH).mock(side_effect=ok)
        headers = {
            "X-City": "Bogot\xe1".encode("latin-1"),
            "X-Tab": "a\tb",
            "X-Empty": "",
            b"X-Bytes-Name": "v",
        }

        async with VoicenterSession(
            base_url=BASE,
            headers=headers,  # type: ignore[arg-type]
        ) as session:
            await session.get_extensions(CODE)

        raw = dict(route.calls.last.request.headers.raw)
        assert b"Bogot\xe1" == raw[b"X-City"]
        assert b"a\tb" == raw[b"X-Tab"]
        assert b"" == raw[b"X-Empty"]
        assert b"v" == raw[b"X-Bytes-Name"]
