"""What notifies, wired where it happens: a problem assigned (a request's transaction) and a project returned with
an opinion (a workflow's activity) reach the people concerned in-app, and the region's webhook through the outbox,
with personal data masked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.worker import Worker

from db.engine import Sessions
from db.models import NotificationDelivery, NotificationEvent
from tests.conftest import Login, World, application, eventually, local_today, seed_project
from tests.notify_helpers import add_endpoint

PHONE = "13812345678"


async def _outbox(sessions: Sessions, kind: str, project: str) -> list[tuple[str, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(NotificationDelivery.channel, NotificationDelivery.status)
            .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
            .where(NotificationEvent.kind == kind, NotificationEvent.project_code == project)
        )
        return [(c, st) for c, st in rows]


async def _inbox(api: httpx.AsyncClient, headers: dict[str, str], kind: str, project: str) -> list[dict[str, Any]]:
    items = (await api.get("/api/v1/notifications", headers=headers)).json()["items"]
    return [n for n in items if n["kind"] == kind and n["project_code"] == project]


async def test_a_problem_assigned_notifies_its_responsible_user_and_the_county(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    await add_endpoint(
        sessions,
        kind="webhook",
        region=world.county,
        url="http://127.0.0.1:9/",
        secret="x" * 32,
        by=world.users["admin"].id,
    )
    code = await seed_project(sessions, world, stage="operation")
    sup, pm = await login(world.users["supervisor"]), await login(world.users["pm"])
    body = {
        "project_code": code,
        "source": "supervision",
        "description": f"联系人电话 {PHONE}，台账不全",
        "responsible_user_id": world.users["pm"].id,
        "deadline": (local_today() + timedelta(days=30)).isoformat(),
    }
    r = await api.post("/api/v1/problems", json=body, headers=sup)
    assert r.status_code == 201, r.text
    [note] = await _inbox(api, pm, "problem_assigned", code)
    assert f"#{r.json()['id']}" in note["title"]
    assert PHONE not in note["body"]  # the description is never copied into a message
    assert await _inbox(api, sup, "problem_assigned", code) == []
    assert await _outbox(sessions, "problem_assigned", code) == [("webhook", "pending")]


async def test_a_return_reaches_the_manager_with_the_opinion_masked(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    pm, township = await login(world.users["pm"]), await login(world.users["township"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]

    async def task() -> dict[str, Any] | None:
        items = (await api.get("/api/v1/tasks", headers=township)).json()["items"]
        return next((t for t in items if t["project_code"] == code), None)

    t = await eventually(task)
    opinion = f"请补充收益测算，联系 {PHONE}"
    r = await api.post(
        f"/api/v1/tasks/{t['id']}/decision", json={"decision": "return", "opinion": opinion}, headers=township
    )
    assert r.status_code == 200, r.text
    [note] = await eventually(lambda: _inbox(api, pm, "decision_returned", code))
    assert "退回修改" in note["title"]
    assert "请补充收益测算" in note["body"]
    assert "乡镇审核" in note["body"]
    assert PHONE not in note["body"]
    assert "138*****678" in note["body"]
    # the reviewer's own item about the task is resolved with the decision
    [opened] = [n for n in await _inbox(api, township, "task_opened", code) if n["task_id"] == t["id"]]
    assert opened["resolved_at"] is not None
