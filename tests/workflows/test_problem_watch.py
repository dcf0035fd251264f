"""The daily problem check on the time-skipping server, with the real worker and PostgreSQL: a problem past its
deadline is reminded on the first working day after it (the responsible user and the project's manager), then, five
working days past it, escalated to the level above the one that registered it (the city, for a county's problem) —
each step once, across daily checks and a worker restart — recorded on the problem, notified in-app, audited, and its
archive shown red while it lasts."""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core.calendar import is_china_workday
from core.settings import Settings
from db.engine import Sessions
from db.models import AuditEntry, Notification, Problem, Project
from domain.monitoring import ProblemWatchInput, watch_id
from domain.workdays import add_working_days
from tests.conftest import World, seed_project
from tests.replay.test_replay import _replayer, record_history
from worker import build_worker, start_problem_watch
from workflows.problem_watch import CHECKS_PER_RUN, ProblemWatchWorkflow

CHINA = ZoneInfo("Asia/Shanghai")


async def _now(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).astimezone(CHINA)


def _next_workday_after(day: date) -> date:
    day += timedelta(days=1)
    while not is_china_workday(day):
        day += timedelta(days=1)
    return day


async def _seed(sessions: Sessions, world: World, deadline: date) -> tuple[str, int]:
    code = await seed_project(sessions, world, stage="operation")
    async with sessions.begin() as s:
        problem = Problem(
            project_code=code,
            region_code=world.villages[0],
            county_code=world.county,
            township_code=world.townships[0],
            source="supervision",
            description="资产管护记录缺失",
            responsible_unit="东关村股份经济合作社",
            responsible_user_id=world.users["township2"].id,
            deadline=deadline,
            status="rectifying",
            opened_at=datetime.now(CHINA),
            raised_by=world.users["supervisor"].id,
            raised_level="county",
            archive="operation",
        )
        s.add(problem)
        await s.flush()
        return code, problem.id


async def _notified(sessions: Sessions, problem_id: int) -> list[tuple[str, int]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Notification.kind, Notification.user_id)
            .where(Notification.event_key.startswith(f"problem:{problem_id}:"))
            .order_by(Notification.kind, Notification.user_id)
        )
        return [(k, u) for k, u in rows]


async def test_an_overdue_problem_is_reminded_then_escalated_once_each(
    skipping_env: WorkflowEnvironment, sessions: Sessions, world: World
) -> None:
    env, client = skipping_env, skipping_env.client
    task_queue = f"watch-{uuid.uuid4().hex[:8]}"
    now = await _now(env)
    deadline = now.date()
    code, problem_id = await _seed(sessions, world, deadline)
    remind_on = _next_workday_after(deadline)
    escalate_on = max(add_working_days(deadline, 5, is_china_workday), _next_workday_after(remind_on))
    scope = world.county
    async with build_worker(client, sessions, task_queue=task_queue, max_cached_workflows=0):
        handle = await client.start_workflow(
            ProblemWatchWorkflow.run,
            ProblemWatchInput(scope=scope, check_hour=9),
            id=watch_id(scope),
            task_queue=task_queue,
        )
        # to the day after the reminder's check: reminded, not escalated
        until = datetime.combine(remind_on, time(12), CHINA)
        await env.sleep(until - await _now(env))
        async with sessions() as s:
            p = await s.get(Problem, problem_id)
            project = await s.get(Project, code)
            assert p is not None
            assert project is not None
            assert p.reminded_at is not None
            assert p.escalated_at is None
            assert p.reminded_at.astimezone(CHINA).date() == remind_on
            assert project.problem_archives == ["operation"]
            assert project.colour == "red"
        pm, responsible = world.users["pm"].id, world.users["township2"].id
        assert await _notified(sessions, problem_id) == sorted(
            [("problem_overdue", pm), ("problem_overdue", responsible)]
        )
    # the worker restarts; the next checks remind nobody again
    async with build_worker(client, sessions, task_queue=task_queue, max_cached_workflows=0):
        await env.sleep(datetime.combine(escalate_on + timedelta(days=3), time(12), CHINA) - await _now(env))
        async with sessions() as s:
            p = await s.get(Problem, problem_id)
            assert p is not None
            assert p.reminded_at is not None
            assert p.escalated_at is not None
            assert p.escalated_at.astimezone(CHINA).date() == escalate_on
            assert p.escalated_to == world.city  # registered by the county: the city is told
            entries = list(
                await s.scalars(
                    select(AuditEntry.action)
                    .where(
                        AuditEntry.chain == f"project:{code}",
                        AuditEntry.payload["problem_id"].as_integer() == problem_id,
                    )
                    .order_by(AuditEntry.seq)
                )
            )
            changes = list(
                await s.scalars(
                    select(AuditEntry.payload)
                    .where(AuditEntry.chain == f"project:{code}", AuditEntry.action == "archive_colour_changed")
                    .order_by(AuditEntry.seq)
                )
            )
        assert entries == ["problem_reminded", "problem_escalated"]
        # the seeded project in operation gets its registration archive at the first check (nothing to register)
        assert [(c["archive"], c["to"], c["overdue_problem"]) for c in changes] == [
            ("registration", "green", False),
            ("operation", "red", True),
        ]
        notified = await _notified(sessions, problem_id)
        assert notified.count(("problem_overdue", pm)) == 1
        assert ("problem_escalated", world.users["city"].id) in notified  # the city's reviewer
        assert {k for k, _ in notified} == {"problem_overdue", "problem_escalated"}
        assert world.users["supervisor"].id not in {u for k, u in notified if k == "problem_escalated"}

        # closed, the archive is no longer red at the next check
        async with sessions.begin() as s:
            await s.execute(update(Problem).where(Problem.id == problem_id).values(status="closed"))
        await env.sleep(timedelta(days=1))
        async with sessions() as s:
            project = await s.get(Project, code)
            assert project is not None
            assert project.problem_archives == []
            assert project.colour == "green"

        history = await handle.fetch_history()
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None
        if os.environ.get("RECORD_HISTORIES") == "1":
            await record_history(client, handle.id, "problem_watch")
        await handle.terminate("test over")


async def test_every_worker_start_asks_for_the_watch_and_one_runs(temporal_client: Client, settings: Settings) -> None:
    await start_problem_watch(temporal_client, settings)
    handle = temporal_client.get_workflow_handle(watch_id(""))
    first = await handle.describe()
    try:
        await start_problem_watch(temporal_client, settings)  # a second worker (or a restart)
        second = await handle.describe()
        assert (second.run_id, second.status) == (first.run_id, WorkflowExecutionStatus.RUNNING)
        assert first.workflow_type == "ProblemWatchWorkflow"
    finally:
        await handle.terminate("test over")


async def test_the_watch_continues_as_new_and_its_histories_replay(
    skipping_env: WorkflowEnvironment, sessions: Sessions, world: World
) -> None:
    env, client = skipping_env, skipping_env.client
    task_queue = f"watch-{uuid.uuid4().hex[:8]}"
    scope = world.county
    async with build_worker(client, sessions, task_queue=task_queue, max_cached_workflows=0):
        handle = await client.start_workflow(
            ProblemWatchWorkflow.run, ProblemWatchInput(scope=scope), id=watch_id(scope), task_queue=task_queue
        )
        first_run = handle.first_execution_run_id or (await handle.describe()).run_id
        await env.sleep(timedelta(days=CHECKS_PER_RUN + 2))
        latest = await client.get_workflow_handle(handle.id).describe()
        assert latest.run_id != first_run
        first = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
        assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        checks = [e for e in first.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
        assert len(checks) == CHECKS_PER_RUN
        assert len(first.events) < 350
        result = await _replayer().replay_workflow(first, raise_on_replay_failure=True)
        assert result.replay_failure is None
        if os.environ.get("RECORD_HISTORIES") == "1":
            await record_history(client, handle.id, "problem_watch_continued_as_new", run_id=first_run)
        await client.get_workflow_handle(handle.id).terminate("test over")
