"""The demo loader `make run` uses, against the real app and worker: a rerun, even on a later day, files nothing new."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from temporalio.worker import Worker

from api.main import create_app
from cli.demo import DemoProject, load_demo_projects
from core.settings import Settings
from db.engine import Sessions
from db.models import Project
from tests.conftest import PASSWORD, World, application


@pytest.fixture
async def transport(settings: Settings) -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The real app with its lifespan, as the transport the loader's own client uses."""
    async with LifespanManager(create_app(settings)) as manager:
        yield httpx.ASGITransport(app=manager.app)


def _projects(world: World, key: str, *, shift_days: int = 0) -> list[DemoProject]:
    """Three demo-style projects in this test's county: one left in the inbox, one approved, one rejected."""

    def app(village: str) -> dict[str, Any]:
        start = date.today() + timedelta(days=30 + shift_days)
        return application(
            world,
            village=village,
            planned_start=start.isoformat(),
            planned_end=(start + timedelta(days=200)).isoformat(),
        )

    users = world.users
    return [
        (f"{key}-waiting", users["pm"].username, app(world.villages[0]), None),
        (
            f"{key}-approved",
            users["pm"].username,
            app(world.villages[1]),
            (users["township"].username, "approve", "同意"),
        ),
        (
            f"{key}-rejected",
            users["pm2"].username,
            app(world.villages[2]),
            (users["township_other"].username, "reject", "重复"),
        ),
    ]


async def test_rerun_on_a_later_day_returns_the_same_projects(
    transport: httpx.AsyncBaseTransport, worker: Worker, world: World, sessions: Sessions
) -> None:
    key = f"demo-{uuid.uuid4().hex[:8]}"

    async def load(shift_days: int) -> list[tuple[str, str]]:
        lines = await load_demo_projects(
            "http://test",
            projects=_projects(world, key, shift_days=shift_days),
            password=PASSWORD,
            transport=transport,
            timeout=20,
        )
        return [(line.split()[0], line.rsplit("→", 1)[1].strip()) for line in lines]

    first = await load(0)
    codes = [code for code, _ in first]
    stages = [stage for _, stage in first]
    assert len(set(codes)) == 3
    assert stages[0] == "township_review", "the loader waits until the workflow opened the township task"
    assert stages[1] not in ("application", "township_review", "rejected")
    assert stages[2] == "rejected"

    # The next day the planned dates differ, so the same Idempotency-Key comes with another body.
    again = await load(1)
    assert [code for code, _ in again] == codes
    assert again[0][1] == "township_review"
    assert again[2][1] == "rejected"
    async with sessions() as s:
        filed = await s.scalar(select(func.count()).select_from(Project).where(Project.county_code == world.county))
    assert filed == 3
