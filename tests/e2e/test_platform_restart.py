"""A worker stopped between the county's confirmation and the platform registration, while the platform is
down: the next worker registers each asset exactly once when the platform comes back, and the project
reaches operation. Notices are shortened to seconds so the whole life runs on the dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select
from temporalio.client import Client

from api.main import create_app
from core.devstack import free_port
from core.platform import HttpPlatform
from core.settings import ReviewSettings, Settings
from db.engine import Sessions
from db.models import Asset
from domain.construction import week_start_of
from domain.platform_payloads import PLATFORM_WAITING
from tests.activities.test_platform import TOKEN, PlatformServer
from tests.api.chain_helpers import Driver, add_library
from tests.api.test_construction import _accepted_on, _assets
from tests.conftest import World, eventually, local_today
from worker import build_worker

NOTICE_DAYS = 2.0 / 86400  # two seconds


@pytest.fixture
async def quick_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with notices of two seconds."""
    app = create_app(settings.model_copy(update={"review": ReviewSettings(notice_days=NOTICE_DAYS)}))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        yield client


async def _to_confirmed(drive: Driver, world: World, sessions: Sessions) -> str:
    """A project taken through approval, construction and acceptance to the county's confirmation."""
    u = world.users
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create(planned_start=(local_today() - timedelta(days=5)).isoformat())
    await drive.approve(u["township"], code, "township_review")
    await drive.score_all(code, library.eligible)
    await drive.approve(u["county"], code, "county_approval")
    await drive.approve(u["city"], code, "city_filing")
    await drive.stage_is(code, "construction")
    path = f"/api/v1/projects/{code}"
    # completion needs the works reported complete, with the payments near the final cost
    r = await drive.api.post(
        f"{path}/progress-reports",
        json={"week_start": week_start_of(local_today()).isoformat(), "percent": 100, "funds_paid_fen": 95_000_000},
        headers=await drive.headers(drive.pm),
    )
    assert r.status_code == 201, r.text
    r = await drive.api.post(
        f"{path}/completion",
        json={"final_cost_fen": 95_000_000, "completion_date": local_today().isoformat()},
        headers=await drive.headers(drive.pm),
    )
    assert r.status_code == 201, r.text
    task = await drive.task_for(u["county"], code, "acceptance")
    r = await drive.decide(u["county"], task["id"], decision="accept", opinion="合格")
    assert r.status_code == 200, r.text
    await drive.task_for(drive.pm, code, "asset_registration")
    assets = _assets(world, 95_000_000, _accepted_on(await drive.project(code)))
    r = await drive.api.post(
        f"{path}/asset-registration", json={"assets": assets}, headers=await drive.headers(drive.pm)
    )
    assert r.status_code == 201, r.text
    confirm = await drive.task_for(u["county"], code, "confirm_registration")
    r = await drive.decide(u["county"], confirm["id"], decision="confirm", opinion="同意")
    assert r.status_code == 200, r.text
    return code


async def test_platform_registration_survives_worker_restart_and_outage(
    quick_api: httpx.AsyncClient, world: World, sessions: Sessions, temporal_client: Client, task_queue: str
) -> None:
    drive = Driver(quick_api, world)
    server = PlatformServer(free_port())
    platform = HttpPlatform(server.url, token=TOKEN, timeout=2.0)
    async with build_worker(temporal_client, sessions, task_queue=task_queue, platform=platform):
        code = await _to_confirmed(drive, world, sessions)

        async def waiting() -> bool:
            return (await drive.project(code))["waiting_for"] == PLATFORM_WAITING

        await eventually(waiting)
    # the worker is gone and the platform is still down; it comes back, and so does a worker
    await server.start()
    try:
        async with build_worker(temporal_client, sessions, task_queue=task_queue, platform=platform):
            await eventually(lambda: _stage(drive, code, "operation"), timeout=60)
    finally:
        await server.stop()
    async with sessions() as s:
        assets = (await s.scalars(select(Asset).where(Asset.project_code == code))).all()
    operating = [a for a in assets if a.asset_class == "operating"]
    assert len(operating) == 1
    assert operating[0].platform_card_no == server.registrations[operating[0].id]
    assert operating[0].registration_status == "registered"
    assert list(server.registrations) == [operating[0].id]  # one registration, never two
    assert (await drive.project(code))["waiting_for"] == ""


async def _stage(drive: Driver, code: str, stage: str) -> bool:
    return (await drive.project(code))["stage"] == stage


async def test_a_platform_refusal_waits_for_the_county_then_registers(
    quick_api: httpx.AsyncClient, world: World, sessions: Sessions, temporal_client: Client, task_queue: str
) -> None:
    drive = Driver(quick_api, world)
    server = PlatformServer(free_port())
    await server.start()
    try:
        platform = HttpPlatform(server.url, token=TOKEN, timeout=2.0)
        async with build_worker(temporal_client, sessions, task_queue=task_queue, platform=platform):
            server.answer = (400, {"message": "value_fen does not match the accounting records"})
            code = await _to_confirmed(drive, world, sessions)
            rejected = await drive.task_for(world.users["county"], code, "platform_rejected")
            assert "accounting records" in rejected["details"]["error"]
            assert (await drive.project(code))["stage"] == "asset_registration"
            server.answer = None  # the record is put right with the platform
            r = await drive.decide(world.users["county"], rejected["id"], decision="retry", opinion="已与平台核对")
            assert r.status_code == 200, r.text
            await eventually(lambda: _stage(drive, code, "operation"), timeout=60)
    finally:
        await server.stop()
    assert len(server.registrations) == 1
