"""create → inbox → decide → stage, through the HTTP API against real Temporal and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.worker import Worker

from tests.conftest import Login, World, application, eventually


async def _inbox(api: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/tasks", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_create_inbox_decide_moves_stage(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert code.startswith(f"XM{world.county}-")

    reviewer = await login(world.users["township"])
    tasks = await eventually(lambda: _inbox(api, reviewer))
    [task] = tasks
    assert task["project_code"] == code
    assert task["kind"] == "township_review"
    assert task["candidate_role"] == "township_reviewer"
    assert task["region_code"] == world.townships[0]
    assert task["allowed_decisions"] == ["approve", "return", "reject"]

    # only that township's reviewer sees it
    assert await _inbox(api, await login(world.users["township_other"])) == []
    assert await _inbox(api, await login(world.users["county"])) == []

    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision",
        json={"decision": "approve", "opinion": "同意"},
        headers=reviewer,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"task_id": task["id"], "decision": "approve", "stage": "expert_review"}

    detail = (await api.get(f"/api/v1/projects/{code}", headers=pm)).json()
    assert detail["stage"] == "expert_review"
    assert all(t["kind"] != "township_review" for t in detail["open_tasks"])
    actions = [e["action"] for e in detail["timeline"]]
    assert actions[:5] == ["application_filed", "phase_started", "stage_changed", "task_opened", "decision"]
    assert detail["timeline"][4]["actor"] == world.users["township"].username
    assert await _inbox(api, reviewer) == []


async def test_a_new_group_task_is_announced_to_the_role_in_its_region(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201, r.text
    code = r.json()["code"]

    async def announced(user: str) -> list[dict[str, Any]]:
        items = (await api.get("/api/v1/notifications", headers=await login(world.users[user]))).json()["items"]
        return [n for n in items if n["project_code"] == code and n["kind"] == "task_opened"]

    assert len(await eventually(lambda: announced("township"))) == 1
    assert len(await announced("township2")) == 1
    assert await announced("township_other") == []  # another township's reviewer
    assert await announced("county") == []  # another role
