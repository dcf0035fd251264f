"""The problem ledger (问题台账): list with filters, read, register and change problems, and their audit history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditEntry, Problem, Project
from domain.problems import ProblemSource, ProblemStatus


@dataclass(frozen=True)
class ProblemFilter:
    """What a problem list is narrowed to; `scope_prefix` is the caller's region."""

    scope_prefix: str
    region: str | None = None
    status: str | None = None
    overdue_on: date | None = None  # overdue as of this local date
    not_overdue_on: date | None = None
    source: str | None = None
    responsible_user_id: int | None = None
    responsible: str | None = None
    project_code: str | None = None
    text: str | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _overdue(today: date) -> Any:
    return and_(Problem.deadline.is_not(None), Problem.deadline < today, Problem.status != ProblemStatus.CLOSED.value)


def _filtered(stmt: Select[Any], f: ProblemFilter) -> Select[Any]:
    stmt = stmt.where(Problem.region_code.startswith(f.scope_prefix))
    if f.region:
        stmt = stmt.where(Problem.region_code.startswith(f.region))
    if f.status:
        stmt = stmt.where(Problem.status == f.status)
    if f.overdue_on is not None:
        stmt = stmt.where(_overdue(f.overdue_on))
    if f.not_overdue_on is not None:
        stmt = stmt.where(~_overdue(f.not_overdue_on))
    if f.source:
        stmt = stmt.where(Problem.source == f.source)
    if f.responsible_user_id is not None:
        stmt = stmt.where(Problem.responsible_user_id == f.responsible_user_id)
    if f.responsible:
        pattern = _like(f.responsible)
        stmt = stmt.where(or_(Problem.responsible_unit.ilike(pattern), Problem.responsible_person.ilike(pattern)))
    if f.project_code:
        stmt = stmt.where(Problem.project_code == f.project_code)
    if f.text:
        pattern = _like(f.text)
        stmt = stmt.where(
            or_(Problem.description.ilike(pattern), Problem.measures.ilike(pattern), Problem.key.ilike(pattern))
        )
    return stmt


async def list_problems(
    session: AsyncSession, *, filters: ProblemFilter, limit: int, offset: int
) -> tuple[Sequence[Problem], int]:
    """A page of problems, newest first, and the total that match."""
    total = int(await session.scalar(_filtered(select(func.count()).select_from(Problem), filters)) or 0)
    rows = await session.scalars(
        _filtered(select(Problem), filters)
        .order_by(Problem.opened_at.desc(), Problem.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total


async def get_problem(session: AsyncSession, *, problem_id: int, for_update: bool = False) -> Problem | None:
    """One problem (locked for this transaction when `for_update`)."""
    stmt = select(Problem).where(Problem.id == problem_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()


async def create_problem(session: AsyncSession, *, values: dict[str, Any]) -> Problem:
    """Register a problem a person reported (no business key: each report is its own problem)."""
    problem = Problem(**values)
    session.add(problem)
    await session.flush()
    return problem


async def update_problem(session: AsyncSession, *, problem_id: int, values: dict[str, Any]) -> None:
    """Change a problem's columns."""
    await session.execute(update(Problem).where(Problem.id == problem_id).values(**values))


async def get_project_manager(session: AsyncSession, *, project_code: str) -> int | None:
    """The project's manager (its applicant), who answers for the responsible unit's rectification."""
    return await session.scalar(select(Project.applicant_id).where(Project.code == project_code))


async def list_problem_history(session: AsyncSession, *, chain: str, problem: Problem) -> Sequence[AuditEntry]:
    """A problem's audit entries on its chain, in order: those naming its id, and the rule's registration (by key)."""
    mine = AuditEntry.payload["problem_id"].as_integer() == problem.id
    if problem.key is not None and problem.source == ProblemSource.RULE:
        mine = or_(
            mine, and_(AuditEntry.action == "problem_registered", AuditEntry.payload["key"].as_string() == problem.key)
        )
    stmt = select(AuditEntry).where(AuditEntry.chain == chain, mine).order_by(AuditEntry.seq)
    return (await session.scalars(stmt)).all()


async def list_problems_with_attachment(session: AsyncSession, *, sha256: str) -> Sequence[Problem]:
    """The problems an attachment was added to (registration or evidence)."""
    stmt = select(Problem).where(Problem.attachments.contains([{"sha256": sha256}])).order_by(Problem.id)
    return (await session.scalars(stmt)).all()
