"""The public codes parser: `parse_codes` and `read_codes`.

The command line reads codes with the same functions; its tests cover the
sources it combines (files, --code, the environment and stdin).
"""

from __future__ import annotations

import pytest

import voicenter_async
from voicenter_async import CodesInputError, code_fingerprint, parse_codes, read_codes

CODE = "ZZsentinel0CODE42"
OTHER = "abcdefgh1234"


class TestParseCodes:
    def test_labels_bare_codes_and_comments(self):
        """Labels, bare codes, blank lines and '#' comments, in input order."""
        text = f"# header\n\n sales = {CODE} \n{OTHER}\n#old={OTHER}x\n"

        codes = parse_codes(text)

        assert {"sales": CODE, code_fingerprint(OTHER): OTHER} == codes
        assert ["sales", code_fingerprint(OTHER)] == list(codes)

    def test_same_code_two_labels(self):
        """One code under two labels keeps both labels."""
        codes = parse_codes(f"a={CODE}\nb={CODE}\n")

        assert {"a": CODE, "b": CODE} == codes

    def test_repeated_entry(self):
        """The same label and code given twice is one department."""
        assert {"a": CODE} == parse_codes(f"a={CODE}\na = {CODE}\n")

    def test_label_clash(self):
        """One label for two codes names both lines and neither code."""
        with pytest.raises(CodesInputError) as caught:
            parse_codes(f"sales={CODE}\nsales={OTHER}\n", source="dup.txt")

        message = str(caught.value)
        assert "label sales is given to two different codes" in message
        assert "line 1 of dup.txt and line 2 of dup.txt" in message
        assert CODE not in message
        assert OTHER not in message

    def test_split_commas(self):
        """With split_commas, entries are named as in VOICENTER_CODES."""
        text = f"a={CODE},#b={OTHER}\nc={OTHER}"

        codes = parse_codes(text, source="VOICENTER_CODES", split_commas=True)

        assert {"a": CODE, "c": OTHER} == codes
        with pytest.raises(CodesInputError, match="entry 1 of VOICENTER_CODES and"):
            parse_codes(
                f"a={CODE},a={OTHER}", source="VOICENTER_CODES", split_commas=True
            )

    def test_comma_in_file_label(self):
        """Without split_commas, a comma belongs to the label."""
        assert {"Sales, Tel Aviv": CODE} == parse_codes(f"Sales, Tel Aviv={CODE}")

    @pytest.mark.parametrize(
        ("entry", "fault"),
        [
            (f"{CODE}=", "has no code after '='"),
            ("label =  ", "has no code after '='"),
            (f"{CODE}=sales", "looks like code=label"),
            (f"{CODE}=sales team", "looks like code=label"),
            (f"{CODE}=short", "looks like code=label"),
            (f"{CODE}=x" + "y" * 300, "looks like code=label"),
            (f"{CODE} {OTHER}", "has whitespace inside its code"),
            (f"sales={CODE} {OTHER}", "has whitespace inside its code"),
        ],
    )
    def test_rejected_entries(self, entry, fault):
        """Entries that would turn a code into a label name only their place."""
        with pytest.raises(CodesInputError) as caught:
            parse_codes(f"ok={OTHER}\n{entry}\n", source="codes.txt")

        message = str(caught.value)
        assert message.startswith(f"line 2 of codes.txt {fault}")
        assert CODE not in message
        assert "sales" not in message

    @pytest.mark.parametrize(
        "entry",
        [
            f"support2024={CODE}",
            f"{OTHER}={CODE}",
            f"מכירות={CODE}",
            f"Sales team={CODE}",
            "sales=short",
        ],
    )
    def test_accepted_labels(self, entry):
        """A label is kept unless it has a code's shape and the code part has not."""
        label, _, code = entry.partition("=")

        assert {label: code} == parse_codes(entry)

    def test_exported(self):
        """The parser and its error are part of the package's public names."""
        for name in ("CodesInputError", "parse_codes", "read_codes"):
            assert name in voicenter_async.__all__
        assert issubclass(CodesInputError, ValueError)


class TestReadCodes:
    def test_file(self, tmp_path):
        """A UTF-8 file with a byte order mark is read like parse_codes text."""
        path = tmp_path / "codes.txt"
        path.write_text(f"# comment\nמכירות={CODE}\n{OTHER}\n", encoding="utf-8-sig")

        codes = read_codes(path)

        assert {"מכירות": CODE, code_fingerprint(OTHER): OTHER} == codes

    def test_bad_line_names_file(self, tmp_path):
        """A malformed line is named by its number and the file's name."""
        path = tmp_path / "odd.txt"
        path.write_text(f"{CODE}=\n", encoding="utf-8")

        with pytest.raises(CodesInputError, match=r"^line 1 of odd\.txt has no code"):
            read_codes(str(path))

    def test_missing_file(self, tmp_path):
        """A missing file is a CodesInputError with the path and the reason."""
        path = tmp_path / "absent.txt"

        with pytest.raises(CodesInputError, match=r"absent\.txt: No such file"):
            read_codes(path)

    def test_not_utf8(self, tmp_path):
        """Bytes that are not UTF-8 are reported, not decoded by the locale."""
        path = tmp_path / "latin.txt"
        path.write_bytes(b"caf\xe9=" + CODE.encode() + b"\n")

        with pytest.raises(CodesInputError, match="it is not valid UTF-8"):
            read_codes(path)
