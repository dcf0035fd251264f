"""Attachment rules: which file types are known, how their content starts, safe download names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from urllib.parse import quote

PDF = b"%PDF-"
PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # doc, xls, ppt (Compound File Binary)
ZIP = b"PK\x03\x04"  # docx, xlsx, pptx (Office Open XML is a ZIP package)

# Declared content type → the bytes its content must start with. A type missing here cannot be allowed.
SIGNATURES: dict[str, bytes] = {
    "application/pdf": PDF,
    "image/png": PNG,
    "image/jpeg": JPEG,
    "application/msword": OLE2,
    "application/vnd.ms-excel": OLE2,
    "application/vnd.ms-powerpoint": OLE2,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ZIP,
}
SIGNATURE_NAMES: dict[bytes, str] = {
    PDF: "PDF",
    PNG: "PNG",
    JPEG: "JPEG",
    OLE2: "OLE2 (old Office)",
    ZIP: "ZIP (OOXML)",
}
HEAD_BYTES = max(len(s) for s in SIGNATURES.values())
MAX_FILENAME = 255
_QUOTES = re.compile(r'"')
# Unicode categories a file name never needs: control (Cc), format (Cf: bidi, zero-width), surrogate, private
# use, unassigned, and the line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def normalise_content_type(declared: str | None) -> str:
    """The media type without parameters, lower case (`Image/PNG; x=1` → `image/png`)."""
    return (declared or "").split(";", 1)[0].strip().lower()


def content_problem(content_type: str, head: bytes, allowed: Collection[str]) -> tuple[str, str] | None:
    """(rule, message) when the declared type is not allowed or the content does not match it, else None."""
    if content_type not in allowed or content_type not in SIGNATURES:
        names = ", ".join(sorted(t for t in allowed if t in SIGNATURES))
        return "allowed_type", f"content type {content_type or '(none)'} is not allowed; allowed: {names}"
    if not head:
        return "not_empty", "the file is empty"
    expected = SIGNATURES[content_type]
    if not head.startswith(expected):
        actual = next((n for sig, n in SIGNATURE_NAMES.items() if head.startswith(sig)), "unrecognised")
        return (
            "content_matches_type",
            f"declared {content_type} but the content is {actual}; a {content_type} file starts "
            f"with the {SIGNATURE_NAMES[expected]} signature",
        )
    return None


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A file name without directories, control or format characters, at most MAX_FILENAME characters.

    Control characters (NUL …) break storage and headers; format characters (bidi overrides such as U+202E,
    isolates, marks, zero-width) let `invoice\u202efdp.exe` display as `invoiceexe.pdf`: both are removed."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    visible = "".join(c for c in base if unicodedata.category(c) not in _INVISIBLE)
    cleaned = _QUOTES.sub("_", visible).strip(" .")
    if len(cleaned) > MAX_FILENAME:
        stem, dot, ext = cleaned.rpartition(".")
        keep = dot + ext if stem and len(ext) <= 16 else ""  # the extension survives the cut: it says the type
        cleaned = cleaned[: MAX_FILENAME - len(keep)].rstrip(" .") + keep
    return cleaned or fallback


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name as RFC 5987 `filename*` (Chinese names)."""
    ascii_name = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in filename) or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
