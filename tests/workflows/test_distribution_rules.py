"""Distribution rules through the API and OperationWorkflow: the village's rule for a year is proposed with its
resolution, refused when it breaks a rule (naming the field), returned by the township, proposed again, approved by
the township and the county; a later approval supersedes it and every version is kept."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from db.models import AssetIncomeShare
from tests.api.chain_helpers import Driver
from tests.conftest import World, eventually
from tests.workflows.test_operation_years import SETTINGS, _seed, _start, _today, _upload
from worker import build_worker


async def test_a_rule_is_proposed_returned_approved_and_superseded(
    skipping_env: WorkflowEnvironment,
    skipping_api: httpx.AsyncClient,
    sessions: Sessions,
    world: World,
    task_queue: str,
) -> None:
    env, client = skipping_env, skipping_env.client
    drive = Driver(skipping_api, world)
    u = world.users
    today = await _today(env)
    code, asset_id, _ = await _seed(sessions, world, today)
    households = world.households[world.villages[0]]
    async with sessions.begin() as s:
        s.add_all(
            [AssetIncomeShare(asset_id=asset_id, household_code=h, shares=1 + i) for i, h in enumerate(households)]
        )
    async with build_worker(client, sessions, task_queue=task_queue, operation=SETTINGS):
        await client.start_workflow("ProjectWorkflow", _start(world, code), id=f"project-{code}", task_queue=task_queue)
        await drive.stage_is(code, "operation")
        resolution = await _upload(drive, "村民代表会议决议.pdf")
        path = f"/api/v1/assets/{asset_id}/distribution-rules"
        pm = await drive.headers(drive.pm)
        body: dict[str, Any] = {
            "fiscal_year": today.year,
            "buckets": {"collective_bp": 5000, "households_bp": 5000},
            "basis": "shares",
            "coefficients_bp": {"no_labour": 15000},
            "excluded": [{"household_code": households[3], "reason": "已稳定脱贫，本年度退出"}],
            "village_resolution": resolution,
        }

        async def fields(b: dict[str, Any], headers: dict[str, str] = pm) -> set[tuple[str, str]]:
            r = await skipping_api.post(path, json=b, headers=headers)
            assert r.status_code == 422, r.text
            return {(d["field"], d["rule"]) for d in r.json()["details"]}

        # bad input names the field and the rule, and nothing is proposed
        assert ("buckets", "sum_10000") in await fields(
            body | {"buckets": {"collective_bp": 5000, "households_bp": 4999}}
        )
        stranger = world.households[world.villages[1]][0]
        assert await fields(body | {"excluded": [{"household_code": stranger, "reason": "外村"}]}) == {
            ("excluded[0].household_code", "beneficiary")
        }
        assert ("min_fen", "min_not_above_max") in {
            (f.split(".")[-1], r) for f, r in await fields(body | {"min_fen": 500, "max_fen": 100})
        }
        r = await skipping_api.post(path, json=body, headers=await drive.headers(u["township"]))
        assert r.status_code == 403
        r = await skipping_api.post(path, json=body, headers=await drive.headers(u["pm2"]))
        assert r.status_code == 403

        # v1: returned by the township
        r = await skipping_api.post(path, json=body, headers=pm)
        assert r.status_code == 201, r.text
        assert (await skipping_api.post(path, json=body, headers=pm)).status_code == 409
        review = await drive.task_for(u["township"], code, "rule_review")
        assert review["details"]["rule"]["buckets"]["households_bp"] == 5000
        assert review["details"]["version"] == 1
        r = await drive.decide(u["township"], review["id"], decision="return", opinion="系数需经村民代表会议重新表决")
        assert r.status_code == 200, r.text

        async def statuses() -> list[tuple[int, str]]:
            items = (await skipping_api.get(path, headers=await drive.headers(u["supervisor"]))).json()["items"]
            return [(i["version"], i["status"]) for i in items]

        await eventually(lambda: _equals(statuses, [(1, "returned")]))

        # v2: approved by the township and the county
        r = await skipping_api.post(path, json=body | {"note": "重新表决"}, headers=pm)
        assert r.status_code == 201, r.text
        review = await drive.task_for(u["township"], code, "rule_review")
        assert (await drive.decide(u["township"], review["id"], decision="approve", opinion="同意")).status_code == 200
        approval = await drive.task_for(u["county"], code, "rule_approval")
        assert approval["details"]["township_opinion"] == "同意"
        assert (await drive.decide(u["county"], approval["id"], decision="approve", opinion="同意")).status_code == 200
        await eventually(lambda: _equals(statuses, [(2, "approved"), (1, "returned")]))

        # v3 supersedes v2 for later rounds; v2 stays on record
        changed = body | {"buckets": {"collective_bp": 3000, "households_bp": 7000}}
        assert (await skipping_api.post(path, json=changed, headers=pm)).status_code == 201
        review = await drive.task_for(u["township"], code, "rule_review")
        assert review["details"]["rule_in_force"]["version"] == 2
        assert (await drive.decide(u["township"], review["id"], decision="approve", opinion="同意")).status_code == 200
        approval = await drive.task_for(u["county"], code, "rule_approval")
        assert (await drive.decide(u["county"], approval["id"], decision="approve", opinion="同意")).status_code == 200
        await eventually(lambda: _equals(statuses, [(3, "approved"), (2, "superseded"), (1, "returned")]))
        # the township reviewer reads the resolution the tasks show
        r = await skipping_api.get(f"/api/v1/attachments/{resolution}", headers=await drive.headers(u["township"]))
        assert r.status_code == 200


async def _equals(read: Any, expected: Any) -> bool:
    return bool(await read() == expected)
