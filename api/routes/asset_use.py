"""An asset's upkeep costs (管护费用), who keeps it up (管护主体), and its use status (in use, leased, idle).
Managers record; the project's workflow is told after each record commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import IntegrityError

from api.asset_records import (
    IdempotencyKey,
    asset_write,
    audit,
    key_reused,
    local_today,
    not_after_today,
    not_disposed,
    problem,
    readable_asset,
    refuse,
)
from api.deps import CurrentUser, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.edge import CodePath, EdgeRoute
from api.errors import conflict
from api.operation_schemas import (
    StatusIn,
    StatusPublic,
    UpkeepCostIn,
    UpkeepCostPublic,
    UpkeepCostsPublic,
    UpkeepIn,
    UpkeepPublic,
    UseStatus,
)
from api.schemas import _d
from db.models import UpkeepCost
from db.repositories.operation import (
    count_open_repairs,
    get_upkeep_cost_by_key,
    list_upkeep_costs,
)
from domain.assets import AssetStatus

router = APIRouter(prefix="/assets", tags=["upkeep"], route_class=EdgeRoute)


def _cost(c: UpkeepCost) -> UpkeepCostPublic:
    return UpkeepCostPublic(
        id=c.id,
        fiscal_year=c.fiscal_year,
        spent_on=c.spent_on,
        amount_fen=c.amount_fen,
        kind=c.kind,
        description=c.description,
        repair_id=c.repair_id,
    )


def _costs(rows: Sequence[UpkeepCost]) -> UpkeepCostsPublic:
    return UpkeepCostsPublic(items=[_cost(c) for c in rows], total_fen=sum(c.amount_fen for c in rows))


@router.get("/{asset_id}/upkeep-costs", response_model=UpkeepCostsPublic)
async def upkeep_costs(
    asset_id: CodePath,
    user: CurrentUser,
    session: SessionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100, description=_d("年度", "fiscal year"))] = None,
) -> UpkeepCostsPublic:
    """An asset's upkeep costs (repairs, routine, other) of a year or all years, with the total (管护费用)."""
    asset = await readable_asset(session, user, asset_id)
    return _costs(await list_upkeep_costs(session, asset_id=asset.id, year=year))


def _same_cost(c: UpkeepCost, asset_id: str, body: UpkeepCostIn) -> bool:
    return (c.asset_id, c.amount_fen, c.spent_on, c.kind, c.description) == (
        asset_id,
        body.amount_fen,
        body.spent_on,
        body.kind.value,
        body.description,
    )


@router.post("/{asset_id}/upkeep-costs", response_model=UpkeepCostPublic, status_code=201)
async def record_upkeep_cost(
    asset_id: CodePath,
    body: UpkeepCostIn,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> UpkeepCostPublic:
    """Record a routine or other upkeep cost of the year it was spent in (管护费用登记); it is deducted from the
    year's income pool, so the same Idempotency-Key and body is one cost (`Idempotent-Replayed: true`)."""
    today = local_today(settings.time_zone)
    key = f"{user.id}:{idempotency_key}"  # keys are the caller's own: another user's same key is another cost
    try:
        async with asset_write(sessions, temporal, user, asset_id) as w:
            tx, asset, project = w.tx, w.asset, w.project
            stored = await get_upkeep_cost_by_key(tx, idempotency_key=key)
            if stored is not None:
                if not _same_cost(stored, asset.id, body):
                    raise key_reused()
                w.unchanged()
                response.headers["Idempotent-Replayed"] = "true"
                return _cost(stored)
            refuse(not_after_today("spent_on", body.spent_on, today))
            cost = UpkeepCost(
                asset_id=asset.id,
                project_code=project.code,
                fiscal_year=body.spent_on.year,
                spent_on=body.spent_on,
                amount_fen=body.amount_fen,
                kind=body.kind.value,
                description=body.description,
                recorded_by=user.id,
                idempotency_key=key,
            )
            tx.add(cost)
            await tx.flush()
            payload = {
                "asset_id": asset.id,
                "cost_id": cost.id,
                "kind": cost.kind,
                "amount_fen": cost.amount_fen,
                "spent_on": cost.spent_on.isoformat(),
            }
            await audit(tx, user, project.code, "upkeep_cost_recorded", f"upkeep-cost:{cost.id}", payload)
            result = _cost(cost)
    except IntegrityError as err:  # the same key, used at the same moment on another asset
        raise key_reused() from err
    return result


@router.put("/{asset_id}/upkeep", response_model=UpkeepPublic)
async def set_upkeep(
    asset_id: CodePath, body: UpkeepIn, user: CurrentUser, sessions: SessionsDep, temporal: TemporalDep
) -> UpkeepPublic:
    """Name the asset's upkeep body, person responsible and fund source (管护主体与责任人)."""
    async with asset_write(sessions, temporal, user, asset_id) as w:
        tx, asset, project = w.tx, w.asset, w.project
        before = (asset.upkeep_body, asset.upkeep_person, asset.upkeep_fund_source)
        after = (body.body, body.person, body.fund_source)
        result = UpkeepPublic(asset_id=asset.id, body=body.body, person=body.person, fund_source=body.fund_source)
        if before == after:  # a repeated request changes nothing and is not audited again
            w.unchanged()
            return result
        asset.upkeep_body, asset.upkeep_person, asset.upkeep_fund_source = after
        # the person's name is personal data: the log says only that it changed
        payload = {
            "asset_id": asset.id,
            "body": body.body,
            "fund_source": body.fund_source,
            "person_changed": before[1] != after[1],
        }
        await audit(tx, user, project.code, "upkeep_set", f"asset:{asset.id}:upkeep:{uuid.uuid4().hex}", payload)
    return result


@router.post("/{asset_id}/status", response_model=StatusPublic)
async def set_status(
    asset_id: CodePath,
    body: StatusIn,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StatusPublic:
    """Put the asset in use, leased or idle (since a day, default today); disposal is its own process (使用状态)."""
    today = local_today(settings.time_zone)
    async with asset_write(sessions, temporal, user, asset_id) as w:
        tx, asset, project = w.tx, w.asset, w.project
        if body.status is UseStatus.DISPOSED:
            refuse([problem("status", "disposal_process", "disposal (处置) has its own process: propose it there")])
        if body.status is UseStatus.DAMAGED:
            refuse([problem("status", "by_inspection", "damage is recorded by an inspection or a repair")])
        not_disposed(asset)
        since = body.since or today
        problems = not_after_today("since", since, today)
        if body.since is not None and body.status is not UseStatus.IDLE:
            problems.append(problem("since", "idle_only", "a start day is given only for idle"))
        refuse(problems)
        if asset.status == AssetStatus.DAMAGED.value and await count_open_repairs(tx, asset_id=asset.id):
            raise conflict("under_repair", f"asset {asset_id} is under repair: close its repairs first")
        idle_since = since if body.status is UseStatus.IDLE else None
        if (asset.status, asset.idle_since) == (body.status.value, idle_since) or (
            asset.status == body.status.value == AssetStatus.IDLE.value and body.since is None
        ):  # a repeated request changes nothing and is not audited again
            w.unchanged()
            return StatusPublic(asset_id=asset.id, status=asset.status, idle_since=asset.idle_since)
        before = asset.status
        asset.status, asset.idle_since = body.status.value, idle_since
        payload = {
            "asset_id": asset.id,
            "status": [before, asset.status],
            "idle_since": idle_since.isoformat() if idle_since else None,
        }
        await audit(tx, user, project.code, "asset_status_set", f"asset:{asset.id}:status:{uuid.uuid4().hex}", payload)
        result = StatusPublic(asset_id=asset.id, status=asset.status, idle_since=asset.idle_since)
    return result
