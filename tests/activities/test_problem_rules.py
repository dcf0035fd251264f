"""The operation check registers a ledger problem for each red warning a rule turns into one — arrears past the
second limit, an idle asset past its put-back deadline, an inspection overdue — once per fact, each switchable."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select

from activities.operation import OperationActivities, rules_from
from activities.projects import transaction
from core.settings import OperationSettings
from db.engine import Sessions
from db.models import AuditEntry, Problem, Project
from domain.assets import AssetStatus
from domain.operation import AssetOperation, OpenReceivable, warnings
from tests.conftest import World, seed_project

TODAY = date(2026, 9, 1)


def _asset(asset_id: str, receivable: int) -> AssetOperation:
    return AssetOperation(
        asset_id=asset_id,
        name="大棚",
        asset_class="operating",
        status=AssetStatus.IDLE.value,
        operating_since=date(2025, 1, 1),
        unpaid=[OpenReceivable(id=receivable, due=date(2026, 5, 1), amount_fen=100, received_fen=0)],
        idle_since=date(2026, 1, 1),
        inspection_due=date(2026, 6, 1),
    )


async def _check(sessions: Sessions, code: str, asset_id: str, settings: OperationSettings, village: str) -> None:
    a = _asset(asset_id, int(asset_id.split("-")[1], 16) % 10**9)
    found = {w.key: (a, w) for w in warnings(a, TODAY, rules_from(settings))}
    async with transaction(sessions) as session:
        project = await session.get(Project, code)
        assert project is not None
        await OperationActivities(sessions, settings)._raise_problems(
            session, project, found, {asset_id: village}, datetime.now(UTC)
        )


async def test_each_rule_raises_one_problem_per_fact(world: World, sessions: Sessions) -> None:
    code = await seed_project(sessions, world, stage="operation")
    asset_id = f"A-{uuid.uuid4().hex[:8]}"
    settings = OperationSettings()
    await _check(sessions, code, asset_id, settings, world.villages[1])
    await _check(sessions, code, asset_id, settings, world.villages[1])  # the next check: nothing twice
    async with sessions() as s:
        rows = list(await s.scalars(select(Problem).where(Problem.project_code == code).order_by(Problem.key)))
        entries = list(
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.chain == f"project:{code}", AuditEntry.action == "problem_registered"
                )
            )
        )
    keys = [p.key or "" for p in rows]
    assert [k.split(":")[0] for k in keys] == ["arrears", "idle", "inspection"]
    assert f"idle:{asset_id}:2026-01-01" in keys
    assert f"inspection:{asset_id}:2026-06-01" in keys
    assert {(p.source, p.region_code, p.township_code, p.raised_by, p.status) for p in rows} == {
        ("rule", world.villages[1], world.villages[1][:9], None, "registered")
    }
    assert sorted(e.payload["problem_id"] for e in entries) == sorted(p.id for p in rows)


async def test_a_rule_turned_off_raises_nothing(world: World, sessions: Sessions) -> None:
    code = await seed_project(sessions, world, stage="operation")
    settings = OperationSettings(idle_problems=False, inspection_problems=False, arrears_problems=False)
    await _check(sessions, code, f"A-{uuid.uuid4().hex[:8]}", settings, world.villages[0])
    async with sessions() as s:
        assert list(await s.scalars(select(Problem).where(Problem.project_code == code))) == []
