"""Working-day deadlines on the time-skipping server: a reminder at the due time, an escalation at twice the
limit (a public holiday inside the window moves both), and a late decision still counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.calendar import is_china_workday
from db.engine import Sessions
from db.models import Task
from domain.workdays import add_working_days
from tests.api.chain_helpers import Driver
from tests.conftest import World, eventually

pytestmark = pytest.mark.usefixtures("skipping_worker")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _weekdays_only(day: date) -> bool:
    return day.weekday() < 5


def _first_day_with_a_holiday_in_window(after: date, days: int) -> date:
    """The first working day whose `days`-working-day window holds a public holiday on a weekday."""
    day = after
    while True:
        day += timedelta(days=1)
        if not is_china_workday(day):
            continue
        window = [day + timedelta(days=i) for i in range(1, 3 * days)]
        end = add_working_days(day, days, is_china_workday)
        if any(d <= end and d.weekday() < 5 and not is_china_workday(d) for d in window):
            return day


async def _notifications(
    api: httpx.AsyncClient, headers: dict[str, str], kind: str, code: str
) -> list[dict[str, object]]:
    r = await api.get("/api/v1/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["kind"] == kind and n["project_code"] == code]


async def test_reminder_and_escalation_respect_holidays_and_late_decision_counts(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    u = world.users
    now = (await skipping_env.get_current_time()).astimezone(SHANGHAI)
    start_day = _first_day_with_a_holiday_in_window(now.date(), 5)
    opening = datetime.combine(start_day, time(9, 0), tzinfo=SHANGHAI)
    await skipping_env.sleep(opening - now)

    code = await drive.create()
    task = await drive.task_for(u["township"], code, "township_review")
    due = datetime.fromisoformat(task["due_at"])
    escalate = datetime.fromisoformat(task["escalate_at"])
    expected_due = add_working_days(start_day, 5, is_china_workday)
    assert due.astimezone(SHANGHAI).date() == expected_due
    assert expected_due > add_working_days(start_day, 5, _weekdays_only)  # the holiday moved the deadline
    assert escalate.astimezone(SHANGHAI).date() == add_working_days(start_day, 10, is_china_workday)

    # at the due time the township's reviewers are reminded; nobody is escalated yet
    await skipping_env.sleep(due - (await skipping_env.get_current_time()) + timedelta(minutes=1))
    township = await drive.headers(u["township"])

    async def reminded() -> list[dict[str, object]]:
        return await _notifications(skipping_api, township, "task_reminded", code)

    await eventually(reminded)
    assert await _notifications(skipping_api, await drive.headers(u["township2"]), "task_reminded", code)
    assert not await _notifications(skipping_api, await drive.headers(u["county"]), "task_escalated", code)
    assert (await drive.project(code))["overdue"] is False

    # at twice the limit the county hears of it and the project turns red
    await skipping_env.sleep(escalate - (await skipping_env.get_current_time()) + timedelta(minutes=1))
    county = await drive.headers(u["county"])

    async def escalated() -> list[dict[str, object]]:
        return await _notifications(skipping_api, county, "task_escalated", code)

    await eventually(escalated)
    detail = await drive.project(code)
    assert detail["overdue"] is True
    assert detail["colour"] == "red"
    actions = [e["action"] for e in detail["timeline"]]
    assert actions.count("task_remind") == 1
    assert actions.count("task_escalate") == 1
    listed = (await skipping_api.get("/api/v1/projects", params={"overdue": True}, headers=county)).json()["items"]
    assert [p["code"] for p in listed] == [code]
    async with sessions() as s:
        row = (await s.scalars(select(Task).where(Task.id == task["id"]))).one()
    assert row.reminded_at is not None
    assert row.escalated_at is not None
    assert row.escalated_at > row.reminded_at
    assert row.escalated_at >= escalate.astimezone(UTC)

    # the task kept waiting: a late decision still counts, and the project is no longer overdue
    r = await drive.decide(u["township"], task["id"], decision="approve", opinion="同意（逾期）")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "expert_review"
    detail = await drive.project(code)
    assert detail["overdue"] is False
