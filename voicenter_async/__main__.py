"""Run the command line: ``python -m voicenter_async`` or ``voicenter-async``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

# `_cli.EXIT_INTERRUPTED`, repeated here because Ctrl-C may come before that
# module is imported.
_EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    The command line is imported here, so that Ctrl-C during its imports or
    before its command starts ends with one line and status 130, as it does
    later on.
    """
    # NOTE: an interrupt while the package's __init__ is imported, before this
    # module runs, still ends in Python's own traceback.
    try:
        from ._cli import main as run_command_line  # noqa: PLC0415

        return run_command_line(argv)
    except KeyboardInterrupt:
        _report_interrupt()
        return _EXIT_INTERRUPTED


def _report_interrupt() -> None:
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write("voicenter-async: error: interrupted\n")
        stream.flush()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover - the tests run it as a process
    sys.exit(main())
