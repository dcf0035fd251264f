"""A worker stopped while a project waits for its decision: the decision made meanwhile completes after restart."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio.client import Client

from db.engine import Sessions
from tests.conftest import Login, World, application, eventually
from tests.e2e.conditions import phase_handle, project_settled, waits_for_worker
from worker import build_worker


async def test_decision_survives_worker_restart(
    api: httpx.AsyncClient, world: World, login: Login, temporal_client: Client, sessions: Sessions, task_queue: str
) -> None:
    pm = await login(world.users["pm"])
    reviewer = await login(world.users["township"])
    async with build_worker(temporal_client, sessions, task_queue=task_queue):
        code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]

        async def task() -> dict[str, Any] | None:
            items = (await api.get("/api/v1/tasks", headers=reviewer)).json()["items"]
            return items[0] if items else None

        open_task = await eventually(task)
        await eventually(lambda: project_settled(temporal_client, code))
    # no worker now: the decision is sent and waits for one
    decision = asyncio.create_task(
        api.post(
            f"/api/v1/tasks/{open_task['id']}/decision",
            json={"decision": "approve", "opinion": "同意"},
            headers=reviewer,
        )
    )
    await eventually(lambda: waits_for_worker(phase_handle(temporal_client, code, "approval")))
    assert not decision.done()
    async with build_worker(temporal_client, sessions, task_queue=task_queue):
        r = await asyncio.wait_for(decision, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == "expert_review"
    detail = (await api.get(f"/api/v1/projects/{code}", headers=pm)).json()
    assert detail["stage"] == "expert_review"
    assert [e["action"] for e in detail["timeline"]].count("decision") == 1
