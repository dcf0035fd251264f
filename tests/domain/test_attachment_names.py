"""File names as stored: no directories, no control or format (bidi) characters, bounded, extension kept."""

from __future__ import annotations

import pytest

from domain.attachments import MAX_FILENAME, safe_filename


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\x00b.pdf", "ab.pdf"),
        ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200fx.pdf", "x.pdf"),
        ("line\u2028break\u2029.pdf", "linebreak.pdf"),
        ("C:\\材料\\验收.pdf", "验收.pdf"),
        ("../../etc/passwd", "passwd"),
        ('say "hi".pdf', "say _hi_.pdf"),
        (" .hidden. ", "hidden"),
        ("..", "attachment"),
        ("", "attachment"),
        (None, "attachment"),
        ("e\u0301.pdf", "\u00e9.pdf"),  # NFC: one character, as a reader would type it
    ],
)
def test_safe_filename(name: str | None, cleaned: str) -> None:
    assert safe_filename(name) == cleaned


def test_a_long_name_is_cut_but_keeps_its_extension() -> None:
    cleaned = safe_filename("报" * 400 + ".xlsx")
    assert len(cleaned) == MAX_FILENAME
    assert cleaned.endswith("报.xlsx")
