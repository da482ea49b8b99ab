"""Made-up GetExtensions bodies for the parse and memory benchmarks."""

from __future__ import annotations

import json

from voicenter_async.testing import sample_organization

SEED = 0


def department_bodies(extensions: int, per_department: int = 10) -> list[bytes]:
    """Return one GetExtensions body per department, ``extensions`` in all."""
    directory = sample_organization(SEED, extensions // per_department, per_department)
    return [
        _encode({"ERR": 0, "DESC": "OK", "EXTENSIONS": department.wire_extensions()})
        for department in directory
    ]


def single_body(extensions: int) -> bytes:
    """Return one body that lists ``extensions`` extensions."""
    directory = sample_organization(SEED, extensions // 10, 10)
    records = [record for dept in directory for record in dept.wire_extensions()]
    return _encode({"ERR": 0, "DESC": "OK", "EXTENSIONS": records})


def _encode(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
