"""Activities of construction, completion and asset registration: one transaction each, idempotent by a
business key (the reported week, the completion id, the asset ids chosen by the workflow)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.archives import refresh_project
from activities.projects import audit, calling_workflow_id, locked_project, open_task_in, project_params, transaction
from core.settings import get_settings
from db.engine import Sessions
from db.models import Project
from db.repositories.construction import (
    close_progress_reminders,
    count_open_reminders,
    create_asset,
    create_completion,
    create_progress,
    delete_draft_assets,
    get_last_progress,
    get_progress_for_week,
)
from db.repositories.notifications import note_event
from db.repositories.projects import update_project_colours, update_project_fields, update_project_stage
from db.repositories.tasks import create_decision
from domain.assets import AssetClass, AssetStatus, contract_end
from domain.construction import (
    ConstructionRules,
    Milestone,
    construction_colour,
    expected_percent,
    week_start_of,
)
from domain.enums import Role, Stage, TaskKind
from domain.notifications import EventKind
from domain.payloads import (
    ConstructionCheckInput,
    ConstructionState,
    LifecycleConfig,
    OpenTaskInput,
    RecordCompletionInput,
    RecordProgressInput,
    RecordRegistrationInput,
)

log = structlog.get_logger(__name__)


def _rules(config: LifecycleConfig) -> ConstructionRules:
    return ConstructionRules(
        yellow_behind_points=config.yellow_behind_points,
        red_behind_points=config.red_behind_points,
        not_started_yellow_months=config.not_started_yellow_months,
        not_started_red_months=config.not_started_red_months,
    )


def _milestones(project: Project) -> list[Milestone]:
    raw = project.application.get("milestones") or []
    return [Milestone(date.fromisoformat(m["on"]), int(m["percent"])) for m in raw]


async def _set_colour(session: AsyncSession, project: Project, colour: str, reason: str, at: datetime) -> None:
    """Keep the construction archive's colour (and the project's, which follows it); every change is audited."""
    if project.construction_colour == colour:
        return
    await audit(
        session,
        project.code,
        action="colour_changed",
        event_key=f"colour:{project.code}:construction:{at.isoformat()}:{colour}",
        payload={
            "archive": "construction",
            "from": project.construction_colour or None,
            "to": colour,
            "reason": reason,
        },
        at=at,
    )
    red_since = at.astimezone(ZoneInfo(get_settings().time_zone)).date() if colour == "red" else None
    await update_project_colours(
        session, code=project.code, construction_colour=colour, construction_red_since=red_since
    )
    if colour in ("yellow", "red"):
        await note_event(
            session,
            kind=EventKind.WARNING_CONSTRUCTION,
            key=f"colour:{project.code}:construction:{at.isoformat()}:{colour}",
            params=project_params(project)
            | {"colour": colour, "colour_zh": {"yellow": "黄色", "red": "红色"}[colour], "reason": reason},
            user_ids=[project.applicant_id],
            region_code=project.village_code,
            project_code=project.code,
            at=at,
        )


class ConstructionActivities:
    """Writes the construction and registration read model on behalf of ProjectLifecycleWorkflow."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @activity.defn
    async def record_progress(self, inp: RecordProgressInput) -> str:
        """Store a week's progress, recompute the colour against the plan, close the week's reminder."""
        report = inp.report
        week = date.fromisoformat(report.week_start)
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            today = inp.at.astimezone(ZoneInfo(inp.config.time_zone)).date()
            expected = expected_percent(project.planned_start, project.planned_end, today, _milestones(project))
            colour, reason = construction_colour(
                planned_start=project.planned_start,
                planned_end=project.planned_end,
                on=today,
                percent=report.percent,
                started=report.percent > 0,
                rules=_rules(inp.config),
                milestones=_milestones(project),
            )
            first = await create_progress(
                session,
                values={
                    "project_code": project.code,
                    "week_start": week,
                    "percent": report.percent,
                    "funds_paid_fen": report.funds_paid_fen,
                    "over_budget_reason": report.over_budget_reason,
                    "note": report.note,
                    "attachments": list(report.attachments),
                    "expected_percent": expected,
                    "colour": colour,
                    "reported_by": report.actor.user_id,
                    "reported_at": inp.at,
                },
            )
            if not first:
                stored = await get_progress_for_week(session, project_code=project.code, week_start=week)
                return stored.colour if stored else colour
            await update_project_fields(
                session,
                code=project.code,
                values={"progress_percent": report.percent, "funds_paid_fen": report.funds_paid_fen},
            )
            await audit(
                session,
                project.code,
                action="progress_reported",
                event_key=f"progress:{project.code}:{week.isoformat()}",
                payload={
                    "week_start": week.isoformat(),
                    "percent": report.percent,
                    "expected_percent": expected,
                    "funds_paid_fen": report.funds_paid_fen,
                    "over_budget_reason": report.over_budget_reason,
                    "attachments": list(report.attachments),
                },
                actor=report.actor,
                at=inp.at,
            )
            await _set_colour(session, project, colour, reason, inp.at)
            await close_progress_reminders(session, project_code=project.code, at=inp.at, by=report.actor.user_id)
        log.info("progress reported", project_code=inp.project_code, percent=report.percent, colour=colour)
        return colour

    @activity.defn
    async def check_construction(self, inp: ConstructionCheckInput) -> ConstructionState:
        """The Monday look: the colour as of today, and a reminder task when last week went unreported."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            zone = ZoneInfo(inp.config.time_zone)
            today = inp.at.astimezone(zone).date()
            last = await get_last_progress(session, project_code=project.code)
            percent = last.percent if last else 0
            colour, reason = construction_colour(
                planned_start=project.planned_start,
                planned_end=project.planned_end,
                on=today,
                percent=percent,
                started=percent > 0,
                rules=_rules(inp.config),
                milestones=_milestones(project),
            )
            await _set_colour(session, project, colour, reason, inp.at)
            last_week = week_start_of(today) - timedelta(days=7)
            reported = last is not None and last.week_start >= last_week
            remind = (
                today > project.planned_start
                and not reported
                and not await count_open_reminders(session, project_code=project.code)
            )
            if remind:
                await open_task_in(
                    session,
                    OpenTaskInput(
                        task_id=inp.reminder_task_id,
                        project_code=project.code,
                        kind=TaskKind.PROGRESS_REPORT.value,
                        stage=Stage.CONSTRUCTION.value,
                        candidate_role=Role.PROJECT_MANAGER.value,
                        region_code=inp.village_code,
                        allowed_decisions=[],
                        opened_at=inp.at,
                        working_days=inp.config.review_working_days,
                        time_zone=inp.config.time_zone,
                        assignee_id=inp.applicant_id,
                        details={"week_start": last_week.isoformat(), "colour": colour, "reason": reason},
                    ),
                    workflow_id=calling_workflow_id(),
                )
        return ConstructionState(colour=colour, reason=reason, reminder_opened=remind)

    @activity.defn
    async def record_completion(self, inp: RecordCompletionInput) -> None:
        """Store the completion report; the project moves to acceptance (竣工验收)."""
        c = inp.completion
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            first = await create_completion(
                session,
                values={
                    "id": inp.completion_id,
                    "project_code": project.code,
                    "final_cost_fen": c.final_cost_fen,
                    "completion_date": date.fromisoformat(c.completion_date),
                    "documents": list(c.documents),
                    "note": c.note,
                    "status": "pending",
                    "reported_by": c.actor.user_id,
                    "reported_at": inp.at,
                },
            )
            if not first:
                return
            await update_project_fields(
                session,
                code=project.code,
                values={
                    "final_cost_fen": c.final_cost_fen,
                    "completion_date": date.fromisoformat(c.completion_date),
                    "progress_percent": 100,
                },
            )
            await update_project_stage(session, code=project.code, stage=Stage.ACCEPTANCE.value)
            await close_progress_reminders(session, project_code=project.code, at=inp.at, by=c.actor.user_id)
            await _set_colour(session, project, "green", "construction complete", inp.at)
            await audit(
                session,
                project.code,
                action="completion_reported",
                event_key=f"completion:{inp.completion_id}",
                payload={
                    "completion_id": inp.completion_id,
                    "final_cost_fen": c.final_cost_fen,
                    "completion_date": c.completion_date,
                    "documents": list(c.documents),
                },
                actor=c.actor,
                at=inp.at,
            )

    @activity.defn
    async def record_registration(self, inp: RecordRegistrationInput) -> None:
        """Store the assets with their four rights and close the registration task, once."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            first = await create_decision(
                session,
                task_id=inp.task_id,
                project_code=project.code,
                decision="register",
                opinion="",
                decided_by=inp.actor.user_id,
                from_stage=Stage.ASSET_REGISTRATION.value,
                to_stage=Stage.ASSET_REGISTRATION.value,
                decided_at=inp.at,
                details={"asset_ids": list(inp.asset_ids)},
            )
            if not first:
                return
            await delete_draft_assets(session, project_code=project.code)
            for asset_id, a in zip(inp.asset_ids, inp.assets, strict=True):
                await create_asset(
                    session,
                    values=_asset_values(asset_id, project, a),
                    owners=[(o["village_code"], int(o["share_bp"])) for o in a.get("owners", [])],
                    income=[(h["household_code"], int(h.get("shares", 1))) for h in a.get("income", [])],
                )
            await audit(
                session,
                project.code,
                action="assets_registered",
                event_key=f"registration:{inp.task_id}",
                payload={
                    "assets": [
                        {"id": i, "name": a["name"], "class": a["asset_class"], "value_fen": a["value_fen"]}
                        for i, a in zip(inp.asset_ids, inp.assets, strict=True)
                    ]
                },
                actor=inp.actor,
                at=inp.at,
            )
            await refresh_project(session, project.code, inp.at)


def _asset_values(asset_id: str, project: Project, a: dict[str, Any]) -> dict[str, Any]:
    operator = a.get("operator") or {}
    contract = a.get("contract") or {}
    start = date.fromisoformat(contract["start"]) if contract.get("start") else None
    term = int(contract["term_years"]) if contract.get("term_years") else None
    end = contract_end(start, term) if start and term else None
    if a["asset_class"] == AssetClass.OPERATING and contract.get("mode") == "lease":
        status = AssetStatus.LEASED
    else:
        status = AssetStatus.IN_USE
    return {
        "id": asset_id,
        "project_code": project.code,
        "name": a["name"],
        "asset_class": a["asset_class"],
        "quantity": str(a.get("quantity", "1")),
        "unit": a.get("unit", ""),
        "value_fen": int(a["value_fen"]),
        "location": a.get("location", ""),
        "village_code": project.village_code,
        "township_code": project.township_code,
        "county_code": project.county_code,
        "household_code": a.get("household_code"),
        "status": status.value,
        "operator_name": operator.get("name", ""),
        "operator_type": operator.get("type", ""),
        "contract_mode": contract.get("mode", ""),
        "contract_start": start,
        "contract_end": end,
        "contract_term_years": term,
        "annual_rent_fen": int(contract["annual_rent_fen"]) if contract.get("annual_rent_fen") is not None else None,
        "supervision": a.get("supervision") or {},
        "registration_status": "draft",
    }
