"""The three-colour archives in the read model: read the facts the registration and distribution archives are
coloured from and the archives with an open overdue problem, and keep the project's colours (each change audited on
the project's chain). A handful of statements per project; the caller holds the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Asset, AuditEntry, Problem, Project, Task
from db.repositories.audit import NewEntry, append_or_batch, project_chain
from db.repositories.projects import own_archives, update_project_colours
from domain.archives import (
    Archive,
    ArchiveRules,
    DistributionFacts,
    RegistrationFacts,
    distribution_colour,
    registration_colour,
    shown,
)
from domain.assets import AssetClass, AssetStatus
from domain.enums import Stage, TaskKind, TaskStatus
from domain.problems import ProblemStatus


async def registration_facts(session: AsyncSession, project: Project) -> RegistrationFacts:
    """The project's stage (and since when it registers), its assets and those still without a platform card."""
    assets = (
        await session.execute(
            select(Asset.asset_class, Asset.platform_card_no, Asset.created_at).where(
                Asset.project_code == project.code, Asset.status != AssetStatus.DISPOSED.value
            )
        )
    ).all()
    since: date | None = None
    if project.stage == Stage.ASSET_REGISTRATION:
        at = await session.scalar(
            select(func.max(AuditEntry.at)).where(
                AuditEntry.chain == project_chain(project.code),
                AuditEntry.action == "stage_changed",
                AuditEntry.payload["to"].as_string() == Stage.ASSET_REGISTRATION.value,
            )
        )
        since = (at or project.updated_at).date()
    rejected = await session.scalar(
        select(Task.id)
        .where(
            Task.project_code == project.code,
            Task.kind == TaskKind.PLATFORM_REJECTED.value,
            Task.status == TaskStatus.OPEN.value,
        )
        .limit(1)
    )
    return RegistrationFacts(
        stage=project.stage,
        stage_since=since,
        assets=len(assets),
        uncarded_since=tuple(
            a.created_at.date() for a in assets if a.asset_class != AssetClass.HOUSEHOLD and not a.platform_card_no
        ),
        platform_rejected=rejected is not None,
    )


_ROUNDS = text(
    """
    SELECT r.id, r.status FROM dividend_rounds r
    WHERE r.id IN (SELECT DISTINCT round_id FROM dividend_pools WHERE project_code = :code)
    """
)
# each household's latest attempt in the project's rounds, failed, when the household's line has a part of the
# project's assets: a correction is owed to a beneficiary of this project
_FAILED = text(
    """
    SELECT p.settled_at FROM dividend_payments p
    WHERE p.round_id = ANY(:rounds) AND p.status = 'failed'
      AND NOT EXISTS (
        SELECT 1 FROM dividend_payments later
        WHERE later.round_id = p.round_id AND later.household_code = p.household_code AND later.attempt > p.attempt
      )
      AND EXISTS (
        SELECT 1 FROM dividend_lines l
        JOIN dividend_rounds r ON r.id = l.round_id AND r.plan_version = l.plan_version
        WHERE l.round_id = p.round_id AND l.household_code = p.household_code
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(l.parts) e WHERE e->>'asset_id' = ANY(:assets))
      )
    """
)
_RULE_YEARS = text(
    """
    SELECT d.fiscal_year, EXISTS (
        SELECT 1 FROM dividend_pools dp JOIN dividend_rounds r ON r.id = dp.round_id
        WHERE dp.asset_id = d.asset_id AND r.fiscal_year = d.fiscal_year
    ) AS paid
    FROM distribution_rules d WHERE d.asset_id = ANY(:assets) AND d.status = 'approved'
    """
)


async def distribution_facts(session: AsyncSession, project: Project, *, time_zone: str) -> DistributionFacts:
    """The rounds with a pool of the project's assets, the failures in them owed to its beneficiaries, and the
    fiscal years with an approved rule of one of its assets but no round for it."""
    assets = list(await session.scalars(select(Asset.id).where(Asset.project_code == project.code)))
    if not assets:
        return DistributionFacts()
    rounds = (await session.execute(_ROUNDS, {"code": project.code})).all()
    failed: list[date] = []
    if rounds:
        rows = await session.execute(_FAILED, {"rounds": [r.id for r in rounds], "assets": assets})
        failed = [local_date(r.settled_at, time_zone) for r in rows if r.settled_at is not None]
    years = (await session.execute(_RULE_YEARS, {"assets": assets})).all()
    return DistributionFacts(
        rules=len(years),
        rounds=len(rounds),
        open_rounds=sum(1 for r in rounds if r.status != "closed"),
        failed_since=tuple(sorted(failed)),
        unpaid_years=tuple(sorted({int(y.fiscal_year) for y in years if not y.paid})),
    )


def local_date(at: datetime, time_zone: str) -> date:
    """The local date of a stored time."""
    return at.astimezone(ZoneInfo(time_zone)).date()


async def overdue_problem_archives(session: AsyncSession, *, project_code: str, today: date) -> list[str]:
    """The archives of the project's open problems past their deadline, sorted."""
    rows = await session.scalars(
        select(Problem.archive)
        .where(
            Problem.project_code == project_code,
            Problem.archive.is_not(None),
            Problem.status != ProblemStatus.CLOSED.value,
            Problem.deadline < today,
        )
        .distinct()
    )
    return sorted(str(a) for a in rows)


@dataclass(frozen=True)
class ArchiveChange:
    """One archive whose colour changed: its own colour and the one it shows, before and after, and why."""

    archive: Archive
    before: str
    after: str
    reason: str


async def refresh_archives(
    session: AsyncSession,
    *,
    project_code: str,
    today: date,
    at: datetime,
    rules: ArchiveRules,
    time_zone: str,
    actor_id: int | None = None,
    actor_name: str = "system",
) -> list[ArchiveChange]:
    """Recolour the registration and distribution archives from their facts and lay the open overdue problems over
    all four; audit each archive whose own or shown colour changed (`archive_colour_changed`) and keep the project's
    list colour with them. The project row is locked first (one writer per project)."""
    project = await session.get(Project, project_code, with_for_update=True, populate_existing=True)
    if project is None:
        return []
    registration = registration_colour(await registration_facts(session, project), today, rules)
    distribution = distribution_colour(await distribution_facts(session, project, time_zone=time_zone), today, rules)
    flagged = await overdue_problem_archives(session, project_code=project_code, today=today)
    before_own = own_archives(project)
    after_own = {**before_own, Archive.REGISTRATION: registration.colour, Archive.DISTRIBUTION: distribution.colour}
    old_flags = sorted(str(a) for a in project.problem_archives or [])
    before, after = shown(before_own, old_flags), shown(after_own, flagged)
    reasons = {Archive.REGISTRATION: registration.reason, Archive.DISTRIBUTION: distribution.reason}
    changes: list[ArchiveChange] = []
    for archive in Archive:
        if before[archive] == after[archive] and before_own[archive] == after_own[archive]:
            continue
        overdue = archive.value in flagged
        reason = (
            "an open problem past its deadline" if overdue else reasons.get(archive, "no problem past its deadline")
        )
        changes.append(ArchiveChange(archive, before[archive], after[archive], reason))
        await append_or_batch(
            session,
            chain=project_chain(project_code),
            entry=NewEntry(
                action="archive_colour_changed",
                event_key=f"archive:{project_code}:{archive.value}:{at.isoformat()}:{after[archive]}",
                payload={
                    "archive": archive.value,
                    "from": before[archive] or None,
                    "to": after[archive] or None,
                    "own": after_own[archive] or None,
                    "overdue_problem": overdue,
                    "reason": reason,
                },
                actor_id=actor_id,
                actor_name=actor_name,
                at=at,
            ),
        )
    if changes or old_flags != flagged:
        await update_project_colours(
            session,
            code=project_code,
            registration_colour=registration.colour,
            distribution_colour=distribution.colour,
            problem_archives=flagged,
        )
    return changes


async def refresh_many(
    session: AsyncSession,
    *,
    project_codes: Iterable[str],
    today: date,
    at: datetime,
    rules: ArchiveRules,
    time_zone: str,
) -> int:
    """Refresh each project's archives (in code order: two transactions never lock projects crosswise); how many
    archives changed."""
    n = 0
    for code in sorted(set(project_codes)):
        n += len(
            await refresh_archives(session, project_code=code, today=today, at=at, rules=rules, time_zone=time_zone)
        )
    return n


async def round_projects(session: AsyncSession, *, round_id: str) -> list[str]:
    """The projects whose assets have a pool in a round."""
    stmt = text("SELECT DISTINCT project_code FROM dividend_pools WHERE round_id = :r")
    rows = await session.scalars(stmt, {"r": round_id})
    return sorted(str(c) for c in rows)
