"""A worker stopped in the middle of the expert panel: the scores given meanwhile complete the panel after restart."""

from __future__ import annotations

import asyncio

import httpx
from temporalio.client import Client

from db.engine import Sessions
from tests.api.chain_helpers import GOOD_SCORES, Driver, add_library
from tests.conftest import World, eventually
from tests.e2e.conditions import phase_handle, project_settled, waits_for_worker
from worker import build_worker


async def test_panel_survives_worker_restart(
    api: httpx.AsyncClient, world: World, temporal_client: Client, sessions: Sessions, task_queue: str
) -> None:
    drive = Driver(api, world)
    library = await add_library(sessions, world, eligible=3)
    async with build_worker(temporal_client, sessions, task_queue=task_queue):
        code = await drive.create()
        await drive.approve(world.users["township"], code, "township_review")
        seats = await drive.panel(code, library.eligible)
        (first_id, first), (second_id, second), (third_id, third) = seats.items()
        expert = {e.id: e for e in library.eligible}
        r = await drive.decide(expert[first_id], first["id"], decision="score", scores=GOOD_SCORES, opinion="好")
        assert r.status_code == 200
        assert r.json()["stage"] == "expert_review"
        await eventually(lambda: project_settled(temporal_client, code))
    # no worker: the second score is sent and waits for one
    pending = asyncio.create_task(
        drive.decide(expert[second_id], second["id"], decision="score", scores=GOOD_SCORES, opinion="可以")
    )
    await eventually(lambda: waits_for_worker(phase_handle(temporal_client, code, "approval")))
    assert not pending.done()
    async with build_worker(temporal_client, sessions, task_queue=task_queue):
        r = await asyncio.wait_for(pending, timeout=30)
        assert r.status_code == 200
        assert r.json()["stage"] == "expert_review"
        r = await drive.decide(expert[third_id], third["id"], decision="score", scores=GOOD_SCORES, opinion="同意")
        assert r.status_code == 200
        assert r.json()["stage"] == "county_approval"

        async def verdict() -> bool:
            timeline = (await drive.project(code))["timeline"]
            return any(e["action"] == "panel_verdict" for e in timeline)

        await eventually(verdict)
        await drive.task_for(world.users["county"], code, "county_approval")
    timeline = (await drive.project(code))["timeline"]
    assert [e["action"] for e in timeline].count("expert_draw") == 1
    assert [e["action"] for e in timeline].count("panel_verdict") == 1
