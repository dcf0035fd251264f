"""Region codes: national administrative codes nest by prefix (county 6, township 9, village 12)."""

from __future__ import annotations

import re

from domain.enums import RegionLevel

SIGNIFICANT_DIGITS: dict[RegionLevel, int] = {
    RegionLevel.PROVINCE: 2,
    RegionLevel.CITY: 4,
    RegionLevel.COUNTY: 6,
    RegionLevel.TOWNSHIP: 9,
    RegionLevel.VILLAGE: 12,
}
CODE_LENGTH: dict[RegionLevel, int] = {
    RegionLevel.PROVINCE: 6,
    RegionLevel.CITY: 6,
    RegionLevel.COUNTY: 6,
    RegionLevel.TOWNSHIP: 9,
    RegionLevel.VILLAGE: 12,
}
PARENT_LEVEL: dict[RegionLevel, RegionLevel | None] = {
    RegionLevel.PROVINCE: None,
    RegionLevel.CITY: RegionLevel.PROVINCE,
    RegionLevel.COUNTY: RegionLevel.CITY,
    RegionLevel.TOWNSHIP: RegionLevel.COUNTY,
    RegionLevel.VILLAGE: RegionLevel.TOWNSHIP,
}
_DIGITS = re.compile(r"^\d+$")


def region_prefix(code: str, level: RegionLevel) -> str:
    """The prefix that every code inside this region starts with."""
    return code[: SIGNIFICANT_DIGITS[level]]


def covers(region_code: str, level: RegionLevel, target_code: str) -> bool:
    """True when `target_code` lies inside the region (or is the region itself)."""
    return target_code.startswith(region_prefix(region_code, level))


def code_problem(code: str, level: RegionLevel) -> str | None:
    """Why a code is not a valid code of its level, or None."""
    if not _DIGITS.match(code):
        return "must contain digits only"
    if len(code) != CODE_LENGTH[level]:
        return f"a {level.value} code has {CODE_LENGTH[level]} digits"
    significant = SIGNIFICANT_DIGITS[level]
    if level in (RegionLevel.PROVINCE, RegionLevel.CITY) and set(code[significant:]) != {"0"}:
        return f"a {level.value} code ends in {6 - significant} zeros"
    return None


def parent_problem(code: str, level: RegionLevel, parent_code: str, parent_level: RegionLevel) -> str | None:
    """Why `parent_code` cannot be the parent of `code`, or None."""
    if PARENT_LEVEL[level] is not parent_level:
        expected = PARENT_LEVEL[level]
        return f"the parent of a {level.value} must be a {expected.value if expected else 'nothing'}"
    if not covers(parent_code, parent_level, code):
        return f"code {code} does not start with its parent's prefix {region_prefix(parent_code, parent_level)}"
    return None


def ancestors(village_code: str) -> dict[RegionLevel, str]:
    """The full codes of a village's township, county, city and province."""
    return {
        RegionLevel.PROVINCE: village_code[:2] + "0000",
        RegionLevel.CITY: village_code[:4] + "00",
        RegionLevel.COUNTY: village_code[:6],
        RegionLevel.TOWNSHIP: village_code[:9],
        RegionLevel.VILLAGE: village_code,
    }
