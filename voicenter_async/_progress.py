"""A one-line progress indicator on stderr for the command line."""

from __future__ import annotations

import time
from typing import TextIO

from ._models import DepartmentResult

__all__ = ["Progress"]

# Seconds between redraws, so a fast fan-out does not flood the terminal.
_REDRAW_INTERVAL = 0.1
_CLEAR_LINE = "\r\x1b[K"


class Progress:
    """Count finished departments and redraw one status line as they end.

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
        self._done = 0
        self._failed = 0
        self._started = time.perf_counter()
        self._drawn_at = 0.0
        self._visible = False

    def on_result(self, result: DepartmentResult) -> None:
        """Count one finished department; pass this to ``fetch_departments``."""
        self._done += 1
        if result.error is not None:
            self._failed += 1
        self.draw(force=self._done == self._departments)

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
            f"{_CLEAR_LINE}fetched {self._done} of {self._departments} "
            f"departments, {self._failed} failed, {elapsed:.1f} s"
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
