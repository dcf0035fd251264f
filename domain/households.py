"""Household identity rules: resident ID checksum (GB 11643-1999) and masking of personal data."""

from __future__ import annotations

import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID = re.compile(r"^\d{17}[\dX]$")


def id_number_problem(value: str) -> str | None:
    """Why a resident ID number is invalid, or None."""
    if not _ID.match(value):
        return "an ID number has 17 digits and a final digit or X"
    total = sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != value[17]:
        return "the ID number's check digit is wrong"
    return None


def with_check_digit(first17: str) -> str:
    """Complete 17 digits into a valid ID number (demo and test data)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + _CHECK[total % 11]


def mask(value: str, keep_start: int = 3, keep_end: int = 4) -> str:
    """Personal data as shown to people: only the ends stay visible."""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]
