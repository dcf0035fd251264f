"""Separation of duties along the whole approval chain, checked by the workflow's own validators: Updates sent
straight to the dev server with crafted actors (no API check in front) are refused, and a refused Update leaves
no event in the workflow's history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from db.engine import Sessions
from db.models import User
from domain.failures import DecisionRefused
from domain.payloads import Actor, ClaimInput, OpenedTask, ReassignInput, SubmitDecisionInput
from tests.api.chain_helpers import GOOD_SCORES, Driver, Experts, add_library
from tests.conftest import World, eventually
from tests.e2e.conditions import settled
from workflows.approval import ApprovalWorkflow

pytestmark = pytest.mark.usefixtures("worker")
ENTITY = "东关村股份经济合作社"  # the implementing entity of tests.conftest.application

Handle = WorkflowHandle[Any, Any]


@pytest.fixture
def drive(api: httpx.AsyncClient, world: World) -> Driver:
    """A driver of this test's world on the dev server."""
    return Driver(api, world)


def _actor(user: User, role: str, region: str, level: str, organisation: str = "") -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        role=role,
        region_code=region,
        region_level=level,
        organisation=organisation,
    )


def _supervisor(world: World) -> Actor:
    return _actor(world.users["supervisor"], "supervisor", world.county, "county")


async def _open_tasks(handle: Handle, kind: str, count: int = 1) -> list[OpenedTask]:
    """Wait until the workflow itself tracks `count` open tasks of `kind`."""

    async def check() -> list[OpenedTask] | None:
        try:
            status = await handle.query(ApprovalWorkflow.get_status)
        except RPCError:  # the project's workflow has not started its approval workflow yet
            return None
        tasks = [t for t in status.open_tasks if t.kind == kind]
        return tasks if len(tasks) >= count else None

    found: list[OpenedTask] = await eventually(check)
    return found


async def _history_length(handle: Handle) -> int:
    return len([e async for e in handle.fetch_history_events()])


async def _settled_history(handle: Handle) -> int:
    """The history's length once the workflow has no work outstanding (it then waits for people)."""
    await eventually(lambda: settled(handle))
    return await _history_length(handle)


async def _refused(handle: Handle, update: Any, arg: Any, expected: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == expected, cause.message
    return str(cause.message)


async def _to_expert_review(
    drive: Driver, client: Client, sessions: Sessions, eligible: int
) -> tuple[str, Handle, Experts]:
    """A project past the township (decided by an Update with a crafted actor), its panel of 3 drawn."""
    world = drive.world
    library = await add_library(sessions, world, eligible=eligible)
    code = await drive.create()
    handle: Handle = client.get_workflow_handle_for(ApprovalWorkflow.run, f"project-{code}-approval-1")
    [task] = await _open_tasks(handle, "township_review")
    reviewer = _actor(world.users["township"], "township_reviewer", world.townships[0], "township")
    result = await handle.execute_update(
        ApprovalWorkflow.submit_decision, SubmitDecisionInput(task.task_id, "approve", "同意", reviewer)
    )
    assert result.stage == "expert_review"
    await _open_tasks(handle, "expert_review", 3)
    return code, handle, library


async def test_one_person_decides_one_level_and_refusals_leave_no_history(
    drive: Driver, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    u = world.users
    code, handle, library = await _to_expert_review(drive, temporal_client, sessions, eligible=4)
    seats = await _open_tasks(handle, "expert_review", 3)
    seat = seats[0].task_id
    spare = next(e for e in library.eligible if e.id not in {s.assignee_id for s in seats})
    before = await _settled_history(handle)

    # nobody who decided another level, nor an expert of the project's township or its implementing entity,
    # may take a seat of the panel
    township_as_expert = _actor(u["township"], "expert", world.city, "city")
    message = await _refused(
        handle,
        ApprovalWorkflow.reassign_task,
        ReassignInput(seat, township_as_expert, "专家请假", _supervisor(world)),
        DecisionRefused.SEPARATION_OF_DUTIES,
    )
    assert "township_review" in message
    refusals = [
        _actor(library.same_township, "expert", world.townships[0], "township"),  # type: ignore[arg-type]
        _actor(library.same_entity, "expert", world.city, "city", organisation=ENTITY),  # type: ignore[arg-type]
        _actor(spare, "expert", world.city, "city", organisation=f"{ENTITY}（理事会）"),
        _actor(spare, "expert", world.city, "city", organisation=f"  {ENTITY[:5]}  "),
        _actor(drive.pm, "expert", world.city, "city"),  # the applicant
    ]
    for to in refusals:
        await _refused(
            handle,
            ApprovalWorkflow.reassign_task,
            ReassignInput(seat, to, "专家请假", _supervisor(world)),
            DecisionRefused.SEPARATION_OF_DUTIES,
        )
    # and the township reviewer may not score a seat under any guise
    await _refused(
        handle,
        ApprovalWorkflow.submit_decision,
        SubmitDecisionInput(seat, "score", "可行", township_as_expert, scores=GOOD_SCORES),
        DecisionRefused.NOT_ELIGIBLE,
    )
    assert await _history_length(handle) == before

    # the panel scores through the API; the county step opens
    assert await drive.score_all(code, library.eligible) == "county_approval"
    [county_task] = await _open_tasks(handle, "county_approval")
    scorer = next(e for e in library.eligible if e.id in {s.assignee_id for s in seats})
    before = await _settled_history(handle)

    county_posts = [
        _actor(u["township"], "county_reviewer", world.county, "county"),  # decided the township level
        _actor(scorer, "county_reviewer", world.county, "county"),  # sat on the expert panel
        _actor(drive.pm, "county_reviewer", world.county, "county"),  # the applicant
    ]
    for actor in county_posts:
        for decision, opinion in (("approve", "同意"), ("reject", "不同意")):
            await _refused(
                handle,
                ApprovalWorkflow.submit_decision,
                SubmitDecisionInput(county_task.task_id, decision, opinion, actor),
                DecisionRefused.SEPARATION_OF_DUTIES,
            )
        await _refused(
            handle,
            ApprovalWorkflow.claim_task,
            ClaimInput(county_task.task_id, actor, True),
            DecisionRefused.SEPARATION_OF_DUTIES,
        )
    for actor in county_posts[:2]:
        await _refused(
            handle,
            ApprovalWorkflow.reassign_task,
            ReassignInput(county_task.task_id, actor, "县级审核人回避", _supervisor(world)),
            DecisionRefused.SEPARATION_OF_DUTIES,
        )
    assert await _history_length(handle) == before
    status = await handle.query(ApprovalWorkflow.get_status)
    assert status.stage == "county_approval"
    assert status.deciders["township_review"] == [u["township"].id]

    # the real county reviewer decides; then the same person may not file at the city
    county = _actor(u["county"], "county_reviewer", world.county, "county")
    result = await handle.execute_update(
        ApprovalWorkflow.submit_decision, SubmitDecisionInput(county_task.task_id, "approve", "同意", county)
    )
    assert result.stage == "city_filing"
    [city_task] = await _open_tasks(handle, "city_filing")
    before = await _settled_history(handle)
    for actor in (
        _actor(u["county"], "city_reviewer", world.city, "city"),
        _actor(u["township"], "city_reviewer", world.city, "city"),
        _actor(scorer, "city_reviewer", world.city, "city"),
    ):
        await _refused(
            handle,
            ApprovalWorkflow.submit_decision,
            SubmitDecisionInput(city_task.task_id, "approve", "同意", actor),
            DecisionRefused.SEPARATION_OF_DUTIES,
        )
    # a decided task is closed to everyone, its own decider included
    await _refused(
        handle,
        ApprovalWorkflow.submit_decision,
        SubmitDecisionInput(county_task.task_id, "approve", "同意", county),
        DecisionRefused.TASK_NOT_OPEN,
    )
    assert await _history_length(handle) == before

    r = await drive.decide(u["city"], city_task.task_id, decision="approve", opinion="同意备案")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "approval_notice"
    status = await handle.query(ApprovalWorkflow.get_status)
    deciders = status.deciders
    assert deciders["township_review"] == [u["township"].id]
    assert deciders["county_approval"] == [u["county"].id]
    assert deciders["city_filing"] == [u["city"].id]
    assert len(deciders["expert_review"]) == 3


async def test_expert_seat_reassignment_through_the_api(
    drive: Driver, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    u = world.users
    code, handle, library = await _to_expert_review(drive, temporal_client, sessions, eligible=4)
    seats = await _open_tasks(handle, "expert_review", 3)
    seat = seats[0]
    spare = next(e for e in library.eligible if e.id not in {s.assignee_id for s in seats})
    headers = await drive.headers(u["supervisor"])
    before = await _settled_history(handle)

    async def reassign(user_id: int) -> httpx.Response:
        return await drive.api.post(
            f"/api/v1/tasks/{seat.task_id}/reassign", json={"user_id": user_id, "reason": "专家请假"}, headers=headers
        )

    for expert in (library.same_township, library.same_entity):
        r = await reassign(expert.id)  # type: ignore[union-attr]
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "separation_of_duties"
    r = await reassign(library.inactive.id)  # type: ignore[union-attr]
    assert r.status_code == 422, r.text
    r = await reassign(u["township"].id)  # not an expert at all
    assert r.status_code == 403, r.text
    other_seat = next(s for s in seats if s.assignee_id != seat.assignee_id)
    r = await reassign(other_seat.assignee_id)  # type: ignore[arg-type]
    assert r.status_code == 403, r.text
    assert await _history_length(handle) == before

    r = await reassign(spare.id)
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == spare.id
    assert [t["id"] for t in await drive.inbox(spare, project=code)] == [seat.task_id]
    original = next(e for e in library.eligible if e.id == seat.assignee_id)
    assert await drive.inbox(original, project=code) == []


async def test_expert_with_a_declared_conflict_may_not_be_reassigned_a_seat(
    drive: Driver, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    _, handle, library = await _to_expert_review(drive, temporal_client, sessions, eligible=3)
    [seat, *_] = await _open_tasks(handle, "expert_review", 3)
    r = await drive.api.post(
        f"/api/v1/tasks/{seat.task_id}/reassign",
        json={"user_id": library.declared_conflict.id, "reason": "专家请假"},  # type: ignore[union-attr]
        headers=await drive.headers(world.users["supervisor"]),
    )
    assert r.status_code == 403, r.text


async def test_a_reassigned_seat_is_scored_under_the_new_experts_id(
    drive: Driver, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    code, handle, library = await _to_expert_review(drive, temporal_client, sessions, eligible=4)
    seats = await _open_tasks(handle, "expert_review", 3)
    seat = seats[0]
    spare = next(e for e in library.eligible if e.id not in {s.assignee_id for s in seats})
    r = await drive.api.post(
        f"/api/v1/tasks/{seat.task_id}/reassign",
        json={"user_id": spare.id, "reason": "专家请假"},
        headers=await drive.headers(world.users["supervisor"]),
    )
    assert r.status_code == 200, r.text
    scorers = [spare, *(e for e in library.eligible if e.id in {s.assignee_id for s in seats[1:]})]
    assert await drive.score_all(code, scorers) == "county_approval"
    detail = await drive.recorded(code, "panel_verdict")
    verdict = next(e for e in detail["timeline"] if e["action"] == "panel_verdict")
    assert {s["expert_id"] for s in verdict["payload"]["scores"]} == {library.ids[e.id] for e in scorers}
