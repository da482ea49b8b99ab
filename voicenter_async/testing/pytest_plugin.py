"""pytest fixtures for the Voicenter emulator.

Enable them in a ``conftest.py``::

    pytest_plugins = ["voicenter_async.testing.pytest_plugin"]

Fixtures, all function-scoped:

* ``voicenter_directory``: ``sample_organization(seed=0)``, 40 departments
  of 10 extensions in one organization. Override the fixture to serve other
  data; the other two fixtures use whatever it returns.
* ``voicenter_emulator``: a started :class:`VoicenterEmulator` serving
  ``voicenter_directory``.
* ``voicenter_respx``: an active respx router from :func:`mock_voicenter`
  serving ``http://voicenter.test``. It needs respx installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from ._org import Directory, sample_organization
from ._respx import mock_voicenter
from ._server import VoicenterEmulator

if TYPE_CHECKING:
    import respx


@pytest.fixture(name="voicenter_directory")
def _voicenter_directory() -> Directory:
    """Return the made-up departments that the other fixtures serve."""
    return sample_organization(seed=0)


@pytest_asyncio.fixture(name="voicenter_emulator")
async def _voicenter_emulator(
    voicenter_directory: Directory,
) -> AsyncIterator[VoicenterEmulator]:
    """Yield a running emulator on 127.0.0.1 and close it after the test."""
    async with VoicenterEmulator(voicenter_directory) as emulator:
        yield emulator


@pytest.fixture(name="voicenter_respx")
def _voicenter_respx(voicenter_directory: Directory) -> Iterator[respx.MockRouter]:
    """Yield an active respx router that serves GetExtensions without sockets."""
    with mock_voicenter(voicenter_directory) as router:
        yield router
