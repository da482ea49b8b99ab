"""A local emulator of Voicenter's GetExtensions API, for tests and benchmarks.

Nothing here contacts Voicenter. The pieces:

* :class:`Directory` and :func:`sample_organization`: the departments to
  serve, made up or your own.
* :class:`VoicenterEmulator`: a real HTTP/1.1 server on 127.0.0.1 in the
  current event loop; :class:`ThreadedEmulator` runs it in a thread, and
  ``python -m voicenter_async.testing`` in a separate process.
* :class:`Fault`: latency, error statuses, odd bodies and broken connections
  to inject.
* :func:`mock_voicenter`: the same responses through respx, without sockets.
* ``voicenter_async.testing.pytest_plugin``: pytest fixtures for all of it.

Department codes the emulator accepts are 8 to 64 ASCII letters or digits.
Reprs and recorded requests show a code's fingerprint
(:func:`voicenter_async.code_fingerprint`), never the code.
"""

from __future__ import annotations

from ._faults import Fault, FaultKind, FaultRule
from ._org import Department, Directory, DirectoryExtension, sample_organization
from ._protocol import API_PATH, Reply, handle_request
from ._respx import mock_voicenter
from ._server import VoicenterEmulator
from ._stats import EmulatorStats, RecordedRequest
from ._threaded import ThreadedEmulator

__all__ = [
    "API_PATH",
    "Department",
    "Directory",
    "DirectoryExtension",
    "EmulatorStats",
    "Fault",
    "FaultKind",
    "FaultRule",
    "RecordedRequest",
    "Reply",
    "ThreadedEmulator",
    "VoicenterEmulator",
    "handle_request",
    "mock_voicenter",
    "sample_organization",
]
