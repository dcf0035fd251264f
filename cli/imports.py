"""CSV imports of regions, experts and households: every bad row reported by line, all-or-nothing by default."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import Sessions
from db.models import Expert, Region, User
from db.repositories.audit import SYSTEM_CHAIN, create_audit_entry
from db.repositories.experts import expert_conflicts
from db.repositories.households import list_household_row_errors, update_households
from domain.enums import ProjectType, RegionLevel, Role
from domain.households import HOUSEHOLD_COLUMNS, RowError, split_list
from domain.regions import code_problem, parent_problem

Progress = Callable[[int], None]


@dataclass
class ImportResult:
    """What an import did (nothing when `errors` is non-empty and the import is all-or-nothing)."""

    kind: str
    rows: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, not UTF-8, wrong header)."""


COLUMNS: dict[str, list[str]] = {
    "regions": ["code", "name", "level", "parent_code"],
    "experts": [
        "name",
        "specialties",
        "region_code",
        "affiliation",
        "conflict_townships",
        "conflict_organisations",
        "active",
        "username",
    ],
    "households": list(HOUSEHOLD_COLUMNS),
}


def read_rows(path: Path, kind: str) -> list[tuple[int, dict[str, str]]]:
    """Rows with their line numbers (header is line 1); a UTF-8 BOM from Excel is accepted."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS[kind] if c not in (reader.fieldnames or [])]
            if missing and not (kind == "experts" and missing == ["username"]):
                raise ImportFileError(f"{path}: missing column(s) {', '.join(missing)}; expected {COLUMNS[kind]}")
            return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except FileNotFoundError as err:
        raise ImportFileError(f"{path}: no such file") from err
    except UnicodeDecodeError as err:
        raise ImportFileError(f"{path}: not UTF-8 text (save the sheet as CSV UTF-8)") from err


_split = split_list


def _bool(value: str) -> bool | None:
    return {
        "": True,
        "1": True,
        "true": True,
        "yes": True,
        "是": True,
        "0": False,
        "false": False,
        "no": False,
        "否": False,
    }.get(value.lower())


async def _existing_regions(session: AsyncSession, codes: Iterable[str]) -> dict[str, str]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    rows = await session.execute(select(Region.code, Region.level).where(Region.code.in_(wanted)))
    return dict(rows.all())


async def _check_regions(
    session: AsyncSession, rows: list[tuple[int, dict[str, str]]], tick: Progress
) -> list[RowError]:
    errors: list[RowError] = []
    known = await _existing_regions(session, [r["parent_code"] for _, r in rows] + [r["code"] for _, r in rows])
    seen: dict[str, int] = {}
    for line, r in rows:
        tick(1)
        try:
            level = RegionLevel(r["level"])
        except ValueError:
            errors.append(RowError(line, "level", f"must be one of {', '.join(v.value for v in RegionLevel)}"))
            continue
        if problem := code_problem(r["code"], level):
            errors.append(RowError(line, "code", problem))
            continue
        if r["code"] in seen:
            errors.append(RowError(line, "code", f"duplicate of line {seen[r['code']]}"))
        seen[r["code"]] = line
        if not r["name"]:
            errors.append(RowError(line, "name", "is required"))
        parent = r["parent_code"]
        if level is RegionLevel.PROVINCE:
            if parent:
                errors.append(RowError(line, "parent_code", "a province has no parent"))
            else:
                known[r["code"]] = level.value  # the rows beneath it may name it as their parent
            continue
        parent_level = known.get(parent)
        if parent_level is None:
            errors.append(RowError(line, "parent_code", f"no region {parent or '(empty)'} in the database or above"))
            continue
        if problem := parent_problem(r["code"], level, parent, RegionLevel(parent_level)):
            errors.append(RowError(line, "parent_code", problem))
            continue
        known[r["code"]] = level.value
    return errors


async def _write_regions(session: AsyncSession, rows: list[tuple[int, dict[str, str]]], tick: Progress) -> int:
    for _, r in rows:
        stmt = insert(Region).values(
            code=r["code"], name=r["name"], level=r["level"], parent_code=r["parent_code"] or None
        )
        await session.execute(stmt.on_conflict_do_update(index_elements=[Region.code], set_={"name": r["name"]}))
        tick(1)
    return len(rows)


async def _check_households(
    session: AsyncSession, rows: list[tuple[int, dict[str, str]]], tick: Progress
) -> list[RowError]:
    # the rules live in domain/households.py: the API's upload reports the same lines and reasons
    return await list_household_row_errors(session, rows, tick=tick)


async def _write_households(session: AsyncSession, rows: list[tuple[int, dict[str, str]]], tick: Progress) -> int:
    return await update_households(session, rows, tick=tick)


async def _check_experts(
    session: AsyncSession, rows: list[tuple[int, dict[str, str]]], tick: Progress
) -> list[RowError]:
    errors: list[RowError] = []
    known = await _existing_regions(
        session,
        [r["region_code"] for _, r in rows] + [c for _, r in rows for c in _split(r["conflict_townships"])],
    )
    usernames = {r.get("username", "") for _, r in rows} - {""}
    users = (
        {
            row[0]: row[1]
            for row in (await session.execute(select(User.username, User.role).where(User.username.in_(usernames))))
        }
        if usernames
        else {}
    )
    types = {t.value for t in ProjectType}
    seen: dict[tuple[str, str, str], int] = {}
    for line, r in rows:
        tick(1)
        if not r["name"]:
            errors.append(RowError(line, "name", "is required"))
        key = (r["name"], r["region_code"], r["affiliation"])
        if key in seen:
            errors.append(RowError(line, "name", f"same expert as line {seen[key]}"))
        seen[key] = line
        specialties = _split(r["specialties"])
        bad = [s for s in specialties if s not in types]
        if not specialties or bad:
            errors.append(RowError(line, "specialties", f"one or more of {', '.join(sorted(types))}, separated by ;"))
        if r["region_code"] not in known:
            errors.append(RowError(line, "region_code", f"no region {r['region_code'] or '(empty)'}"))
        for t in _split(r["conflict_townships"]):
            if known.get(t) != RegionLevel.TOWNSHIP.value:
                errors.append(RowError(line, "conflict_townships", f"no township {t}"))
        if _bool(r["active"]) is None:
            errors.append(RowError(line, "active", "must be yes/no (1/0, true/false, 是/否)"))
        username = r.get("username", "")
        if username and users.get(username) != Role.EXPERT.value:
            errors.append(RowError(line, "username", f"no user {username} with role expert"))
    return errors


async def _write_experts(session: AsyncSession, rows: list[tuple[int, dict[str, str]]], tick: Progress) -> int:
    usernames = {r.get("username", "") for _, r in rows} - {""}
    ids = (
        {
            row[0]: row[1]
            for row in (await session.execute(select(User.username, User.id).where(User.username.in_(usernames))))
        }
        if usernames
        else {}
    )
    for _, r in rows:
        values: dict[str, Any] = {
            "name": r["name"],
            "specialties": _split(r["specialties"]),
            "region_code": r["region_code"],
            "affiliation": r["affiliation"],
            "conflicts": expert_conflicts(
                townships=_split(r["conflict_townships"]),
                organisations=_split(r["conflict_organisations"]),
            ),
            "active": bool(_bool(r["active"])),
            "user_id": ids.get(r.get("username", "")),
        }
        update = {k: v for k, v in values.items() if k not in ("name", "region_code", "affiliation")}
        stmt = insert(Expert).values(**values).on_conflict_do_update(constraint="uq_expert_identity", set_=update)
        await session.execute(stmt)
        tick(1)
    return len(rows)


CHECKS = {"regions": _check_regions, "experts": _check_experts, "households": _check_households}
WRITES = {"regions": _write_regions, "experts": _write_experts, "households": _write_households}


def _good_rows(rows: list[tuple[int, dict[str, str]]], errors: list[RowError]) -> Iterator[tuple[int, dict[str, str]]]:
    bad = {e.line for e in errors}
    return (r for r in rows if r[0] not in bad)


async def import_file(
    sessions: Sessions,
    kind: str,
    path: Path,
    *,
    partial: bool = False,
    tick: Progress = lambda _: None,
    phase: Callable[[str], None] = lambda _: None,
    actor: str = "cli",
) -> ImportResult:
    """Check every row, then write them in one transaction; with errors nothing is written unless `partial`.

    `phase` is told "check" then "write"; `tick` counts the rows of the current phase (each row once per phase)."""
    rows = read_rows(path, kind)
    result = ImportResult(kind=kind, rows=len(rows))
    async with sessions.begin() as session:
        phase("check")
        result.errors = await CHECKS[kind](session, rows, tick)
        if result.errors and not partial:
            return result
        good = list(_good_rows(rows, result.errors))
        phase("write")
        result.written = await WRITES[kind](session, good, tick)
        await create_audit_entry(
            session,
            chain=SYSTEM_CHAIN,
            action=f"import_{kind}",
            event_key=f"import:{kind}:{path.name}:{uuid.uuid4().hex}",
            payload={
                "file": path.name,
                "rows": len(rows),
                "written": result.written,
                "rejected": len(result.errors),
            },
            actor_name=actor,
        )
    return result
