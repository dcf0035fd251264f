"""Three fiscal years of operation on the time-skipping server, with the real worker, API and PostgreSQL: rents
fall due and one is paid late (arrears warning, a problem for the county, then cleared), an asset goes idle and
back, the contract is warned at 90, 30 and 7 days and a renewal approved by the township and the county, the
worker restarts mid-year, and every year's run stays small (the workflow continues as new each 1 January)."""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import OperationSettings
from db.engine import Sessions
from db.models import Asset, AuditEntry, Contract, OperationWarning, Problem, Project, Receivable, ReceivedPayment
from db.repositories.audit import project_chain
from domain.enums import Phase, SignalName
from domain.operation import add_months
from domain.payloads import LifecycleConfig, ProjectStart
from domain.phases import ProjectState
from tests.api.chain_helpers import Driver
from tests.conftest import World, eventually, seed_project
from tests.replay.test_replay import _replayer, record_history
from worker import build_worker

CHINA = ZoneInfo("Asia/Shanghai")
RUN_LIMIT = 600
RENT = 3_000_000  # fen per half year
# inspections and the no-income rule are tested on their own; here they stay out of the way
SETTINGS = OperationSettings(
    inspection_months={"operating": 24, "public_welfare": 24, "household": 24}, no_income_months=24
)


async def _today(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).astimezone(CHINA).date()


async def _seed(sessions: Sessions, world: World, today: date) -> tuple[str, str, date]:
    """A project in operation with one leased greenhouse under a one-year, half-yearly contract from 10 days ago."""
    code = await seed_project(sessions, world, stage="operation")
    asset_id = f"{code}-A1"
    start = today - timedelta(days=10)
    end = add_months(start, 12) - timedelta(days=1)
    async with sessions.begin() as s:
        await s.execute(
            update(Project)
            .where(Project.code == code)
            .values(application={"revenue": {"expected_yield_percent": 7.0}}, completion_date=start)
        )
        s.add(
            Asset(
                id=asset_id,
                project_code=code,
                name="冬暖式大棚 10 个",
                asset_class="operating",
                quantity="10",
                unit="个",
                value_fen=95_000_000,
                location="东关村北",
                village_code=world.villages[0],
                township_code=world.townships[0],
                county_code=world.county,
                status="leased",
                operator_name="东关果蔬专业合作社",
                operator_type="cooperative",
                contract_mode="lease",
                contract_start=start,
                contract_end=end,
                annual_rent_fen=2 * RENT,
                registration_status="registered",
            )
        )
        await s.flush()
        s.add(
            Contract(
                id=f"{asset_id}-c1",
                asset_id=asset_id,
                project_code=code,
                kind="initial",
                status="active",
                operator_name="东关果蔬专业合作社",
                operator_type="cooperative",
                mode="lease",
                start_date=start,
                end_date=end,
                rent_fen=RENT,
                schedule="half_yearly",
                proposed_at=datetime.now(CHINA) - timedelta(days=10),
            )
        )
    return code, asset_id, end


def _start(world: World, code: str) -> ProjectState:
    pm = world.users["pm"]
    return ProjectState(
        start=ProjectStart(
            code=code,
            applicant_id=pm.id,
            project_type="photovoltaic",
            village_code=world.villages[0],
            township_code=world.townships[0],
            county_code=world.county,
            city_code=world.city,
            config=LifecycleConfig(),
        ),
        phase=Phase.OPERATION,
    )


async def _active(sessions: Sessions, code: str) -> dict[str, str]:
    async with sessions() as s:
        rows = await s.scalars(
            select(OperationWarning).where(OperationWarning.project_code == code, OperationWarning.cleared_at.is_(None))
        )
        return {w.key: w.level for w in rows}


async def _pay(sessions: Sessions, client: Client, code: str, due: date, on: date, pm_id: int) -> None:
    """What the payment endpoint stores, then the signal it sends."""
    async with sessions.begin() as s:
        r = await s.scalar(select(Receivable).where(Receivable.project_code == code, Receivable.due_date == due))
        assert r is not None
        s.add(
            ReceivedPayment(
                receivable_id=r.id,
                asset_id=r.asset_id,
                project_code=code,
                amount_fen=r.amount_fen,
                received_on=on,
                recorded_by=pm_id,
                idempotency_key=str(uuid.uuid4()),
            )
        )
        r.received_fen = r.amount_fen
        r.status = "paid"
        r.paid_on = on
    await client.get_workflow_handle(f"project-{code}-operation-1").signal(SignalName.OPERATION_RECORDS_CHANGED)


async def _actions(sessions: Sessions, code: str) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as s:
        rows = await s.scalars(
            select(AuditEntry).where(AuditEntry.chain == project_chain(code)).order_by(AuditEntry.seq)
        )
        return [(e.action, e.payload) for e in rows]


async def _runs(client: Client, workflow_id: str) -> list[int]:
    """Event counts of every run of the execution chain, oldest first; each replays against today's code."""
    counts: list[int] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        assert (await _replayer().replay_workflow(history, raise_on_replay_failure=True)).replay_failure is None
        counts.append(len(history.events))
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            if os.environ.get("RECORD_HISTORIES") == "1":
                await record_history(client, workflow_id, "operation_year_continued_as_new", run_id=run_id)
            return counts[::-1]
        run_id = previous


async def _upload(drive: Driver, name: str) -> str:
    data = b"%PDF-1.7\n" + uuid.uuid4().bytes + b"x" * 100
    r = await drive.api.post(
        "/api/v1/attachments",
        files={"file": (name, data, "application/pdf")},
        headers=await drive.headers(drive.pm),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["sha256"])


async def test_three_fiscal_years_of_operation(
    skipping_env: WorkflowEnvironment,
    skipping_api: httpx.AsyncClient,
    sessions: Sessions,
    world: World,
    task_queue: str,
) -> None:
    env, client = skipping_env, skipping_env.client
    drive = Driver(skipping_api, world)
    u = world.users
    today = await _today(env)
    code, asset_id, end = await _seed(sessions, world, today)
    first_due = today - timedelta(days=10)
    second_due = add_months(first_due, 6)
    # without a sticky queue: the time-skipping server would otherwise wait on the stopped worker's own queue
    worker = build_worker(client, sessions, task_queue=task_queue, operation=SETTINGS, max_cached_workflows=0)
    async with worker:
        await client.start_workflow("ProjectWorkflow", _start(world, code), id=f"project-{code}", task_queue=task_queue)
        await drive.stage_is(code, "operation")

        async def phase_owned() -> bool:
            async with sessions() as s:
                p = await s.get(Project, code)
                return p is not None and p.phase_workflow_id == f"project-{code}-operation-1"

        await eventually(phase_owned)
        # the first half-year's rent fell due ten days ago: scheduled, not yet arrears
        async with sessions() as s:
            dues = list(await s.scalars(select(Receivable.due_date).where(Receivable.project_code == code)))
        assert dues == [first_due]

        # 15 days past due: an arrears warning and a reminder in the manager's inbox
        await env.sleep(timedelta(days=6))
        reminder = await drive.task_for(drive.pm, code, "arrears_reminder")
        assert reminder["details"]["asset_id"] == asset_id
        assert await _active(sessions, code) == {f"receivable:{_rid(reminder)}:arrears": "blue"}
        # paid: the warning clears and the reminder leaves the inbox
        await _pay(sessions, client, code, first_due, today + timedelta(days=6), u["pm"].id)

        async def reminded() -> bool:
            return not await drive.inbox(drive.pm, kind="arrears_reminder", project=code)

        await eventually(reminded)
        assert await _active(sessions, code) == {}

    # the worker stops mid-year (a deploy) and a new one takes over; the year ends under it
    worker = build_worker(client, sessions, task_queue=task_queue, operation=SETTINGS)
    async with worker:
        await env.sleep(timedelta(days=40))

        async def closed_2026() -> bool:
            return any(
                a == "operation_year_closed" and p["fiscal_year"] == today.year
                for a, p in await _actions(sessions, code)
            )

        await eventually(closed_2026)
        # the second rent is 61 days late: a red problem for the county
        days = (second_due + timedelta(days=62) - await _today(env)).days
        await env.sleep(timedelta(days=days))

        async def problem() -> list[Problem]:
            async with sessions() as s:
                rows = await s.scalars(
                    select(Problem).where(Problem.project_code == code, Problem.key.like("arrears:%"))
                )
                return list(rows)

        problems = await eventually(problem)
        assert problems[0].source == "rule"  # a rule raised it; its key says which (arrears:{receivable})
        assert problems[0].county_code == world.county
        assert "red" in (await _active(sessions, code)).values()
        listed = await drive.project(code)
        assert listed["colour"] == "red"
        await _pay(sessions, client, code, second_due, await _today(env), u["pm"].id)

        async def calm() -> bool:
            return not any(level == "red" for level in (await _active(sessions, code)).values())

        await eventually(calm)

        # idle and back: a warning with a put-back-to-use task, cleared when it is let again
        async with sessions.begin() as s:
            await s.execute(
                update(Asset).where(Asset.id == asset_id).values(status="idle", idle_since=await _today(env))
            )
        await client.get_workflow_handle(f"project-{code}-operation-1").signal(SignalName.OPERATION_RECORDS_CHANGED)
        put_back = await drive.task_for(drive.pm, code, "put_back_to_use")
        assert put_back["details"]["deadline"]
        async with sessions.begin() as s:
            await s.execute(update(Asset).where(Asset.id == asset_id).values(status="leased", idle_since=None))
        await client.get_workflow_handle(f"project-{code}-operation-1").signal(SignalName.OPERATION_RECORDS_CHANGED)

        async def let_again() -> bool:
            return not await drive.inbox(drive.pm, kind="put_back_to_use", project=code)

        await eventually(let_again)

        # the contract nears its end: warned at 90, 30 and 7 days, one renewal task throughout
        await env.sleep(timedelta(days=(end - timedelta(days=6) - await _today(env)).days))

        async def warned_at_7() -> bool:
            return any(k.endswith(":expiring:7") for k in await _active(sessions, code))

        await eventually(warned_at_7)
        raised = [p["key"] for a, p in await _actions(sessions, code) if a == "warning_raised"]
        assert [k.rsplit(":", 1)[1] for k in raised if ":expiring:" in k] == ["90", "30", "7"]
        renew = await drive.inbox(drive.pm, kind="renew_contract", project=code)
        assert len(renew) == 1

        # a renewal: bad input is refused naming the field; the good one goes to the township, then the county
        signed, resolution = await _upload(drive, "合同.pdf"), await _upload(drive, "决议.pdf")
        body = {
            "kind": "renewal",
            "operator": {"name": "东关果蔬专业合作社", "type": "cooperative", "credit_code": "91370125MA3C4XXX1X"},
            "mode": "lease",
            "start": (end + timedelta(days=1)).isoformat(),
            "end": (add_months(end + timedelta(days=1), 36) - timedelta(days=1)).isoformat(),
            "rent_fen": 3_150_000,
            "schedule": "half_yearly",
            "deposit_fen": 500_000,
            "escalation_bp": 300,
            "signed_contract": signed,
            "village_resolution": resolution,
        }
        path = f"/api/v1/assets/{asset_id}/contracts"
        pm = await drive.headers(drive.pm)
        r = await skipping_api.post(path, json=body, headers=pm)
        assert r.status_code == 422, r.text
        assert r.json()["details"][0]["field"] == "operator.credit_code"
        body["operator"]["credit_code"] = ""
        r = await skipping_api.post(path, json=body | {"kind": "new_operator"}, headers=pm)
        assert r.status_code == 422, r.text
        assert r.json()["details"][0]["rule"] == "another_operator"
        r = await skipping_api.post(path, json=body, headers=await drive.headers(u["township"]))
        assert r.status_code == 403
        r = await skipping_api.post(path, json=body, headers=await drive.headers(u["pm2"]))
        assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
        r = await skipping_api.post(path, json=body, headers=pm)
        assert r.status_code == 201, r.text
        again = await skipping_api.post(path, json=body, headers=pm)  # a retry answers the same proposal
        assert (again.status_code, again.json()) == (201, r.json())
        assert (await skipping_api.post(path, json=body | {"rent_fen": 1}, headers=pm)).status_code == 409
        review = await drive.task_for(u["township"], code, "contract_review")
        assert review["id"] == r.json()["task_id"]
        # the reviewer opens the signed contract the task shows
        download = await skipping_api.get(f"/api/v1/attachments/{signed}", headers=await drive.headers(u["township"]))
        assert download.status_code == 200, download.text
        assert review["details"]["current_contract"]["rent_fen"] == RENT
        assert review["details"]["rent_fen"] == 3_150_000
        assert (await drive.decide(u["township"], review["id"], decision="approve", opinion="同意")).status_code == 200
        approval = await drive.task_for(u["county"], code, "contract_approval")
        assert (await drive.decide(u["county"], approval["id"], decision="approve", opinion="同意")).status_code == 200

        async def renewed() -> list[tuple[str, str]] | None:
            async with sessions() as s:
                rows = await s.execute(
                    select(Contract.kind, Contract.status)
                    .where(Contract.asset_id == asset_id)
                    .order_by(Contract.start_date)
                )
                found = [(k, st) for k, st in rows]
            return found if found == [("initial", "superseded"), ("renewal", "active")] else None

        await eventually(renewed)
        await eventually(lambda: _no_expiry(sessions, code))
        assert not await drive.inbox(drive.pm, kind="renew_contract", project=code)

        # into the third fiscal year
        await env.sleep(timedelta(days=(date(today.year + 2, 1, 20) - await _today(env)).days))

        async def closed_2027() -> bool:
            return any(
                a == "operation_year_closed" and p["fiscal_year"] == today.year + 1
                for a, p in await _actions(sessions, code)
            )

        await eventually(closed_2027)
        runs = await _runs(client, f"project-{code}-operation-1")
    assert len(runs) >= 3, runs
    assert max(runs) < RUN_LIMIT, runs
    project = await client.get_workflow_handle(f"project-{code}").fetch_history()
    assert len(project.events) < 20  # the project's own workflow just waits on its operation
    assert (await _replayer().replay_workflow(project, raise_on_replay_failure=True)).replay_failure is None
    if os.environ.get("RECORD_HISTORIES") == "1":
        await record_history(client, f"project-{code}", "project_operation_started")


def _rid(task: dict[str, Any]) -> str:
    return str(task["details"]["warning_key"]).split(":")[1]


async def _no_expiry(sessions: Sessions, code: str) -> bool:
    return not any(":expiring:" in k or ":expired" in k for k in await _active(sessions, code))


async def test_a_busy_year_continues_as_new_within_the_year(
    skipping_env: WorkflowEnvironment, sessions: Sessions, world: World, task_queue: str
) -> None:
    """Every record the API writes wakes a check; a year with very many of them continues as new before its
    history grows past HISTORY_LIMIT, keeping its fiscal year (no year is closed early)."""
    env, client = skipping_env, skipping_env.client
    today = await _today(env)
    code, _, _ = await _seed(sessions, world, today)
    async with build_worker(client, sessions, task_queue=task_queue, operation=SETTINGS):
        await client.start_workflow("ProjectWorkflow", _start(world, code), id=f"project-{code}", task_queue=task_queue)
        handle = client.get_workflow_handle(f"project-{code}-operation-1")
        await eventually(lambda: _running(client, f"project-{code}-operation-1"))
        for _ in range(140):
            await handle.signal(SignalName.OPERATION_RECORDS_CHANGED)
            await env.sleep(timedelta(seconds=10))
        runs = await _runs(client, f"project-{code}-operation-1")
        closed = [p for a, p in await _actions(sessions, code) if a == "operation_year_closed"]
    assert len(runs) >= 2, runs
    assert max(runs) < 1100, runs
    assert closed == []  # still the same fiscal year


async def _running(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:  # not started yet
        return False
    return True
