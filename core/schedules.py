"""The report schedules (DESIGN.md, Processes): weekly reports on Monday 08:00, monthly bulletins on the 1st 08:00,
and a daily check that backfills any missing period, all in the configured time zone (Asia/Shanghai). Created
idempotently — when a worker starts, and by `assetflow schedules ensure` at deploy — by schedule id: a second start
finds them and brings their spec and action up to date, keeping their state (an operator's pause stays)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from core.temporal import WORKFLOW_TASK_TIMEOUT
from domain.reports import ReportsDue

REPORTS_DUE_WORKFLOW = "ReportsDueWorkflow"
# a run missed while the Temporal server was down is caught up within this; older ones are the daily check's
CATCHUP = timedelta(hours=6)


@dataclass(frozen=True)
class Ensured:
    """One schedule and what ensuring it did: created, or updated (it existed)."""

    schedule_id: str
    outcome: str


def schedule_ids(settings: Settings) -> dict[str, str]:
    """The three schedules' ids, one set per task queue (a deployment)."""
    prefix = f"{settings.task_queue}-reports"
    return {"weekly": f"{prefix}-weekly", "monthly": f"{prefix}-monthly", "backfill": f"{prefix}-backfill"}


def _at(hour: int, *, weekday: int | None = None, day: int | None = None) -> ScheduleCalendarSpec:
    """Every day at `hour`:00 local time, or only on a weekday (1 = Monday) or a day of the month."""
    return ScheduleCalendarSpec(
        hour=[ScheduleRange(hour)],
        minute=[ScheduleRange(0)],
        second=[ScheduleRange(0)],
        day_of_week=[ScheduleRange(weekday)] if weekday is not None else [ScheduleRange(0, 6)],
        day_of_month=[ScheduleRange(day)] if day is not None else [ScheduleRange(1, 31)],
    )


def report_schedules(settings: Settings) -> dict[str, Schedule]:
    """The schedules the settings ask for, by id."""
    r = settings.reports
    ids = schedule_ids(settings)
    plans = {
        "weekly": (_at(r.weekly_hour, weekday=1), ReportsDue(weeks=1, scope=r.scope)),
        "monthly": (_at(r.monthly_hour, day=1), ReportsDue(months=1, scope=r.scope)),
        "backfill": (_at(r.backfill_hour), ReportsDue(weeks=r.backfill_weeks, months=r.backfill_months, scope=r.scope)),
    }
    return {
        ids[name]: Schedule(
            action=ScheduleActionStartWorkflow(
                REPORTS_DUE_WORKFLOW,
                due,
                id=ids[name],
                task_queue=settings.task_queue,
                execution_timeout=timedelta(hours=6),
                task_timeout=WORKFLOW_TASK_TIMEOUT,
            ),
            spec=ScheduleSpec(calendars=[calendar], time_zone_name=settings.time_zone),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
        )
        for name, (calendar, due) in plans.items()
    }


async def ensure_schedules(client: Client, settings: Settings) -> list[Ensured]:
    """Create each report schedule, or bring an existing one up to date (keeping its paused state and note)."""
    out: list[Ensured] = []
    for schedule_id, schedule in report_schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, schedule)
            out.append(Ensured(schedule_id, "created"))
        except ScheduleAlreadyRunningError:

            def keep_state(current: ScheduleUpdateInput, wanted: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=replace(wanted, state=current.description.schedule.state))

            await client.get_schedule_handle(schedule_id).update(keep_state)
            out.append(Ensured(schedule_id, "updated"))
    return out
