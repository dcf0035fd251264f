"""The expert library (专家库): create, list, read and change experts; every change is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, region_filter
from api.edge import EdgeRoute, IdPath, Offset
from api.errors import ApiError, conflict, forbidden, invalid, not_found
from api.schemas import ExpertCreate, ExpertPublic, ExpertsPublic, ExpertUpdate
from db.models import Expert, User
from db.repositories.audit import create_audit_entry, library_chain
from db.repositories.experts import (
    ExpertFilter,
    create_expert,
    expert_conflicts,
    get_expert,
    get_expert_by_identity,
    get_expert_by_user,
    list_experts,
    update_expert,
)
from db.repositories.regions import get_region, list_regions_by_codes
from db.repositories.users import get_user_by_username, list_usernames
from domain.enums import ProjectType, RegionLevel, Role
from domain.regions import region_prefix

router = APIRouter(prefix="/experts", tags=["experts"], route_class=EdgeRoute)
READERS = (Role.COUNTY_REVIEWER, Role.CITY_REVIEWER, Role.SUPERVISOR, Role.ADMIN)
EDITORS = (Role.COUNTY_REVIEWER, Role.CITY_REVIEWER, Role.ADMIN)
CHAIN = library_chain("experts")
IDENTITY_CONSTRAINT = "uq_expert_identity"


def _public(e: Expert, username: str | None) -> ExpertPublic:
    conflicts = e.conflicts or {}
    return ExpertPublic(
        id=e.id,
        name=e.name,
        specialties=list(e.specialties),
        region_code=e.region_code,
        affiliation=e.affiliation,
        conflict_townships=list(conflicts.get("townships", [])),
        conflict_organisations=list(conflicts.get("organisations", [])),
        active=e.active,
        user_id=e.user_id,
        username=username,
    )


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _snapshot(e: Expert) -> dict[str, Any]:
    """The audited state of an expert (what a change is compared against)."""
    return {
        "name": e.name,
        "specialties": list(e.specialties),
        "region_code": e.region_code,
        "affiliation": e.affiliation,
        "conflicts": expert_conflicts(
            townships=(e.conflicts or {}).get("townships", []),
            organisations=(e.conflicts or {}).get("organisations", []),
        ),
        "active": e.active,
        "user_id": e.user_id,
    }


async def _check_references(
    session: AsyncSession,
    user: Principal,
    *,
    region_code: str | None,
    townships: list[str] | None,
    username: str | None,
) -> User | None:
    """422 naming every field whose value names no usable region, township or expert account."""
    errors: list[dict[str, str]] = []
    if region_code is not None:
        if await get_region(session, code=region_code) is None:
            errors.append({"field": "region_code", "rule": "exists", "message": f"no region {region_code}"})
        elif not user.covers(region_code):
            errors.append(
                {
                    "field": "region_code",
                    "rule": "in_your_region",
                    "message": f"region {region_code} lies outside your region {user.region_code}",
                }
            )
    if townships:
        found = {r.code: r.level for r in await list_regions_by_codes(session, codes=townships)}
        for i, code in enumerate(townships):
            if found.get(code) != RegionLevel.TOWNSHIP.value:
                errors.append({"field": f"conflict_townships[{i}]", "rule": "exists", "message": f"no township {code}"})
    account = None
    if username is not None:
        account = await get_user_by_username(session, username=username)
        if account is None or account.role != Role.EXPERT.value:
            errors.append(
                {"field": "username", "rule": "expert_account", "message": f"no user {username} with role expert"}
            )
    if errors:
        raise invalid(errors)
    return account


async def _check_unique(
    session: AsyncSession, *, name: str, region_code: str, affiliation: str, account: User | None, expert_id: int | None
) -> None:
    """409 when another expert has this identity or this login account."""
    same = await get_expert_by_identity(session, name=name, region_code=region_code, affiliation=affiliation)
    if same is not None and same.id != expert_id:
        raise conflict(
            "expert_exists",
            f"the library already holds {name} of {affiliation or '(no affiliation)'} in region {region_code}",
            {"expert_id": same.id},
        )
    if account is not None:
        linked = await get_expert_by_user(session, user_id=account.id)
        if linked is not None and linked.id != expert_id:
            raise conflict(
                "account_linked",
                f"user {account.username} is the login account of expert {linked.id} already",
                {"expert_id": linked.id, "field": "username"},
            )


def _integrity_conflict(err: IntegrityError) -> ApiError:
    """A concurrent request won the race for the same identity or account."""
    constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
    if constraint == IDENTITY_CONSTRAINT:
        return conflict("expert_exists", "the library already holds an expert with this name, region and affiliation")
    return conflict("account_linked", "this user is the login account of another expert already")


async def _readable(session: AsyncSession, user: Principal, expert_id: int, *roles: Role) -> Expert:
    user.require_role(*roles)
    expert = await get_expert(session, expert_id=expert_id)
    if expert is None:
        raise not_found(f"expert {expert_id}")
    if not user.covers(expert.region_code):
        raise forbidden(f"expert {expert_id} belongs to a region outside yours", "region_forbidden")
    return expert


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExpertPublic)
async def create(body: ExpertCreate, user: CurrentUser, sessions: SessionsDep) -> ExpertPublic:
    """Add an expert to the library, optionally linked to a login account (专家入库)."""
    user.require_role(*EDITORS)
    townships = _unique(body.conflict_townships)
    now = datetime.now(UTC)
    try:
        async with sessions.begin() as tx:
            account = await _check_references(
                tx, user, region_code=body.region_code, townships=townships, username=body.username
            )
            await _check_unique(
                tx,
                name=body.name,
                region_code=body.region_code,
                affiliation=body.affiliation,
                account=account,
                expert_id=None,
            )
            expert = await create_expert(
                tx,
                name=body.name,
                specialties=_unique([s.value for s in body.specialties]),
                region_code=body.region_code,
                affiliation=body.affiliation,
                conflict_townships=townships,
                conflict_organisations=_unique(body.conflict_organisations),
                active=body.active,
                user_id=account.id if account else None,
            )
            await create_audit_entry(
                tx,
                chain=CHAIN,
                action="expert_created",
                event_key=f"expert:{expert.id}:created",
                payload={"expert_id": expert.id, **_snapshot(expert)},
                actor_id=user.id,
                actor_name=user.username,
                at=now,
            )
    except IntegrityError as err:
        raise _integrity_conflict(err) from err
    return _public(expert, account.username if account else None)


@router.get("", response_model=ExpertsPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    region: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{6}([0-9]{3}){0,2}$",
            description="区划（本辖区内，含下级）/ region inside yours, with its sub-regions",
        ),
    ] = None,
    specialty: Annotated[ProjectType | None, Query(description="擅长类型 / specialty")] = None,
    active: Annotated[bool | None, Query(description="是否在库可抽取 / may be drawn")] = None,
    text: Annotated[
        str | None, Query(min_length=1, max_length=100, description="姓名或单位 / name or affiliation contains")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> ExpertsPublic:
    """Experts in your region, with filters and paging (专家库)."""
    user.require_role(*READERS)
    prefix = None
    if region is not None:
        found = await region_filter(session, user, "region", region)
        prefix = region_prefix(found.code, RegionLevel(found.level))
    rows, total = await list_experts(
        session,
        filters=ExpertFilter(
            scope_prefix=user.region_prefix,
            region_prefix=prefix,
            specialty=specialty.value if specialty else None,
            active=active,
            text=text,
        ),
        limit=limit,
        offset=offset,
    )
    names = await list_usernames(session, user_ids=[e.user_id for e in rows if e.user_id is not None])
    items = [_public(e, names.get(e.user_id) if e.user_id is not None else None) for e in rows]
    return ExpertsPublic(items=items, count=total, limit=limit, offset=offset)


@router.get("/{expert_id}", response_model=ExpertPublic)
async def detail(expert_id: IdPath, user: CurrentUser, session: SessionDep) -> ExpertPublic:
    """One expert of the library (专家详情)."""
    expert = await _readable(session, user, expert_id, *READERS)
    names = await list_usernames(session, user_ids=[expert.user_id] if expert.user_id is not None else [])
    return _public(expert, names.get(expert.user_id) if expert.user_id is not None else None)


@router.patch("/{expert_id}", response_model=ExpertPublic)
async def patch(expert_id: IdPath, body: ExpertUpdate, user: CurrentUser, sessions: SessionsDep) -> ExpertPublic:
    """Change some fields of an expert, e.g. deactivate them (专家信息变更)."""
    sent = body.model_fields_set
    now = datetime.now(UTC)
    try:
        async with sessions.begin() as tx:
            expert = await _readable(tx, user, expert_id, *EDITORS)
            before = _snapshot(expert)
            townships = _unique(body.conflict_townships) if body.conflict_townships is not None else None
            account = await _check_references(
                tx,
                user,
                region_code=body.region_code,
                townships=townships,
                username=body.username if "username" in sent else None,
            )
            values: dict[str, Any] = {}
            for name in ("name", "region_code", "affiliation", "active"):
                if name in sent:
                    values[name] = getattr(body, name)
            if body.specialties is not None:
                values["specialties"] = _unique([s.value for s in body.specialties])
            if townships is not None or body.conflict_organisations is not None:
                values["conflicts"] = expert_conflicts(
                    townships=townships if townships is not None else before["conflicts"]["townships"],
                    organisations=(
                        _unique(body.conflict_organisations)
                        if body.conflict_organisations is not None
                        else before["conflicts"]["organisations"]
                    ),
                )
            if "username" in sent:
                values["user_id"] = account.id if account else None
            changes = {k: [before[k], v] for k, v in values.items() if before[k] != v}
            if changes:
                after = {**before, **values}
                await _check_unique(
                    tx,
                    name=after["name"],
                    region_code=after["region_code"],
                    affiliation=after["affiliation"],
                    account=account,
                    expert_id=expert_id,
                )
                updated = await update_expert(tx, expert_id=expert_id, values={k: values[k] for k in changes})
                assert updated is not None
                expert = updated
                await create_audit_entry(
                    tx,
                    chain=CHAIN,
                    action="expert_updated",
                    event_key=f"expert:{expert_id}:updated:{uuid.uuid4().hex}",
                    payload={"expert_id": expert_id, "changes": changes},
                    actor_id=user.id,
                    actor_name=user.username,
                    at=now,
                )
            names = await list_usernames(tx, user_ids=[expert.user_id] if expert.user_id is not None else [])
    except IntegrityError as err:
        raise _integrity_conflict(err) from err
    return _public(expert, names.get(expert.user_id) if expert.user_id is not None else None)
