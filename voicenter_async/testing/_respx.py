"""Serve a directory through respx, without sockets, for fast unit tests.

respx is imported only when :func:`mock_voicenter` is called, so the rest of
``voicenter_async.testing`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ._org import Directory
from ._protocol import handle_request

if TYPE_CHECKING:
    import respx

DEFAULT_MOCK_BASE_URL = "http://voicenter.test"


def to_httpx_response(directory: Directory, request: httpx.Request) -> httpx.Response:
    """Build the response to an httpx request, as the socket emulator does."""
    reply = handle_request(
        directory,
        request.method,
        request.url.raw_path.decode("ascii"),
        request.read(),
    )

    return httpx.Response(reply.status, headers=list(reply.headers), content=reply.body)


def mock_voicenter(
    directory: Directory, *, base_url: str = DEFAULT_MOCK_BASE_URL
) -> respx.MockRouter:
    """Build a respx router that serves GetExtensions from ``directory``.

    The router responds to every request under ``base_url`` exactly as
    :class:`VoicenterEmulator` does, since both call :func:`handle_request`.
    Requests to any other host fail with respx's ``AllMockedAssertionError``,
    so a test cannot reach the network by mistake. Faults are not supported;
    use the socket emulator for those.

    Use the router as a context manager or a decorator::

        with mock_voicenter(directory) as router:
            httpx.get("http://voicenter.test/Comet/api/GetExtensions", ...)
            assert router.calls.call_count == 1

    Args:
        directory: The departments to serve.
        base_url: The scheme and host the client sends requests to.

    Returns:
        A respx router that is not yet started.

    Raises:
        ModuleNotFoundError: respx is not installed.
    """
    try:
        import respx  # noqa: PLC0415 - respx is an optional dependency
    except ModuleNotFoundError as error:
        msg = (
            "mock_voicenter() requires respx: install it with "
            "'pip install voicenter-async[test]' or 'pip install respx'."
        )
        raise ModuleNotFoundError(msg, name="respx") from error

    # respx's "httpx" mocker patches the client, above any transport, so the
    # router also serves sessions that send through aiohttp.
    router = respx.MockRouter(assert_all_called=False, base_url=base_url, using="httpx")
    router.route().mock(
        side_effect=lambda request: to_httpx_response(directory, request)
    )

    return router
