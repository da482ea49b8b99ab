"""README's first two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")

    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_first_command_runs_demo():
    """The first command installs the package and runs the demo."""
    assert readme_commands()[0].endswith("voicenter-async demo")


def test_second_command_runs_pytest():
    """The second command installs the test extra and runs pytest."""
    assert readme_commands()[1].endswith("python -m pytest")


def test_ci_runs_readme_commands_verbatim():
    """.ci/run runs both commands word for word."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = {line.replace("$python", "python3") for line in script.splitlines()}

    for command in readme_commands():
        assert command in lines
