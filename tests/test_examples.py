"""The scripts in examples/ run, against the emulator on 127.0.0.1 only."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from voicenter_async import CodesInputError
from voicenter_async.testing import Directory, Fault, VoicenterEmulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    """Import an example script as a module, without running it."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _no_configured_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's real codes and base URL away from the examples."""
    monkeypatch.delenv("VOICENTER_CODES", raising=False)
    monkeypatch.delenv("VOICENTER_BASE_URL", raising=False)


class TestQuickstart:
    async def test_without_codes(self, capsys):
        """Without VOICENTER_CODES it serves itself made-up departments."""
        await load("quickstart.py").main()

        out = capsys.readouterr().out
        assert "using the local emulator" in out
        assert "50 extensions from 5 departments" in out
        assert "failed:" not in out

    async def test_with_codes(
        self,
        capsys,
        monkeypatch,
        voicenter_emulator: VoicenterEmulator,
        voicenter_directory: Directory,
    ):
        """Configured codes and base URL are used, labels and bare codes alike."""
        first, second, third = list(voicenter_directory)[:3]
        voicenter_emulator.add_fault(Fault.status(500), code=third.code)
        monkeypatch.setenv(
            "VOICENTER_CODES", f"sales={first.code},\n{second.code}, x={third.code}"
        )
        monkeypatch.setenv("VOICENTER_BASE_URL", voicenter_emulator.base_url)

        await load("quickstart.py").main()

        out = capsys.readouterr().out
        assert "using the local emulator" not in out
        assert "failed: x:" in out
        assert "20 extensions from 3 departments" in out
        assert 3 == voicenter_emulator.stats.requests_served
        for department in (first, second, third):
            assert department.code not in out

    async def test_label_clash(self, monkeypatch, voicenter_directory: Directory):
        """A label given to two codes stops the script instead of dropping one."""
        first, second = list(voicenter_directory)[:2]
        monkeypatch.setenv("VOICENTER_CODES", f"a={first.code},a={second.code}")
        monkeypatch.setenv("VOICENTER_BASE_URL", "http://127.0.0.1:9")

        with pytest.raises(CodesInputError) as caught:
            await load("quickstart.py").main()

        message = str(caught.value)
        assert "entry 1 of VOICENTER_CODES and entry 2 of VOICENTER_CODES" in message
        assert first.code not in message
        assert second.code not in message

    async def test_comment_entries_skipped(
        self,
        capsys,
        monkeypatch,
        voicenter_emulator: VoicenterEmulator,
        voicenter_directory: Directory,
    ):
        """An entry starting with '#' is a comment, as in the command line."""
        first, second = list(voicenter_directory)[:2]
        monkeypatch.setenv("VOICENTER_CODES", f"a={first.code},#b={second.code}")
        monkeypatch.setenv("VOICENTER_BASE_URL", voicenter_emulator.base_url)

        await load("quickstart.py").main()

        assert "10 extensions from 1 departments" in capsys.readouterr().out
        assert 1 == voicenter_emulator.stats.requests_served


class TestBulkToCsv:
    async def test_without_codes_file(self, capsys, tmp_path):
        """Without a codes file it writes the emulator's departments to CSV."""
        output = tmp_path / "out.csv"

        status = await load("bulk_to_csv.py").main(["--output", str(output)])

        rows = list(csv.DictReader(output.read_text(encoding="utf-8-sig").splitlines()))
        assert 0 == status
        assert 80 == len(rows)
        assert "using the local emulator" in capsys.readouterr().out
        assert any(
            row["name"] and "\u0590" <= row["name"][0] <= "\u05ff" for row in rows
        )

    async def test_codes_file(
        self,
        capsys,
        monkeypatch,
        tmp_path,
        voicenter_emulator: VoicenterEmulator,
        voicenter_directory: Directory,
    ):
        """A label=code file becomes CSV rows; a failure gives status 1."""
        first, second = list(voicenter_directory)[:2]
        voicenter_emulator.add_fault(Fault.status(403), code=second.code)
        codes = tmp_path / "codes.txt"
        codes.write_text(
            f"# two departments\n\nמכירות = {first.code}\nbroken={second.code}\n",
            encoding="utf-8",
        )
        output = tmp_path / "out.csv"
        monkeypatch.setenv("VOICENTER_BASE_URL", voicenter_emulator.base_url)

        status = await load("bulk_to_csv.py").main([str(codes), "-o", str(output)])

        rows = list(csv.DictReader(output.read_text(encoding="utf-8-sig").splitlines()))
        captured = capsys.readouterr()
        assert 1 == status
        assert 10 == len(rows)
        assert {"מכירות"} == {row["label"] for row in rows}
        assert "failed: broken:" in captured.err
        assert first.code not in captured.out + captured.err
        assert second.code not in captured.out + captured.err

    @pytest.mark.parametrize(
        ("lines", "reason"),
        [
            (["sales={first}", "sales={second}"], "label sales is given to two"),
            (["{first}="], "line 1 of codes.txt has no code after '='"),
            (["{first}=sales"], "line 1 of codes.txt looks like code=label"),
        ],
        ids=["clash", "empty-code", "swapped"],
    )
    async def test_invalid_codes_file(
        self,
        capsys,
        monkeypatch,
        tmp_path,
        voicenter_emulator: VoicenterEmulator,
        voicenter_directory: Directory,
        lines,
        reason,
    ):
        """A codes file the command line rejects gives status 2 and no CSV."""
        first, second = list(voicenter_directory)[:2]
        codes = tmp_path / "codes.txt"
        text = "\n".join(lines).format(first=first.code, second=second.code)
        codes.write_text(text + "\n", encoding="utf-8")
        output = tmp_path / "out.csv"
        monkeypatch.setenv("VOICENTER_BASE_URL", voicenter_emulator.base_url)

        status = await load("bulk_to_csv.py").main([str(codes), "-o", str(output)])

        captured = capsys.readouterr()
        assert 2 == status
        assert reason in captured.err
        assert not output.exists()
        assert 0 == voicenter_emulator.stats.requests_served
        for department in (first, second):
            assert department.code not in captured.out + captured.err

    async def test_all_empty(
        self, capsys, monkeypatch, tmp_path, voicenter_emulator: VoicenterEmulator
    ):
        """Codes that all come back empty give status 1 and a hint."""
        codes = tmp_path / "codes.txt"
        codes.write_text("a=Unknown00000001\nb=Unknown00000002\n", encoding="utf-8")
        output = tmp_path / "out.csv"
        monkeypatch.setenv("VOICENTER_BASE_URL", voicenter_emulator.base_url)

        status = await load("bulk_to_csv.py").main([str(codes), "-o", str(output)])

        assert 1 == status
        assert "every department came back empty" in capsys.readouterr().err
