"""Operation records (运营管护) of an asset: contracts, receivables and payments, revenue reports, inspections,
repairs, upkeep costs and warnings. Keyword-only, never commit; the caller's transaction holds the locks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, extract, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Asset,
    Contract,
    Inspection,
    OperationWarning,
    Receivable,
    ReceivedPayment,
    Repair,
    RevenueReport,
    UpkeepCost,
)
from domain.operation import ContractStatus, ReceivableStatus, WarningKind

# ---------------------------------------------------------------- contracts


async def list_contracts(session: AsyncSession, *, asset_id: str) -> Sequence[Contract]:
    """Every contract of an asset, newest first (by proposal, then start)."""
    stmt = (
        select(Contract)
        .where(Contract.asset_id == asset_id)
        .order_by(Contract.proposed_at.desc(), Contract.start_date.desc(), Contract.id.desc())
    )
    return (await session.scalars(stmt)).all()


async def get_active_contract(session: AsyncSession, *, asset_id: str) -> Contract | None:
    """The asset's contract in force, or None."""
    stmt = select(Contract).where(Contract.asset_id == asset_id, Contract.status == ContractStatus.ACTIVE.value)
    return (await session.scalars(stmt)).one_or_none()


# ---------------------------------------------------------------- receivables and payments


async def list_receivables(
    session: AsyncSession, *, asset_id: str, year: int | None = None, status: str | None = None
) -> Sequence[Receivable]:
    """An asset's receivables by due date (optionally of one year's due dates, one status)."""
    stmt = select(Receivable).where(Receivable.asset_id == asset_id)
    if year is not None:
        stmt = stmt.where(extract("year", Receivable.due_date) == year)
    if status is not None:
        stmt = stmt.where(Receivable.status == status)
    return (await session.scalars(stmt.order_by(Receivable.due_date, Receivable.id))).all()


async def list_payments(session: AsyncSession, *, receivable_ids: Sequence[int]) -> Sequence[ReceivedPayment]:
    """The payments received against some receivables, in the order they were received."""
    if not receivable_ids:
        return []
    stmt = (
        select(ReceivedPayment)
        .where(ReceivedPayment.receivable_id.in_(set(receivable_ids)))
        .order_by(ReceivedPayment.received_on, ReceivedPayment.id)
    )
    return (await session.scalars(stmt)).all()


async def get_receivable(
    session: AsyncSession, *, asset_id: str, receivable_id: int, for_update: bool = False
) -> Receivable | None:
    """One receivable of an asset; row-locked when `for_update` (payments against it wait their turn)."""
    stmt = select(Receivable).where(Receivable.id == receivable_id, Receivable.asset_id == asset_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one_or_none()


async def get_payment_by_key(session: AsyncSession, *, idempotency_key: str) -> ReceivedPayment | None:
    """The payment recorded under an idempotency key, or None."""
    stmt = select(ReceivedPayment).where(ReceivedPayment.idempotency_key == idempotency_key)
    return (await session.scalars(stmt)).one_or_none()


async def get_upkeep_cost_by_key(session: AsyncSession, *, idempotency_key: str) -> UpkeepCost | None:
    """The upkeep cost recorded under an idempotency key, or None."""
    stmt = select(UpkeepCost).where(UpkeepCost.idempotency_key == idempotency_key)
    return (await session.scalars(stmt)).one_or_none()


async def create_payment(session: AsyncSession, *, receivable: Receivable, values: dict[str, Any]) -> ReceivedPayment:
    """Record money received and move the (locked) receivable's total, status and paid-on day with it."""
    payment = ReceivedPayment(
        receivable_id=receivable.id, asset_id=receivable.asset_id, project_code=receivable.project_code, **values
    )
    session.add(payment)
    receivable.received_fen += payment.amount_fen
    if receivable.received_fen >= receivable.amount_fen:
        receivable.status = ReceivableStatus.PAID.value
        receivable.paid_on = payment.received_on
    else:
        receivable.status = ReceivableStatus.PARTIAL.value
    await session.flush()
    return payment


# ---------------------------------------------------------------- revenue reports


async def list_revenue_reports(session: AsyncSession, *, asset_id: str) -> Sequence[RevenueReport]:
    """An asset's revenue reports, latest period first."""
    stmt = (
        select(RevenueReport)
        .where(RevenueReport.asset_id == asset_id)
        .order_by(RevenueReport.period_end.desc(), RevenueReport.id.desc())
    )
    return (await session.scalars(stmt)).all()


async def get_overlapping_report(
    session: AsyncSession, *, asset_id: str, start: date, end: date
) -> RevenueReport | None:
    """A report of the asset whose period overlaps [start, end], or None."""
    stmt = select(RevenueReport).where(
        RevenueReport.asset_id == asset_id, RevenueReport.period_start <= end, RevenueReport.period_end >= start
    )
    return (await session.scalars(stmt.limit(1))).first()


# ---------------------------------------------------------------- inspections and repairs


async def list_inspections(session: AsyncSession, *, asset_id: str) -> Sequence[Inspection]:
    """An asset's inspections, latest due first."""
    stmt = select(Inspection).where(Inspection.asset_id == asset_id).order_by(Inspection.due_date.desc())
    return (await session.scalars(stmt)).all()


async def get_inspection_due_first(session: AsyncSession, *, asset_id: str) -> Inspection | None:
    """The earliest inspection still due, row-locked."""
    stmt = (
        select(Inspection)
        .where(Inspection.asset_id == asset_id, Inspection.status == "due")
        .order_by(Inspection.due_date)
        .limit(1)
        .with_for_update()
    )
    return (await session.scalars(stmt)).first()


async def get_inspection_on(session: AsyncSession, *, asset_id: str, day: date) -> Inspection | None:
    """A done inspection of the asset on `day`, or one due that day."""
    stmt = select(Inspection).where(
        Inspection.asset_id == asset_id,
        (Inspection.inspected_on == day) | (Inspection.due_date == day),
    )
    return (await session.scalars(stmt.order_by(Inspection.id).limit(1))).first()


async def get_repair_of_inspection(session: AsyncSession, *, inspection_id: int) -> Repair | None:
    """The repair an inspection opened, or None."""
    return (await session.scalars(select(Repair).where(Repair.inspection_id == inspection_id))).first()


async def list_repairs(session: AsyncSession, *, asset_id: str) -> Sequence[Repair]:
    """An asset's repairs, newest first."""
    stmt = select(Repair).where(Repair.asset_id == asset_id).order_by(Repair.opened_on.desc(), Repair.id.desc())
    return (await session.scalars(stmt)).all()


async def get_repair(
    session: AsyncSession, *, asset_id: str, repair_id: int, for_update: bool = False
) -> Repair | None:
    """One repair of an asset (row-locked when `for_update`)."""
    stmt = select(Repair).where(Repair.id == repair_id, Repair.asset_id == asset_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one_or_none()


async def count_open_repairs(session: AsyncSession, *, asset_id: str) -> int:
    """How many repairs of the asset are open."""
    stmt = select(func.count()).where(Repair.asset_id == asset_id, Repair.status == "open")
    return int(await session.scalar(stmt) or 0)


# ---------------------------------------------------------------- upkeep costs


async def list_upkeep_costs(session: AsyncSession, *, asset_id: str, year: int | None = None) -> Sequence[UpkeepCost]:
    """An asset's upkeep costs (of one fiscal year), latest first."""
    stmt = select(UpkeepCost).where(UpkeepCost.asset_id == asset_id)
    if year is not None:
        stmt = stmt.where(UpkeepCost.fiscal_year == year)
    return (await session.scalars(stmt.order_by(UpkeepCost.spent_on.desc(), UpkeepCost.id.desc()))).all()


async def update_asset_fields(session: AsyncSession, *, asset_id: str, values: dict[str, Any]) -> None:
    """Change some columns of an asset."""
    await session.execute(update(Asset).where(Asset.id == asset_id).values(**values))


# ---------------------------------------------------------------- the year's figures and warnings


@dataclass(frozen=True)
class YearFigures:
    """One fiscal year of an asset, in fen."""

    year: int
    receivable_fen: int = 0
    received_fen: int = 0
    profit_fen: int = 0
    upkeep_fen: int = 0


async def list_year_figures(session: AsyncSession, *, asset_id: str) -> dict[int, YearFigures]:
    """Per fiscal year: receivables due, money received, reported profit and upkeep costs."""
    sums: dict[int, dict[str, int]] = {}
    queries: list[tuple[str, Any, Any, ColumnElement[bool]]] = [
        (
            "receivable_fen",
            Receivable.amount_fen,
            extract("year", Receivable.due_date),
            Receivable.asset_id == asset_id,
        ),
        (
            "received_fen",
            ReceivedPayment.amount_fen,
            extract("year", ReceivedPayment.received_on),
            ReceivedPayment.asset_id == asset_id,
        ),
        (
            "profit_fen",
            RevenueReport.profit_fen,
            extract("year", RevenueReport.period_end),
            RevenueReport.asset_id == asset_id,
        ),
        ("upkeep_fen", UpkeepCost.amount_fen, UpkeepCost.fiscal_year, UpkeepCost.asset_id == asset_id),
    ]
    for name, amount, year, where in queries:
        rows = await session.execute(select(year, func.sum(amount)).where(where).group_by(year))
        for y, total in rows.all():
            sums.setdefault(int(y), {})[name] = int(total or 0)
    return {y: YearFigures(year=y, **values) for y, values in sums.items()}


async def list_active_warnings(session: AsyncSession, *, asset_id: str) -> Sequence[OperationWarning]:
    """The asset's warnings not cleared, red first then oldest."""
    stmt = (
        select(OperationWarning)
        .where(and_(OperationWarning.asset_id == asset_id, OperationWarning.cleared_at.is_(None)))
        .order_by(OperationWarning.level.desc(), OperationWarning.raised_at)
    )
    return (await session.scalars(stmt)).all()


async def list_low_yield_keys(session: AsyncSession, *, asset_id: str) -> set[str]:
    """Keys of the low-yield warnings the year-end checks raised for an asset (`{asset}:low-yield:{year}`)."""
    rows = await session.scalars(
        select(OperationWarning.key).where(
            OperationWarning.asset_id == asset_id, OperationWarning.kind == WarningKind.LOW_YIELD.value
        )
    )
    return set(rows)
