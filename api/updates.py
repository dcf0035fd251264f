"""Sending Updates to the workflow of a project that owns them, and mapping their refusals to HTTP errors."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Principal, WorkflowEngine
from api.errors import ApiError, conflict, invalid
from db.models import Project, Task
from db.repositories.experts import get_expert_by_user
from domain.audit import canonical_json
from domain.enums import Role, UpdateName
from domain.failures import STORE_FAILED, UNSTORABLE, DecisionRefused
from domain.payloads import Actor

R = TypeVar("R")
log = structlog.get_logger("api.updates")
# a repeated Update id is answered with its first outcome: after so many stored failures, give up for now
STALE_ATTEMPTS = 6
# The engine's answers that mean "not now" for an Update it did not take: too many Updates in flight on that workflow
# (the server's limit, 10 by default: behind a step that takes a while, others queue), or one aborted with its
# workflow task (a worker died, the task timed out). The same Update id is sent again, backing off, until the wait
# ends (then 504, retry-safe): the client sees an answer, not the engine's back-pressure.
BUSY_PAUSE = (0.1, 0.2, 0.4, 0.8)
# How a refusal from a workflow validator reaches the client: status, code and, for 422, the field.
REFUSAL_STATUS: dict[str, tuple[int, str, str]] = {
    DecisionRefused.TASK_NOT_OPEN: (409, "task_not_open", ""),
    DecisionRefused.NOT_ELIGIBLE: (403, "not_eligible", ""),
    DecisionRefused.SEPARATION_OF_DUTIES: (403, "separation_of_duties", ""),
    DecisionRefused.INVALID_DECISION: (422, "allowed_decision", "decision"),
    DecisionRefused.OPINION_REQUIRED: (422, "required", "opinion"),
    DecisionRefused.INVALID_SCORES: (422, "score_rules", "scores"),
    DecisionRefused.TASK_CLAIMED: (409, "task_claimed", ""),
    DecisionRefused.WRONG_STAGE: (409, "wrong_stage", ""),
    DecisionRefused.NOTICE_CLOSED: (409, "notice_closed", ""),
    DecisionRefused.ITEMS_REQUIRED: (422, "required", "items"),
    DecisionRefused.NOT_CLAIMED: (409, "not_claimed", ""),
}


# The server's answer to an Update whose handler had accepted it when the workflow closed (temporalio 1.35).
ACCEPTED_UPDATE_COMPLETED_WORKFLOW = "AcceptedUpdateCompletedWorkflow"
# How the SDK rejects an Update the workflow has no handler for (before validation: nothing is written).
NO_HANDLER = "expected but not found"


def task_owner(task: Task, project: Project) -> str:
    """The workflow a task's Updates go to: the one that opened or adopted it (tasks written before phase
    workflows have none recorded and belong to the project's lifecycle workflow)."""
    return task.workflow_id or project.workflow_id


def phase_owner(project: Project) -> str:
    """The workflow a project-level Update goes to: the phase workflow running now, else the project's own."""
    return project.phase_workflow_id or project.workflow_id


def phase_ended() -> ApiError:
    """409 for an Update sent to a workflow that has closed: the project moved on since the client looked."""
    return conflict("wrong_stage", "this phase of the project has ended; reload the project")


def body_digest(body: object) -> str:
    """A short, stable digest of a request body: the same body retried gives the same Update id."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()[:16]


async def actor_for(session: AsyncSession, user: Principal) -> Actor:
    """The workflow's view of the caller; an expert's organisation is their library affiliation."""
    organisation = user.organisation
    if user.role is Role.EXPERT:
        expert = await get_expert_by_user(session, user_id=user.id)
        organisation = expert.affiliation if expert else ""
    return Actor(
        user_id=user.id,
        username=user.username,
        role=user.role.value,
        region_code=user.region_code,
        region_level=user.region_level.value,
        organisation=organisation,
    )


def temporal_unavailable(err: RPCError) -> ApiError:
    """503 for an engine that cannot be reached (retry-safe), 504 for one that did not answer in time."""
    if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return ApiError(504, "update_timeout", "the workflow engine did not answer in time; retry the request")
    return ApiError(503, "temporal_unavailable", "the workflow engine is unavailable; retry the request shortly")


def _stale_store_failure(err: WorkflowUpdateFailedError, sent: datetime) -> bool:
    """True when the failure is the stored outcome of an earlier attempt with this Update id (Temporal answers a
    repeated id with its first outcome), not a failure of this request: then the next id is tried."""
    cause = err.cause
    if not (isinstance(cause, ApplicationError) and cause.type == STORE_FAILED and cause.details):
        return False
    try:
        failed_at = datetime.fromisoformat(str(cause.details[0]))
    except ValueError:
        return False
    return failed_at < sent


def _refusal(err: WorkflowUpdateFailedError) -> Exception:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == ACCEPTED_UPDATE_COMPLETED_WORKFLOW:
        return phase_ended()
    if isinstance(cause, ApplicationError) and cause.type == "RuntimeError" and NO_HANDLER in cause.message:
        # the phase running now takes no such request (the project moved on); also how a mis-routed Update shows
        log.warning("update without a handler", error=cause.message)
        return conflict("wrong_stage", "the project's current phase does not take this request; reload the project")
    if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
        status, code, field = REFUSAL_STATUS[cause.type]
        if field:
            return invalid([{"field": field, "rule": code, "message": cause.message}])
        return ApiError(status, code, cause.message)
    if isinstance(cause, ApplicationError) and cause.type == STORE_FAILED:
        return ApiError(503, "store_failed", f"{cause.message}; nothing was changed, retry the request")
    if isinstance(cause, ApplicationError) and cause.type == UNSTORABLE:
        return invalid([{"field": "body", "rule": "storable", "message": cause.message}])
    return ApiError(503, "update_failed", "the workflow could not take the request; retry it shortly")


async def _send(handle: Any, update: UpdateName, arg: Any, uid: str, result_type: type[R]) -> R:
    """One Update, sent again while the engine says it is busy (BUSY_PAUSE); the caller's deadline ends the wait."""
    pauses = itertools.chain(BUSY_PAUSE, itertools.repeat(BUSY_PAUSE[-1]))
    while True:
        try:
            result: R = await handle.execute_update(update.value, arg, id=uid, result_type=result_type)
            return result
        except RPCError as err:
            if not _busy(err):
                raise
            log.info("update deferred", status=err.status.name, error=err.message, update=update.value)
        await asyncio.sleep(next(pauses))


def _busy(err: RPCError) -> bool:
    """The engine refused the Update for now, not for good, and not because it is unreachable (see BUSY_PAUSE)."""
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return True
    return err.status == RPCStatusCode.UNAVAILABLE and "update was aborted" in err.message


async def execute_update(
    engine: WorkflowEngine,
    session: AsyncSession | None,
    workflow_id: str,
    update: UpdateName,
    arg: Any,
    *,
    update_id: str,
    result_type: type[R],
) -> R:
    """Run the Update named `update` on the workflow `workflow_id` (see task_owner, phase_owner) and wait for it, at
    most the engine's wait: refusals become 403/409/422, a workflow that has closed or never ran 409 wrong_stage,
    an unreachable engine 503, no answer in time 504 (the same request again is safe).

    The request's pooled connection is given back first: no request holds the pool while a workflow works."""
    if session is not None:
        await session.close()
    # by id alone: the Update reaches the execution running now, also after a continue-as-new
    handle = engine.client.get_workflow_handle(workflow_id)
    sent = datetime.now(UTC)
    try:
        async with asyncio.timeout(engine.wait_seconds):
            for attempt in range(STALE_ATTEMPTS):
                uid = update_id if attempt == 0 else f"{update_id}~{attempt}"
                try:
                    result: R = await _send(handle, update, arg, uid, result_type)
                except WorkflowUpdateFailedError as err:
                    if _stale_store_failure(err, sent):
                        continue
                    raise _refusal(err) from err
                return result
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise ApiError(504, "update_timeout", "the workflow did not confirm in time; retry the request") from err
    except RPCError as err:
        # a closed execution answers "workflow execution already completed", an unknown id "workflow not found for
        # ID: …", both NOT_FOUND (temporalio 1.35, server 1.32)
        if err.status == RPCStatusCode.NOT_FOUND:
            raise phase_ended() from err
        log.warning("update rpc failed", status=err.status.name, error=err.message, update=update.value)
        raise temporal_unavailable(err) from err
    raise ApiError(503, "store_failed", "earlier attempts of this request failed to store; retry it shortly")
