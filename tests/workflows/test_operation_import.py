"""An imported project's first operation year on the time-skipping server, through the API: uploaded by the county,
its workflow starts in operation, the asset without a platform card is registered, the contract's next rent falls due
after the import (the years before are not claimed), is paid late through the payment endpoint (arrears warning and
reminder, then cleared), an inspection falls due and is recorded, and the year closes with its figures audited."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from db.models import Asset, AuditEntry, Receivable
from db.repositories.audit import project_chain
from tests.api.chain_helpers import Driver
from tests.cli.test_import_projects import codes_for, project_rows, xlsx_bytes
from tests.conftest import World, eventually

pytestmark = pytest.mark.usefixtures("skipping_worker")
CHINA = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _actions(sessions: Sessions, code: str) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as s:
        rows = await s.scalars(
            select(AuditEntry).where(AuditEntry.chain == project_chain(code)).order_by(AuditEntry.seq)
        )
        return [(e.action, e.payload) for e in rows]


async def test_an_imported_project_runs_its_first_operation_year(
    skipping_env: WorkflowEnvironment, skipping_api: httpx.AsyncClient, sessions: Sessions, world: World
) -> None:
    env = skipping_env
    drive = Driver(skipping_api, world)
    today = (await env.get_current_time()).astimezone(CHINA).date()
    (code,) = codes_for(world, 1)
    rows = project_rows(world, code)
    r = await skipping_api.post(
        "/api/v1/imports/projects",
        files={"file": ("存量项目.xlsx", xlsx_bytes(rows), XLSX)},
        headers=await drive.headers(world.users["county"]),
    )
    assert r.status_code == 200, r.text
    await drive.stage_is(code, "operation")
    operating, road = f"{code}-A1", f"{code}-A2"

    async def registered() -> str | None:
        async with sessions() as s:
            asset = await s.get(Asset, operating)
            return asset.platform_card_no if asset else None

    assert await eventually(registered)  # queued by the import, registered by the operation workflow
    async with sessions() as s:
        dues = list(await s.scalars(select(Receivable.due_date).where(Receivable.project_code == code)))
    assert dues == []  # the 2019 contract's earlier years are not claimed

    # the contract's next anniversary (1 June) falls due; sixteen days later it is arrears
    due = date(today.year + 1, 6, 1)
    await env.sleep(timedelta(days=(due - today).days + 16))
    reminder = await drive.task_for(drive.pm, code, "arrears_reminder")
    receivables = (
        await skipping_api.get(f"/api/v1/assets/{operating}/receivables", headers=await drive.headers(drive.pm))
    ).json()
    item = next(i for i in receivables["items"] if i["due_date"] == due.isoformat())
    # 30,000.25 yuan a year escalated 2.5 % for each of the eight full contract years since 2019, in whole fen
    assert item["amount_fen"] == (2 * 3_000_025 * 1025**8 + 1000**8) // (2 * 1000**8)
    # the API dates by the wall clock, the workflow by the skipped one: the payment is dated today (a prepayment)
    paid_on = date.today()
    r = await skipping_api.post(
        f"/api/v1/assets/{operating}/receivables/{item['id']}/payments",
        json={"amount_fen": item["amount_fen"], "received_on": paid_on.isoformat(), "note": "迟付"},
        headers=await drive.headers(drive.pm) | {"Idempotency-Key": f"pay-{code}"},
    )
    assert r.status_code == 201, r.text

    async def reminded() -> bool:
        return not await drive.inbox(drive.pm, kind="arrears_reminder", project=code)

    await eventually(reminded)
    cleared = [p["key"] for a, p in await _actions(sessions, code) if a == "warning_cleared"]
    assert reminder["details"]["warning_key"] in cleared

    # inspections: the road (public welfare) every six months from the import; recorded when it falls due
    async def road_inspection() -> dict[str, Any] | None:
        tasks = await drive.inbox(drive.pm, kind="inspection", project=code)
        return next((t for t in tasks if t["details"]["asset_id"] == road), None)

    inspection = await eventually(road_inspection)
    assert inspection["details"]["deadline"]
    asset_id = road
    photo = b"\x89PNG\r\n\x1a\n" + code.encode() + b"x" * 64
    up = await skipping_api.post(
        "/api/v1/attachments", files={"file": ("巡查.png", photo, "image/png")}, headers=await drive.headers(drive.pm)
    )
    assert up.status_code == 201, up.text
    r = await skipping_api.post(
        f"/api/v1/assets/{asset_id}/inspections",
        json={
            "inspected_on": date.today().isoformat(),
            "condition": "good",
            "photos": [up.json()["sha256"]],
            "note": "路面完好",
        },
        headers=await drive.headers(drive.pm),
    )
    assert r.status_code == 201, r.text

    async def inspected() -> bool:
        return not any(
            t["details"]["asset_id"] == road for t in await drive.inbox(drive.pm, kind="inspection", project=code)
        )

    await eventually(inspected)  # the next is due six months after this one was due

    # the year closes: its figures on the audit chain, the rent that fell due among them
    now = (await env.get_current_time()).astimezone(CHINA).date()
    await env.sleep(timedelta(days=(date(today.year + 2, 1, 5) - now).days))

    async def closed() -> dict[str, Any] | None:
        for action, payload in await _actions(sessions, code):
            if action == "operation_year_closed" and payload["fiscal_year"] == today.year + 1:
                return payload
        return None

    figures = await eventually(closed)
    assert figures["assets"][operating]["due_fen"] == item["amount_fen"]
    actions = [a for a, _ in await _actions(sessions, code)]
    for action in ("imported", "phase_started", "platform_registered", "receivables_scheduled", "warning_raised"):
        assert action in actions, action
