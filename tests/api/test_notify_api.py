"""Notifications end to end and their API: approving a project mails its manager (read back from a real SMTP server)
and posts a signed event to the county's webhook, through the real worker and dispatcher workflow; the new-task item
is resolved; admins manage webhooks and robots and read the delivery log; users choose their preferences."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from core.devstack import free_port
from core.temporal import dispatcher_workflow_id
from db.engine import Sessions
from domain.notifications import DispatcherInput
from tests.conftest import Login, World, application, eventually
from tests.notify_helpers import ScriptedWebhook, notify_settings, smtp_sink
from tests.replay.test_replay import record_history
from worker import build_worker, workflow_runner
from workflows import WORKFLOWS


@pytest.fixture
async def hook() -> AsyncIterator[ScriptedWebhook]:
    """A webhook receiver on loopback (its secret is set once the API has made one)."""
    server = ScriptedWebhook(free_port(), "")
    await server.start()
    yield server
    await server.stop()


async def test_approving_a_project_mails_its_manager_and_signs_a_webhook(
    api: httpx.AsyncClient,
    world: World,
    login: Login,
    sessions: Sessions,
    temporal_client: Client,
    task_queue: str,
    hook: ScriptedWebhook,
) -> None:
    pm, township, admin = [await login(world.users[k]) for k in ("pm", "township", "admin")]
    address = f"manager-{uuid.uuid4().hex[:8]}@county.test"
    r = await api.put("/api/v1/notifications/email", json={"email": address}, headers=pm)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == address
    r = await api.post(
        "/api/v1/webhooks",
        json={
            "region_code": world.county,
            "name": "县政务平台",
            "url": f"http://127.0.0.1:{hook.port}/events?token=abcdef123",
            "events": ["decision_approved"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    endpoint = r.json()
    assert endpoint["url"].endswith("token=abcd****")
    hook.secret = endpoint["secret"]
    assert len(hook.secret) >= 32
    async with smtp_sink() as (box, port):
        worker = build_worker(temporal_client, sessions, task_queue=task_queue, notify=notify_settings(port))
        async with worker:
            dispatcher = await temporal_client.start_workflow(
                "NotificationDispatchWorkflow",
                DispatcherInput(poll_seconds=0.2, batch_size=20, rounds_per_run=10_000),
                id=dispatcher_workflow_id(task_queue),
                task_queue=task_queue,
            )
            code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]

            async def task() -> dict[str, Any] | None:
                items = (await api.get("/api/v1/tasks", headers=township)).json()["items"]
                return next((t for t in items if t["project_code"] == code), None)

            t = await eventually(task)
            [opened] = [
                n
                for n in (await api.get("/api/v1/notifications", headers=township)).json()["items"]
                if n["task_id"] == t["id"]
            ]
            assert opened["kind"] == "task_opened"
            assert opened["resolved_at"] is None
            r = await api.post(
                f"/api/v1/tasks/{t['id']}/decision",
                json={"decision": "approve", "opinion": "同意上报"},
                headers=township,
            )
            assert r.status_code == 200, r.text

            async def mailed() -> list[Any]:
                return [m for m in box.received if address in m.rcpt and code in m.subject]

            [mail] = await eventually(mailed, timeout=30)
            signed = await eventually(lambda: _posted(hook, code), timeout=30)
            await dispatcher.terminate("test over")
            history = await dispatcher.fetch_history()
            replay = await Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner()).replay_workflow(history)
            assert replay.replay_failure is None
            if os.environ.get("RECORD_HISTORIES") == "1":
                await record_history(temporal_client, dispatcher.id, "notification_dispatch")
    assert "审核通过" in mail.subject
    assert "Approved" in mail.subject
    assert "乡镇审核" in mail.body("plain")
    assert "同意上报" in mail.body("plain")
    assert mail.body("html")
    [request] = signed
    assert request.valid
    body = request.json()
    assert (body["event"], body["project_code"], body["params"]["opinion"]) == ("decision_approved", code, "同意上报")
    assert request.headers["x-assetflow-delivery"] == body["id"]
    # the reviewer's new-task item is resolved once the task is decided, and no longer counted unread
    mine = (await api.get("/api/v1/notifications", headers=township)).json()
    [opened] = [n for n in mine["items"] if n["id"] == opened["id"]]
    assert opened["resolved_at"] is not None
    unread = (await api.get("/api/v1/notifications", headers=township, params={"unread_only": True})).json()
    assert opened["id"] not in {n["id"] for n in unread["items"]}
    # the delivery log
    r = await api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=admin)
    assert r.status_code == 200, r.text
    [delivery] = [d for d in r.json()["items"] if d["event_key"].startswith("decision:")]
    assert (delivery["status"], delivery["attempts"], len(delivery["log"])) == ("delivered", 1, 1)
    assert delivery["log"][0]["status_code"] == 200


async def _posted(hook: ScriptedWebhook, code: str) -> list[Any]:
    return [r for r in hook.requests if json.loads(r.body).get("project_code") == code]


async def test_webhooks_are_for_admins_of_their_region_and_checked(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    admin, pm = await login(world.users["admin"]), await login(world.users["pm"])
    good = {
        "region_code": world.county,
        "name": "钉钉工作群",
        "kind": "dingtalk",
        "url": "http://127.0.0.1:9/robot/send?access_token=0123456789",
        "secret": "SEC0123456789abcdef",
    }
    r = await api.post("/api/v1/webhooks", json=good, headers=pm)
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    r = await api.post("/api/v1/webhooks", json=good | {"region_code": "990101"}, headers=admin)
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.post("/api/v1/webhooks", json=good | {"url": "ftp://x"}, headers=admin)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["details"]} == {"url"}
    r = await api.post("/api/v1/webhooks", json=good | {"events": ["no_such_event"]}, headers=admin)
    assert r.status_code == 422
    r = await api.post("/api/v1/webhooks", json=good | {"kind": "wecom"}, headers=admin)
    assert (r.status_code, r.json()["details"][0]["rule"]) == (422, "wecom_unsigned")
    r = await api.post("/api/v1/webhooks", json=good, headers=admin)
    assert r.status_code == 201, r.text
    robot = r.json()
    assert robot["secret"] == good["secret"]
    assert "0123456789" not in robot["url"]
    listed = (await api.get("/api/v1/webhooks", headers=admin)).json()["items"]
    [mine] = [e for e in listed if e["id"] == robot["id"]]
    assert mine["secret"] is None
    assert mine["has_secret"] is True
    assert (await api.get(f"/api/v1/webhooks/{robot['id']}", headers=pm)).status_code == 403
    r = await api.patch(f"/api/v1/webhooks/{robot['id']}", json={"active": False, "rotate_secret": True}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert r.json()["secret"] not in (None, good["secret"])
    assert (await api.get("/api/v1/webhooks/2147483000", headers=admin)).status_code == 404
    r = await api.get(f"/api/v1/webhooks/{robot['id']}/deliveries", headers=admin)
    assert (r.status_code, r.json()["count"]) == (200, 0)
    r = await api.post(f"/api/v1/webhooks/{robot['id']}/deliveries/1/retry", headers=admin)
    assert r.status_code == 404
    r = await api.get("/api/v1/notifications/deliveries", headers=admin, params={"status": "failed"})
    assert r.status_code == 200
    assert (await api.get("/api/v1/notifications/deliveries", headers=pm)).status_code == 403


async def test_preferences_and_the_address(api: httpx.AsyncClient, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    r = await api.get("/api/v1/notifications/preferences", headers=pm)
    assert r.status_code == 200
    prefs = {p["kind"]: p for p in r.json()["items"]}
    assert {"report_ready", "problem_overdue", "task_escalated"} <= set(prefs)
    assert prefs["task_escalated"]["mandatory"] is True
    assert prefs["stage_changed"]["delivery"] == "digest"
    assert r.json()["email"] is None
    r = await api.put("/api/v1/notifications/preferences/task_escalated", json={"delivery": "off"}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "mandatory_notification")
    r = await api.put("/api/v1/notifications/preferences/task_escalated", json={"delivery": "digest"}, headers=pm)
    assert r.status_code == 200
    r = await api.put("/api/v1/notifications/preferences/stage_changed", json={"delivery": "off"}, headers=pm)
    assert {p["kind"]: p["delivery"] for p in r.json()["items"]}["stage_changed"] == "off"
    r = await api.put("/api/v1/notifications/preferences/nothing", json={"delivery": "off"}, headers=pm)
    assert r.status_code == 422
    r = await api.put("/api/v1/notifications/preferences/stage_changed", json={"delivery": "sometimes"}, headers=pm)
    assert r.status_code == 422
    r = await api.put("/api/v1/notifications/email", json={"email": "not an address"}, headers=pm)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "email")
    assert (await api.get("/api/v1/notifications/preferences")).status_code == 401
