"""A whole approval chain (return and revision, expert panel, notice with a dismissed objection) recorded
and replayed: `RECORD_HISTORIES=1` stores it under histories/ for the replay test of every later change."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from tests.api.chain_helpers import Driver, add_library
from tests.conftest import World, application
from tests.replay.test_replay import _replayer, record_history

pytestmark = pytest.mark.usefixtures("skipping_worker")


async def test_full_chain_history_replays(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    u = world.users
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create()
    task = await drive.task_for(u["township"], code, "township_review")
    r = await drive.decide(u["township"], task["id"], decision="return", opinion="补充绩效目标")
    assert r.status_code == 200
    await drive.task_for(drive.pm, code, "revision")
    body = application(world, name="修改后的大棚项目")
    r = await skipping_api.put(f"/api/v1/projects/{code}/application", json=body, headers=await drive.headers(drive.pm))
    assert r.status_code == 200, r.text
    await drive.approve(u["township"], code, "township_review")
    assert await drive.score_all(code, library.eligible) == "county_approval"
    await drive.approve(u["county"], code, "county_approval")
    await drive.approve(u["city"], code, "city_filing")
    await drive.notice_open(code)
    r = await skipping_api.post(
        f"/api/v1/projects/{code}/objections",
        json={"text": "公示内容有误"},
        headers=await drive.headers(u["supervisor"]),
    )
    assert r.status_code == 201, r.text
    r = await drive.decide(u["county"], r.json()["task_id"], decision="dismiss", opinion="已核实无误")
    assert r.status_code == 200, r.text
    await skipping_env.sleep(timedelta(days=11))
    await drive.stage_is(code, "construction")

    # the approval workflow's whole history (reviews, panel, objection, notice) replays against today's code
    handle = skipping_env.client.get_workflow_handle(f"project-{code}-approval-1")
    history = await handle.fetch_history()
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
    assert history.events[-1].workflow_execution_completed_event_attributes.result.payloads
    if os.environ.get("RECORD_HISTORIES") == "1":
        await record_history(skipping_env.client, handle.id, "approval_phase_full")
