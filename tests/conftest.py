"""Settings shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

pytest_plugins = ["voicenter_async.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    """Make retry backoffs instant, keeping each session's retry count.

    stamina's testing mode replaces every wait with 0 s, and ``cap=True``
    keeps the attempts each session is set to, up to 100.
    """
    with stamina.set_testing(True, attempts=100, cap=True):
        yield
