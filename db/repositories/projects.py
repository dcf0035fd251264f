"""The project library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import CTE, Select, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import IdempotencyKey, Project, ProjectCodeCounter, Task, table_of
from db.repositories.tasks import DECIDED
from domain.archives import Archive, shown
from domain.colours import project_colour
from domain.enums import TaskStatus


async def get_project(session: AsyncSession, *, code: str) -> Project | None:
    """One project by code."""
    return await session.get(Project, code)


async def next_project_code(session: AsyncSession, *, county_code: str, year: int) -> str:
    """Allocate the next code XM{county}-{year}-{nnnn}; the row lock makes concurrent creates safe."""
    stmt = (
        insert(ProjectCodeCounter)
        .values(county_code=county_code, year=year, last=1)
        .on_conflict_do_update(
            index_elements=[ProjectCodeCounter.county_code, ProjectCodeCounter.year],
            set_={"last": ProjectCodeCounter.last + 1},
        )
        .returning(ProjectCodeCounter.last)
    )
    n = int((await session.execute(stmt)).scalar_one())
    return f"XM{county_code}-{year}-{n:04d}"


async def create_project(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    project_type: str,
    village_code: str,
    township_code: str,
    county_code: str,
    city_code: str,
    stage: str,
    total_budget_fen: int,
    planned_start: date,
    planned_end: date,
    applicant_id: int,
    application: dict[str, Any],
    workflow_id: str,
    implementing_entity: str = "",
) -> Project:
    """Insert a project into the library."""
    project = Project(
        code=code,
        name=name,
        project_type=project_type,
        village_code=village_code,
        township_code=township_code,
        county_code=county_code,
        city_code=city_code,
        stage=stage,
        status="active",
        total_budget_fen=total_budget_fen,
        planned_start=planned_start,
        planned_end=planned_end,
        applicant_id=applicant_id,
        application=application,
        workflow_id=workflow_id,
        implementing_entity=implementing_entity,
    )
    session.add(project)
    await session.flush()
    return project


@dataclass(frozen=True)
class ProjectFilter:
    """List filters; `scope_prefix` limits to the caller's region."""

    scope_prefix: str
    stage: str | None = None
    county: str | None = None
    township: str | None = None
    project_type: str | None = None
    text: str | None = None
    overdue: bool | None = None
    colour: str | None = None
    # (archive, colour) pairs: the archive's shown colour (red also while a problem of it is overdue)
    archive_colours: tuple[tuple[Archive, str], ...] = ()


ARCHIVE_COLUMNS = {
    Archive.CONSTRUCTION: Project.construction_colour,
    Archive.REGISTRATION: Project.registration_colour,
    Archive.OPERATION: Project.operation_colour,
    Archive.DISTRIBUTION: Project.distribution_colour,
}


def own_archives(p: Any) -> dict[Archive, str]:
    """The archives' own colours of a project (or a row of its colour columns), before an overdue problem is laid
    over them."""
    return {archive: str(getattr(p, column.key)) for archive, column in ARCHIVE_COLUMNS.items()}


def _archive_is(archive: Archive, colour: str) -> Any:
    """The archive shows `colour` (domain.archives.shown, in SQL)."""
    flagged = Project.problem_archives.contains([archive.value])
    own = ARCHIVE_COLUMNS[archive] == colour
    return or_(own, flagged) if colour == "red" else and_(own, ~flagged)


def _filtered(stmt: Select[Any], f: ProjectFilter) -> Select[Any]:
    stmt = stmt.where(Project.village_code.startswith(f.scope_prefix))
    if f.stage:
        stmt = stmt.where(Project.stage == f.stage)
    if f.county:
        stmt = stmt.where(Project.county_code == f.county)
    if f.township:
        stmt = stmt.where(Project.township_code == f.township)
    if f.project_type:
        stmt = stmt.where(Project.project_type == f.project_type)
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Project.name.ilike(pattern), Project.code.ilike(pattern)))
    if f.overdue is not None:
        stmt = stmt.where(Project.overdue.is_(f.overdue))
    if f.colour:
        stmt = stmt.where(Project.colour == f.colour)
    for archive, colour in f.archive_colours:
        stmt = stmt.where(_archive_is(archive, colour))
    return stmt


async def list_projects(
    session: AsyncSession, *, filters: ProjectFilter, limit: int, offset: int
) -> tuple[Sequence[Project], int]:
    """A page of projects, newest first, and the total that match."""
    total = int(await session.scalar(_filtered(select(func.count()).select_from(Project), filters)) or 0)
    rows = await session.scalars(
        _filtered(select(Project), filters)
        .order_by(Project.created_at.desc(), Project.code)
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total


async def update_project_stage(session: AsyncSession, *, code: str, stage: str, status: str | None = None) -> None:
    """Move a project's stage in the read model (only workflow activities call this)."""
    values: dict[str, Any] = {"stage": stage}
    if status is not None:
        values["status"] = status
    await session.execute(update(Project).where(Project.code == code).values(**values))


async def get_idempotency_key(session: AsyncSession, *, user_id: int, key: str) -> IdempotencyKey | None:
    """A stored create key of this user."""
    return await session.get(IdempotencyKey, (user_id, key))


async def create_idempotency_key(
    session: AsyncSession, *, user_id: int, key: str, request_hash: str, project_code: str
) -> bool:
    """Remember a create key; False if another request holds it already (a concurrent duplicate)."""
    stmt = (
        insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request_hash=request_hash, project_code=project_code)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


_COLOURS = (
    Project.overdue,
    Project.construction_colour,
    Project.registration_colour,
    Project.operation_colour,
    Project.distribution_colour,
    Project.problem_archives,
    Project.colour,
)


async def _recolour(
    session: AsyncSession, code: str, values: dict[str, Any], *, after: CTE | None = None
) -> tuple[bool, str]:
    """Set `values`, and recompute the colour lists show from the overdue flag and the four archives' shown colours
    (domain.colours.project_colour over domain.archives.shown: the one source, so the list and the archives never
    disagree). The UPDATE locks the row, so the colour is computed from what this transaction wrote; a second
    statement only if it changed. With `after` (a data-modifying CTE), the CTE runs in the same statement and the
    row is set only if it returned a row; else nothing changes and NotAfter is raised."""
    stmt = update(Project).where(Project.code == code)
    if after is not None:
        stmt = stmt.where(exists(select(after.c[0]))).add_cte(after)
    return await _recoloured(session, code, stmt.values(**values).returning(*_COLOURS), {}, after=after is not None)


async def _recoloured(
    session: AsyncSession, code: str, stmt: Any, params: dict[str, Any], *, after: bool
) -> tuple[bool, str]:
    """Run `_recolour`'s statement (built there, or once: decide_and_move) and set the colour it computes."""
    found = (await session.execute(stmt, params, execution_options={"synchronize_session": False})).first()
    if found is None:
        if after:
            raise NotAfter(code)
        raise LookupError(f"project {code} not found")
    row = found
    archives = shown(own_archives(row), row.problem_archives or [])
    colour = project_colour(overdue=row.overdue, archives=archives.values())
    if colour != row.colour:
        await session.execute(update(Project).where(Project.code == code).values(colour=colour))
    return bool(row.overdue), colour


async def refresh_project_overdue(session: AsyncSession, *, code: str, values: dict[str, Any] | None = None) -> bool:
    """Recompute the overdue flag (an open task escalated past twice its limit) and the colour with it, setting
    `values` (the stage) in the same statement."""
    escalated = (
        select(Task.id)
        .where(Task.project_code == code, Task.status == TaskStatus.OPEN.value, Task.escalated_at.is_not(None))
        .exists()
    )
    overdue, _ = await _recolour(session, code, {**(values or {}), "overdue": escalated})
    return overdue


class NotAfter(Exception):
    """The statement's CTE returned no row (`_recolour(after=…)`): nothing was set."""


def _decide_and_move(terminal: bool) -> Any:
    # Core tables, not the ORM classes: a Core UPDATE skips the ORM's DML handling (and its returning rows)
    projects, tasks = table_of(Project), table_of(Task)
    # still-open escalated tasks other than this one: the CTE's close is not visible to the statement
    escalated = (
        select(tasks.c.id)
        .where(
            tasks.c.project_code == bindparam("p_code"),
            tasks.c.status == TaskStatus.OPEN.value,
            tasks.c.escalated_at.is_not(None),
            tasks.c.id != bindparam("d_task_id"),
        )
        .exists()
    )
    values: dict[str, Any] = {"stage": bindparam("p_stage"), "overdue": escalated}
    if terminal:
        values["status"] = bindparam("p_status")
    return (
        update(projects)
        .where(projects.c.code == bindparam("p_code"), exists(select(DECIDED.c[0])))
        .add_cte(DECIDED)
        .values(**values)
        .returning(*(projects.c[column.key] for column in _COLOURS))
    )


# built once each (with the status a terminal stage sets, and without): constructing the statement costs more
# Python time than running it
_DECIDE_AND_MOVE = {terminal: _decide_and_move(terminal) for terminal in (False, True)}


async def decide_and_move(
    session: AsyncSession, *, code: str, decision: dict[str, Any], stage: str, status: str | None = None
) -> bool:
    """In one statement: record a decision and close its task (`decision`: the values of
    db.repositories.tasks.DECIDED, from decision_params), and only if that was new, move the project to `stage`
    (and `status`) with the overdue flag and the colour. False when the task had its decision already (a retry:
    nothing changes)."""
    params = {**decision, "p_code": code, "p_stage": stage}
    if status is not None:
        params["p_status"] = status
    try:
        await _recoloured(session, code, _DECIDE_AND_MOVE[status is not None], params, after=True)
    except NotAfter:
        return False
    return True


async def update_project_colours(
    session: AsyncSession,
    *,
    code: str,
    overdue: bool | None = None,
    construction_colour: str | None = None,
    operation_colour: str | None = None,
    registration_colour: str | None = None,
    distribution_colour: str | None = None,
    problem_archives: list[str] | None = None,
    construction_red_since: date | Literal["keep"] | None = "keep",
) -> str:
    """Change the overdue flag and/or an archive's colour (or the archives with an overdue problem), and the colour
    lists show with them."""
    values: dict[str, Any] = {
        k: v
        for k, v in {
            "overdue": overdue,
            "construction_colour": construction_colour,
            "operation_colour": operation_colour,
            "registration_colour": registration_colour,
            "distribution_colour": distribution_colour,
            "problem_archives": problem_archives,
        }.items()
        if v is not None
    }
    if construction_red_since != "keep":
        values["construction_red_since"] = construction_red_since
    if not values:
        raise ValueError("update_project_colours changes the overdue flag or an archive's colour")
    _, colour = await _recolour(session, code, values)
    return colour


async def update_project_fields(session: AsyncSession, *, code: str, values: dict[str, Any]) -> None:
    """Change indexed columns of a project (a revision, the waiting-for note)."""
    await session.execute(update(Project).where(Project.code == code).values(**values))


async def clear_project_waiting(session: AsyncSession, *, code: str, prefix: str) -> None:
    """Clear the project's `waiting_for` if (and only if) it is the note starting with `prefix`."""
    await session.execute(
        update(Project)
        .where(Project.code == code, Project.waiting_for.startswith(prefix, autoescape=True))
        .values(waiting_for="")
    )
