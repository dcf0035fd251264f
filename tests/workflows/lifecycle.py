"""Driving a project from construction to operation through the API (shared by the phase-workflow tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from domain.construction import week_start_of
from tests.api.chain_helpers import Driver
from tests.api.test_construction import _assets
from tests.conftest import World, local_today

FINAL_COST = 95_000_000


async def finish_from_construction(
    drive: Driver,
    world: World,
    code: str,
    notice_passes: Callable[[], Awaitable[None]],
    contract_start: date | None = None,
) -> None:
    """Report the works done, complete, be accepted and noticed, register and confirm the assets, be noticed:
    the project is in operation. `notice_passes` waits out a public notice."""
    u = world.users
    path = f"/api/v1/projects/{code}"
    headers = await drive.headers(drive.pm)
    week = {"week_start": week_start_of(local_today()).isoformat(), "percent": 100, "funds_paid_fen": FINAL_COST}
    r = await drive.api.post(f"{path}/progress-reports", json=week, headers=headers)
    assert r.status_code == 201, r.text
    done = {"final_cost_fen": FINAL_COST, "completion_date": local_today().isoformat()}
    r = await drive.api.post(f"{path}/completion", json=done, headers=headers)
    assert r.status_code == 201, r.text
    acceptance = await drive.task_for(u["county"], code, "acceptance")
    r = await drive.decide(u["county"], acceptance["id"], decision="accept", opinion="验收合格")
    assert r.status_code == 200, r.text
    await drive.notice_open(code, "acceptance")
    await notice_passes()
    await drive.task_for(drive.pm, code, "asset_registration")
    assets = _assets(world, FINAL_COST, contract_start or local_today())
    r = await drive.api.post(f"{path}/asset-registration", json={"assets": assets}, headers=headers)
    assert r.status_code == 201, r.text
    confirm = await drive.task_for(u["county"], code, "confirm_registration")
    r = await drive.decide(u["county"], confirm["id"], decision="confirm", opinion="确权资料齐全")
    assert r.status_code == 200, r.text
    await drive.notice_open(code, "registration")
    await notice_passes()
    await drive.stage_is(code, "operation")
