"""Parse one large GetExtensions body with each decoder, rounds alternating.

``json``, ``orjson`` and ``msgspec`` decode into plain dicts with no checks.
``pydantic`` validates into models with the same loose wire types. The
library decodes, checks and structures into its frozen `Extension` records.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import single_body

from voicenter_async._wire import parse_body


def decoders() -> dict[str, Callable[[bytes], object]]:
    """Return the decoders that are installed, by name."""
    found: dict[str, Callable[[bytes], object]] = {"json": json.loads}
    try:
        import orjson

        found["orjson"] = orjson.loads
    except ImportError:
        pass
    try:
        import msgspec

        found["msgspec (dicts)"] = msgspec.json.decode
    except ImportError:
        pass
    pydantic = _pydantic_decoder()
    if pydantic is not None:
        found["pydantic (models)"] = pydantic
    found["voicenter-async parse_body"] = _library
    return found


def _library(body: bytes) -> object:
    return parse_body(body, label="benchmark", code="")


def _pydantic_decoder() -> Callable[[bytes], object] | None:
    try:
        import pydantic
    except ImportError:
        return None

    class WireExtension(pydantic.BaseModel):
        SIP: str | int
        Name: str | None = None
        SpeedDial: str | int | None = None
        AccountID: int | str | None = None
        AccountName: str | None = None
        UserName: str | None = None
        UserEmail: str | None = None

    class Document(pydantic.BaseModel):
        ERR: int | str
        DESC: str | None = None
        EXTENSIONS: list[WireExtension] | None = None

    return Document.model_validate_json


def report(extensions: int, rounds: int) -> None:
    """Time each decoder on one body and print medians, ranges and ratios."""
    body = single_body(extensions)
    found = decoders()
    seconds: dict[str, list[float]] = {name: [] for name in found}
    names = list(found)
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            found[name](body)
            seconds[name].append(time.perf_counter() - started)

    print(f"\n## parse: one body of {extensions} extensions, {len(body)} bytes")
    print(f"median (min-max) of {rounds} rounds\n")
    print("| decoder | ms | extensions/s | rate / orjson |")
    print("| --- | --- | --- | --- |")
    reference = seconds.get("orjson")
    for name, times in seconds.items():
        rate = extensions / statistics.median(times)
        ratio = "-"
        if reference is not None:
            ratios = [ref / own for ref, own in zip(reference, times, strict=True)]
            ratio = (
                f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            )
        ms = [t * 1000 for t in times]
        print(
            f"| {name} | {statistics.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f}) "
            f"| {rate:,.0f} | {ratio} |"
        )


if __name__ == "__main__":
    report(extensions=int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, rounds=7)
