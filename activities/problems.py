"""The problem ledger's daily check (ProblemWatchWorkflow's one activity) and what the ledger shares with the other
activities: rule-raised problems with their deadline and archive, and the archives' recolouring.

A check is idempotent: a step is recorded on the problem by a conditional update (reminded once, escalated once,
per deadline) in the same transaction as its notifications and audit entries, and a rule's problem is registered
once per fact by its unique key (and not while an earlier problem of the same fact is open)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.projects import transaction
from core.calendar import is_china_workday
from core.settings import ArchiveSettings, ProblemSettings, get_settings
from db.engine import Sessions
from db.models import Asset, Problem, Project
from db.repositories.archives import refresh_many, round_projects
from db.repositories.audit import NewEntry, append_or_batch
from db.repositories.notifications import list_users_covering, note_event
from db.repositories.operation_checks import create_problems
from db.repositories.problems import (
    list_archive_candidates,
    list_overdue_candidates,
    list_red_construction,
    list_round_failures,
    mark_escalated,
    mark_reminded,
    open_problem_with_key_prefix,
)
from domain.enums import RegionLevel, Role
from domain.monitoring import ProblemCheckInput, ProblemCheckResult
from domain.notifications import EventKind
from domain.problems import (
    ARCHIVE_OF_RULE,
    OverdueFacts,
    OverdueStep,
    ProblemSource,
    ProblemStatus,
    RuleKind,
    escalation_of,
    overdue_step,
    problem_chain,
    rule_deadline,
    rule_key,
)
from domain.rounds import ScopeKind

log = structlog.get_logger(__name__)
REFRESH_CHUNK = 200  # projects recoloured per transaction (each locks its project row while it is recoloured)


def rule_problem(
    kind: RuleKind,
    key: str,
    *,
    region_code: str,
    description: str,
    at: datetime,
    settings: ProblemSettings,
    time_zone: str,
    project_code: str | None = None,
    asset_id: str | None = None,
    responsible_unit: str = "",
    responsible_user_id: int | None = None,
) -> dict[str, Any]:
    """A problem a rule raises, as a row: registered for the county, with the rule's deadline and archive."""
    today = at.astimezone(ZoneInfo(time_zone)).date()
    return {
        "key": key,
        "project_code": project_code,
        "asset_id": asset_id,
        "region_code": region_code,
        "county_code": region_code[:6],
        "township_code": region_code[:9] if len(region_code) >= 9 else "",
        "source": ProblemSource.RULE.value,
        "description": description,
        "responsible_unit": responsible_unit,
        "responsible_user_id": responsible_user_id,
        "deadline": rule_deadline(today, settings.rule_deadline_working_days, is_china_workday),
        "archive": ARCHIVE_OF_RULE[kind].value,
        "status": ProblemStatus.REGISTERED.value,
        "opened_at": at,
    }


async def register_rule_problems(session: AsyncSession, rows: list[dict[str, Any]], at: datetime) -> int:
    """Register the rules' problems once per key, each audited (`problem_registered`) on its chain."""
    created = await create_problems(session, rows=rows)
    by_key = {r["key"]: r for r in rows}
    for problem_id, key in created:
        row = by_key[key]
        await append_or_batch(
            session,
            chain=problem_chain(row["project_code"], row["county_code"]),
            entry=NewEntry(
                action="problem_registered",
                event_key=f"problem_registered:{key}",
                payload={"problem_id": problem_id, "key": key, "source": ProblemSource.RULE.value},
                actor_id=None,
                actor_name="system",
                at=at,
            ),
        )
    return len(created)


class ProblemActivities:
    """The daily check of the problem ledger."""

    def __init__(
        self,
        sessions: Sessions,
        settings: ProblemSettings | None = None,
        archives: ArchiveSettings | None = None,
        time_zone: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._archives = archives
        self._time_zone = time_zone

    def _config(self) -> tuple[ProblemSettings, ArchiveSettings, str]:
        base = get_settings()
        return (self._settings or base.problems, self._archives or base.archives, self._time_zone or base.time_zone)

    @activity.defn
    async def check_problems(self, inp: ProblemCheckInput) -> ProblemCheckResult:
        """Raise the time rules' problems, remind and escalate overdue problems, then recolour the archives that
        time can change (in chunks of projects, each its own transaction: a recolouring is idempotent)."""
        settings, archives, zone = self._config()
        today = inp.at.astimezone(ZoneInfo(zone)).date()
        async with transaction(self._sessions) as session:
            raised = await self._construction_red(session, inp, settings, zone)
            raised += await self._dividend_failures(session, inp, settings, zone)
            reminded, escalated = await self._overdue(session, inp, settings, zone)
        async with self._sessions() as session:
            codes = await list_archive_candidates(session, scope=inp.scope, today=today)
        recoloured = 0
        for i in range(0, len(codes), REFRESH_CHUNK):
            async with transaction(self._sessions) as session:
                recoloured += await refresh_many(
                    session,
                    project_codes=codes[i : i + REFRESH_CHUNK],
                    today=today,
                    at=inp.at,
                    rules=archives.rules(),
                    time_zone=zone,
                )
        log.info(
            "problems checked",
            scope=inp.scope or "all",
            reminded=reminded,
            escalated=escalated,
            raised=raised,
            recoloured=recoloured,
        )
        return ProblemCheckResult(reminded=reminded, escalated=escalated, raised=raised, recoloured=recoloured)

    async def _construction_red(
        self, session: AsyncSession, inp: ProblemCheckInput, settings: ProblemSettings, zone: str
    ) -> int:
        """A construction archive red for `construction_red_weeks` weeks: a problem per red spell."""
        if not settings.construction_red_problems:
            return 0
        today = inp.at.astimezone(ZoneInfo(zone)).date()
        limit = today - timedelta(weeks=settings.construction_red_weeks)
        rows = [
            rule_problem(
                RuleKind.CONSTRUCTION_RED,
                rule_key(RuleKind.CONSTRUCTION_RED, p.code, p.since.isoformat()),
                region_code=p.village_code,
                description=(
                    f"施工档案自 {p.since.isoformat()} 起红色预警超过 {settings.construction_red_weeks} 周 / "
                    f"construction red since {p.since.isoformat()}, more than {settings.construction_red_weeks} weeks"
                ),
                at=inp.at,
                settings=settings,
                time_zone=zone,
                project_code=p.code,
                responsible_unit=p.implementing_entity,
            )
            for p in await list_red_construction(session, scope=inp.scope, red_since_on_or_before=limit)
        ]
        return await register_rule_problems(session, rows, inp.at)

    async def _dividend_failures(
        self, session: AsyncSession, inp: ProblemCheckInput, settings: ProblemSettings, zone: str
    ) -> int:
        """Failed dividend payments left uncorrected `dividend_failure_days`: one problem per round while one is
        open (its key names the oldest failed attempt, so failures after a closed problem raise a new one)."""
        if not settings.dividend_failure_problems:
            return 0
        days = settings.dividend_failure_days
        rows: list[dict[str, Any]] = []
        for f in await list_round_failures(session, scope=inp.scope, settled_before=inp.at - timedelta(days=days)):
            prefix = rule_key(RuleKind.DIVIDEND_FAILURE, f.round_id) + ":"
            if await open_problem_with_key_prefix(session, prefix=prefix) is not None:
                continue
            projects = await round_projects(session, round_id=f.round_id)
            project = projects[0] if len(projects) == 1 else None
            asset_id: str | None = None
            region = f.scope_code  # a village's or a county's round lies in it
            if f.scope_kind == ScopeKind.ASSET:
                asset = await session.get(Asset, f.scope_code)
                asset_id = f.scope_code
                region = asset.village_code if asset is not None else f.county_code
            if not region.startswith(inp.scope):
                continue
            rows.append(
                rule_problem(
                    RuleKind.DIVIDEND_FAILURE,
                    f"{prefix}{f.oldest_payment_id}",
                    region_code=region,
                    description=(
                        f"收益分配 {f.round_id} 有 {f.households} 户发放失败超过 {days} 天未更正"
                        f"（{f.amount_fen / 100:.2f} 元）/ {f.households} failed payments of round {f.round_id} "
                        f"uncorrected for more than {days} days ({f.amount_fen} fen)"
                    ),
                    at=inp.at,
                    settings=settings,
                    time_zone=zone,
                    project_code=project,
                    asset_id=asset_id,
                    responsible_user_id=f.opened_by,
                )
            )
        return await register_rule_problems(session, rows, inp.at)

    async def _overdue(
        self, session: AsyncSession, inp: ProblemCheckInput, settings: ProblemSettings, zone: str
    ) -> tuple[int, int]:
        """Each overdue problem's step due today: a reminder to those who rectify it, then an escalation to the level
        above the one that registered it; each recorded on the problem, notified in-app and audited, once."""
        today = inp.at.astimezone(ZoneInfo(zone)).date()
        reminded = escalated = 0
        for p in await list_overdue_candidates(session, scope=inp.scope, today=today):
            facts = OverdueFacts(p.deadline, p.status, p.reminded_at is not None, p.escalated_at is not None)
            step = overdue_step(facts, today, is_china_workday, settings.escalate_after_working_days)
            if step is OverdueStep.REMIND:
                if await mark_reminded(session, problem_id=p.id, at=inp.at):
                    await self._tell(session, p, step, await self._rectifiers(session, p), inp.at, None)
                    reminded += 1
            elif step is OverdueStep.ESCALATE:
                target = escalation_of(p.region_code, RegionLevel(p.raised_level))
                if await mark_escalated(session, problem_id=p.id, at=inp.at, to=target.region_code):
                    users: set[int] = set()
                    for role in target.roles:
                        users |= {
                            u.id for u in await list_users_covering(session, role=role.value, code=target.region_code)
                        }
                    await self._tell(session, p, step, users, inp.at, target.region_code)
                    escalated += 1
        return reminded, escalated

    async def _rectifiers(self, session: AsyncSession, p: Problem) -> set[int]:
        """Who a reminder goes to: the responsible user and the project's manager; the verifiers too while a
        submission waits for them; the supervisors of its region when nobody else is named."""
        users = {p.responsible_user_id} if p.responsible_user_id else set()
        if p.project_code:
            project = await session.get(Project, p.project_code)
            if project is not None:
                users.add(project.applicant_id)
        if p.status == ProblemStatus.SUBMITTED or not users:
            for role in (Role.SUPERVISOR, Role.COUNTY_REVIEWER):
                users |= {u.id for u in await list_users_covering(session, role=role.value, code=p.region_code)}
        return {u for u in users if u is not None}

    async def _tell(
        self, session: AsyncSession, p: Problem, step: OverdueStep, users: set[int], at: datetime, to: str | None
    ) -> None:
        deadline = p.deadline.isoformat() if p.deadline else ""
        # the problem's number, source and deadline: never its description, which may name people
        await note_event(
            session,
            kind=EventKind.PROBLEM_OVERDUE if step is OverdueStep.REMIND else EventKind.PROBLEM_ESCALATED,
            key=f"problem:{p.id}:{step.value}:{deadline}",
            params={
                "problem_id": p.id,
                "source": p.source,
                "deadline": deadline,
                "project_code": p.project_code or "",
                "escalated_to": to or "",
            },
            user_ids=sorted(users),
            region_code=p.region_code or p.county_code,
            project_code=p.project_code,
            at=at,
        )
        payload: dict[str, Any] = {"problem_id": p.id, "deadline": deadline, "notified": sorted(users)}
        if to is not None:
            payload["escalated_to"] = to
        await append_or_batch(
            session,
            chain=problem_chain(p.project_code, p.county_code),
            entry=NewEntry(
                action=f"problem_{'reminded' if step is OverdueStep.REMIND else 'escalated'}",
                event_key=f"problem_{step.value}:{p.id}:{deadline}",
                payload=payload,
                actor_id=None,
                actor_name="system",
                at=at,
            ),
        )
