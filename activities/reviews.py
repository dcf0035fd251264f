"""Activities of the approval chain: the expert draw, panel verdicts, revisions, notices, objections,
deadline reminders and escalations, claims and reassignments. Each is one transaction, idempotent by a
business key, because Temporal retries it."""

from __future__ import annotations

import random
from typing import Any

import structlog
from temporalio import activity

from activities.projects import (
    audit,
    calling_workflow_id,
    local_time,
    locked_project,
    notify_stage,
    open_task_in,
    opened_task,
    project_params,
    transaction,
)
from db.engine import Sessions
from db.models import Notice, Task
from db.repositories.notifications import list_users_covering, note_event, record_event
from db.repositories.projects import refresh_project_overdue, update_project_fields, update_project_stage
from db.repositories.reviews import (
    create_draw,
    create_notice,
    create_objection,
    create_revision,
    get_draw,
    list_city_experts,
    list_declined_experts,
    update_notice,
)
from db.repositories.tasks import cancel_tasks, create_decision, update_task
from domain.application import application_diff
from domain.enums import RegionLevel, Role, TaskStatus
from domain.experts import ExpertCandidate, screen
from domain.lifecycle import ESCALATE_TO
from domain.notifications import EventKind
from domain.payloads import (
    CancelTasksInput,
    CloseNoticeInput,
    DeadlineEvent,
    DrawPanelInput,
    DrawResult,
    NoticeInput,
    OpenedTask,
    PanelSeat,
    PanelVerdictInput,
    RecordClaimInput,
    RecordObjectionInput,
    RecordReassignInput,
    RecordRevisionInput,
)
from domain.regions import region_prefix

log = structlog.get_logger(__name__)


def _seats(chosen: list[dict[str, Any]]) -> list[PanelSeat]:
    return [PanelSeat(c["expert_id"], c["user_id"], c["name"], c.get("affiliation", "")) for c in chosen]


class ReviewActivities:
    """Writes the approval chain's read model on behalf of ProjectLifecycleWorkflow."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @activity.defn
    async def draw_panel(self, inp: DrawPanelInput) -> DrawResult:
        """Draw experts at random (seeded by the workflow) from the eligible pool, recording pool and exclusions."""
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            stored = await get_draw(session, draw_key=inp.draw_key)
            if stored is None:
                experts = await list_city_experts(session, city_prefix=region_prefix(inp.city_code, RegionLevel.CITY))
                declined = await list_declined_experts(session, project_code=inp.project_code, round_=inp.round)
                pool = screen(
                    [
                        ExpertCandidate(
                            expert_id=e.id,
                            user_id=e.user_id,
                            name=e.name,
                            specialties=list(e.specialties),
                            region_code=e.region_code,
                            affiliation=e.affiliation,
                            conflict_townships=list(e.conflicts.get("townships", [])),
                            conflict_organisations=list(e.conflicts.get("organisations", [])),
                            active=e.active,
                        )
                        for e in experts
                    ],
                    project_type=inp.project_type,
                    township_code=inp.township_code,
                    implementing_entity=inp.implementing_entity,
                    already_drawn=inp.already_drawn,
                    excluded_users=inp.excluded_users,
                    declined=sorted(declined & set(inp.already_drawn)),
                )
                rng = random.Random(inp.seed)
                chosen = rng.sample(pool.matching, min(inp.seats, len(pool.matching)))
                widened = len(chosen) < inp.seats and bool(pool.others)
                if widened:
                    chosen += rng.sample(pool.others, min(inp.seats - len(chosen), len(pool.others)))
                stored = await create_draw(
                    session,
                    values={
                        "draw_key": inp.draw_key,
                        "project_code": inp.project_code,
                        "round": inp.round,
                        "pool": [
                            {"expert_id": c.expert_id, "name": c.name, "matching": c in pool.matching}
                            for c in [*pool.matching, *pool.others]
                        ],
                        "exclusions": [
                            {"expert_id": x.expert_id, "name": x.name, "reason": x.reason} for x in pool.exclusions
                        ],
                        "chosen": [
                            {
                                "expert_id": c.expert_id,
                                "user_id": c.user_id,
                                "name": c.name,
                                "affiliation": c.affiliation,
                            }
                            for c in chosen
                        ],
                        "widened": widened,
                        "drawn_at": inp.at,
                    },
                )
                await audit(
                    session,
                    inp.project_code,
                    action="expert_draw",
                    event_key=f"draw:{inp.draw_key}",
                    payload={
                        "draw_key": inp.draw_key,
                        "seed": inp.seed,
                        "seats": inp.seats,
                        "pool": [p["expert_id"] for p in stored.pool],
                        "exclusions": stored.exclusions,
                        "chosen": [c["expert_id"] for c in stored.chosen],
                        "widened": stored.widened,
                    },
                    at=inp.at,
                )
            shortfall = inp.seats - len(stored.chosen)
            if shortfall > 0:
                await update_project_fields(
                    session,
                    code=inp.project_code,
                    values={"waiting_for": f"expert library: {shortfall} more eligible expert(s) needed"},
                )
            else:
                await update_project_fields(session, code=inp.project_code, values={"waiting_for": ""})
        log.info("experts drawn", draw_key=inp.draw_key, chosen=len(stored.chosen), shortfall=shortfall)
        return DrawResult(
            chosen=_seats(list(stored.chosen)),
            shortfall=shortfall,
            widened=stored.widened,
            pool_size=len(stored.pool),
            excluded=len(stored.exclusions),
        )

    @activity.defn
    async def record_panel_verdict(self, inp: PanelVerdictInput) -> None:
        """Audit the panel's verdict with every score (they become visible once the panel is complete)."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            await note_event(
                session,
                kind=EventKind.DECISION_APPROVED if inp.passed else EventKind.DECISION_RETURNED,
                key=f"panel:{inp.project_code}:r{inp.round}",
                params=project_params(project) | {"level": "panel", "opinion": inp.reason},
                user_ids=[project.applicant_id],
                region_code=project.village_code,
                project_code=inp.project_code,
                at=inp.at,
            )
            await audit(
                session,
                inp.project_code,
                action="panel_verdict",
                event_key=f"panel:{inp.project_code}:r{inp.round}",
                payload={
                    "round": inp.round,
                    "passed": inp.passed,
                    "average_total": round(inp.average_total, 2),
                    "reason": inp.reason,
                    "scores": inp.scores,
                },
                at=inp.at,
            )

    @activity.defn
    async def record_revision(self, inp: RecordRevisionInput) -> None:
        """Store the revised application with its diff, close the revision task, restart the chain."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            diff = application_diff(project.application, inp.application)
            first = await create_revision(
                session,
                values={
                    "task_id": inp.task_id,
                    "project_code": inp.project_code,
                    "round": inp.round,
                    "diff": diff,
                    "application": inp.application,
                    "revised_by": inp.actor.user_id,
                    "revised_at": inp.at,
                },
            )
            if not first:
                return
            await create_decision(
                session,
                task_id=inp.task_id,
                project_code=inp.project_code,
                decision="resubmit",
                opinion="",
                decided_by=inp.actor.user_id,
                from_stage=project.stage,
                to_stage=inp.next_stage,
                decided_at=inp.at,
                details={"round": inp.round, "changed": [d["field"] for d in diff]},
            )
            app = inp.application
            await update_project_fields(
                session,
                code=inp.project_code,
                values={
                    "application": app,
                    "name": app.get("name", project.name),
                    "project_type": app.get("project_type", project.project_type),
                    "total_budget_fen": int(app.get("budget", {}).get("total_fen", project.total_budget_fen)),
                    "implementing_entity": app.get("implementing_entity", {}).get("name", project.implementing_entity),
                    "revision_round": inp.round,
                },
            )
            await update_project_stage(session, code=inp.project_code, stage=inp.next_stage)
            await refresh_project_overdue(session, code=inp.project_code)
            await audit(
                session,
                inp.project_code,
                action="application_revised",
                event_key=f"revision:{inp.task_id}",
                payload={"task_id": inp.task_id, "round": inp.round, "diff": diff},
                actor=inp.actor,
                at=inp.at,
            )

    @activity.defn
    async def open_notice(self, inp: NoticeInput) -> None:
        """Open a public notice (village, township and county boards) and move the project to it."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            await create_notice(
                session,
                values={
                    "id": inp.notice_id,
                    "project_code": inp.project_code,
                    "kind": inp.kind,
                    "levels": inp.levels,
                    "starts_at": inp.starts_at,
                    "ends_at": inp.ends_at,
                    "status": "open",
                },
            )
            if project.stage != inp.stage:
                await notify_stage(session, inp.project_code, project.stage, inp.stage, inp.starts_at)
                await update_project_stage(session, code=inp.project_code, stage=inp.stage)
            await note_event(
                session,
                kind=EventKind.NOTICE_OPENED,
                key=f"notice_opened:{inp.notice_id}",
                params=project_params(project) | {"notice_kind": inp.kind, "ends": local_time(inp.ends_at)},
                user_ids=[project.applicant_id],
                region_code=project.village_code,
                project_code=inp.project_code,
                at=inp.starts_at,
            )
            await audit(
                session,
                inp.project_code,
                action="notice_opened",
                event_key=f"notice_opened:{inp.notice_id}",
                payload={
                    "notice_id": inp.notice_id,
                    "kind": inp.kind,
                    "levels": inp.levels,
                    "starts_at": inp.starts_at.isoformat(),
                    "ends_at": inp.ends_at.isoformat(),
                },
                at=inp.starts_at,
            )

    @activity.defn
    async def close_notice(self, inp: CloseNoticeInput) -> None:
        """End a notice: completed, or interrupted by an upheld objection."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            await update_notice(session, notice_id=inp.notice_id, status=inp.status)
            notice = await session.get(Notice, inp.notice_id)
            outcome = (
                "期满 / ran its course" if inp.status == "completed" else "因异议中止 / interrupted by an objection"
            )
            await note_event(
                session,
                kind=EventKind.NOTICE_CLOSED,
                key=f"notice_closed:{inp.notice_id}",
                params=project_params(project) | {"notice_kind": notice.kind if notice else "", "outcome": outcome},
                user_ids=[project.applicant_id],
                region_code=project.village_code,
                project_code=inp.project_code,
                at=inp.at,
            )
            await audit(
                session,
                inp.project_code,
                action="notice_closed",
                event_key=f"notice_closed:{inp.notice_id}",
                payload={"notice_id": inp.notice_id, "status": inp.status},
                at=inp.at,
            )

    @activity.defn
    async def record_objection(self, inp: RecordObjectionInput) -> OpenedTask:
        """Store an objection and open the county's task to resolve it, in one transaction."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            # the manager hears that an objection was filed, never by whom or what it says (the county reads it)
            await note_event(
                session,
                kind=EventKind.OBJECTION_FILED,
                key=f"objection:{inp.objection_id}",
                params=project_params(project),
                user_ids=[project.applicant_id],
                region_code=project.village_code,
                project_code=inp.project_code,
                at=inp.task.opened_at,
            )
            await create_objection(
                session,
                values={
                    "id": inp.objection_id,
                    "notice_id": inp.notice_id,
                    "project_code": inp.project_code,
                    "text": inp.text,
                    "filed_by": inp.actor.user_id,
                    "filed_at": inp.task.opened_at,
                    "task_id": inp.task.task_id,
                    "status": "open",
                    "resolution": "",
                },
            )
            task = await open_task_in(session, inp.task, workflow_id=calling_workflow_id())
            await audit(
                session,
                inp.project_code,
                action="objection_filed",
                event_key=f"objection:{inp.objection_id}",
                payload={"objection_id": inp.objection_id, "text": inp.text, "task_id": inp.task.task_id},
                actor=inp.actor,
                at=inp.task.opened_at,
            )
            return opened_task(task)

    @activity.defn
    async def notify_deadline(self, inp: DeadlineEvent) -> int:
        """At the due time remind the assignees; at twice the limit tell the next level up and mark the project red."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            task = await session.get(Task, inp.task_id, with_for_update=True)
            if task is None or task.status != TaskStatus.OPEN.value:
                return 0
            if inp.event == "remind":
                if inp.assignee_id is not None:
                    users = [inp.assignee_id]
                else:
                    users = [
                        u.id for u in await list_users_covering(session, role=inp.candidate_role, code=inp.region_code)
                    ]
                await update_task(session, task_id=inp.task_id, values={"reminded_at": inp.at})
            else:
                role, level = ESCALATE_TO.get(inp.kind, (Role.COUNTY_REVIEWER, "county"))
                code = {
                    "township": project.township_code,
                    "county": project.county_code,
                    "city": project.city_code,
                }[level]
                users = [u.id for u in await list_users_covering(session, role=role.value, code=code)]
                await update_task(session, task_id=inp.task_id, values={"escalated_at": inp.at})
                await refresh_project_overdue(session, code=inp.project_code)
            recorded = await record_event(
                session,
                kind=EventKind.TASK_REMINDED if inp.event == "remind" else EventKind.TASK_ESCALATED,
                key=f"{inp.event}:{inp.task_id}",
                params=project_params(project) | {"task_kind": inp.kind, "due": local_time(task.due_at)},
                user_ids=users,
                region_code=project.village_code,
                project_code=inp.project_code,
                task_id=inp.task_id,
                at=inp.at,
            )
            sent = recorded.in_app
            await audit(
                session,
                inp.project_code,
                action=f"task_{inp.event}",
                event_key=f"{inp.event}:{inp.task_id}",
                payload={"task_id": inp.task_id, "kind": inp.kind, "notified": sorted(set(users))},
                at=inp.at,
            )
        log.info("deadline event", deadline=inp.event, task_id=inp.task_id, notified=sent)
        return sent

    @activity.defn
    async def cancel_tasks(self, inp: CancelTasksInput) -> int:
        """Close tasks whose step was abandoned, and audit why."""
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            n = await cancel_tasks(session, task_ids=inp.task_ids, at=inp.at)
            for task_id in inp.task_ids:
                await audit(
                    session,
                    inp.project_code,
                    action="task_cancelled",
                    event_key=f"cancel:{task_id}",
                    payload={"task_id": task_id, "reason": inp.reason},
                    at=inp.at,
                )
            await refresh_project_overdue(session, code=inp.project_code)
        return n

    @activity.defn
    async def record_claim(self, inp: RecordClaimInput) -> None:
        """Persist a claim (others see the task is taken) or its release."""
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            holder, since = (inp.actor.user_id, inp.at) if inp.claim else (None, None)
            await update_task(session, task_id=inp.task_id, values={"claimed_by": holder, "claimed_at": since})
            action = "task_claimed" if inp.claim else "task_released"
            await audit(
                session,
                inp.project_code,
                action=action,
                event_key=f"{action}:{inp.task_id}:{inp.actor.user_id}:{inp.at.isoformat()}",
                payload={"task_id": inp.task_id},
                actor=inp.actor,
                at=inp.at,
            )

    @activity.defn
    async def record_reassign(self, inp: RecordReassignInput) -> None:
        """Persist a reassignment, tell the new assignee, audit who moved it and why."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            task = await session.get(Task, inp.task_id, with_for_update=True)
            previous = task.assignee_id if task else None
            await update_task(
                session,
                task_id=inp.task_id,
                values={"assignee_id": inp.to.user_id, "claimed_by": None, "claimed_at": None}
                | ({"details": inp.details} if inp.details is not None else {}),
            )
            await note_event(
                session,
                kind=EventKind.TASK_REASSIGNED,
                key=f"reassign:{inp.task_id}:{inp.at.isoformat()}",
                params=project_params(project) | {"task_kind": task.kind if task else "", "reason": inp.reason},
                user_ids=[inp.to.user_id],
                region_code=project.village_code,
                project_code=inp.project_code,
                task_id=inp.task_id,
                at=inp.at,
            )
            await audit(
                session,
                inp.project_code,
                action="task_reassigned",
                event_key=f"reassign:{inp.task_id}:{inp.at.isoformat()}",
                payload={"task_id": inp.task_id, "from": previous, "to": inp.to.user_id, "reason": inp.reason},
                actor=inp.actor,
                at=inp.at,
            )
