"""Run the command line: ``python -m voicenter_async`` or ``voicenter-async``."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover - the tests run it as a process
    sys.exit(main())
