"""Dividend rounds (`/dividend-rounds`): open one (starts DividendRoundWorkflow), read its plan, lines and payments,
object to the noticed plan and resolve objections, confirm it (a second finance user), correct failed accounts (a
maker, then a checker); and a household's dividends year by year."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.dividend_schemas import (
    ActPublic,
    CheckIn,
    CorrectionIn,
    HouseholdDividend,
    HouseholdDividends,
    LinePublic,
    LinesPublic,
    ObjectionIn,
    ObjectionPublic,
    PaymentPublic,
    PaymentsPublic,
    PoolPublic,
    RecoveriesPublic,
    RecoveryIn,
    RecoveryPublic,
    ResolveIn,
    RoundDetail,
    RoundIn,
    RoundPublic,
    RoundsPublic,
)
from api.edge import CodePath, EdgeRoute, Offset
from api.errors import ApiError, conflict, forbidden, invalid, not_found
from api.routes.attachments import read_upload
from api.schemas import _d
from api.updates import actor_for, body_digest, execute_update, temporal_unavailable
from core.payments import BatchFileBank, FileFormat, PaymentRejected, make_payments
from core.settings import PaymentKind
from core.spreadsheets import write_sheet
from db.models import (
    Asset,
    DividendCorrection,
    DividendLine,
    DividendObjection,
    DividendPayment,
    DividendPool,
    DividendRecovery,
    DividendRound,
    Household,
    Region,
)
from db.repositories.rounds import (
    approved_rules,
    asset_claims,
    batch_payments,
    group_of,
    list_scope_assets,
    record_correction,
    round_audit,
)
from domain.attachments import content_disposition
from domain.enums import RegionLevel, Role, SignalName, UpdateName
from domain.households import mask
from domain.payments import PaymentBatch, PaymentLine, ResultFileError, fen_to_yuan
from domain.rounds import (
    CheckInput,
    ConfirmInput,
    ObjectionInput,
    ResolveInput,
    RoundInput,
    RoundStatus,
    ScopeKind,
    period_of,
    round_id,
)

router = APIRouter(prefix="/dividend-rounds", tags=["dividends"], route_class=EdgeRoute)
households_router = APIRouter(prefix="/households", tags=["dividends"], route_class=EdgeRoute)
log = structlog.get_logger("api.dividends")
READERS = (Role.FINANCE, Role.COUNTY_REVIEWER, Role.SUPERVISOR, Role.ADMIN, Role.CITY_REVIEWER)
Limit = Annotated[int, Query(ge=1, le=500, description="每页条数 / page size")]


def _public(r: DividendRound) -> RoundPublic:
    return RoundPublic(
        id=r.id,
        scope_kind=r.scope_kind,
        scope_code=r.scope_code,
        fiscal_year=r.fiscal_year,
        status=r.status,
        waiting_for=r.waiting_for,
        plan_version=r.plan_version,
        pool_fen=r.pool_fen,
        households_fen=r.households_fen,
        lines=r.lines,
        paid_fen=r.paid_fen,
        failed_fen=r.failed_fen,
        notice_ends_at=r.notice_ends_at,
        opened_by=r.opened_by,
        confirmed_by=r.confirmed_by,
        period_start=r.period_start,
        period_end=r.period_end,
    )


async def _readable(session: SessionDep, user: Principal, rid: str, *, inside: bool = False) -> DividendRound:
    """The round, when the caller's region covers its county — or, with `inside`, lies inside it (a township's or a
    village's user may object to its notice; the workflow decides who may act)."""
    rnd = await session.get(DividendRound, rid)
    if rnd is None:
        raise not_found(f"round {rid}")
    if not (user.covers(rnd.county_code) or (inside and user.region_code.startswith(rnd.county_code))):
        raise forbidden(f"round {rid} lies outside your region", "region_forbidden")
    return rnd


@router.post("", response_model=RoundPublic, status_code=201)
async def open_round(
    body: RoundIn, user: CurrentUser, session: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> RoundPublic:
    """Open a dividend round (finance): its plan is computed from the year's income by each asset's approved rule
    and noticed; a second finance user confirms it; then it is paid."""
    user.require_role(Role.FINANCE)
    if body.scope_kind == ScopeKind.ASSET.value:
        asset = await session.get(Asset, body.scope_code)
        if asset is None:
            raise invalid([{"field": "scope_code", "rule": "exists", "message": "no such asset"}])
        county, place = asset.county_code, asset.village_code
    else:
        region = await session.get(Region, body.scope_code)
        level = RegionLevel.VILLAGE if body.scope_kind == ScopeKind.VILLAGE.value else RegionLevel.COUNTY
        if region is None or region.level != level.value:
            raise invalid([{"field": "scope_code", "rule": "exists", "message": f"no such {level.value}"}])
        county, place = body.scope_code[:6], body.scope_code
    user.require_region(place, f"{body.scope_kind} {body.scope_code}")
    this_year = datetime.now(UTC).year
    if body.fiscal_year > this_year:
        raise invalid([{"field": "fiscal_year", "rule": "not_future", "message": "a year whose income is known"}])
    assets = await list_scope_assets(session, kind=body.scope_kind, code=body.scope_code)
    rules = await approved_rules(session, asset_ids=[a.id for a in assets], fiscal_year=body.fiscal_year)
    if not rules:
        raise invalid(
            [
                {
                    "field": "scope_code",
                    "rule": "approved_rule",
                    "message": f"no operating asset here has a distribution rule approved for {body.fiscal_year}",
                }
            ]
        )
    groups = {r.id: group_of(r) for r in rules.values()}
    held = await asset_claims(
        session, asset_ids=sorted({a for g in groups.values() for a in g}), fiscal_year=body.fiscal_year
    )
    if all(any(a in held for a in g) for g in groups.values()):
        by = ", ".join(sorted(set(held.values())))
        raise conflict(
            "already_distributed",
            f"the {body.fiscal_year} income of every asset here is distributed by another round already ({by})",
        )
    existing = (
        await session.scalars(
            select(DividendRound).where(
                DividendRound.scope_kind == body.scope_kind,
                DividendRound.scope_code == body.scope_code,
                DividendRound.fiscal_year == body.fiscal_year,
            )
        )
    ).all()
    if any(r.status != RoundStatus.CLOSED for r in existing):
        raise conflict("round_open", f"a round for {body.scope_code} {body.fiscal_year} is under way")
    n = len(existing) + 1
    rid = round_id(body.scope_kind, body.scope_code, body.fiscal_year, n)
    start, end = period_of(body.fiscal_year)
    try:
        async with session.begin_nested():
            session.add(
                DividendRound(
                    id=rid,
                    scope_kind=body.scope_kind,
                    scope_code=body.scope_code,
                    fiscal_year=body.fiscal_year,
                    n=n,
                    county_code=county,
                    period_start=start,
                    period_end=end,
                    status=RoundStatus.PLANNING.value,
                    opened_by=user.id,
                    opened_at=datetime.now(UTC),
                )
            )
        await session.commit()
    except IntegrityError as err:
        raise conflict("round_open", f"round {rid} was opened at the same moment") from err
    plan_days, result_days, working = settings.dividends.notice_for(county)
    inp = RoundInput(
        round_id=rid,
        county_code=county,
        opened_by=user.id,
        notice_days=plan_days,
        result_notice_days=result_days,
        batch_size=settings.payments.batch_size,
        poll_seconds=settings.dividends.poll_seconds,
        notice_working_days=working,
    )
    try:
        async with asyncio.timeout(temporal.wait_seconds):
            await temporal.client.start_workflow(
                "DividendRoundWorkflow",
                inp,
                id=rid,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
    except WorkflowAlreadyStartedError as err:
        raise conflict("round_open", f"round {rid} is started already") from err
    except (RPCError, TimeoutError) as err:
        # no workflow runs the round: its row goes, so the same request may be sent again
        await session.execute(delete(DividendRound).where(DividendRound.id == rid))
        await session.commit()
        if isinstance(err, RPCError):
            raise temporal_unavailable(err) from err
        raise ApiError(504, "update_timeout", "the workflow engine did not answer in time; retry the request") from err
    rnd = await session.get(DividendRound, rid)
    assert rnd is not None
    return _public(rnd)


@router.get("", response_model=RoundsPublic)
async def list_rounds(
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=24, description="状态 / status")] = None,
    fiscal_year: Annotated[int | None, Query(ge=2013, le=2100, description="年度 / fiscal year")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RoundsPublic:
    """The rounds of your region, newest first."""
    user.require_role(*READERS)
    stmt = select(DividendRound).where(DividendRound.county_code.startswith(user.region_prefix[:6]))
    if status:
        stmt = stmt.where(DividendRound.status == status)
    if fiscal_year:
        stmt = stmt.where(DividendRound.fiscal_year == fiscal_year)
    rows = [r for r in (await session.scalars(stmt.order_by(DividendRound.opened_at.desc()))).all()]
    mine = [r for r in rows if user.covers(r.county_code) or r.county_code.startswith(user.region_code)]
    return RoundsPublic(items=[_public(r) for r in mine[offset : offset + limit]], count=len(mine))


@router.get("/{rid}", response_model=RoundDetail)
async def get_round(rid: CodePath, user: CurrentUser, session: SessionDep) -> RoundDetail:
    """A round: status, what it waits for, totals, each asset's pool with its pinned rule, objections."""
    user.require_role(*READERS)
    rnd = await _readable(session, user, rid)
    pools = (
        await session.scalars(
            select(DividendPool).where(DividendPool.round_id == rid, DividendPool.plan_version == rnd.plan_version)
        )
    ).all()
    objections = (await session.scalars(select(DividendObjection).where(DividendObjection.round_id == rid))).all()
    return RoundDetail(
        **_public(rnd).model_dump(),
        pools=[
            PoolPublic(
                asset_id=p.asset_id,
                rule_id=p.rule_id,
                income_fen=p.income_fen,
                upkeep_fen=p.upkeep_fen,
                pool_fen=p.pool_fen,
                final={k: int(v) for k, v in p.final.items()},
                households_fen=p.households_fen,
                members=[str(m) for m in p.members],
            )
            for p in pools
        ],
        objections=[
            ObjectionPublic(
                id=o.id,
                plan_version=o.plan_version,
                text=o.text,
                status=o.status,
                resolution=o.resolution,
                filed_at=o.filed_at,
            )
            for o in objections
        ],
    )


@router.get("/{rid}/lines", response_model=LinesPublic)
async def get_lines(
    rid: CodePath,
    user: CurrentUser,
    session: SessionDep,
    household: Annotated[str | None, Query(max_length=32, description="户码 / household code")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> LinesPublic:
    """The current plan's lines (one per household), each explained per asset."""
    user.require_role(*READERS)
    rnd = await _readable(session, user, rid)
    where = [DividendLine.round_id == rid, DividendLine.plan_version == rnd.plan_version]
    if household:
        where.append(DividendLine.household_code == household)
    count, total = (
        await session.execute(select(func.count(), func.coalesce(func.sum(DividendLine.amount_fen), 0)).where(*where))
    ).one()
    rows = await session.scalars(
        select(DividendLine).where(*where).order_by(DividendLine.household_code).limit(limit).offset(offset)
    )
    return LinesPublic(
        items=[
            LinePublic(
                household_code=r.household_code,
                village_code=r.village_code,
                head_name=r.head_name,
                amount_fen=r.amount_fen,
                parts=list(r.parts),
            )
            for r in rows
        ],
        count=int(count),
        total_fen=int(total),
    )


@router.get("/{rid}/payments", response_model=PaymentsPublic)
async def get_payments(
    rid: CodePath,
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(submitted|paid|failed)$", description="状态 / status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PaymentsPublic:
    """The round's payment attempts (accounts masked); `status=failed` lists what awaits a correction."""
    user.require_role(*READERS)
    await _readable(session, user, rid)
    where = [DividendPayment.round_id == rid]
    if status:
        where.append(DividendPayment.status == status)
    count = await session.scalar(select(func.count()).select_from(DividendPayment).where(*where))
    rows = await session.scalars(
        select(DividendPayment).where(*where).order_by(DividendPayment.reference).limit(limit).offset(offset)
    )
    return PaymentsPublic(
        items=[
            PaymentPublic(
                reference=p.reference,
                household_code=p.household_code,
                attempt=p.attempt,
                amount_fen=p.amount_fen,
                account=mask(p.account),
                status=p.status,
                reason=p.reason,
                replaces=p.replaces,
            )
            for p in rows
        ],
        count=int(count or 0),
    )


async def _act(
    temporal: TemporalDep, session: SessionDep, rid: str, update: UpdateName, arg: object, body: object
) -> str:
    result: str = await execute_update(
        temporal,
        session,
        rid,
        update,
        arg,
        update_id=f"{update.value}-{rid}-{body_digest(body)}",
        result_type=str,
    )
    return result


@router.post("/{rid}/objections", response_model=ActPublic, status_code=201)
async def object_to_plan(
    rid: CodePath, body: ObjectionIn, user: CurrentUser, session: SessionDep, temporal: TemporalDep
) -> ActPublic:
    """Object to the noticed plan (异议): anyone of the county, while the notice is open."""
    await _readable(session, user, rid, inside=True)
    actor = await actor_for(session, user)
    oid = await _act(
        temporal,
        session,
        rid,
        UpdateName.FILE_ROUND_OBJECTION,
        ObjectionInput(actor, body.text),
        {"user": user.id, **body.model_dump()},
    )
    return ActPublic(round_id=rid, result="filed", id=oid)


@router.post("/{rid}/objections/{oid}/resolve", response_model=ActPublic)
async def resolve_objection(
    rid: CodePath, oid: CodePath, body: ResolveIn, user: CurrentUser, session: SessionDep, temporal: TemporalDep
) -> ActPublic:
    """The county upholds (an amended plan follows, noticed again) or dismisses an objection."""
    await _readable(session, user, rid, inside=True)
    actor = await actor_for(session, user)
    result = await _act(
        temporal,
        session,
        rid,
        UpdateName.RESOLVE_ROUND_OBJECTION,
        ResolveInput(actor, oid, body.decision == "uphold", body.opinion),
        {"oid": oid, **body.model_dump()},
    )
    return ActPublic(round_id=rid, result=result, id=oid)


@router.post("/{rid}/confirm", response_model=ActPublic)
async def confirm_round(rid: CodePath, user: CurrentUser, session: SessionDep, temporal: TemporalDep) -> ActPublic:
    """A second finance user (never the opener) confirms the noticed plan; payment begins."""
    await _readable(session, user, rid, inside=True)
    actor = await actor_for(session, user)
    result = await _act(temporal, session, rid, UpdateName.CONFIRM_ROUND, ConfirmInput(actor), {"user": user.id})
    return ActPublic(round_id=rid, result=result)


@router.post("/{rid}/corrections", response_model=ActPublic, status_code=201)
async def make_correction(
    rid: CodePath, body: CorrectionIn, user: CurrentUser, sessions: SessionsDep, temporal: TemporalDep
) -> ActPublic:
    """A finance user enters the corrected account of a failed payment (核实 → 更正); another checks it."""
    user.require_role(Role.FINANCE)
    async with sessions.begin() as session:
        rnd = await _readable(session, user, rid)
        if rnd.status != RoundStatus.CORRECTING:
            raise conflict("wrong_stage", f"the round is {rnd.status}, not correcting failed payments")
        failed = await session.scalar(
            select(DividendPayment).where(
                DividendPayment.reference == body.failed_reference, DividendPayment.round_id == rid
            )
        )
        if failed is None or failed.status != "failed":
            raise invalid([{"field": "failed_reference", "rule": "failed_payment", "message": "not a failed payment"}])
        try:
            async with session.begin_nested():
                c = await record_correction(
                    session,
                    round_id=rid,
                    failed_reference=failed.reference,
                    account=body.account,
                    bank=body.bank,
                    maker=await actor_for(session, user),
                    at=datetime.now(UTC),
                )
        except IntegrityError as err:
            same = await session.scalar(
                select(DividendCorrection).where(
                    DividendCorrection.failed_reference == failed.reference,
                    DividendCorrection.status == "proposed",
                    DividendCorrection.made_by == user.id,
                    DividendCorrection.account == body.account,
                    DividendCorrection.bank == body.bank,
                )
            )
            if same is None:
                raise conflict("corrected", "this failed payment has a correction already") from err
            c = same  # the same request again: told to the workflow again below
        correction_id = c.id
    try:
        async with asyncio.timeout(temporal.wait_seconds):
            await temporal.client.get_workflow_handle(rid).signal(
                SignalName.CORRECTION_MADE,
                args=[correction_id, user.id],
                rpc_timeout=timedelta(seconds=temporal.wait_seconds),
            )
    except (RPCError, TimeoutError) as err:
        log.warning("correction not told to its round", round_id=rid, correction_id=correction_id, error=str(err))
        raise ApiError(
            503, "temporal_unavailable", "the correction is stored; send the same request again to hand it over"
        ) from err
    return ActPublic(round_id=rid, result="made", id=str(correction_id))


@router.post("/{rid}/corrections/{cid}/check", response_model=ActPublic)
async def check_correction(
    rid: CodePath,
    cid: Annotated[int, Path(ge=1, le=2**62, description="更正编号 / correction id")],
    body: CheckIn,
    user: CurrentUser,
    session: SessionDep,
    temporal: TemporalDep,
) -> ActPublic:
    """A second finance user checks a corrected account; approved, the household is paid again (补发)."""
    await _readable(session, user, rid, inside=True)
    actor = await actor_for(session, user)
    result = await _act(
        temporal,
        session,
        rid,
        UpdateName.CHECK_CORRECTION,
        CheckInput(actor, cid, body.approve, body.opinion),
        {"cid": cid, **body.model_dump()},
    )
    return ActPublic(round_id=rid, result=result, id=str(cid))


@households_router.get("/{code}/dividends", response_model=HouseholdDividends)
async def household_dividends(code: CodePath, user: CurrentUser, session: SessionDep) -> HouseholdDividends:
    """Every dividend a household was planned and paid, round by round, year by year."""
    user.require_role(*READERS, Role.TOWNSHIP_REVIEWER, Role.PROJECT_MANAGER)
    household = await session.scalar(select(Household).where(Household.code == code))
    if household is None:
        raise not_found(f"household {code}")
    user.require_region(household.village_code, f"household {code}")
    rows = await session.execute(
        select(DividendRound.id, DividendRound.fiscal_year, DividendRound.status, DividendLine.amount_fen)
        .join(
            DividendLine,
            (DividendLine.round_id == DividendRound.id) & (DividendLine.plan_version == DividendRound.plan_version),
        )
        .where(DividendLine.household_code == code)
        .order_by(DividendRound.fiscal_year.desc(), DividendRound.id)
    )
    paid = {
        r: int(f)
        for r, f in await session.execute(
            select(DividendPayment.round_id, func.sum(DividendPayment.amount_fen))
            .where(DividendPayment.household_code == code, DividendPayment.status == "paid")
            .group_by(DividendPayment.round_id)
        )
    }
    for r, f in await session.execute(  # money recovered is a reversing entry against what was paid
        select(DividendRecovery.round_id, func.sum(DividendRecovery.amount_fen))
        .where(DividendRecovery.household_code == code, DividendRecovery.status == "recovered")
        .group_by(DividendRecovery.round_id)
    ):
        paid[r] = paid.get(r, 0) - int(f)
    return HouseholdDividends(
        household_code=code,
        items=[
            HouseholdDividend(round_id=r, fiscal_year=y, amount_fen=int(a), paid_fen=paid.get(r, 0), status=s)
            for r, y, s, a in rows
        ],
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {XLSX: {}}, "description": _d("Excel 工作簿", "an .xlsx workbook")}
}


@router.get("/{rid}/plan.xlsx", response_class=Response, responses=EXPORT)
async def plan_notice(rid: CodePath, user: CurrentUser, session: SessionDep) -> Response:
    """The plan's public notice (分配方案公示) as Excel: each household's dividend and how it was computed."""
    user.require_role(*READERS)
    rnd = await _readable(session, user, rid)
    lines = (
        await session.scalars(
            select(DividendLine)
            .where(DividendLine.round_id == rid, DividendLine.plan_version == rnd.plan_version)
            .order_by(DividendLine.household_code)
        )
    ).all()
    caption = [
        f"{rnd.fiscal_year}年度收益分配方案公示（{rid}，第{rnd.plan_version}版）",
        f"收益池合计 {fen_to_yuan(rnd.pool_fen)} 元，"
        f"农户分红合计 {fen_to_yuan(rnd.households_fen)} 元，共 {rnd.lines} 户",
    ]
    rows = [
        (
            i,
            line.household_code,
            line.head_name,
            line.village_code,
            fen_to_yuan(line.amount_fen),
            "；".join(str(p.get("why", "")) for p in line.parts),
        )
        for i, line in enumerate(lines, start=1)
    ]
    data = await asyncio.to_thread(
        write_sheet, "分配方案公示", caption, ("序号", "户码", "户主", "村代码", "金额（元）", "计算说明"), rows
    )
    return Response(data, media_type=XLSX, headers={"Content-Disposition": content_disposition(f"{rid}-方案公示.xlsx")})


@router.get("/{rid}/result.xlsx", response_class=Response, responses=EXPORT)
async def result_notice(rid: CodePath, user: CurrentUser, session: SessionDep) -> Response:
    """The result's public notice (发放结果公示) as Excel: who was paid how much (cards masked), and what failed."""
    user.require_role(*READERS)
    rnd = await _readable(session, user, rid)
    payments = (
        await session.scalars(
            select(DividendPayment).where(DividendPayment.round_id == rid).order_by(DividendPayment.reference)
        )
    ).all()
    caption = [
        f"{rnd.fiscal_year}年度收益分配发放结果公示（{rid}）",
        f"已发放 {fen_to_yuan(rnd.paid_fen)} 元；状态：{rnd.status}",
    ]
    rows = [
        (
            i,
            p.household_code,
            p.name,
            mask(p.account),
            p.attempt,
            fen_to_yuan(p.amount_fen),
            {"paid": "成功", "failed": "失败", "submitted": "处理中"}.get(p.status, p.status),
            p.reason,
        )
        for i, p in enumerate(payments, start=1)
    ]
    data = await asyncio.to_thread(
        write_sheet,
        "发放结果公示",
        caption,
        ("序号", "户码", "户主", "卡号", "次数", "金额（元）", "结果", "原因"),
        rows,
    )
    return Response(data, media_type=XLSX, headers={"Content-Disposition": content_disposition(f"{rid}-结果公示.xlsx")})


@router.get("/{rid}/batches/{batch_no}.{fmt}", response_class=Response)
async def batch_file(
    rid: CodePath,
    batch_no: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", description="批次号 / batch number")],
    fmt: Annotated[str, Path(pattern="^(csv|xlsx)$", description="csv 或 xlsx / csv or xlsx")],
    user: CurrentUser,
    sessions: SessionsDep,
) -> Response:
    """The bank's batch file (代发文件) of one batch, for the finance user to hand to the bank: header with batch
    number, row count and total; a row per line with name, card and amount in yuan. Finance of the county only; every
    download is audited (the one output that carries whole card numbers: the bank needs them)."""
    user.require_role(Role.FINANCE)
    async with sessions() as session:
        await _readable(session, user, rid)
        rows = list(await batch_payments(session, batch_no=batch_no))
    if not rows or not batch_no.startswith(rid):
        raise not_found(f"batch {batch_no} of round {rid}")
    batch = PaymentBatch(
        batch_no,
        tuple(
            PaymentLine(r.reference, r.household_code, r.name, r.account, r.bank, r.amount_fen, f"{rid} 收益分红")
            for r in rows
        ),
    )
    data = BatchFileBank.export(batch, FileFormat(fmt))
    async with sessions.begin() as session:  # who took the cards and names out of the system, and when
        await round_audit(
            session,
            rid,
            "batch_file_exported",
            f"batch_file_exported:{batch_no}:{user.id}:{datetime.now(UTC).isoformat()}",
            {"batch_no": batch_no, "format": fmt, "lines": len(rows)},
            await actor_for(session, user),
        )
    media = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    return Response(data, media_type=media, headers={"Content-Disposition": content_disposition(f"{batch_no}.{fmt}")})


@router.post("/{rid}/batches/{batch_no}/results", response_model=ActPublic)
async def batch_results(
    rid: CodePath,
    batch_no: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", description="批次号 / batch number")],
    request: Request,
    user: CurrentUser,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> ActPublic:
    """The bank's result file of a batch (回盘文件, .csv or .xlsx, multipart field `file`): every row matched to a line
    by serial and amount (any mismatch refuses the whole file, each problem by line); the round collects it at its
    next look. Only with PAYMENTS__KIND=file: the other banks answer by themselves."""
    user.require_role(Role.FINANCE)
    async with sessions() as session:
        await _readable(session, user, rid)
    if settings.payments.kind != PaymentKind.FILE or not batch_no.startswith(rid):
        raise conflict("no_result_file", "this system's bank answers by itself (PAYMENTS__KIND is not file)")
    upload, data, _ = await read_upload(request, settings.attachments.max_bytes)
    del upload
    bank = make_payments(settings, sessions)
    assert isinstance(bank, BatchFileBank)
    try:
        results = await bank.accept_results(batch_no, data)
    except ResultFileError as err:
        raise invalid(
            [{"field": "file", "rule": "result_file", "message": str(problem)} for problem in err.errors]
        ) from err
    except (FileNotFoundError, PaymentRejected) as err:
        raise not_found(f"batch {batch_no} was not sent to the bank") from err
    paid = sum(1 for r in results if r.status == "paid")
    return ActPublic(round_id=rid, result=f"{paid} paid, {len(results) - paid} failed", id=batch_no)


def _recovery(r: DividendRecovery) -> RecoveryPublic:
    return RecoveryPublic(
        id=r.id,
        reference=r.reference,
        household_code=r.household_code,
        amount_fen=r.amount_fen,
        reason=r.reason,
        status=r.status,
        made_by=r.made_by,
        checked_by=r.checked_by,
    )


@router.get("/{rid}/recoveries", response_model=RecoveriesPublic)
async def list_recoveries(rid: CodePath, user: CurrentUser, session: SessionDep) -> RecoveriesPublic:
    """Money paid wrongly in the round and its recovery (reversing entries)."""
    user.require_role(*READERS)
    await _readable(session, user, rid)
    rows = await session.scalars(
        select(DividendRecovery).where(DividendRecovery.round_id == rid).order_by(DividendRecovery.id)
    )
    return RecoveriesPublic(items=[_recovery(r) for r in rows])


@router.post("/{rid}/recoveries", response_model=RecoveryPublic, status_code=201)
async def make_recovery(rid: CodePath, body: RecoveryIn, user: CurrentUser, sessions: SessionsDep) -> RecoveryPublic:
    """A finance user records money paid wrongly, to be recovered (追回); another checks it once it is back. The
    paid attempt is never edited: the recovery is a reversing entry."""
    user.require_role(Role.FINANCE)
    async with sessions.begin() as session:
        await _readable(session, user, rid)
        paid = await session.scalar(
            select(DividendPayment)
            .where(DividendPayment.reference == body.reference, DividendPayment.round_id == rid)
            .with_for_update()
        )
        if paid is None or paid.status != "paid":
            raise invalid(
                [{"field": "reference", "rule": "paid_attempt", "message": "not a paid attempt of this round"}]
            )
        if body.amount_fen > paid.amount_fen:
            raise invalid(
                [
                    {
                        "field": "amount_fen",
                        "rule": "not_above_paid",
                        "message": f"at most the {paid.amount_fen} fen paid",
                    }
                ]
            )
        recovery = DividendRecovery(
            round_id=rid,
            reference=paid.reference,
            household_code=paid.household_code,
            amount_fen=body.amount_fen,
            reason=body.reason,
            status="proposed",
            made_by=user.id,
            made_at=datetime.now(UTC),
        )
        try:
            async with session.begin_nested():
                session.add(recovery)
                await session.flush()
        except IntegrityError as err:
            raise conflict("recovering", "a recovery of this payment is under way or done") from err
        await round_audit(
            session,
            rid,
            "recovery_made",
            f"recovery_made:{recovery.id}",
            {
                "recovery_id": recovery.id,
                "reference": paid.reference,
                "amount_fen": body.amount_fen,
                "reason": body.reason,
            },
            await actor_for(session, user),
        )
        return _recovery(recovery)


@router.post("/{rid}/recoveries/{recovery_id}/check", response_model=RecoveryPublic)
async def check_recovery(
    rid: CodePath,
    recovery_id: Annotated[int, Path(ge=1, le=2**62, description="追回编号 / recovery id")],
    body: CheckIn,
    user: CurrentUser,
    sessions: SessionsDep,
) -> RecoveryPublic:
    """A second finance user confirms the money is back (the round's paid total goes down by it) or rejects it."""
    user.require_role(Role.FINANCE)
    async with sessions.begin() as session:
        rnd = await _readable(session, user, rid)
        recovery = await session.get(DividendRecovery, recovery_id, with_for_update=True)
        if recovery is None or recovery.round_id != rid:
            raise not_found(f"recovery {recovery_id} of round {rid}")
        if recovery.made_by == user.id:
            raise forbidden("the maker of a recovery may not check it", "separation_of_duties")
        if recovery.status != "proposed":
            raise conflict("checked", f"this recovery is {recovery.status} already")
        recovery.status = "recovered" if body.approve else "rejected"
        recovery.checked_by, recovery.checked_at = user.id, datetime.now(UTC)
        if body.approve:
            locked = await session.get(DividendRound, rid, with_for_update=True)
            assert locked is not None
            locked.paid_fen -= recovery.amount_fen
        await round_audit(
            session,
            rnd.id,
            f"recovery_{recovery.status}",
            f"recovery_checked:{recovery.id}",
            {"recovery_id": recovery.id, "amount_fen": recovery.amount_fen, "opinion": body.opinion},
            await actor_for(session, user),
        )
        return _recovery(recovery)
