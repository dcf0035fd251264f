"""Operation fixtures written straight into the database (no OperationWorkflow runs): a project in operation, a leased
asset under an active contract with receivables, a self-operated asset, a due inspection, and uploads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from db.engine import Sessions
from db.models import AuditEntry, Contract, Inspection, Project, Receivable
from db.repositories.audit import project_chain
from tests.conftest import World, asset_row, local_today, seed_project

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Operation:
    """A project in operation with two assets of the world's first village."""

    project: str
    leased: str  # operating, leased under an active lease contract, two receivables past due and one to come
    own: str  # operating, self-operated under an active self_operation contract
    contract: str
    receivables: list[int]
    inspection: int  # due on the leased asset
    today: date
    contract_start: date


def _contract(contract_id: str, asset_id: str, project: str, start: date, mode: str) -> Contract:
    return Contract(
        id=contract_id,
        asset_id=asset_id,
        project_code=project,
        kind="initial",
        status="active",
        operator_name="东关村股份经济合作社",
        operator_type="cooperative",
        operator_credit_code="93370100MA3C5X1234",
        mode=mode,
        start_date=start,
        end_date=start + timedelta(days=450),
        rent_fen=300_000,
        schedule="half_yearly",
        deposit_fen=50_000,
        escalation_bp=200,
    )


async def seed_operation(sessions: Sessions, world: World) -> Operation:
    """The project, its assets, contracts, receivables (two past due, one not yet due) and a due inspection."""
    code = await seed_project(sessions, world, stage="operation")
    today = local_today()
    start = today - timedelta(days=400)  # the contract ends 50 days from today
    tag = uuid.uuid4().hex[:8]
    leased, own = f"ZC-{tag}-L", f"ZC-{tag}-S"
    contract = f"HT-{tag}-1"
    v0 = world.villages[0]
    async with sessions.begin() as s:
        application = {"revenue": {"expected_annual_revenue_fen": 700_000, "expected_yield_percent": 7.0}}
        await s.execute(update(Project).where(Project.code == code).values(application=application))
        s.add_all(
            [asset_row(leased, code, v0, name="冬暖式大棚", status="leased"), asset_row(own, code, v0, name="扶贫车间")]
        )
        await s.flush()
        s.add_all(
            [
                _contract(contract, leased, code, start, "lease"),
                _contract(f"HT-{tag}-2", own, code, start, "self_operation"),
            ]
        )
        await s.flush()
        rows = [
            Receivable(
                contract_id=contract,
                asset_id=leased,
                project_code=code,
                period_no=n,
                period_start=due,
                period_end=due + timedelta(days=180),
                due_date=due,
                amount_fen=300_000,
            )
            for n, due in ((1, start), (2, start + timedelta(days=182)), (3, today + timedelta(days=30)))
        ]
        s.add_all(rows)
        inspection = Inspection(asset_id=leased, project_code=code, due_date=today - timedelta(days=3))
        s.add(inspection)
        await s.flush()
        ids = [r.id for r in rows]
        inspection_id = inspection.id
    return Operation(code, leased, own, contract, ids, inspection_id, today, start)


async def upload(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A fresh PNG uploaded by the caller: its SHA-256."""
    data = PNG + uuid.uuid4().bytes
    r = await api.post("/api/v1/attachments", files={"file": ("photo.png", data, "image/png")}, headers=headers)
    assert r.status_code == 201, r.text
    sha: str = r.json()["sha256"]
    return sha


async def audit_actions(sessions: Sessions, project: str) -> list[str]:
    """The actions on a project's chain, in order."""
    async with sessions() as s:
        rows = await s.scalars(
            select(AuditEntry.action).where(AuditEntry.chain == project_chain(project)).order_by(AuditEntry.seq)
        )
        return list(rows.all())


async def count(sessions: Sessions, model: type[Any], **where: Any) -> int:
    """How many rows of `model` match."""
    async with sessions() as s:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(await s.scalar(stmt) or 0)


def problems(r: httpx.Response) -> set[tuple[str, str]]:
    """(field, rule) of every problem a 422 names."""
    assert r.status_code == 422, r.text
    return {(p["field"], p["rule"]) for p in r.json()["details"]}
