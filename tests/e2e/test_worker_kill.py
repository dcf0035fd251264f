"""`python worker.py` killed with SIGKILL while a project waits; a new worker process finishes the decision."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from core.settings import Settings
from tests.conftest import Login, World, application, eventually
from tests.e2e.conditions import project_handle, settled, waits_for_worker

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TASK_QUEUE": settings.task_queue,
        "WORKER_METRICS_BIND": "",
        "LOG_FORMAT": "json",
    }
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_decision_completes_after_worker_process_is_killed(
    api: httpx.AsyncClient, world: World, login: Login, settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    pm = await login(world.users["pm"])
    reviewer = await login(world.users["township"])
    first = _start_worker(settings, log)
    try:
        code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]

        async def task() -> dict[str, Any] | None:
            items = (await api.get("/api/v1/tasks", headers=reviewer)).json()["items"]
            return items[0] if items else None

        open_task = await eventually(task, timeout=60)
        await eventually(lambda: settled(project_handle(temporal_client, code)))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    decision = asyncio.create_task(
        api.post(
            f"/api/v1/tasks/{open_task['id']}/decision",
            json={"decision": "approve", "opinion": "同意"},
            headers=reviewer,
        )
    )
    await eventually(lambda: waits_for_worker(project_handle(temporal_client, code)))
    assert not decision.done()
    second = _start_worker(settings, log)
    try:
        r = await asyncio.wait_for(decision, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == "expert_review"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert second.returncode == 0, log.read_text()[-2000:]
    assert '"worker stopping"' in log.read_text()
    detail = (await api.get(f"/api/v1/projects/{code}", headers=pm)).json()
    assert [e["action"] for e in detail["timeline"]][:4] == [
        "application_filed",
        "stage_changed",
        "task_opened",
        "decision",
    ]
