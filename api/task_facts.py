"""What each decider sees: the facts a task is decided on, read from the read model in batches (one query per
kind of fact, never one per task), and who may see the names of an open expert panel."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal
from db.models import (
    Asset,
    AssetIncomeShare,
    AssetOwnership,
    AttachmentLink,
    AttachmentUpload,
    AuditEntry,
    Completion,
    Expert,
    Household,
    ProgressReport,
    Project,
    Task,
)
from db.repositories.audit import project_chain
from domain.enums import Role, TaskKind, TaskStatus

# The reviewing chain sees who sits on an open panel; everyone else sees only that one was drawn.
PANEL_NAME_READERS = (Role.COUNTY_REVIEWER, Role.CITY_REVIEWER, Role.SUPERVISOR, Role.ADMIN)


def sees_panel_names(user: Principal, project: Project) -> bool:
    """County and city reviewers, supervisors and admins whose region holds the project see an open panel's names."""
    return user.role in PANEL_NAME_READERS and user.covers(project.village_code)


def holds_seat(user: Principal, tasks: Iterable[Task]) -> bool:
    """The user is an expert with an open seat (an open expert_review task assigned to them) among `tasks`."""
    return user.role is Role.EXPERT and any(
        t.kind == TaskKind.EXPERT_REVIEW and t.status == TaskStatus.OPEN and t.assignee_id == user.id for t in tasks
    )


async def complete_rounds(session: AsyncSession, codes: Iterable[str]) -> dict[str, set[int]]:
    """Per project, the review rounds whose panel is complete (a panel verdict is recorded)."""
    chains = {project_chain(c): c for c in set(codes)}
    out: dict[str, set[int]] = defaultdict(set)
    if not chains:
        return out
    stmt = select(AuditEntry.chain, AuditEntry.payload).where(
        AuditEntry.chain.in_(chains), AuditEntry.action == "panel_verdict"
    )
    for chain, payload in await session.execute(stmt):
        out[chains[chain]].add(int(payload.get("round", 0)))
    return out


def application_facts(app: dict[str, Any], categories: dict[str, int] | None = None) -> dict[str, Any]:
    """The application as an expert reads it: everything but the beneficiaries' identities (no household codes)."""
    budget = app.get("budget", {})
    benefit = app.get("benefit", {})
    entity = app.get("implementing_entity", {})
    return {
        "name": app.get("name"),
        "project_type": app.get("project_type"),
        "village_code": app.get("village_code"),
        "content": app.get("content"),
        "scale": app.get("scale"),
        "budget": {"total_fen": budget.get("total_fen"), "sources": list(budget.get("sources", []))},
        "implementing_entity": entity.get("name"),
        "planned_start": app.get("planned_start"),
        "planned_end": app.get("planned_end"),
        "operating_model": app.get("operating_model"),
        "revenue": dict(app.get("revenue", {})),
        "benefit": {
            "households": len(benefit.get("household_codes", [])),
            "people": benefit.get("people"),
            "mechanism": benefit.get("mechanism"),
            "categories": dict(categories or {}),
        },
        "performance_targets": list(app.get("performance_targets", [])),
        "milestones": list(app.get("milestones", [])),
    }


async def _household_categories(session: AsyncSession, projects: Sequence[Project]) -> dict[str, dict[str, int]]:
    codes = {p.code: list(p.application.get("benefit", {}).get("household_codes", [])) for p in projects}
    wanted = {c for cs in codes.values() for c in cs}
    if not wanted:
        return {}
    rows = await session.execute(select(Household.code, Household.categories).where(Household.code.in_(wanted)))
    by_code = {code: list(cats or []) for code, cats in rows}
    return {p: dict(Counter(cat for c in cs for cat in by_code.get(c, []))) for p, cs in codes.items()}


async def _attachments(session: AsyncSession, codes: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Files attached to the decided steps before the panel (the township's review), by project."""
    stmt = (
        select(Task.project_code, Task.kind, AttachmentLink.sha256, AttachmentUpload.filename)
        .join(AttachmentLink, AttachmentLink.task_id == Task.id)
        .outerjoin(
            AttachmentUpload,
            (AttachmentUpload.sha256 == AttachmentLink.sha256) & (AttachmentUpload.user_id == Task.decided_by),
        )
        .where(Task.project_code.in_(codes), Task.kind == TaskKind.TOWNSHIP_REVIEW.value)
        .order_by(Task.opened_at)
    )
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, kind, sha, filename in await session.execute(stmt):
        out[code].append({"sha256": sha, "filename": filename or "", "step": kind})
    return out


async def expert_application(session: AsyncSession, projects: Sequence[Project]) -> dict[str, dict[str, Any]]:
    """Each project's application as its experts read it, with the household categories and attachments."""
    categories = await _household_categories(session, projects)
    attachments = await _attachments(session, {p.code for p in projects})
    return {
        p.code: application_facts(p.application, categories.get(p.code)) | {"attachments": attachments.get(p.code, [])}
        for p in projects
    }


async def _panel_facts(session: AsyncSession, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """The recorded panel verdict (audit log, action panel_verdict) of each county approval task's round."""
    chains = {project_chain(t.project_code) for t in tasks}
    stmt = select(AuditEntry.chain, AuditEntry.payload).where(
        AuditEntry.chain.in_(chains), AuditEntry.action == "panel_verdict"
    )
    verdicts = {(chain, int(p.get("round", 0))): p for chain, p in await session.execute(stmt)}
    ids = {int(s["expert_id"]) for v in verdicts.values() for s in v.get("scores", []) if s.get("expert_id")}
    names = {i: n for i, n in await session.execute(select(Expert.id, Expert.name).where(Expert.id.in_(ids)))}
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        v = verdicts.get((project_chain(t.project_code), t.round))
        if v is None:
            continue
        scores = list(v.get("scores", []))
        criteria: dict[str, list[int]] = defaultdict(list)
        for s in scores:
            for name, value in dict(s.get("scores", {})).items():
                criteria[name].append(int(value))
        out[t.id] = {
            "panel": {
                "round": t.round,
                "passed": v.get("passed"),
                "average_total": v.get("average_total"),
                "criteria_average": {k: round(sum(vs) / len(vs), 2) for k, vs in criteria.items()},
                "experts": [
                    {
                        "expert_id": s.get("expert_id"),
                        "name": names.get(int(s.get("expert_id") or 0), ""),
                        "scores": dict(s.get("scores", {})),
                        "total": s.get("total"),
                        "veto": list(s.get("veto", [])),
                        "opinion": s.get("opinion", ""),
                    }
                    for s in scores
                ],
            }
        }
    return out


async def _asset_facts(session: AsyncSession, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """The assets a confirm_registration task confirms: name, class, value, owners and shares, operator, contract."""
    codes = {t.project_code for t in tasks}
    assets = (
        await session.scalars(select(Asset).where(Asset.project_code.in_(codes)).order_by(Asset.created_at, Asset.id))
    ).all()
    ids = [a.id for a in assets]
    owners: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in await session.scalars(select(AssetOwnership).where(AssetOwnership.asset_id.in_(ids))):
        owners[o.asset_id].append({"village_code": o.village_code, "share_bp": o.share_bp})
    beneficiaries = Counter(
        a for a in await session.scalars(select(AssetIncomeShare.asset_id).where(AssetIncomeShare.asset_id.in_(ids)))
    )
    by_project: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in assets:
        by_project[a.project_code].append(
            {
                "asset_id": a.id,
                "name": a.name,
                "asset_class": a.asset_class,
                "quantity": a.quantity,
                "unit": a.unit,
                "value_fen": a.value_fen,
                "location": a.location,
                "owners": owners.get(a.id, []),
                "operator": {"name": a.operator_name, "type": a.operator_type},
                "contract": {
                    "mode": a.contract_mode,
                    "start": a.contract_start.isoformat() if a.contract_start else None,
                    "end": a.contract_end.isoformat() if a.contract_end else None,
                    "term_years": a.contract_term_years,
                    "annual_rent_fen": a.annual_rent_fen,
                },
                "beneficiary_households": beneficiaries.get(a.id, 0),
                "registration_status": a.registration_status,
            }
        )
    return {t.id: {"assets": by_project.get(t.project_code, [])} for t in tasks}


async def _acceptance_facts(session: AsyncSession, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """The last progress report, funds paid against the budget and the final cost, per acceptance task."""
    codes = {t.project_code for t in tasks}
    projects = {p.code: p for p in await session.scalars(select(Project).where(Project.code.in_(codes)))}
    newest = (
        select(ProgressReport.project_code, func.max(ProgressReport.week_start).label("week"))
        .where(ProgressReport.project_code.in_(codes))
        .group_by(ProgressReport.project_code)
        .subquery()
    )
    last = select(ProgressReport).join(
        newest, (newest.c.project_code == ProgressReport.project_code) & (newest.c.week == ProgressReport.week_start)
    )
    reports = {r.project_code: r for r in await session.scalars(last)}
    wanted = {str(t.details.get("completion_id")) for t in tasks if t.details.get("completion_id")}
    completions = {c.id: c for c in await session.scalars(select(Completion).where(Completion.id.in_(wanted)))}
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        p = projects[t.project_code]
        r = reports.get(t.project_code)
        c = completions.get(str(t.details.get("completion_id")))
        done = c.completion_date if c else p.completion_date
        out[t.id] = {
            "last_progress": None
            if r is None
            else {
                "week_start": r.week_start.isoformat(),
                "percent": r.percent,
                "expected_percent": r.expected_percent,
                "funds_paid_fen": r.funds_paid_fen,
                "colour": r.colour,
                "note": r.note,
            },
            "total_budget_fen": p.total_budget_fen,
            "funds_paid_fen": p.funds_paid_fen,
            "final_cost_fen": c.final_cost_fen if c else p.final_cost_fen,
            "completion_date": done.isoformat() if done else None,
        }
    return out


async def task_facts(session: AsyncSession, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """The facts each task is decided on, by task id; a handful of queries for any number of tasks."""
    by_kind: dict[str, list[Task]] = defaultdict(list)
    for t in tasks:
        by_kind[t.kind].append(t)
    out: dict[str, dict[str, Any]] = {}
    # an expert reads the application while the seat is theirs, not after they scored or declined
    if seats := [t for t in by_kind.get(TaskKind.EXPERT_REVIEW.value, []) if t.status == TaskStatus.OPEN]:
        codes = {t.project_code for t in seats}
        projects = (await session.scalars(select(Project).where(Project.code.in_(codes)))).all()
        apps = await expert_application(session, projects)
        out |= {t.id: {"application": apps[t.project_code]} for t in seats if t.project_code in apps}
    if approvals := by_kind.get(TaskKind.COUNTY_APPROVAL.value):
        out |= await _panel_facts(session, approvals)
    if confirms := by_kind.get(TaskKind.CONFIRM_REGISTRATION.value):
        out |= await _asset_facts(session, confirms)
    if acceptances := by_kind.get(TaskKind.ACCEPTANCE.value):
        out |= await _acceptance_facts(session, acceptances)
    return out


PANEL_SEAT_FIELDS = ("expert_id", "expert_name")


def conceals_seat(user: Principal, task: Task, project: Project, complete: set[int]) -> bool:
    """Whether `user` must not learn who holds this seat: an expert_review task of a panel still open, seen by
    someone outside the reviewing chain who is not the seated expert."""
    return (
        task.kind == TaskKind.EXPERT_REVIEW
        and task.round not in complete
        and task.assignee_id != user.id
        and task.decided_by != user.id
        and not sees_panel_names(user, project)
    )
