"""Replay every recorded history against today's workflow code: an unversioned change fails here.

Histories under `histories/` are recorded from real runs (see `record_history` below); when a change to a
workflow is made behind `workflow.patched`, the old histories must still replay and a new one is recorded.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from domain.payloads import ProjectStart
from tests.conftest import Login, World, application, eventually
from worker import workflow_runner
from workflows import WORKFLOWS
from workflows.project_lifecycle import ProjectLifecycleWorkflow

HISTORIES = Path(__file__).parent / "histories"


def _replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner())


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def _workflow_type(path: Path) -> str:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def test_every_registered_workflow_type_has_a_recorded_history() -> None:
    """A workflow type the worker runs without a recorded history could change unversioned unnoticed."""
    registered = {str(workflow._Definition.must_from_class(cls).name) for cls in WORKFLOWS}
    recorded = {_workflow_type(path) for path in HISTORIES.glob("*.json")}
    assert registered - recorded == set(), f"record a history for: {sorted(registered - recorded)}"


def test_the_hand_over_is_recorded() -> None:
    """Single-class executions that continued as a ProjectWorkflow replay too (tests/workflows/test_handover)."""
    handed = [
        p
        for p in HISTORIES.glob("*handed_over.json")
        if json.loads(p.read_text())["events"][-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    ]
    assert len(handed) == 3, handed


async def record_history(client: Client, workflow_id: str, name: str, run_id: str | None = None) -> Path:
    """Store a finished or waiting workflow's history (its newest run, or `run_id`) for the replay tests."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    path = HISTORIES / f"{name}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), ensure_ascii=False, indent=1))
    return path


async def _decide(api: httpx.AsyncClient, login: Login, world: World, decision: str) -> tuple[str, dict[str, Any]]:
    pm = await login(world.users["pm"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]
    reviewer = await login(world.users["township"])

    async def task() -> dict[str, Any] | None:
        items = (await api.get("/api/v1/tasks", headers=reviewer)).json()["items"]
        return items[0] if items else None

    t = await eventually(task)
    r = await api.post(
        f"/api/v1/tasks/{t['id']}/decision", json={"decision": decision, "opinion": "意见"}, headers=reviewer
    )
    assert r.status_code == 200
    return code, r.json()


async def test_fresh_histories_replay(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, temporal_client: Client
) -> None:
    """Histories of today's code replay too (and can be recorded with RECORD_HISTORIES=1)."""
    import os

    for decision in ("approve", "reject"):
        code, _ = await _decide(api, login, world, decision)
        handle = temporal_client.get_workflow_handle(f"project-{code}")
        if decision == "reject":
            assert await handle.result() == "rejected"
        for workflow_id, name in ((handle.id, "project"), (f"{handle.id}-approval-1", "approval")):
            history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
            result = await _replayer().replay_workflow(history, raise_on_replay_failure=True)
            assert result.replay_failure is None
            if os.environ.get("RECORD_HISTORIES") == "1" and decision == "reject":
                await record_history(temporal_client, workflow_id, f"township_review_reject_{name}")


@workflow.defn(name="ProjectLifecycleWorkflow", sandboxed=False)
class UnversionedChange(ProjectLifecycleWorkflow):
    """Today's workflow with a timer slipped in before every public notice, without `workflow.patched`."""

    @workflow.run
    async def run(self, start: ProjectStart) -> str:
        """As today."""
        return await super().run(start)

    async def _notice(self, *args: Any, **kwargs: Any) -> str | None:
        await asyncio.sleep(1)
        return await super()._notice(*args, **kwargs)


async def test_an_unversioned_change_is_caught() -> None:
    """The recorded histories do catch a change to the command sequence made without `workflow.patched`."""
    path = HISTORIES / "approval_chain_full.json"
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    result = await Replayer(workflows=[UnversionedChange]).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
