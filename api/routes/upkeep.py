"""An asset's upkeep (管护): inspections and repairs with their costs. Managers record; the project's workflow is
told after each record commits."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.asset_records import (
    asset_write,
    audit,
    evidence_problems,
    local_today,
    not_after_today,
    not_disposed,
    problem,
    readable_asset,
    refuse,
)
from api.deps import CurrentUser, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.edge import CodePath, EdgeRoute, IdPath
from api.errors import conflict, not_found
from api.operation_schemas import (
    InspectionIn,
    InspectionPublic,
    InspectionsPublic,
    RepairCloseIn,
    RepairIn,
    RepairPublic,
    RepairsPublic,
)
from db.models import Asset, Inspection, Repair, UpkeepCost
from db.repositories.operation import (
    count_open_repairs,
    get_active_contract,
    get_inspection_due_first,
    get_inspection_on,
    get_repair,
    get_repair_of_inspection,
    list_inspections,
    list_repairs,
)
from domain.assets import AssetStatus
from domain.operation import Condition

router = APIRouter(prefix="/assets", tags=["upkeep"], route_class=EdgeRoute)
DAMAGE_FOUND = "巡查发现损坏 / damage found at inspection"
REPLAYED = "Idempotent-Replayed"


def _inspection(i: Inspection, repair_id: int | None) -> InspectionPublic:
    return InspectionPublic(
        id=i.id,
        due_date=i.due_date,
        status=i.status,
        inspected_on=i.inspected_on,
        condition=i.condition,
        photos=list(i.photos),
        note=i.note,
        repair_id=repair_id,
    )


def _repair(r: Repair) -> RepairPublic:
    return RepairPublic(
        id=r.id,
        inspection_id=r.inspection_id,
        description=r.description,
        opened_on=r.opened_on,
        status=r.status,
        closed_on=r.closed_on,
        cost_fen=r.cost_fen,
        evidence=list(r.evidence),
    )


@router.get("/{asset_id}/inspections", response_model=InspectionsPublic)
async def inspections(asset_id: CodePath, user: CurrentUser, session: SessionDep) -> InspectionsPublic:
    """An asset's upkeep inspections, due and done, latest first (管护巡查)."""
    asset = await readable_asset(session, user, asset_id)
    opened = {r.inspection_id: r.id for r in await list_repairs(session, asset_id=asset.id) if r.inspection_id}
    rows = await list_inspections(session, asset_id=asset.id)
    return InspectionsPublic(items=[_inspection(i, opened.get(i.id)) for i in rows], asset_status=asset.status)


def _same_inspection(i: Inspection, body: InspectionIn) -> bool:
    return (i.status, i.inspected_on, i.condition, list(i.photos), i.note) == (
        "done",
        body.inspected_on,
        body.condition.value,
        list(body.photos),
        body.note,
    )


@router.post("/{asset_id}/inspections", response_model=InspectionPublic, status_code=201)
async def record_inspection(
    asset_id: CodePath,
    body: InspectionIn,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> InspectionPublic:
    """Record an inspection done: the earliest due one is marked done; damage opens a repair (巡查登记)."""
    today = local_today(settings.time_zone)
    async with asset_write(sessions, temporal, user, asset_id) as w:
        tx, asset, project = w.tx, w.asset, w.project
        not_disposed(asset)
        problems = not_after_today("inspected_on", body.inspected_on, today)
        problems += await evidence_problems(tx, user, "photos", list(body.photos))
        refuse(problems)
        same_day = await get_inspection_on(tx, asset_id=asset.id, day=body.inspected_on)
        if same_day is not None and same_day.status == "done":
            if not _same_inspection(same_day, body):
                raise conflict("inspection_recorded", f"an inspection on {body.inspected_on.isoformat()} is recorded")
            repair = await get_repair_of_inspection(tx, inspection_id=same_day.id)
            w.unchanged()
            response.headers[REPLAYED] = "true"  # the same inspection sent again: one record
            return _inspection(same_day, repair.id if repair else None)
        inspection = await get_inspection_due_first(tx, asset_id=asset.id)
        if inspection is None:
            inspection = Inspection(asset_id=asset.id, project_code=project.code, due_date=body.inspected_on)
            tx.add(inspection)
        inspection.status = "done"
        inspection.inspected_on = body.inspected_on
        inspection.condition = body.condition.value
        inspection.photos = list(body.photos)
        inspection.note = body.note
        inspection.inspected_by = user.id
        await tx.flush()
        await audit(
            tx,
            user,
            project.code,
            "inspection_done",
            f"inspection:{inspection.id}:done",
            {
                "asset_id": asset.id,
                "due_date": inspection.due_date.isoformat(),
                "inspected_on": body.inspected_on.isoformat(),
                "condition": body.condition.value,
                "photos": len(body.photos),
            },
        )
        repair_id = None
        if body.condition is Condition.DAMAGED:
            repair = Repair(
                asset_id=asset.id,
                project_code=project.code,
                inspection_id=inspection.id,
                description=body.note or DAMAGE_FOUND,
                opened_on=body.inspected_on,
                opened_by=user.id,
            )
            tx.add(repair)
            asset.status = AssetStatus.DAMAGED.value
            await tx.flush()
            repair_id = repair.id
            await audit(
                tx,
                user,
                project.code,
                "repair_opened",
                f"repair:{repair.id}:opened",
                {
                    "asset_id": asset.id,
                    "repair_id": repair.id,
                    "inspection_id": inspection.id,
                    "asset_status": "damaged",
                },
            )
        result = _inspection(inspection, repair_id)
    return result


@router.get("/{asset_id}/repairs", response_model=RepairsPublic)
async def repairs(asset_id: CodePath, user: CurrentUser, session: SessionDep) -> RepairsPublic:
    """An asset's repairs, open and closed, newest first (维修记录)."""
    asset = await readable_asset(session, user, asset_id)
    rows = await list_repairs(session, asset_id=asset.id)
    return RepairsPublic(items=[_repair(r) for r in rows], asset_status=asset.status)


@router.post("/{asset_id}/repairs", response_model=RepairPublic, status_code=201)
async def open_repair(
    asset_id: CodePath,
    body: RepairIn,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> RepairPublic:
    """Open a repair for damage found outside an inspection (维修登记)."""
    today = local_today(settings.time_zone)
    async with asset_write(sessions, temporal, user, asset_id) as w:
        tx, asset, project = w.tx, w.asset, w.project
        not_disposed(asset)
        refuse(not_after_today("opened_on", body.opened_on, today))
        for r in await list_repairs(tx, asset_id=asset.id):
            if (r.status, r.description, r.opened_on) == ("open", body.description, body.opened_on):
                w.unchanged()
                response.headers[REPLAYED] = "true"  # the same repair sent again: one record
                return _repair(r)
        repair = Repair(
            asset_id=asset.id,
            project_code=project.code,
            description=body.description,
            opened_on=body.opened_on,
            opened_by=user.id,
        )
        tx.add(repair)
        await tx.flush()
        payload = {"asset_id": asset.id, "repair_id": repair.id, "opened_on": body.opened_on.isoformat()}
        await audit(tx, user, project.code, "repair_opened", f"repair:{repair.id}:opened", payload)
        await tx.refresh(repair)
        result = _repair(repair)
    return result


async def _restored_status(session: AsyncSession, asset: Asset) -> str:
    """A damaged asset without open repairs goes back to use: leased under an active contract, else in use."""
    if asset.status != AssetStatus.DAMAGED.value or await count_open_repairs(session, asset_id=asset.id):
        return asset.status
    contract = await get_active_contract(session, asset_id=asset.id)
    return AssetStatus.LEASED.value if contract is not None else AssetStatus.IN_USE.value


@router.post("/{asset_id}/repairs/{repair_id}/close", response_model=RepairsPublic)
async def close_repair(
    asset_id: CodePath,
    repair_id: IdPath,
    body: RepairCloseIn,
    user: CurrentUser,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> RepairsPublic:
    """Close a repair with its cost (an upkeep cost); with no repair open the asset is back in use (维修完成)."""
    today = local_today(settings.time_zone)
    async with asset_write(sessions, temporal, user, asset_id) as w:
        tx, asset, project = w.tx, w.asset, w.project
        repair = await get_repair(tx, asset_id=asset.id, repair_id=repair_id, for_update=True)
        if repair is None:
            raise not_found(f"repair {repair_id} of asset {asset_id}")
        if repair.status == "closed":
            if (repair.cost_fen, repair.closed_on, list(repair.evidence)) != (
                body.cost_fen,
                body.closed_on,
                list(body.evidence),
            ):
                raise conflict("repair_closed", f"repair {repair_id} is closed already")
            w.unchanged()
            response.headers[REPLAYED] = "true"  # the same closing sent again
            return RepairsPublic(items=[_repair(repair)], asset_status=asset.status)
        problems = not_after_today("closed_on", body.closed_on, today)
        if body.closed_on < repair.opened_on:
            message = f"the repair was opened {repair.opened_on.isoformat()}"
            problems.append(problem("closed_on", "not_before_opened", message))
        problems += await evidence_problems(tx, user, "evidence", list(body.evidence))
        refuse(problems)
        repair.status = "closed"
        repair.closed_on = body.closed_on
        repair.cost_fen = body.cost_fen
        repair.evidence = list(body.evidence)
        tx.add(
            UpkeepCost(
                asset_id=asset.id,
                project_code=project.code,
                fiscal_year=body.closed_on.year,
                spent_on=body.closed_on,
                amount_fen=body.cost_fen,
                kind="repair",
                description=repair.description,
                repair_id=repair.id,
                recorded_by=user.id,
            )
        )
        await tx.flush()
        before = asset.status
        asset.status = await _restored_status(tx, asset)
        await audit(
            tx,
            user,
            project.code,
            "repair_closed",
            f"repair:{repair.id}:closed",
            {
                "asset_id": asset.id,
                "repair_id": repair.id,
                "closed_on": body.closed_on.isoformat(),
                "cost_fen": body.cost_fen,
                "fiscal_year": body.closed_on.year,
                "asset_status": [before, asset.status],
            },
        )
        result = RepairsPublic(items=[_repair(repair)], asset_status=asset.status)
    return result
