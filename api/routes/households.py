"""Beneficiary households (受益农户): read by who works with them, kept by county staff; personal data masked."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, SettingsDep, region_filter
from api.edge import CodePath, EdgeRoute, Offset
from api.errors import ApiError, conflict, forbidden, invalid, not_found
from api.openapi import multipart_file_body
from api.people_schemas import (
    REGION_PATTERN,
    HouseholdCreate,
    HouseholdPublic,
    HouseholdsPublic,
    HouseholdUpdate,
    ImportReport,
)
from db.models import Household
from db.repositories.audit import create_audit_entry, library_chain
from db.repositories.households import (
    HouseholdFilter,
    create_household,
    get_household,
    list_household_row_errors,
    list_households,
    update_household,
    update_households,
)
from db.repositories.regions import get_region, list_regions_by_codes
from domain.enums import HouseholdCategory, RegionLevel, Role
from domain.households import CATEGORIES, HOUSEHOLD_COLUMNS, HouseholdFileError, household_rows, id_number_problem, mask
from domain.login_throttle import printable
from domain.regions import region_prefix

router = APIRouter(prefix="/households", tags=["households"], route_class=EdgeRoute)
# Who picks beneficiaries, reviews them or pays them reads households; experts appraise projects, not people.
READERS = tuple(r for r in Role if r is not Role.EXPERT)
# County staff keep the register: the county's reviewers and administrators (a city admin for all its counties).
EDITORS = (Role.COUNTY_REVIEWER, Role.ADMIN)
CHAIN = library_chain("households")
ENVELOPE_BYTES = 64 * 1024
IMPORT_BODY = multipart_file_body(
    "UTF-8 CSV，表头 "
    + ",".join(HOUSEHOLD_COLUMNS)
    + f"；categories 以 ; 分隔，取值 {', '.join(CATEGORIES)} / a UTF-8 CSV with that header"
)


def _publics(rows: Sequence[Household], names: dict[str, str]) -> list[HouseholdPublic]:
    return [
        HouseholdPublic(
            id=h.id,
            code=h.code,
            village_code=h.village_code,
            village_name=names.get(h.village_code, ""),
            head_name=h.head_name,
            members=h.members,
            categories=[HouseholdCategory(c) for c in h.categories if c in CATEGORIES],
            id_number=mask(h.id_number),
            bank_account=mask(h.bank_account),
        )
        for h in rows
    ]


async def _public(session: AsyncSession, h: Household) -> HouseholdPublic:
    names = {r.code: r.name for r in await list_regions_by_codes(session, codes=[h.village_code])}
    return _publics([h], names)[0]


def _require_editor(user: Principal) -> None:
    user.require_role(*EDITORS)
    if user.region_level not in (RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY):
        raise forbidden("households are kept by county staff (a county's or a city's)", "role_forbidden")


async def _village_problems(session: AsyncSession, user: Principal, field: str, code: str) -> list[dict[str, str]]:
    region = await get_region(session, code=code)
    if region is None or region.level != RegionLevel.VILLAGE.value:
        return [{"field": field, "rule": "exists", "message": f"no village {code}"}]
    if not user.covers(code):
        return [{"field": field, "rule": "in_your_region", "message": f"village {code} lies outside your region"}]
    return []


async def _readable(session: AsyncSession, user: Principal, code: str, *roles: Role) -> Household:
    user.require_role(*roles)
    household = await get_household(session, code=code)
    if household is None:
        raise not_found(f"household {code}")
    if not user.covers(household.village_code):
        raise forbidden(f"household {code} lives outside your region", "region_forbidden")
    return household


def _audit_values(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a change: personal data masked like everywhere else."""
    return {k: mask(v) if k in ("id_number", "bank_account") else v for k, v in values.items()}


@router.get("", response_model=HouseholdsPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    village: Annotated[
        str | None,
        Query(pattern=REGION_PATTERN, description="村（或乡镇、县，本辖区内）/ a village, or a township or county"),
    ] = None,
    category: Annotated[HouseholdCategory | None, Query(description="户类别 / category")] = None,
    text: Annotated[
        str | None, Query(min_length=1, max_length=100, description="户码或户主姓名包含 / code or head contains")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> HouseholdsPublic:
    """Households in your region by village, with categories and members; ID and account masked (受益农户)."""
    user.require_role(*READERS)
    prefix = None
    if village is not None:
        found = await region_filter(session, user, "village", village)
        prefix = region_prefix(found.code, RegionLevel(found.level))
    rows, total = await list_households(
        session,
        filters=HouseholdFilter(
            scope_prefix=user.region_prefix,
            region_prefix=prefix,
            category=category.value if category else None,
            text=text,
        ),
        limit=limit,
        offset=offset,
    )
    names = {r.code: r.name for r in await list_regions_by_codes(session, codes=[h.village_code for h in rows])}
    return HouseholdsPublic(items=_publics(rows, names), count=total, limit=limit, offset=offset)


@router.get("/{code}", response_model=HouseholdPublic)
async def detail(code: CodePath, user: CurrentUser, session: SessionDep) -> HouseholdPublic:
    """One household; ID number and bank account masked (农户详情)."""
    return await _public(session, await _readable(session, user, code, *READERS))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HouseholdPublic)
async def create(body: HouseholdCreate, user: CurrentUser, sessions: SessionsDep) -> HouseholdPublic:
    """Add a household in a village of your county (新增农户)."""
    _require_editor(user)
    id_number = body.id_number.upper()
    try:
        async with sessions.begin() as tx:
            errors = await _village_problems(tx, user, "village_code", body.village_code)
            if problem := id_number_problem(id_number):
                errors.append({"field": "id_number", "rule": "id_checksum", "message": problem})
            if errors:
                raise invalid(errors)
            if await get_household(tx, code=body.code) is not None:
                raise conflict("household_exists", f"household {body.code} exists already", {"field": "code"})
            values: dict[str, Any] = {
                "code": body.code,
                "village_code": body.village_code,
                "head_name": body.head_name,
                "members": body.members,
                "categories": list(dict.fromkeys(c.value for c in body.categories)),
                "id_number": id_number,
                "bank_account": body.bank_account,
            }
            household = await create_household(tx, values=values)
            await create_audit_entry(
                tx,
                chain=CHAIN,
                action="household_created",
                event_key=f"household:{body.code}:created:{uuid.uuid4().hex}",
                payload=_audit_values(values),
                actor_id=user.id,
                actor_name=user.username,
            )
            public = await _public(tx, household)
    except IntegrityError as err:  # a concurrent request added the same code first
        raise conflict("household_exists", f"household {body.code} exists already", {"field": "code"}) from err
    return public


@router.patch("/{code}", response_model=HouseholdPublic)
async def patch(code: CodePath, body: HouseholdUpdate, user: CurrentUser, sessions: SessionsDep) -> HouseholdPublic:
    """Change some fields of a household of your county (农户信息变更)."""
    _require_editor(user)
    sent = body.model_fields_set
    async with sessions.begin() as tx:
        household = await _readable(tx, user, code, *EDITORS)
        errors: list[dict[str, str]] = []
        values: dict[str, Any] = {}
        if "village_code" in sent and body.village_code is not None:
            errors += await _village_problems(tx, user, "village_code", body.village_code)
            values["village_code"] = body.village_code
        if body.id_number is not None:
            values["id_number"] = body.id_number.upper()
            if problem := id_number_problem(values["id_number"]):
                errors.append({"field": "id_number", "rule": "id_checksum", "message": problem})
        if errors:
            raise invalid(errors)
        for name in ("head_name", "members", "bank_account"):
            if name in sent and getattr(body, name) is not None:
                values[name] = getattr(body, name)
        if body.categories is not None:
            values["categories"] = list(dict.fromkeys(c.value for c in body.categories))
        before = {k: getattr(household, k) for k in values}
        changes = {k: v for k, v in values.items() if before[k] != v}
        if changes:
            updated = await update_household(tx, code=code, values=changes)
            assert updated is not None
            household = updated
            await create_audit_entry(
                tx,
                chain=CHAIN,
                action="household_updated",
                event_key=f"household:{code}:updated:{uuid.uuid4().hex}",
                payload={
                    "code": code,
                    "changes": {
                        k: [_audit_values({k: before[k]})[k], _audit_values({k: v})[k]] for k, v in changes.items()
                    },
                },
                actor_id=user.id,
                actor_name=user.username,
            )
        return await _public(tx, household)


def _upload_problem(rule: str, message: str) -> ApiError:
    return invalid([{"field": "file", "rule": rule, "message": message}])


async def _read_csv(request: Request, max_bytes: int) -> tuple[str, str]:
    """The uploaded file's name and text; 413 beyond the limit, 422 when absent or not UTF-8."""
    too_large = ApiError(
        413,
        "file_too_large",
        f"the file exceeds the upload limit of {max_bytes} bytes",
        {"field": "file", "rule": "max_size", "max_bytes": max_bytes},
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + ENVELOPE_BYTES:
        raise too_large
    try:
        form = await request.form(max_files=1, max_fields=8)
    except StarletteHTTPException as err:
        raise _upload_problem("multipart", str(err.detail)) from err
    except (ValueError, KeyError, AssertionError) as err:  # not a multipart body at all
        raise _upload_problem("multipart", "send the file as multipart/form-data field `file`") from err
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile):
            raise _upload_problem("required", "send the file as multipart field `file`")
        data = await upload.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise too_large
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _upload_problem("utf8", "not UTF-8 text (save the sheet as CSV UTF-8)") from err
    return upload.filename or "upload.csv", text


@router.post("/import", response_model=ImportReport, openapi_extra=IMPORT_BODY)
async def import_(request: Request, user: CurrentUser, sessions: SessionsDep, settings: SettingsDep) -> ImportReport:
    """Import households from a CSV (multipart field `file`): all rows or none, bad rows reported by line (导入)."""
    _require_editor(user)
    filename, text = await _read_csv(request, settings.attachments.max_bytes)
    try:
        rows = household_rows(text)
    except HouseholdFileError as err:
        raise _upload_problem("csv_header", str(err)) from err
    if not rows:
        raise _upload_problem("rows", "the file has a header but no rows")
    async with sessions.begin() as tx:
        errors = await list_household_row_errors(tx, rows, in_scope=user.covers)
        if errors:
            details = [
                {"field": e.column, "rule": "import_row", "message": str(e), "line": e.line, "column": e.column}
                for e in errors
            ]
            raise ApiError(
                422,
                "import_rejected",
                f"{len(errors)} problem(s) in {len({e.line for e in errors})} row(s); nothing was imported",
                details,
            )
        written = await update_households(tx, rows)
        await create_audit_entry(
            tx,
            chain=CHAIN,
            action="import_households",
            event_key=f"import:households:{uuid.uuid4().hex}",
            payload={"file": printable(filename, 200), "rows": len(rows), "written": written, "rejected": 0},
            actor_id=user.id,
            actor_name=user.username,
        )
    return ImportReport(rows=len(rows), written=written)
