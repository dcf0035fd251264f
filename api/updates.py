"""Sending Updates to a project's workflow from the API, and mapping their refusals to HTTP errors."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Principal
from api.errors import ApiError, conflict, invalid
from db.repositories.experts import get_expert_by_user
from domain.audit import canonical_json
from domain.enums import Role
from domain.payloads import Actor
from workflows.project_lifecycle import DecisionRefused, ProjectLifecycleWorkflow

R = TypeVar("R")
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
}


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


async def execute_update(
    temporal: Client, workflow_id: str, update: Any, arg: Any, *, update_id: str, result_type: type[R]
) -> R:
    """Run an Update on a project's workflow; refusals become 403/409/422, a lost answer 504."""
    handle = temporal.get_workflow_handle_for(ProjectLifecycleWorkflow.run, workflow_id)
    try:
        result: R = await handle.execute_update(update, arg, id=update_id, result_type=result_type)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
            status, code, field = REFUSAL_STATUS[cause.type]
            if field:
                raise invalid([{"field": field, "rule": code, "message": cause.message}]) from err
            raise ApiError(status, code, cause.message) from err
        if isinstance(cause, ApplicationError) and cause.type == "StoreFailed":
            raise ApiError(503, "store_failed", f"{cause.message}; retry") from err
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        raise ApiError(504, "update_timeout", "the workflow did not confirm in time; retry the request") from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise conflict("process_ended", "the project's process has ended; nothing can be changed") from err
        raise
    return result
