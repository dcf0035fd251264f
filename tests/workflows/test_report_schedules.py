"""The report schedules on the real dev server: they exist once a worker has started (Monday 08:00, the 1st 08:00 and
a daily check, Asia/Shanghai) and a second start does not duplicate them; triggering the weekly one makes exactly one
report per county (a second trigger makes none); the daily check backfills every missing period."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from typer.testing import CliRunner

from cli.main import app
from core.schedules import ensure_schedules, schedule_ids
from core.settings import ReportSettings, Settings, get_settings
from db.engine import Sessions
from db.models import Notification, Report
from domain.reports import DueResult, ReportInput, ReportKind, ended_periods, report_workflow_id
from tests.conftest import World, eventually, local_today
from tests.replay.test_replay import record_history
from tests.report_data import add_county
from worker import run_worker

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def scoped(settings: Settings, world: World, temporal_client: Client) -> AsyncIterator[Settings]:
    """The settings with the schedules scoped to this test's city; its schedules deleted afterwards."""
    scoped = settings.model_copy(
        update={
            "worker_metrics_bind": "",
            "reports": ReportSettings(scope=world.city[:4], backfill_weeks=3, backfill_months=2),
        }
    )
    yield scoped
    for schedule_id in schedule_ids(scoped).values():
        with contextlib.suppress(RPCError):  # never created
            await temporal_client.get_schedule_handle(schedule_id).delete()


async def _reports(sessions: Sessions, world: World, kind: str) -> list[str]:
    async with sessions() as s:
        rows = await s.scalars(
            select(Report.id).where(Report.kind == kind, Report.region_code.startswith(world.city[:4]))
        )
        return sorted(rows.all())


async def _run_of(client: Client, schedule_id: str, n: int) -> DueResult:
    """The result of the schedule's n-th run (1-based), once it has one."""

    async def started() -> str | None:
        actions = (await client.get_schedule_handle(schedule_id).describe()).info.recent_actions
        return actions[n - 1].action.workflow_id if len(actions) >= n else None

    workflow_id = await eventually(started)
    return await client.get_workflow_handle(workflow_id, result_type=DueResult).result()


async def test_a_started_worker_has_the_schedules_once(scoped: Settings, temporal_client: Client) -> None:
    ids = schedule_ids(scoped)
    stops = [asyncio.Event(), asyncio.Event()]
    first = asyncio.create_task(run_worker(scoped, stops[0]))
    try:

        async def described(schedule_id: str) -> object:
            try:
                return await temporal_client.get_schedule_handle(schedule_id).describe()
            except RPCError:
                return None

        for schedule_id in ids.values():
            await eventually(lambda s=schedule_id: described(s))  # type: ignore[misc]
        weekly = await temporal_client.get_schedule_handle(ids["weekly"]).describe()
        calendar = weekly.schedule.spec.calendars[0]
        starts = [[r.start for r in ranges] for ranges in (calendar.day_of_week, calendar.hour, calendar.minute)]
        assert starts == [[1], [8], [0]]
        assert weekly.schedule.spec.time_zone_name == "Asia/Shanghai"
        upcoming = weekly.info.next_action_times[0].astimezone(SHANGHAI)
        assert (upcoming.weekday(), upcoming.hour, upcoming.minute) == (0, 8, 0)
        monthly = await temporal_client.get_schedule_handle(ids["monthly"]).describe()
        first_of_month = monthly.info.next_action_times[0].astimezone(SHANGHAI)
        assert (first_of_month.day, first_of_month.hour) == (1, 8)
        daily = await temporal_client.get_schedule_handle(ids["backfill"]).describe()
        gaps = {b - a for a, b in zip(daily.info.next_action_times, daily.info.next_action_times[1:], strict=False)}
        assert gaps == {timedelta(days=1)}

        second = asyncio.create_task(run_worker(scoped, stops[1]))  # another replica, or a restart

        async def updated() -> bool:
            info = (await temporal_client.get_schedule_handle(ids["weekly"]).describe()).info
            return info.last_updated_at is not None

        await eventually(updated)

        async def listed() -> list[str]:
            found = [s.id async for s in await temporal_client.list_schedules() if s.id in ids.values()]
            return found if len(found) == 3 else []

        assert sorted(await eventually(listed)) == sorted(ids.values())
        stops[1].set()
        await second
    finally:
        stops[0].set()
        await first


async def test_triggering_makes_one_report_per_county(
    scoped: Settings, worker: Worker, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    second, supervisor = await add_county(sessions, world)
    await ensure_schedules(temporal_client, scoped)
    weekly = schedule_ids(scoped)["weekly"]
    await temporal_client.get_schedule_handle(weekly).trigger()
    run = await _run_of(temporal_client, weekly, 1)
    week = ended_periods(ReportKind.WEEKLY, local_today(), 1)[0].label
    expected = sorted(report_workflow_id(ReportKind.WEEKLY, c, week) for c in (world.county, second))
    assert (sorted(run.started), run.existing) == (expected, [])
    for wid in expected:
        await temporal_client.get_workflow_handle(wid).result()
    assert await _reports(sessions, world, "weekly") == sorted(w.removeprefix("report-") for w in expected)

    await temporal_client.get_schedule_handle(weekly).trigger()  # a repeated run finds both made
    assert await _run_of(temporal_client, weekly, 2) == DueResult(started=[], existing=[])
    assert len(await _reports(sessions, world, "weekly")) == 2
    async with sessions() as s:
        told = await s.scalar(
            select(func.count()).where(Notification.user_id == supervisor.id, Notification.kind == "report_ready")
        )
    assert told == 1


async def test_the_daily_check_backfills_missing_periods(
    scoped: Settings, worker: Worker, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    second, _ = await add_county(sessions, world)
    weeks = [p.label for p in ended_periods(ReportKind.WEEKLY, local_today(), 3)]
    months = [p.label for p in ended_periods(ReportKind.MONTHLY, local_today(), 2)]
    made = report_workflow_id(ReportKind.WEEKLY, world.county, weeks[1])  # one period was reported, the rest missed
    await temporal_client.execute_workflow(
        "WeeklyReportWorkflow",
        ReportInput("weekly", world.county, weeks[1]),
        id=made,
        task_queue=scoped.task_queue,
    )
    await ensure_schedules(temporal_client, scoped)
    backfill = schedule_ids(scoped)["backfill"]
    await temporal_client.get_schedule_handle(backfill).trigger()
    run = await _run_of(temporal_client, backfill, 1)
    missing = {
        *(report_workflow_id(ReportKind.WEEKLY, c, w) for c in (world.county, second) for w in weeks),
        *(report_workflow_id(ReportKind.MONTHLY, world.city, m) for m in months),
    } - {made}
    assert (sorted(run.started), run.existing) == (sorted(missing), [])
    for wid in missing:
        await temporal_client.get_workflow_handle(wid).result()
    assert len(await _reports(sessions, world, "weekly")) == 6
    assert await _reports(sessions, world, "monthly") == sorted(f"monthly-{world.city}-{m}" for m in months)
    if os.environ.get("RECORD_HISTORIES") == "1":
        actions = (await temporal_client.get_schedule_handle(backfill).describe()).info.recent_actions
        await record_history(temporal_client, actions[0].action.workflow_id, "reports_due_backfill")
        await record_history(temporal_client, made, "weekly_report")
        await record_history(
            temporal_client, report_workflow_id(ReportKind.MONTHLY, world.city, months[0]), "monthly_bulletin"
        )


async def test_the_cli_ensures_them_at_deploy(
    scoped: Settings, temporal_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`assetflow schedules ensure` (a deploy step): created the first time, brought up to date the next."""
    for name, value in {
        "DATABASE_URL": scoped.database_url,
        "TEMPORAL_ADDRESS": scoped.temporal_address,
        "TASK_QUEUE": scoped.task_queue,
        "REPORTS__SCOPE": scoped.reports.scope,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        outputs = [await asyncio.to_thread(CliRunner().invoke, app, ["schedules", "ensure"]) for _ in range(2)]
    finally:
        get_settings.cache_clear()
    ids = sorted(schedule_ids(scoped).values())
    assert [r.exit_code for r in outputs] == [0, 0]
    assert sorted(outputs[0].output.split()) == sorted(["created"] * 3 + ids)
    assert sorted(outputs[1].output.split()) == sorted(["updated"] * 3 + ids)
