"""A one-line progress indicator on stderr for the command line."""

from __future__ import annotations

import time
from typing import TextIO

import httpx

__all__ = ["Progress"]

# Seconds between redraws, so a fast fan-out does not flood the terminal.
_REDRAW_INTERVAL = 0.1
_CLEAR_LINE = "\r\x1b[K"


class Progress:
    """Count HTTP responses and redraw one status line while they arrive.

    It counts responses, not finished departments, because the session
    reports no per-department completion. A request that fails without a
    response is not counted, and a retried request counts each response.

    Args:
        stream: Where to draw; normally stderr.
        departments: How many departments the fan-out fetches.
        enabled: Draw nothing when False, for example when the stream is
            not a terminal.
    """

    def __init__(self, stream: TextIO, departments: int, *, enabled: bool) -> None:
        self._stream = stream
        self._departments = departments
        self._enabled = enabled
        self._responses = 0
        self._started = time.perf_counter()
        self._drawn_at = 0.0
        self._visible = False

    def attach(self, client: httpx.AsyncClient) -> None:
        """Count every response that ``client`` receives from now on."""
        hooks = client.event_hooks
        client.event_hooks = {
            "request": list(hooks.get("request", [])),
            "response": [*hooks.get("response", []), self._on_response],
        }

    async def _on_response(self, response: httpx.Response) -> None:
        self._responses += 1
        self.draw()

    def draw(self, *, force: bool = False) -> None:
        """Redraw the status line, at most every 0.1 s unless ``force``."""
        if not self._enabled:
            return
        now = time.perf_counter()
        if not force and now - self._drawn_at < _REDRAW_INTERVAL:
            return

        self._drawn_at = now
        elapsed = now - self._started
        self._stream.write(
            f"{_CLEAR_LINE}fetching {self._departments} departments: "
            f"{self._responses} responses, {elapsed:.1f} s"
        )
        self._stream.flush()
        self._visible = True

    def clear(self) -> None:
        """Erase the status line, so that the next output starts clean."""
        if not self._visible:
            return
        self._stream.write(_CLEAR_LINE)
        self._stream.flush()
        self._visible = False
