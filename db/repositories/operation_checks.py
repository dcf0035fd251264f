"""What the operation check reads and writes: a project's assets with their contracts, unpaid receivables, last
income, due inspections and open repairs (a handful of statements per project, whatever the number of assets),
and the idempotent writes of receivables, inspections, warnings and problems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Text, cast, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Asset,
    Contract,
    DistributionRule,
    Inspection,
    OperationWarning,
    Problem,
    Receivable,
    ReceivedPayment,
    Repair,
    RevenueReport,
    UpkeepCost,
)
from domain.assets import AssetStatus
from domain.operation import ContractKind, ContractStatus, OpenReceivable, Period, ReceivableStatus


async def list_operating_assets(session: AsyncSession, *, project_code: str) -> Sequence[Asset]:
    """The project's assets not disposed of, in id order."""
    rows = await session.scalars(
        select(Asset)
        .where(Asset.project_code == project_code, Asset.status != AssetStatus.DISPOSED.value)
        .order_by(Asset.id)
    )
    return rows.all()


async def list_project_contracts(session: AsyncSession, *, project_code: str) -> Sequence[Contract]:
    """Every contract of the project (any status), oldest first."""
    rows = await session.scalars(
        select(Contract).where(Contract.project_code == project_code).order_by(Contract.proposed_at, Contract.id)
    )
    return rows.all()


async def create_contracts(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Insert contracts, once per id."""
    if rows:
        await session.execute(insert(Contract).values(rows).on_conflict_do_nothing(index_elements=["id"]))


async def create_receivables(
    session: AsyncSession, *, contract: Contract, periods: Sequence[Period]
) -> list[tuple[int, date, int]]:
    """Insert the periods' receivables once per (contract, period); answers the ones this call created."""
    if not periods:
        return []
    stmt = (
        insert(Receivable)
        .values(
            [
                {
                    "contract_id": contract.id,
                    "asset_id": contract.asset_id,
                    "project_code": contract.project_code,
                    "period_no": p.no,
                    "period_start": p.start,
                    "period_end": p.end,
                    "due_date": p.due,
                    "amount_fen": p.amount_fen,
                }
                for p in periods
            ]
        )
        .on_conflict_do_nothing(constraint="uq_receivables_contract_period")
        .returning(Receivable.period_no, Receivable.due_date, Receivable.amount_fen)
    )
    return [(r.period_no, r.due_date, r.amount_fen) for r in (await session.execute(stmt)).all()]


async def list_unpaid(session: AsyncSession, *, project_code: str, through: date) -> dict[str, list[OpenReceivable]]:
    """Receivables due on or before `through` and not fully paid, by asset."""
    rows = await session.execute(
        select(Receivable.id, Receivable.asset_id, Receivable.due_date, Receivable.amount_fen, Receivable.received_fen)
        .where(
            Receivable.project_code == project_code,
            Receivable.status != ReceivableStatus.PAID.value,
            Receivable.due_date <= through,
        )
        .order_by(Receivable.due_date, Receivable.id)
    )
    out: dict[str, list[OpenReceivable]] = {}
    for r in rows:
        out.setdefault(r.asset_id, []).append(OpenReceivable(r.id, r.due_date, r.amount_fen, r.received_fen))
    return out


async def last_income(session: AsyncSession, *, project_code: str) -> dict[str, date]:
    """The last day each asset earned something: a payment received or the end of a reported period."""
    paid = select(ReceivedPayment.asset_id.label("asset_id"), ReceivedPayment.received_on.label("on")).where(
        ReceivedPayment.project_code == project_code
    )
    reported = select(RevenueReport.asset_id.label("asset_id"), RevenueReport.period_end.label("on")).where(
        RevenueReport.project_code == project_code
    )
    both = paid.union_all(reported).subquery()
    rows = await session.execute(select(both.c.asset_id, func.max(both.c.on)).group_by(both.c.asset_id))
    return {asset_id: on for asset_id, on in rows}


@dataclass(frozen=True)
class InspectionFacts:
    due: dict[str, date]
    last_done: dict[str, date]


async def inspection_facts(session: AsyncSession, *, project_code: str) -> InspectionFacts:
    """Each asset's earliest inspection still due, and when the last one was done: the later of the day it was done
    and the day it was due (an inspection done early keeps the schedule)."""
    rows = await session.execute(
        select(
            Inspection.asset_id,
            func.min(Inspection.due_date).filter(Inspection.status == "due"),
            func.max(func.greatest(Inspection.inspected_on, Inspection.due_date)).filter(Inspection.status == "done"),
        )
        .where(Inspection.project_code == project_code)
        .group_by(Inspection.asset_id)
    )
    due: dict[str, date] = {}
    done: dict[str, date] = {}
    for asset_id, first_due, last_done in rows:
        if first_due is not None:
            due[asset_id] = first_due
        if last_done is not None:
            done[asset_id] = last_done
    return InspectionFacts(due, done)


async def create_inspections(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Schedule inspections, once per (asset, due date)."""
    if rows:
        await session.execute(
            insert(Inspection).values(rows).on_conflict_do_nothing(constraint="uq_inspections_asset_due")
        )


async def count_open_repairs(session: AsyncSession, *, project_code: str) -> dict[str, int]:
    rows = await session.execute(
        select(Repair.asset_id, func.count())
        .where(Repair.project_code == project_code, Repair.status == "open")
        .group_by(Repair.asset_id)
    )
    return {asset_id: n for asset_id, n in rows}


async def list_active_warnings(session: AsyncSession, *, project_code: str) -> Sequence[OperationWarning]:
    rows = await session.scalars(
        select(OperationWarning).where(
            OperationWarning.project_code == project_code, OperationWarning.cleared_at.is_(None)
        )
    )
    return rows.all()


async def raise_warnings(session: AsyncSession, *, rows: list[dict[str, Any]]) -> list[str]:
    """Raise warnings once per key (a warning raised and cleared before is raised again); answers the keys raised."""
    if not rows:
        return []
    values = insert(OperationWarning).values(rows)
    stmt = values.on_conflict_do_update(
        index_elements=["key"],
        set_={"cleared_at": None, "raised_at": values.excluded.raised_at, "message": values.excluded.message},
        where=OperationWarning.cleared_at.is_not(None),
    ).returning(OperationWarning.key)
    return list((await session.scalars(stmt)).all())


async def clear_warnings(session: AsyncSession, *, ids: Sequence[int], at: datetime) -> None:
    if ids:
        await session.execute(update(OperationWarning).where(OperationWarning.id.in_(ids)).values(cleared_at=at))


async def set_warning_tasks(session: AsyncSession, *, tasks: dict[str, str]) -> None:
    """Link each warning (by key) to the task it opened."""
    for key, task_id in tasks.items():
        await session.execute(update(OperationWarning).where(OperationWarning.key == key).values(task_id=task_id))


async def create_problems(session: AsyncSession, *, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Register problems once per business key; answers the (id, key) of those registered now."""
    if not rows:
        return []
    stmt = (
        insert(Problem).values(rows).on_conflict_do_nothing(index_elements=["key"]).returning(Problem.id, Problem.key)
    )
    return [(int(i), str(k)) for i, k in (await session.execute(stmt)).all() if k is not None]


async def set_asset_colours(session: AsyncSession, *, colours: dict[str, str]) -> None:
    for asset_id, colour in colours.items():
        await session.execute(
            update(Asset).where(Asset.id == asset_id, Asset.operation_colour != colour).values(operation_colour=colour)
        )


@dataclass(frozen=True)
class YearFigures:
    """One asset's fiscal year: rent due and received, reported profit, upkeep cost (fen)."""

    due_fen: int = 0
    received_fen: int = 0
    profit_fen: int = 0
    upkeep_fen: int = 0

    @property
    def income_fen(self) -> int:
        return self.received_fen + self.profit_fen


async def _sums(session: AsyncSession, stmt: Executable) -> dict[str, int]:
    return {key: int(total) for key, total in await session.execute(stmt)}


async def year_figures(session: AsyncSession, *, project_code: str, start: date, end: date) -> dict[str, YearFigures]:
    """Each asset's figures for the days `start`..`end`."""
    due = await _sums(
        session,
        select(Receivable.asset_id, func.sum(Receivable.amount_fen))
        .where(Receivable.project_code == project_code, Receivable.due_date.between(start, end))
        .group_by(Receivable.asset_id),
    )
    received = await _sums(
        session,
        select(ReceivedPayment.asset_id, func.sum(ReceivedPayment.amount_fen))
        .where(ReceivedPayment.project_code == project_code, ReceivedPayment.received_on.between(start, end))
        .group_by(ReceivedPayment.asset_id),
    )
    profit = await _sums(
        session,
        select(RevenueReport.asset_id, func.sum(RevenueReport.profit_fen))
        .where(RevenueReport.project_code == project_code, RevenueReport.period_end.between(start, end))
        .group_by(RevenueReport.asset_id),
    )
    upkeep = await _sums(
        session,
        select(UpkeepCost.asset_id, func.sum(UpkeepCost.amount_fen))
        .where(UpkeepCost.project_code == project_code, UpkeepCost.fiscal_year == start.year)
        .group_by(UpkeepCost.asset_id),
    )
    ids = set(due) | set(received) | set(profit) | set(upkeep)
    return {
        a: YearFigures(int(due.get(a, 0)), int(received.get(a, 0)), int(profit.get(a, 0)), int(upkeep.get(a, 0)))
        for a in ids
    }


async def get_contract(session: AsyncSession, *, contract_id: str, for_update: bool = False) -> Contract | None:
    return await session.get(Contract, contract_id, with_for_update=for_update)


async def get_active_contract(session: AsyncSession, *, asset_id: str) -> Contract | None:
    return await session.scalar(
        select(Contract).where(Contract.asset_id == asset_id, Contract.status == ContractStatus.ACTIVE.value)
    )


async def update_contract(session: AsyncSession, *, contract_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(Contract).where(Contract.id == contract_id).values(**values))


def initial_contract(asset: Asset) -> dict[str, Any] | None:
    """The contract a registration wrote into the asset's own columns, as a contracts row (None without one)."""
    if not (asset.operator_name and asset.contract_start and asset.contract_end and asset.annual_rent_fen is not None):
        return None
    return {
        "id": f"{asset.id}-c1",
        "asset_id": asset.id,
        "project_code": asset.project_code,
        "kind": ContractKind.INITIAL.value,
        "status": ContractStatus.ACTIVE.value,
        "operator_name": asset.operator_name,
        "operator_type": asset.operator_type,
        "mode": asset.contract_mode,
        "start_date": asset.contract_start,
        "end_date": asset.contract_end,
        "rent_fen": asset.annual_rent_fen,
        "schedule": "annual",
    }


async def next_rule_version(session: AsyncSession, *, asset_id: str, fiscal_year: int) -> int:
    """The version number a new proposal of this asset's rule for the year takes."""
    last = await session.scalar(
        select(func.max(DistributionRule.version)).where(
            DistributionRule.asset_id == asset_id, DistributionRule.fiscal_year == fiscal_year
        )
    )
    return int(last or 0) + 1


def covering(asset_ids: Sequence[str]) -> ColumnElement[bool]:
    """Rules that cover any of these assets: as the asset they are written for, or as a member of its group."""
    ids = list(asset_ids)
    return or_(DistributionRule.asset_id.in_(ids), DistributionRule.members.has_any(cast(ids, ARRAY(Text))))


async def rules_covering(
    session: AsyncSession, *, asset_ids: Sequence[str], fiscal_year: int, statuses: Sequence[str]
) -> Sequence[DistributionRule]:
    """The year's rule versions in these statuses that cover any of the assets (alone or in a group)."""
    if not asset_ids:
        return []
    return (
        await session.scalars(
            select(DistributionRule).where(
                covering(asset_ids),
                DistributionRule.fiscal_year == fiscal_year,
                DistributionRule.status.in_(list(statuses)),
            )
        )
    ).all()


async def get_approved_rule(session: AsyncSession, *, asset_id: str, fiscal_year: int) -> DistributionRule | None:
    """The rule version in force for an asset's year: its own, or its group's."""
    rows = await rules_covering(session, asset_ids=[asset_id], fiscal_year=fiscal_year, statuses=["approved"])
    return rows[0] if rows else None
