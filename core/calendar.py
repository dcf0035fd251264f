"""China's working-day calendar (public holidays and adjusted weekend working days) from `holidays`."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays


@lru_cache(maxsize=1)
def _china() -> holidays.HolidayBase:
    return holidays.China()  # type: ignore[attr-defined,no-any-return]


def is_china_workday(day: date) -> bool:
    """True on a working day in mainland China (调休 Saturdays included, public holidays excluded)."""
    return bool(_china().is_working_day(day))
