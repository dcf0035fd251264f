"""After an operation record commits, the project's phase workflow (else its own) is told by the signal
`operation_records_changed`; a workflow that is not running does not undo or refuse the record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from db.engine import Sessions
from db.models import Project
from domain.enums import SignalName
from tests.api.operation_helpers import Operation, seed_operation
from tests.conftest import Login, World, eventually

URL = "/api/v1/assets"


@workflow.defn(name="TestOperationListener")
class OperationListenerWorkflow:
    """Plays a project's operation workflow: counts the signals it is sent."""

    def __init__(self) -> None:
        self.signals = 0

    @workflow.run
    async def run(self) -> None:
        """Wait until terminated."""
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=SignalName.OPERATION_RECORDS_CHANGED.value)
    def changed(self) -> None:
        """One more record changed."""
        self.signals += 1

    @workflow.query
    def count(self) -> int:
        """How many signals arrived."""
        return self.signals


@pytest.fixture
async def listener(temporal_client: Client) -> AsyncIterator[WorkflowHandle[OperationListenerWorkflow, None]]:
    queue = f"test-{uuid.uuid4().hex[:12]}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[OperationListenerWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),  # deterministic; its module imports I/O libraries
    ):
        handle = await temporal_client.start_workflow(
            OperationListenerWorkflow.run, id=f"test-operation-{uuid.uuid4().hex[:12]}", task_queue=queue
        )
        yield handle
        await handle.terminate("test over")


async def test_a_record_signals_the_phase_workflow_and_an_absent_one_is_ignored(
    api: httpx.AsyncClient,
    world: World,
    login: Login,
    sessions: Sessions,
    listener: WorkflowHandle[OperationListenerWorkflow, None],
) -> None:
    op: Operation = await seed_operation(sessions, world)
    pm = await login(world.users["pm"])
    # no workflow runs under the project's own id: the record is stored all the same
    r = await api.post(f"{URL}/{op.own}/status", json={"status": "idle"}, headers=pm)
    assert (r.status_code, r.json()["status"]) == (200, "idle")
    async with sessions.begin() as s:
        await s.execute(update(Project).where(Project.code == op.project).values(phase_workflow_id=listener.id))
    r = await api.post(f"{URL}/{op.own}/status", json={"status": "in_use"}, headers=pm)
    assert r.status_code == 200, r.text
    body = {"amount_fen": 1_000, "received_on": op.today.isoformat()}
    url = f"{URL}/{op.leased}/receivables/{op.receivables[0]}/payments"
    r = await api.post(url, json=body, headers=pm | {"Idempotency-Key": "signal"})
    assert r.status_code == 201, r.text

    async def two() -> bool:
        return await listener.query(OperationListenerWorkflow.count) == 2

    await eventually(two)
    r = await api.post(url, json=body, headers=pm | {"Idempotency-Key": "signal"})  # a replay changes nothing
    assert r.headers["Idempotent-Replayed"] == "true"
    assert await listener.query(OperationListenerWorkflow.count) == 2
