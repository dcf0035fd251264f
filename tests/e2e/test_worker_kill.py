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
import pytest
from asgi_lifespan import LifespanManager
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from api.main import create_app
from core.settings import Settings
from db.engine import Sessions
from domain.phases import ProjectView
from tests.api.chain_helpers import Driver, add_library
from tests.conftest import Login, World, application, eventually
from tests.e2e.conditions import phase_handle, project_handle, project_settled, waits_for_worker
from workflows.project import ProjectWorkflow

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(settings: Settings, log: Path, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = (
        os.environ
        | {
            "DATABASE_URL": settings.database_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TASK_QUEUE": settings.task_queue,
            "WORKER_METRICS_BIND": "",
            "LOG_FORMAT": "json",
            # the daily problem check runs over every region: it stays out of a suite that shares one database
            "PROBLEMS__WATCH": "false",
            # and so does the notification dispatcher (its own test turns it on)
            "NOTIFY__DISPATCHER": "false",
        }
        | (extra or {})
    )
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
        await eventually(lambda: project_settled(temporal_client, code))
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
    await eventually(lambda: waits_for_worker(phase_handle(temporal_client, code, "approval")))
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
    assert [e["action"] for e in detail["timeline"]][:5] == [
        "application_filed",
        "phase_started",
        "stage_changed",
        "task_opened",
        "decision",
    ]


async def test_a_worker_killed_between_two_phases_leaves_one_next_phase(
    world: World, sessions: Sessions, settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    """SIGKILL as the approval workflow completes: another worker process carries the project into
    construction, with exactly one construction workflow and the approval ended once."""
    quick = settings.model_copy(update={"review": settings.review.model_copy(update={"notice_days": 3 / 86400})})
    log = tmp_path / "worker.log"
    library = await add_library(sessions, world, eligible=3)
    first = _start_worker(quick, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with LifespanManager(create_app(quick)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
                drive = Driver(api, world)
                u = world.users
                code = await drive.create()
                await drive.approve(u["township"], code, "township_review")
                await drive.score_all(code, library.eligible)
                await drive.approve(u["county"], code, "county_approval")
                await drive.approve(u["city"], code, "city_filing")
                approval = phase_handle(temporal_client, code, "approval")

                async def approval_ended() -> bool:
                    return (await approval.describe()).status == WorkflowExecutionStatus.COMPLETED

                await eventually(approval_ended, interval=0.02, timeout=60)
                first.send_signal(signal.SIGKILL)
                first.wait(10)
                second = _start_worker(quick, log)
                detail = await drive.stage_is(code, "construction")
                assert detail["stage"] == "construction"
                view = await eventually(lambda: _in_construction(temporal_client, code), timeout=60)
                assert view.child_id == f"project-{code}-construction-1"
                with pytest.raises(RPCError):
                    await temporal_client.get_workflow_handle(f"project-{code}-construction-2").describe()
                phases = [e for e in detail["timeline"] if e["action"] == "phase_started"]
                assert [p["payload"]["phase"] for p in phases] == ["approval", "construction"]
    finally:
        first.kill()
        if second is not None:
            second.send_signal(signal.SIGTERM)
            second.wait(20)


async def _in_construction(client: Client, code: str) -> ProjectView | None:
    view: ProjectView = await project_handle(client, code).query(ProjectWorkflow.get_status)
    return view if view.phase == "construction" and view.child_id else None
