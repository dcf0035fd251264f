"""Existing projects brought under management (存量资产纳管): what the rules need to know from the database, and the
checked projects written in a few set-based statements (arrays unnested server-side: 20,000 household links are
one statement, not 20,000), idempotent by project code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Asset, Project, Region, User
from db.repositories.audit import NewEntry, append_audit_entries_to_chains, project_chain
from domain.assets import AssetStatus
from domain.enums import RegionLevel, Stage
from domain.imports import (
    CODE,
    ImportedProject,
    Lookups,
    Manager,
    asset_ids,
    contract_id,
)
from domain.operation import ContractKind, ContractStatus
from domain.regions import ancestors, covers

Rows = Sequence[tuple[int, Mapping[str, str]]]


def _codes(cell: str) -> list[str]:
    """The codes of a `code:number;…` cell (a bad part is the rules' to report)."""
    return [p.replace("：", ":").partition(":")[0].strip() for p in cell.replace("；", ";").split(";") if p.strip()]


def _coverage(region: str, level: RegionLevel) -> Callable[[str], bool]:
    return lambda code: covers(region, level, code)


async def get_import_lookups(
    session: AsyncSession, rows: Rows, *, in_scope: Callable[[str], bool] | None = None
) -> Lookups:
    """What the database says about every code the rows name, in five reads whatever the file's size."""
    regions = {r.get("村代码", "").strip() for _, r in rows}
    regions |= {c for _, r in rows for c in _codes(r.get("所有权（村代码:比例;…）", ""))}
    households = {r.get("到户户码", "").strip() for _, r in rows}
    households |= {c for _, r in rows for c in _codes(r.get("受益户（户码:股数;…）", ""))}
    usernames = {r.get("项目管理员账号", "").strip() for _, r in rows}
    codes = {r.get(CODE, "").strip() for _, r in rows}
    cards = {r.get("平台卡号", "").strip() for _, r in rows}
    levels = {
        c: lv
        for c, lv in (await session.execute(select(Region.code, Region.level).where(Region.code.in_(regions - {""}))))
    }
    managers: dict[str, Manager] = {}
    found = await session.execute(
        select(User.username, User.id, User.role, User.active, User.region_code, Region.level)
        .join(Region, Region.code == User.region_code)
        .where(User.username.in_(usernames - {""}))
    )
    for username, user_id, role, active, region, level in found:
        managers[username] = Manager(user_id, role, active, _coverage(region, RegionLevel(level)))
    known = await session.scalars(
        text("SELECT code FROM households WHERE code = ANY(:codes)"), {"codes": sorted(households - {""})}
    )
    existing = {
        c: sha
        for c, sha in await session.execute(
            select(Project.code, Project.imported_from).where(Project.code.in_(codes - {""}))
        )
    }
    held = {
        card: asset
        for card, asset in await session.execute(
            select(Asset.platform_card_no, Asset.id).where(Asset.platform_card_no.in_(cards - {""}))
        )
        if card is not None
    }
    return Lookups(
        region_levels=levels,
        managers=managers,
        households=frozenset(known.all()),
        existing_projects=existing,
        cards=held,
        in_scope=in_scope or (lambda _: True),
    )


@dataclass(frozen=True)
class ImportCounts:
    """What an import wrote."""

    projects: int = 0
    assets: int = 0
    ownerships: int = 0
    income_shares: int = 0
    contracts: int = 0
    audited: int = 0


def _unnest_insert(table: str, columns: Sequence[tuple[str, str]], tail: str) -> str:
    """`INSERT INTO table (…) SELECT … FROM unnest(:c1::t1[], …)`: every row in one statement, one array per column.
    A column of type `jsonb` travels as text and is cast on the server."""
    names = ", ".join(n for n, _ in columns)
    arrays = ", ".join(f"CAST(:{n} AS {'text' if t == 'jsonb' else t}[])" for n, t in columns)
    picks = ", ".join(f"u.{n}::jsonb" if t == "jsonb" else f"u.{n}" for n, t in columns)
    return f"INSERT INTO {table} ({names}) SELECT {picks} FROM unnest({arrays}) AS u({names}) {tail}"  # noqa: S608


def _arrays(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> dict[str, list[Any]]:
    listed = list(rows)
    return {name: [r[i] for r in listed] for i, (name, _) in enumerate(columns)}


def _update_set(columns: Iterable[str]) -> str:
    return ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)


PROJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("code", "text"),
    ("name", "text"),
    ("project_type", "text"),
    ("village_code", "text"),
    ("township_code", "text"),
    ("county_code", "text"),
    ("city_code", "text"),
    ("stage", "text"),
    ("status", "text"),
    ("total_budget_fen", "bigint"),
    ("planned_start", "date"),
    ("planned_end", "date"),
    ("applicant_id", "int"),
    ("application", "jsonb"),
    ("workflow_id", "text"),
    ("implementing_entity", "text"),
    ("final_cost_fen", "bigint"),
    ("completion_date", "date"),
    ("imported_from", "text"),
    ("progress_percent", "int"),
    ("funds_paid_fen", "bigint"),
)
# a rerun updates what the file says; the stage and status the project has reached since stay as they are
_PROJECT_UPSERT = _unnest_insert(
    "projects",
    PROJECT_COLUMNS,
    "ON CONFLICT (code) DO UPDATE SET "
    + _update_set(c for c, _ in PROJECT_COLUMNS if c not in ("code", "stage", "status", "workflow_id"))
    + ", phase_workflow_id = NULL, updated_at = now() WHERE projects.imported_from IS NOT NULL RETURNING code",
)
ASSET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("project_code", "text"),
    ("name", "text"),
    ("asset_class", "text"),
    ("quantity", "text"),
    ("unit", "text"),
    ("value_fen", "bigint"),
    ("location", "text"),
    ("village_code", "text"),
    ("township_code", "text"),
    ("county_code", "text"),
    ("household_code", "text"),
    ("status", "text"),
    ("operator_name", "text"),
    ("operator_type", "text"),
    ("contract_mode", "text"),
    ("contract_start", "date"),
    ("contract_end", "date"),
    ("contract_term_years", "int"),
    ("annual_rent_fen", "bigint"),
    ("supervision", "jsonb"),
    ("platform_card_no", "text"),
    ("platform_registered_at", "timestamptz"),
    ("registration_status", "text"),
    ("upkeep_body", "text"),
    ("upkeep_person", "text"),
    ("upkeep_fund_source", "text"),
)
# a card the platform issued since the last run stays when the file names none
_KEEP_CARD = {"platform_card_no", "platform_registered_at", "registration_status"}
_ASSET_UPSERT = _unnest_insert(
    "assets",
    ASSET_COLUMNS,
    "ON CONFLICT (id) DO UPDATE SET "
    + _update_set(c for c, _ in ASSET_COLUMNS if c not in {"id", *_KEEP_CARD})
    + ", platform_card_no = COALESCE(EXCLUDED.platform_card_no, assets.platform_card_no)"
    + ", platform_registered_at = COALESCE(EXCLUDED.platform_registered_at, assets.platform_registered_at)"
    + ", registration_status = CASE WHEN COALESCE(EXCLUDED.platform_card_no, assets.platform_card_no) IS NULL"
    + " THEN EXCLUDED.registration_status ELSE 'registered' END",
)
OWNERSHIP_COLUMNS = (("asset_id", "text"), ("village_code", "text"), ("share_bp", "int"))
_OWNERSHIP_INSERT = _unnest_insert("asset_ownerships", OWNERSHIP_COLUMNS, "")
INCOME_COLUMNS = (("asset_id", "text"), ("household_code", "text"), ("shares", "int"))
_INCOME_INSERT = _unnest_insert("asset_income_shares", INCOME_COLUMNS, "")
CONTRACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("asset_id", "text"),
    ("project_code", "text"),
    ("kind", "text"),
    ("status", "text"),
    ("operator_name", "text"),
    ("operator_type", "text"),
    ("operator_credit_code", "text"),
    ("mode", "text"),
    ("start_date", "date"),
    ("end_date", "date"),
    ("rent_fen", "bigint"),
    ("schedule", "text"),
    ("deposit_fen", "bigint"),
    ("escalation_bp", "int"),
    ("note", "text"),
    ("proposed_by", "int"),
    ("decided_at", "timestamptz"),
)
# a rerun replaces the imported contract's terms while it is the active one; once renewed or replaced it is history
_CONTRACT_UPSERT = _unnest_insert(
    "contracts",
    CONTRACT_COLUMNS,
    "ON CONFLICT (id) DO UPDATE SET "
    + _update_set(c for c, _ in CONTRACT_COLUMNS if c not in ("id", "kind", "status", "proposed_by"))
    + " WHERE contracts.status = 'active'",
)
_CLEAR_RIGHTS = (
    "DELETE FROM asset_ownerships WHERE asset_id IN (SELECT id FROM assets WHERE project_code = ANY(:codes))",
    "DELETE FROM asset_income_shares WHERE asset_id IN (SELECT id FROM assets WHERE project_code = ANY(:codes))",
    # an asset's imported contract the file no longer gives, unless money already fell due under it
    "DELETE FROM contracts c WHERE c.project_code = ANY(:codes) AND c.kind = 'imported' AND NOT (c.id = ANY(:keep))"
    " AND NOT EXISTS (SELECT 1 FROM receivables r WHERE r.contract_id = c.id)",
    # assets a shorter file no longer lists (the rights of all the project's assets are gone already)
    "DELETE FROM assets WHERE project_code = ANY(:codes) AND NOT (id = ANY(:ids))",
)


class ImportConflict(Exception):
    """A project code of the file was filed through the application while the import ran."""


async def write_imported_projects(
    session: AsyncSession,
    projects: Sequence[ImportedProject],
    *,
    sha256: str,
    file_name: str,
    actor_id: int | None,
    actor_name: str,
) -> ImportCounts:
    """Upsert the projects (stage operation), their assets, ownerships, income shares and imported contracts, and
    audit each project once per file; the caller commits. A rerun of the same file writes the same rows again and
    audits nothing new."""
    if not projects:
        return ImportCounts()
    now = datetime.now(UTC)
    places = {p.village_code: ancestors(p.village_code) for p in projects}
    names = dict(
        (
            await session.execute(
                select(Region.code, Region.name).where(
                    Region.code.in_({c for a in places.values() for c in a.values()})
                )
            )
        ).all()
    )
    project_rows = []
    asset_rows: list[tuple[Any, ...]] = []
    owner_rows: list[tuple[Any, ...]] = []
    income_rows: list[tuple[Any, ...]] = []
    contract_rows: list[tuple[Any, ...]] = []
    audit: dict[str, list[NewEntry]] = {}
    for p in projects:
        place = places[p.village_code]
        township, county = place[RegionLevel.TOWNSHIP], place[RegionLevel.COUNTY]
        project_rows.append(
            (
                p.code,
                p.name,
                p.project_type,
                p.village_code,
                township,
                county,
                place[RegionLevel.CITY],
                Stage.OPERATION.value,
                "active",
                p.total_fen,
                p.start,
                p.completion,
                p.manager_id,
                json.dumps(p.application(), ensure_ascii=False),
                f"project-{p.code}",
                p.implementing_entity,
                p.final_cost_fen,
                p.completion,
                sha256,
                100,
                p.final_cost_fen,
            )
        )
        supervision = json.dumps(
            {
                "township_unit": names.get(township, township),
                "county_unit": names.get(county, county),
                "supervisor": "",
            },
            ensure_ascii=False,
        )
        counts = [0, 0, 0]
        for asset_id, a in zip(asset_ids(p.code, len(p.assets)), p.assets, strict=True):
            k = a.contract
            asset_rows.append(
                (
                    asset_id,
                    p.code,
                    a.name,
                    a.asset_class,
                    a.quantity,
                    a.unit,
                    a.value_fen,
                    a.location,
                    p.village_code,
                    township,
                    county,
                    a.household_code,
                    (AssetStatus.LEASED if k else AssetStatus.IN_USE).value,
                    k.operator_name if k else "",
                    k.operator_type if k else "",
                    k.mode if k else "",
                    k.start if k else None,
                    k.end if k else None,
                    k.term_years if k else None,
                    k.annual_rent_fen if k else None,
                    supervision,
                    a.platform_card_no,
                    now if a.platform_card_no else None,
                    "registered" if a.platform_card_no else "queued",
                    a.upkeep_body,
                    a.upkeep_person,
                    a.upkeep_fund_source,
                )
            )
            owner_rows += [(asset_id, o.village_code, o.share_bp) for o in a.owners]
            income_rows += [(asset_id, s.household_code, s.shares) for s in a.income]
            counts[0] += len(a.owners)
            counts[1] += len(a.income)
            if k is not None:
                counts[2] += 1
                contract_rows.append(
                    (
                        contract_id(asset_id),
                        asset_id,
                        p.code,
                        ContractKind.IMPORTED.value,
                        ContractStatus.ACTIVE.value,
                        k.operator_name,
                        k.operator_type,
                        k.credit_code,
                        k.mode,
                        k.start,
                        k.end,
                        k.rent_fen,
                        k.schedule,
                        k.deposit_fen,
                        k.escalation_bp,
                        f"imported from {sha256}",
                        actor_id,
                        now,
                    )
                )
        audit[project_chain(p.code)] = [
            NewEntry(
                action="imported",
                event_key=f"imported:{p.code}:{sha256}",
                payload={
                    "file_sha256": sha256,
                    "file": file_name,
                    "lines": [p.lines[0], p.lines[-1]],
                    "assets": len(p.assets),
                    "ownerships": counts[0],
                    "income_shares": counts[1],
                    "contracts": counts[2],
                    "final_cost_fen": p.final_cost_fen,
                },
                actor_id=actor_id,
                actor_name=actor_name,
                at=now,
            )
        ]
    written = (await session.scalars(text(_PROJECT_UPSERT), _arrays(PROJECT_COLUMNS, project_rows))).all()
    if len(written) != len(project_rows):
        refused = sorted({r[0] for r in project_rows} - set(written))
        raise ImportConflict(f"filed through the application meanwhile: {', '.join(refused)}")
    codes = [p.code for p in projects]
    keep = {
        "codes": codes,
        "ids": [r[0] for r in asset_rows],
        "keep": [r[0] for r in contract_rows],
    }
    for statement in _CLEAR_RIGHTS:
        params = {k: v for k, v in keep.items() if f":{k}" in statement}
        await session.execute(text(statement), params)
    await session.execute(text(_ASSET_UPSERT), _arrays(ASSET_COLUMNS, asset_rows))
    if owner_rows:
        await session.execute(text(_OWNERSHIP_INSERT), _arrays(OWNERSHIP_COLUMNS, owner_rows))
    if income_rows:
        await session.execute(text(_INCOME_INSERT), _arrays(INCOME_COLUMNS, income_rows))
    if contract_rows:
        await session.execute(text(_CONTRACT_UPSERT), _arrays(CONTRACT_COLUMNS, contract_rows))
    audited = await append_audit_entries_to_chains(session, entries=audit)
    return ImportCounts(
        projects=len(project_rows),
        assets=len(asset_rows),
        ownerships=len(owner_rows),
        income_shares=len(income_rows),
        contracts=len(contract_rows),
        audited=audited,
    )
