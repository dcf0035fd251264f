"""Region and role checks of the construction endpoints, and wrong-stage refusals, on a project in review."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.api.chain_helpers import Driver
from tests.conftest import World, local_today

pytestmark = pytest.mark.usefixtures("worker")


async def test_construction_endpoints_check_role_region_and_stage(api: httpx.AsyncClient, world: World) -> None:
    drive = Driver(api, world)
    u = world.users
    code = await drive.create()
    await drive.task_for(u["township"], code, "township_review")
    path = f"/api/v1/projects/{code}"
    today = local_today()
    monday = today - timedelta(days=today.weekday())
    progress = {"week_start": monday.isoformat(), "percent": 5, "funds_paid_fen": 1}
    completion = {"final_cost_fen": 1, "completion_date": today.isoformat()}
    asset = {
        "name": "大棚",
        "asset_class": "public_welfare",
        "quantity": "1",
        "unit": "个",
        "value_fen": 1,
        "location": "村北",
    }
    registration = {"assets": [asset | {"owners": [{"village_code": world.villages[0], "share_bp": 10000}]}]}

    async def post(suffix: str, body: dict[str, object], user: str) -> httpx.Response:
        return await api.post(f"{path}/{suffix}", json=body, headers=await drive.headers(u[user]))

    for suffix, body in (
        ("progress-reports", progress),
        ("completion", completion),
        ("asset-registration", registration),
    ):
        r = await api.post(f"{path}/{suffix}", json=body)
        assert r.status_code == 401
        r = await post(suffix, body, "pm2")  # a project manager of another township
        assert r.status_code == 403
        assert r.json()["code"] == "region_forbidden"
        r = await post(suffix, body, "county")  # inside the region, but not a project manager
        assert r.status_code == 403
        assert r.json()["code"] == "role_forbidden"
    # the applicant, at the wrong stage: a conflict, nothing stored
    r = await post("progress-reports", progress, "pm")
    assert r.status_code == 409
    assert r.json()["code"] == "wrong_stage"
    r = await post("completion", completion, "pm")
    assert r.status_code == 409
    r = await post("asset-registration", registration, "pm")
    assert r.status_code == 409
    r = await api.get(f"{path}/progress-reports", headers=await drive.headers(u["supervisor"]))
    assert r.status_code == 200
    assert r.json()["items"] == []
    for user, status in (("pm2", 403), ("expert", 403)):
        r = await api.get(f"{path}/progress-reports", headers=await drive.headers(u[user]))
        assert r.status_code == status
    r = await api.get(
        "/api/v1/projects/XM000000-2026-9999/progress-reports", headers=await drive.headers(u["supervisor"])
    )
    assert r.status_code == 404
