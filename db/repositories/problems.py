"""The problem ledger (问题台账): list with filters, read, register and change problems, and their audit history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text, update
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
    escalated: bool | None = None
    archive: str | None = None


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
    if f.escalated is not None:
        stmt = stmt.where(Problem.escalated_at.is_not(None) if f.escalated else Problem.escalated_at.is_(None))
    if f.archive:
        stmt = stmt.where(Problem.archive == f.archive)
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


# ---------------------------------------------------------------- the daily check (ProblemWatchWorkflow)


async def list_overdue_candidates(session: AsyncSession, *, scope: str, today: date) -> Sequence[Problem]:
    """Open problems past their deadline with a step still to take (not yet reminded or not yet escalated)."""
    stmt = (
        select(Problem)
        .where(
            Problem.region_code.startswith(scope),
            _overdue(today),
            or_(Problem.reminded_at.is_(None), Problem.escalated_at.is_(None)),
        )
        .order_by(Problem.id)
    )
    return (await session.scalars(stmt)).all()


async def mark_reminded(session: AsyncSession, *, problem_id: int, at: datetime) -> bool:
    """Record the reminder of a problem's current deadline; False if it was recorded already (never twice)."""
    stmt = (
        update(Problem)
        .where(Problem.id == problem_id, Problem.reminded_at.is_(None))
        .values(reminded_at=at)
        .returning(Problem.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def mark_escalated(session: AsyncSession, *, problem_id: int, at: datetime, to: str) -> bool:
    """Record the escalation of a problem's current deadline (once reminded); False if recorded already."""
    stmt = (
        update(Problem)
        .where(Problem.id == problem_id, Problem.reminded_at.is_not(None), Problem.escalated_at.is_(None))
        .values(escalated_at=at, escalated_to=to)
        .returning(Problem.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


@dataclass(frozen=True)
class RedConstruction:
    """A project under construction whose archive has been red since `since`."""

    code: str
    village_code: str
    implementing_entity: str
    since: date


async def list_red_construction(
    session: AsyncSession, *, scope: str, red_since_on_or_before: date
) -> list[RedConstruction]:
    """Projects under construction whose construction archive turned red on or before the day given."""
    rows = await session.execute(
        select(Project.code, Project.village_code, Project.implementing_entity, Project.construction_red_since).where(
            Project.village_code.startswith(scope),
            Project.stage.in_(("construction", "acceptance")),
            Project.construction_colour == "red",
            Project.construction_red_since <= red_since_on_or_before,
        )
    )
    return [RedConstruction(r.code, r.village_code, r.implementing_entity, r.construction_red_since) for r in rows]


@dataclass(frozen=True)
class RoundFailures:
    """A round's failed payments still owed a correction, settled before the limit: how many, the amount, the
    oldest attempt's id, who opened the round, and where it lies."""

    round_id: str
    scope_kind: str
    scope_code: str
    county_code: str
    opened_by: int
    households: int
    amount_fen: int
    oldest_payment_id: int


_ROUND_FAILURES = text(
    """
    SELECT r.id AS round_id, r.scope_kind, r.scope_code, r.county_code, r.opened_by,
           count(*) AS households, sum(p.amount_fen) AS amount_fen,
           (array_agg(p.id ORDER BY p.settled_at, p.id))[1] AS oldest_payment_id
    FROM dividend_payments p
    JOIN dividend_rounds r ON r.id = p.round_id
    WHERE p.status = 'failed' AND p.settled_at < :before AND r.county_code LIKE :scope
      AND NOT EXISTS (
        SELECT 1 FROM dividend_payments later
        WHERE later.round_id = p.round_id AND later.household_code = p.household_code AND later.attempt > p.attempt
      )
    GROUP BY r.id, r.scope_kind, r.scope_code, r.county_code, r.opened_by
    ORDER BY r.id
    """
)


async def list_round_failures(session: AsyncSession, *, scope: str, settled_before: datetime) -> list[RoundFailures]:
    """Per round in the scope, the households whose latest attempt failed before `settled_before` (uncorrected)."""
    rows = await session.execute(_ROUND_FAILURES, {"scope": f"{scope[:6]}%", "before": settled_before})
    return [
        RoundFailures(
            r.round_id,
            r.scope_kind,
            r.scope_code,
            r.county_code,
            int(r.opened_by),
            int(r.households),
            int(r.amount_fen),
            int(r.oldest_payment_id),
        )
        for r in rows
    ]


async def open_problem_with_key_prefix(session: AsyncSession, *, prefix: str) -> int | None:
    """An open problem whose key starts with `prefix` (a fact's earlier problem, still being rectified)."""
    return await session.scalar(
        select(Problem.id)
        .where(Problem.key.startswith(prefix, autoescape=True), Problem.status != ProblemStatus.CLOSED.value)
        .limit(1)
    )


async def list_archive_candidates(session: AsyncSession, *, scope: str, today: date) -> list[str]:
    """The projects whose archives the passing of time can recolour: with an open problem past its deadline or an
    archive flagged by one, registering, or with a registration or distribution archive not yet green."""
    overdue = select(Problem.project_code).where(
        Problem.project_code.is_not(None), Problem.archive.is_not(None), _overdue(today)
    )
    rows = await session.scalars(
        select(Project.code).where(
            Project.village_code.startswith(scope),
            or_(
                Project.code.in_(overdue),
                func.jsonb_array_length(Project.problem_archives) > 0,
                Project.stage == "asset_registration",
                Project.registration_colour.in_(("blue", "red")),
                Project.distribution_colour.in_(("blue", "red")),
            ),
        )
    )
    return sorted(rows)
