"""Household rules: resident ID checksum (GB 11643-1999), masking of personal data, and the checks of an import."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from domain.enums import HouseholdCategory, RegionLevel

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


@dataclass(frozen=True)
class RowError:
    """One bad row of an import: its line in the file, the column and the reason."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.reason}"


CATEGORIES = tuple(sorted(c.value for c in HouseholdCategory))
HOUSEHOLD_COLUMNS = ("code", "village_code", "head_name", "members", "categories", "id_number", "bank_account")


def split_list(value: str) -> list[str]:
    """A `;`-separated cell (a full-width `；` from a Chinese keyboard too) as its non-empty parts."""
    return [p.strip() for p in value.replace("；", ";").split(";") if p.strip()]


def check_household_rows(
    rows: Sequence[tuple[int, Mapping[str, str]]],
    *,
    region_levels: Mapping[str, str],
    existing_villages: Mapping[str, str],
    in_scope: Callable[[str], bool] = lambda _: True,
    tick: Callable[[int], None] = lambda _: None,
) -> list[RowError]:
    """Every problem of every household row: the CLI and the API import report the same lines and reasons.

    `region_levels` holds the level of each region the rows name; `existing_villages` the village of each stored
    household the rows name (an import may update a household, never move one from outside `in_scope`)."""
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, r in rows:
        tick(1)
        for column, value in r.items():
            if "\x00" in value:  # PostgreSQL text cannot hold NUL
                errors.append(RowError(line, column, "contains a NUL character"))
        code = r.get("code", "")
        if not code or len(code) > 32:
            errors.append(RowError(line, "code", "a household code (一户一码) of 1–32 characters is required"))
        elif code in seen:
            errors.append(RowError(line, "code", f"duplicate of line {seen[code]}"))
        elif code in existing_villages and not in_scope(existing_villages[code]):
            errors.append(RowError(line, "code", "a household of this code lives outside your region"))
        seen[code] = line
        village = r.get("village_code", "")
        if region_levels.get(village) != RegionLevel.VILLAGE.value:
            errors.append(RowError(line, "village_code", f"no village {village or '(empty)'}"))
        elif not in_scope(village):
            errors.append(RowError(line, "village_code", f"village {village} lies outside your region"))
        if not r.get("head_name", ""):
            errors.append(RowError(line, "head_name", "is required"))
        elif len(r["head_name"]) > 100:
            errors.append(RowError(line, "head_name", "at most 100 characters"))
        members = r.get("members", "")
        if not members.isascii() or not members.isdigit() or not 1 <= int(members) <= 30:
            errors.append(RowError(line, "members", "must be a whole number from 1 to 30"))
        bad = [c for c in split_list(r.get("categories", "")) if c not in CATEGORIES]
        if bad:
            errors.append(RowError(line, "categories", f"unknown {', '.join(bad)}; allowed: {', '.join(CATEGORIES)}"))
        if problem := id_number_problem(r.get("id_number", "").upper()):
            errors.append(RowError(line, "id_number", problem))
        account = r.get("bank_account", "")
        if not account.isascii() or not account.isdigit() or not 12 <= len(account) <= 30:
            errors.append(RowError(line, "bank_account", "must be 12–30 digits"))
    return errors


def household_values(r: Mapping[str, str]) -> dict[str, object]:
    """The stored columns of a checked row (ID numbers in upper case, categories once each)."""
    return {
        "code": r["code"],
        "village_code": r["village_code"],
        "head_name": r["head_name"],
        "members": int(r["members"]),
        "categories": list(dict.fromkeys(split_list(r["categories"]))),
        "id_number": r["id_number"].upper(),
        "bank_account": r["bank_account"],
    }


class HouseholdFileError(ValueError):
    """The uploaded file as a whole cannot be read (not UTF-8, wrong header)."""


def household_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a household CSV with their line numbers (the header is line 1), cells stripped."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = [c for c in HOUSEHOLD_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            expected = ", ".join(HOUSEHOLD_COLUMNS)
            raise HouseholdFileError(f"missing column(s) {', '.join(missing)}; expected {expected}")
        return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except csv.Error as err:
        raise HouseholdFileError(f"line {reader.line_num}: {err}") from err
