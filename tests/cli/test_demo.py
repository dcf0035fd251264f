"""The demo loader `make run` uses, against the real app and worker: a rerun, even on a later day, files nothing new."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from temporalio.worker import Worker

from api.main import create_app
from cli.demo import DemoProject, load_demo_operation, load_demo_projects, load_demo_reference
from core.settings import Settings
from db.engine import Sessions
from db.models import DistributionRule, Inspection, Notification, OperationWarning, Project, ReceivedPayment, Task
from tests.conftest import PASSWORD, World, application, eventually


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


async def test_the_demo_operation_imports_records_and_warns_once(
    transport: httpx.AsyncBaseTransport, worker: Worker, sessions: Sessions
) -> None:
    """`make run`'s operation demo: two existing projects imported into operation, the shops' rent of today received,
    the station inspected, its lease (ending in 60 days) warned with a renewal task; a rerun adds nothing."""
    await load_demo_reference(sessions)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first = await load_demo_operation("http://test", today=today, transport=transport, timeout=30)
    assert [line.split()[0] for line in first] == ["XM370115-2021-9002-A1", "XM370115-2019-9001", "XM370115-2021-9002"]
    solar, shops = "XM370115-2019-9001-A1", "XM370115-2021-9002-A1"

    async def warned() -> bool:
        async with sessions() as s:
            kinds = await s.scalars(
                select(OperationWarning.kind).where(
                    OperationWarning.asset_id == solar, OperationWarning.cleared_at.is_(None)
                )
            )
            return "contract_expiring" in list(kinds)

    await eventually(warned)
    again = await load_demo_operation("http://test", today=today, transport=transport, timeout=30)
    assert again[1:] == first[1:]
    assert again[0].endswith("in place")  # the year's rule is not proposed twice
    async with sessions() as s:
        paid = await s.scalar(
            select(func.count()).select_from(ReceivedPayment).where(ReceivedPayment.asset_id == shops)
        )
        inspected = await s.scalar(
            select(func.count())
            .select_from(Inspection)
            .where(Inspection.asset_id == solar, Inspection.status == "done")
        )
        renewals = await s.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.project_code == "XM370115-2019-9001", Task.kind == "renew_contract")
        )
    assert (paid, inspected, renewals) == (1, 1, 1)
    async with sessions() as s:
        warned_kinds = list(
            await s.scalars(
                select(Notification.kind).where(
                    Notification.project_code == "XM370115-2019-9001",
                    Notification.kind == "warning_contract_expiry",
                )
            )
        )
    assert warned_kinds == ["warning_contract_expiry"]  # the manager hears of the expiring lease once
    async with sessions() as s:
        rules = list(await s.scalars(select(DistributionRule.status).where(DistributionRule.asset_id == shops)))
    assert rules == ["approved"]


async def test_the_demo_reports_show_the_demo_projects(
    transport: httpx.AsyncBaseTransport, worker: Worker, sessions: Sessions
) -> None:
    """`make run`'s reports: this week's report of 济阳区 and this month's bulletin of 济南市, made through the API; the
    supervisor downloads both and finds the demo's projects in them; a rerun makes nothing new."""
    import io

    from openpyxl import load_workbook

    from cli.demo import load_demo_reports

    await load_demo_reference(sessions)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    await load_demo_operation("http://test", today=today, transport=transport, timeout=30)
    first = await load_demo_reports("http://test", today=today, transport=transport)
    assert [line.split()[0].split("-")[0] for line in first] == ["weekly", "monthly"]
    assert await load_demo_reports("http://test", today=today, transport=transport) == first
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post("/api/v1/auth/token", data={"username": "supervisor", "password": "demo-Pass-2026"})
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for line in first:
            x = await client.get(line.rsplit("→", 1)[1].strip(), headers=auth)
            assert x.status_code == 200, x.text
            listed = load_workbook(io.BytesIO(x.content))["项目清单"]
            codes = {row[0] for row in listed.iter_rows(values_only=True)}
            assert {"XM370115-2019-9001", "XM370115-2021-9002"} <= codes
