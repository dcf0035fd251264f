"""Working-day arithmetic; the holiday calendar is injected so the rule stays pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo

IsWorkday = Callable[[date], bool]


def add_working_days(start: date, days: int, is_workday: IsWorkday) -> date:
    """The date `days` working days after `start` (the start day itself does not count)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_workday(current):
            remaining -= 1
    return current


def due_at(opened_at: datetime, days: int, is_workday: IsWorkday, tz: tzinfo) -> datetime:
    """End of the last working day of a `days`-working-day limit starting at `opened_at`, local time."""
    local = opened_at.astimezone(tz)
    last_day = add_working_days(local.date(), days, is_workday)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=tz)
