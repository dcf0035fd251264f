"""An asset's operation (运营管护): contracts, receivables and the money received, revenue reports of self-run
assets, and the yearly figures with warnings and colour. Managers record for the operators, who never log in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import IntegrityError

from api.asset_records import (
    IdempotencyKey,
    asset_write,
    audit,
    evidence_problems,
    key_reused,
    local_today,
    not_after_today,
    problem,
    readable_asset,
    refuse,
)
from api.deps import CurrentUser, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.edge import CodePath, EdgeRoute, IdPath
from api.errors import conflict, not_found
from api.operation_schemas import (
    ContractPublic,
    ContractsPublic,
    OperationPublic,
    PaymentIn,
    PaymentPublic,
    PaymentRecorded,
    ReceivablePublic,
    ReceivablesPublic,
    RevenueReportIn,
    RevenueReportPublic,
    RevenueReportsPublic,
    WarningPublic,
    YearPublic,
)
from api.schemas import _d
from db.models import Contract, Project, Receivable, ReceivedPayment, RevenueReport
from db.repositories.operation import (
    YearFigures,
    create_payment,
    get_active_contract,
    get_overlapping_report,
    get_payment_by_key,
    get_receivable,
    list_active_warnings,
    list_contracts,
    list_low_yield_keys,
    list_payments,
    list_receivables,
    list_revenue_reports,
    list_year_figures,
)
from domain.enums import OperatingModel
from domain.operation import ReceivableStatus, colour

router = APIRouter(prefix="/assets", tags=["operation"], route_class=EdgeRoute)
SELF_REPORTED = (OperatingModel.SELF_OPERATION.value, OperatingModel.SHARE_COOPERATION.value)


def _contract(c: Contract) -> ContractPublic:
    return ContractPublic(
        id=c.id,
        kind=c.kind,
        status=c.status,
        operator_name=c.operator_name,
        operator_type=c.operator_type,
        operator_credit_code=c.operator_credit_code,
        mode=c.mode,
        start=c.start_date,
        end=c.end_date,
        rent_fen=c.rent_fen,
        schedule=c.schedule,
        deposit_fen=c.deposit_fen,
        escalation_bp=c.escalation_bp,
        attachments=list(c.attachments),
        note=c.note,
        proposed_at=c.proposed_at,
        decided_at=c.decided_at,
        replaces_id=c.replaces_id,
    )


def _payment(p: ReceivedPayment) -> PaymentPublic:
    return PaymentPublic(
        id=p.id,
        receivable_id=p.receivable_id,
        amount_fen=p.amount_fen,
        received_on=p.received_on,
        evidence=list(p.evidence),
        note=p.note,
        recorded_at=p.recorded_at,
    )


def _receivable(r: Receivable, payments: Sequence[ReceivedPayment], today: date) -> ReceivablePublic:
    unpaid = r.status != ReceivableStatus.PAID.value
    return ReceivablePublic(
        id=r.id,
        contract_id=r.contract_id,
        period_no=r.period_no,
        period_start=r.period_start,
        period_end=r.period_end,
        due_date=r.due_date,
        amount_fen=r.amount_fen,
        received_fen=r.received_fen,
        outstanding_fen=max(r.amount_fen - r.received_fen, 0),
        status=r.status,
        paid_on=r.paid_on,
        days_overdue=max((today - r.due_date).days, 0) if unpaid else 0,
        payments=[_payment(p) for p in payments if p.receivable_id == r.id],
    )


@router.get("/{asset_id}/contracts", response_model=ContractsPublic)
async def contracts(asset_id: CodePath, user: CurrentUser, session: SessionDep) -> ContractsPublic:
    """An asset's operating contracts, newest first, with their terms and status (经营合同)."""
    asset = await readable_asset(session, user, asset_id)
    return ContractsPublic(items=[_contract(c) for c in await list_contracts(session, asset_id=asset.id)])


@router.get("/{asset_id}/receivables", response_model=ReceivablesPublic)
async def receivables(
    asset_id: CodePath,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    year: Annotated[int | None, Query(ge=2000, le=2100, description=_d("应收年度", "year of the due dates"))] = None,
    status: Annotated[
        ReceivableStatus | None, Query(description=_d("状态：未收/部分/已收清", "open, partial, paid"))
    ] = None,
) -> ReceivablesPublic:
    """An asset's receivables with the payments received, totals and days overdue (应收与实收)."""
    asset = await readable_asset(session, user, asset_id)
    rows = await list_receivables(session, asset_id=asset.id, year=year, status=status.value if status else None)
    payments = await list_payments(session, receivable_ids=[r.id for r in rows])
    today = local_today(settings.time_zone)
    items = [_receivable(r, payments, today) for r in rows]
    return ReceivablesPublic(
        items=items,
        due_fen=sum(r.amount_fen for r in items),
        received_fen=sum(r.received_fen for r in items),
        outstanding_fen=sum(r.outstanding_fen for r in items),
    )


def _same_payment(p: ReceivedPayment, receivable_id: int, body: PaymentIn) -> bool:
    return (p.receivable_id, p.amount_fen, p.received_on, list(p.evidence), p.note) == (
        receivable_id,
        body.amount_fen,
        body.received_on,
        list(body.evidence),
        body.note,
    )


@router.post("/{asset_id}/receivables/{receivable_id}/payments", response_model=PaymentRecorded, status_code=201)
async def record_payment(
    asset_id: CodePath,
    receivable_id: IdPath,
    body: PaymentIn,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> PaymentRecorded:
    """Record money received against a receivable (登记收款); the same Idempotency-Key and body is one payment."""
    today = local_today(settings.time_zone)
    key = f"{user.id}:{idempotency_key}"  # keys are the caller's own: another user's same key is another payment
    try:
        async with asset_write(sessions, temporal, user, asset_id) as w:
            tx, asset, project = w.tx, w.asset, w.project
            # the row lock makes payments against one receivable take turns: together they never exceed it
            receivable = await get_receivable(tx, asset_id=asset.id, receivable_id=receivable_id, for_update=True)
            if receivable is None:
                raise not_found(f"receivable {receivable_id} of asset {asset_id}")
            stored = await get_payment_by_key(tx, idempotency_key=key)
            if stored is not None:
                if not _same_payment(stored, receivable_id, body):
                    raise key_reused()
                w.unchanged()
                response.headers["Idempotent-Replayed"] = "true"
                payments = await list_payments(tx, receivable_ids=[receivable.id])
                return PaymentRecorded(payment=_payment(stored), receivable=_receivable(receivable, payments, today))
            contract = await tx.get(Contract, receivable.contract_id)
            assert contract is not None  # receivables.contract_id is a foreign key
            outstanding = receivable.amount_fen - receivable.received_fen
            problems = not_after_today("received_on", body.received_on, today)
            if body.received_on < contract.start_date:
                message = f"the contract starts {contract.start_date.isoformat()}"
                problems.append(problem("received_on", "not_before_contract_start", message))
            if body.amount_fen > outstanding:
                message = f"at most the outstanding {max(outstanding, 0)} fen"
                problems.append(problem("amount_fen", "not_above_outstanding", message))
            problems += await evidence_problems(tx, user, "evidence", list(body.evidence))
            refuse(problems)
            values = body.model_dump() | {"recorded_by": user.id, "idempotency_key": key}
            payment = await create_payment(tx, receivable=receivable, values=values)
            await audit(
                tx,
                user,
                project.code,
                "payment_received",
                f"payment:{payment.id}",
                {
                    "asset_id": asset.id,
                    "receivable_id": receivable.id,
                    "amount_fen": payment.amount_fen,
                    "received_on": payment.received_on.isoformat(),
                    "receivable_status": receivable.status,
                    "evidence": len(payment.evidence),
                },
            )
            await tx.refresh(payment)
            payments = await list_payments(tx, receivable_ids=[receivable.id])
            result = PaymentRecorded(payment=_payment(payment), receivable=_receivable(receivable, payments, today))
    except IntegrityError as err:  # the same key, used at the same moment against another receivable
        raise key_reused() from err
    return result


def _report(r: RevenueReport) -> RevenueReportPublic:
    return RevenueReportPublic(
        id=r.id,
        period_start=r.period_start,
        period_end=r.period_end,
        revenue_fen=r.revenue_fen,
        cost_fen=r.cost_fen,
        profit_fen=r.profit_fen,
        evidence=list(r.evidence),
        note=r.note,
        reported_at=r.reported_at,
    )


@router.get("/{asset_id}/revenue-reports", response_model=RevenueReportsPublic)
async def revenue_reports(asset_id: CodePath, user: CurrentUser, session: SessionDep) -> RevenueReportsPublic:
    """A self-operated or share-cooperation asset's revenue reports, latest period first (经营收益报告)."""
    asset = await readable_asset(session, user, asset_id)
    return RevenueReportsPublic(items=[_report(r) for r in await list_revenue_reports(session, asset_id=asset.id)])


def _period_taken(start: date, end: date, found: RevenueReport) -> Exception:
    if (found.period_start, found.period_end) == (start, end):
        return conflict("period_reported", f"the period {start.isoformat()}–{end.isoformat()} is reported already")
    taken = f"{found.period_start.isoformat()}–{found.period_end.isoformat()}"
    return conflict("period_overlaps", f"the period overlaps the one reported for {taken}")


@router.post("/{asset_id}/revenue-reports", response_model=RevenueReportPublic, status_code=201)
async def report_revenue(
    asset_id: CodePath,
    body: RevenueReportIn,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RevenueReportPublic:
    """Report a period's revenue, cost and profit of a self-operated or share-cooperation asset (收益报告)."""
    today = local_today(settings.time_zone)
    try:
        async with asset_write(sessions, temporal, user, asset_id) as w:
            tx, asset, project = w.tx, w.asset, w.project
            contract = await get_active_contract(tx, asset_id=asset.id)
            if contract is None or contract.mode not in SELF_REPORTED:
                mode = contract.mode if contract else "none"
                raise conflict(
                    "not_self_reported",
                    f"revenue is reported for self-operated or share-cooperation assets; this asset's active contract "
                    f"mode is {mode} (its rent is recorded as payments against receivables)",
                )
            problems = not_after_today("period_end", body.period_end, today)
            if body.period_end < body.period_start:
                problems.append(problem("period_end", "not_before_start", "the period ends on or after its start"))
            if body.profit_fen is not None and body.profit_fen != body.revenue_fen - body.cost_fen:
                message = f"profit is revenue − cost = {body.revenue_fen - body.cost_fen} fen"
                problems.append(problem("profit_fen", "revenue_minus_cost", message))
            problems += await evidence_problems(tx, user, "evidence", list(body.evidence))
            refuse(problems)
            found = await get_overlapping_report(tx, asset_id=asset.id, start=body.period_start, end=body.period_end)
            if found is not None:
                raise _period_taken(body.period_start, body.period_end, found)
            report = RevenueReport(
                asset_id=asset.id,
                project_code=project.code,
                period_start=body.period_start,
                period_end=body.period_end,
                revenue_fen=body.revenue_fen,
                cost_fen=body.cost_fen,
                profit_fen=body.revenue_fen - body.cost_fen,
                evidence=list(body.evidence),
                note=body.note,
                reported_by=user.id,
            )
            tx.add(report)
            await tx.flush()
            await audit(
                tx,
                user,
                project.code,
                "revenue_reported",
                f"revenue:{asset.id}:{body.period_start.isoformat()}:{body.period_end.isoformat()}",
                {
                    "asset_id": asset.id,
                    "period_start": body.period_start.isoformat(),
                    "period_end": body.period_end.isoformat(),
                    "revenue_fen": report.revenue_fen,
                    "cost_fen": report.cost_fen,
                    "profit_fen": report.profit_fen,
                },
            )
            await tx.refresh(report)
            result = _report(report)
    except IntegrityError as err:  # the same period reported at the same moment by another request
        raise conflict("period_reported", "this period is reported already") from err
    return result


def _yield_percent(income_fen: int, value_fen: int) -> float | None:
    """Income on value in percent, to the hundredth, rounded half up in integers (no float until the end)."""
    if value_fen <= 0:
        return None
    hundredths = (2 * income_fen * 10_000 + value_fen) // (2 * value_fen)
    return hundredths / 100


def _expected_yield(project: Project) -> float | None:
    revenue = project.application.get("revenue") if isinstance(project.application, dict) else None
    value = revenue.get("expected_yield_percent") if isinstance(revenue, dict) else None
    return float(value) if isinstance(value, int | float) else None


@router.get("/{asset_id}/operation", response_model=OperationPublic)
async def operation(
    asset_id: CodePath, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> OperationPublic:
    """An asset's operation per fiscal year (income, upkeep, yield vs the estimate), warnings, colour (运营档案)."""
    asset = await readable_asset(session, user, asset_id)
    project = await session.get(Project, asset.project_code)
    assert project is not None  # assets.project_code is a foreign key
    figures = await list_year_figures(session, asset_id=asset.id)
    today = local_today(settings.time_zone)
    expected = _expected_yield(project)
    # the year-end check of OperationWorkflow judges a closed year (prorated to the days in operation): one source
    judged = await list_low_yield_keys(session, asset_id=asset.id)
    years: list[YearPublic] = []
    for year in sorted(set(figures) | {today.year}, reverse=True):
        f = figures.get(year, YearFigures(year=year))
        income = f.received_fen + f.profit_fen
        # only a year that has ended is judged against the estimate: a year under way is still earning
        low = f"{asset.id}:low-yield:{year}" in judged
        years.append(
            YearPublic(
                year=year,
                receivable_fen=f.receivable_fen,
                received_fen=f.received_fen,
                profit_fen=f.profit_fen,
                upkeep_fen=f.upkeep_fen,
                income_fen=income,
                yield_percent=_yield_percent(income, asset.value_fen),
                expected_yield_percent=expected,
                low_yield=low,
            )
        )
    warnings = await list_active_warnings(session, asset_id=asset.id)
    return OperationPublic(
        asset_id=asset.id,
        value_fen=asset.value_fen,
        status=asset.status,
        colour=asset.operation_colour or colour(w.level for w in warnings),
        years=years,
        warnings=[
            WarningPublic(kind=w.kind, level=w.level, message=w.message, raised_at=w.raised_at, deadline=w.deadline)
            for w in warnings
        ],
    )
