"""What a slow decision is waiting for while it waits: the fault run's probe (bench/faults.py).

Temporal's history does not show all of a decision's stall after a worker is killed: an Update shows only once a
workflow task has accepted it, and an activity attempt that times out and is retried writes nothing until its last
attempt ends. So while a decision is in flight for more than PROBE_AFTER seconds, the
probe asks the server every PROBE_EVERY seconds what is outstanding on the decision's workflow
(`DescribeWorkflowExecution`: the pending workflow task, the pending activities with their attempt, start, last
heartbeat, worker and last failure) and how far the decision's Update got (`PollWorkflowExecutionUpdate` at the
ADMITTED stage answers at once with the stage reached: admitted = not yet taken by a workflow task, accepted = its
handler runs); each change is one line of the decision's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    PendingActivityState,
    PendingWorkflowTaskState,
    UpdateWorkflowExecutionLifecycleStage,
)
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    PollWorkflowExecutionUpdateRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.routes.tasks import decision_update_id
from api.schemas import DecisionIn
from db.engine import Sessions
from db.models import Project, Task

PROBE_AFTER = 2.0
"""A decision in flight this long is probed (most answer before: p50 1.5-2.8 s under load, kills included)."""
PROBE_EVERY = 0.5
"""Seconds between two looks at one slow decision: finer than any timeout that matters (2-4 s now)."""
_ADMITTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED


@dataclass
class Flight:
    """One decision request (one HTTP call): what it decides, where it went, and what the probe saw."""

    task_id: str
    user_id: int
    update_id: str
    sent: float
    answered: float | None = None
    status: int = 0
    workflow_id: str = ""
    project: str = ""
    kind: str = ""
    seen: list[tuple[float, str]] = field(default_factory=list)


class Probe:
    """Follows every decision request through the API client's event hooks and probes the slow ones."""

    def __init__(
        self, client: Client, sessions: Sessions, now: Callable[[], float], moment: Callable[[datetime], float]
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._now = now
        self._moment = moment
        self._users: dict[str, int] = {}
        self._flying: dict[int, Flight] = {}
        self.flights: list[Flight] = []

    def know(self, headers: dict[int, dict[str, str]]) -> None:
        """The bench's bearer headers: who sends a request."""
        self._users = {h["Authorization"]: user for user, h in headers.items()}

    def hooks(self) -> dict[str, list[Callable[..., object]]]:
        """httpx event hooks for the API client."""
        return {"request": [self._sending], "response": [self._answered]}

    async def _sending(self, request: httpx.Request) -> None:
        parts = request.url.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 5 or parts[2] != "tasks" or parts[4] != "decision":
            return
        user = self._users.get(request.headers.get("Authorization", ""), 0)
        body = DecisionIn.model_validate(json.loads(request.content)).model_dump(mode="json")
        flight = Flight(parts[3], user, decision_update_id(parts[3], user, body), self._now())
        self._flying[id(request)] = flight
        self.flights.append(flight)

    async def _answered(self, response: httpx.Response) -> None:
        flight = self._flying.pop(id(response.request), None)
        if flight is not None:
            flight.answered, flight.status = self._now(), response.status_code

    async def run(self) -> None:
        """Look at every decision in flight for PROBE_AFTER seconds or more, every PROBE_EVERY seconds."""
        while True:
            slow = [f for f in list(self._flying.values()) if self._now() - f.sent >= PROBE_AFTER]
            looks = await asyncio.gather(*(self._look(f) for f in slow), return_exceptions=True)
            for flight, failed in zip(slow, looks, strict=True):
                if isinstance(failed, Exception):  # a look that failed is a line of the timeline, not the run's end
                    flight.seen.append((self._now(), f"probe failed: {type(failed).__name__}: {failed}"[:160]))
            await asyncio.sleep(PROBE_EVERY)

    async def _look(self, flight: Flight) -> None:
        if not flight.workflow_id:
            await self._route(flight)
        execution = WorkflowExecution(workflow_id=flight.workflow_id)
        service = self._client.workflow_service
        ns = self._client.namespace
        described, polled = await asyncio.gather(
            service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(namespace=ns, execution=execution), retry=False
            ),
            service.poll_workflow_execution_update(
                PollWorkflowExecutionUpdateRequest(
                    namespace=ns,
                    update_ref=UpdateRef(workflow_execution=execution, update_id=flight.update_id),
                    wait_policy=WaitPolicy(lifecycle_stage=_ADMITTED),
                ),
                retry=False,
                timeout=timedelta(seconds=PROBE_EVERY),
            ),
            return_exceptions=True,
        )
        at = self._now()
        if flight.answered is not None and flight.answered <= at:
            return
        if isinstance(polled, RPCError):
            # unknown to the server yet, or not admitted within the poll's deadline
            gone = "not found" in polled.message.lower() or polled.status == RPCStatusCode.DEADLINE_EXCEEDED
            stage = "not admitted" if gone else f"? ({polled.status.name})"
        elif isinstance(polled, BaseException):
            stage = f"? ({type(polled).__name__})"
        else:
            stage = UpdateWorkflowExecutionLifecycleStage.Name(polled.stage).rsplit("_", 1)[-1].lower()
        what = f"update {stage}; " + (
            self._outstanding(described) if isinstance(described, DescribeWorkflowExecutionResponse) else "?"
        )
        if not flight.seen or flight.seen[-1][1] != what:
            flight.seen.append((at, what))

    async def _route(self, flight: Flight) -> None:
        """The workflow that takes the task's decision (as the API routes it) and the task's project and kind."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(
                        Task.workflow_id, Task.project_code, Task.kind, Project.phase_workflow_id, Project.workflow_id
                    )
                    .join(Project, Project.code == Task.project_code)
                    .where(Task.id == flight.task_id)
                )
            ).one()
        flight.workflow_id = row[0] or row[3] or row[4]
        flight.project, flight.kind = row[1], row[2]

    def _outstanding(self, d: DescribeWorkflowExecutionResponse) -> str:
        parts: list[str] = []
        if d.HasField("pending_workflow_task"):
            wft = d.pending_workflow_task
            text = f"workflow task scheduled at {self._at(wft.scheduled_time)}"
            if wft.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED:
                text += f", started at {self._at(wft.started_time)}"
            if wft.attempt > 1:
                text += f", attempt {wft.attempt}"
            parts.append(text)
        for a in d.pending_activities:
            state = PendingActivityState.Name(a.state).removeprefix("PENDING_ACTIVITY_STATE_").lower()
            text = f"{a.activity_type.name} {state} attempt {a.attempt}"
            if a.last_started_time.seconds:
                text += f" started at {self._at(a.last_started_time)} by {a.last_worker_identity.split('@')[0]}"
            if a.last_heartbeat_time.seconds:
                text += f", last heartbeat {self._at(a.last_heartbeat_time)}"
            if a.HasField("last_failure"):
                text += f", last failure: {a.last_failure.message[:60]}"
            if a.next_attempt_schedule_time.seconds:
                text += f", next attempt at {self._at(a.next_attempt_schedule_time)}"
            parts.append(text)
        return "; ".join(parts) or "nothing outstanding"

    def _at(self, stamp: Timestamp) -> str:
        return f"{self._moment(stamp.ToDatetime(tzinfo=UTC)):.2f} s"

    def of(self, project: str, kind: str, sent: float, took: float) -> list[Flight]:
        """The requests of one timed decision (its first send to its accepted answer)."""
        return [
            f
            for f in self.flights
            if f.project == project and f.kind == kind and sent - 0.05 <= f.sent <= sent + took + 0.05
        ] or [f for f in self.flights if f.project == project and sent - 0.05 <= f.sent <= sent + took + 0.05]


@contextlib.asynccontextmanager
async def probing(probe: Probe) -> AsyncIterator[Probe]:
    """Run the probe for the duration of the block."""
    task = asyncio.create_task(probe.run())
    try:
        yield probe
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
