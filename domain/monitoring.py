"""The daily problem check (ProblemWatchWorkflow, id `problem-watch`): its payloads and when it wakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving: a fixed offset needs no tz files
WATCH_ID = "problem-watch"


def watch_id(scope: str) -> str:
    """The watch's workflow id: one for every region (`problem-watch`), or one per region prefix a test runs."""
    return f"{WATCH_ID}-{scope}" if scope else WATCH_ID


def next_check_at(now: datetime, hour: int) -> datetime:
    """The next `hour`:00 in China strictly after `now` (the check runs once a day, when people are at work)."""
    local = now.astimezone(CHINA)
    at = datetime.combine(local.date(), time(hour), CHINA)
    return at if at > local else at + timedelta(days=1)


@dataclass(frozen=True)
class ProblemWatchInput:
    """The watch: the region prefix it checks ("" = every region) and its hour."""

    scope: str = ""
    check_hour: int = 9


@dataclass(frozen=True)
class ProblemCheckInput:
    """One daily check, at the workflow's time (the day it is in China is the day checked)."""

    at: datetime
    scope: str = ""


@dataclass(frozen=True)
class ProblemCheckResult:
    """What one check did."""

    reminded: int = 0
    escalated: int = 0
    raised: int = 0
    recoloured: int = 0
