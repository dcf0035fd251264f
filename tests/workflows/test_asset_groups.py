"""A distribution rule for a group of one village's assets (资产组合并分配): proposed on one asset with the others
named (bad groups refused naming the field), approved, shown on every member; a round pools the group's income
into one pool and the households' shares across its assets; and an asset's year is distributed once — a later
round whose scope covers it again is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from db.models import Asset, AssetIncomeShare, DividendClaim, DividendLine, RevenueReport
from domain.distribution import Beneficiary, pooled_households
from tests.api.chain_helpers import Driver
from tests.conftest import World, eventually
from tests.workflows.test_dividend_round import INCOME, _receive, _round
from tests.workflows.test_operation_years import SETTINGS, _seed, _start, _today, _upload
from worker import build_worker

PROFIT = 1_000_000  # fen of reported profit of the second greenhouse


def test_pooled_households_sum_shares_and_do_not_depend_on_order() -> None:
    rows = [
        Beneficiary("H2", 2, 4, ("elderly",)),
        Beneficiary("H1", 1, 3),
        Beneficiary("H2", 3, 4, ("no_labour",), "退出"),
        Beneficiary("H3", 0, 5),
    ]
    pooled = pooled_households(rows)
    assert pooled == pooled_households(list(reversed(rows)))
    assert [(b.code, b.shares, b.members, b.categories, b.excluded) for b in pooled] == [
        ("H1", 1, 3, (), None),
        ("H2", 5, 4, ("elderly", "no_labour"), "退出"),
        ("H3", 0, 5, (), None),
    ]


async def test_a_group_rule_pools_the_village_assets_and_an_asset_year_is_paid_out_once(
    skipping_env: WorkflowEnvironment,
    skipping_api: httpx.AsyncClient,
    sessions: Sessions,
    world: World,
    task_queue: str,
) -> None:
    env, client = skipping_env, skipping_env.client
    api, drive, u = skipping_api, Driver(skipping_api, world), world.users
    today = await _today(env)
    code, a1, _ = await _seed(sessions, world, today)
    a2, a3 = f"{code}-A2", f"{code}-A3"
    households = world.households[world.villages[0]][:4]
    async with sessions.begin() as s:
        first = await s.get(Asset, a1)
        assert first is not None
        for asset_id, village, township in (
            (a2, world.villages[0], world.townships[0]),
            (a3, world.villages[1], first.township_code),
        ):
            s.add(
                Asset(
                    id=asset_id,
                    project_code=code,
                    name="冬暖式大棚（二期）",
                    asset_class="operating",
                    quantity="5",
                    unit="个",
                    value_fen=40_000_000,
                    location="村南",
                    village_code=village,
                    township_code=township,
                    county_code=world.county,
                    status="in_use",
                    operator_type="village_collective",
                    contract_mode="self_operated",
                    registration_status="registered",
                )
            )
        await s.flush()
        # H0 and H1 hold shares in the first greenhouse, H1…H3 in the second: H1's shares are summed
        s.add_all([AssetIncomeShare(asset_id=a1, household_code=h, shares=1) for h in households[:2]])
        s.add_all([AssetIncomeShare(asset_id=a2, household_code=h, shares=2) for h in households[1:]])
        s.add(
            RevenueReport(
                asset_id=a2,
                project_code=code,
                period_start=today.replace(month=1, day=1),
                period_end=today,
                revenue_fen=3 * PROFIT,
                cost_fen=2 * PROFIT,
                profit_fen=PROFIT,
                reported_by=u["pm"].id,
                reported_at=datetime.now(UTC),
            )
        )
    async with build_worker(client, sessions, task_queue=task_queue, operation=SETTINGS):
        await client.start_workflow("ProjectWorkflow", _start(world, code), id=f"project-{code}", task_queue=task_queue)
        await drive.stage_is(code, "operation")
        pm = await drive.headers(drive.pm)
        resolution = await _upload(drive, "村民代表会议决议（大棚合并分配）.pdf")
        body: dict[str, Any] = {
            "fiscal_year": today.year,
            "buckets": {"collective_bp": 5000, "households_bp": 5000},
            "village_resolution": resolution,
            "group_assets": [a2],
        }
        path = f"/api/v1/assets/{a1}/distribution-rules"

        async def refused(group: list[str]) -> set[tuple[str, str]]:
            r = await api.post(path, json=body | {"group_assets": group}, headers=pm)
            assert r.status_code == 422, r.text
            return {(d["field"], d["rule"]) for d in r.json()["details"]}

        assert await refused([a3]) == {("group_assets[0]", "same_village")}
        assert await refused([a2, a2]) == {("group_assets[1]", "distinct")}
        assert await refused([a1]) == {("group_assets[0]", "distinct")}
        assert await refused([f"{code}-NOPE"]) == {("group_assets[0]", "same_project")}

        r = await api.post(path, json=body, headers=pm)
        assert r.status_code == 201, r.text
        # a proposal for the second asset alone while the group's is under review is refused
        alone = body | {"group_assets": []}
        r = await api.post(f"/api/v1/assets/{a2}/distribution-rules", json=alone, headers=pm)
        assert (r.status_code, r.json()["code"]) == (409, "proposal_pending"), r.text
        review = await drive.task_for(u["township"], code, "rule_review")
        assert (await drive.decide(u["township"], review["id"], decision="approve", opinion="同意")).status_code == 200
        approval = await drive.task_for(u["county"], code, "rule_approval")
        assert (await drive.decide(u["county"], approval["id"], decision="approve", opinion="同意")).status_code == 200

        async def member_sees_the_group() -> bool:
            r = await api.get(f"/api/v1/assets/{a2}/distribution-rules", headers=pm)
            items = r.json()["items"]
            return bool(items and items[0]["status"] == "approved" and items[0]["group_assets"] == [a2])

        await eventually(member_sees_the_group)
        await _receive(sessions, a1, code, u["pm"].id, today)

        finance = await drive.headers(u["finance"])
        opened = await api.post(
            "/api/v1/dividend-rounds",
            json={"scope_kind": "village", "scope_code": world.villages[0], "fiscal_year": today.year},
            headers=finance,
        )
        assert opened.status_code == 201, opened.text
        rid = opened.json()["id"]

        async def noticed() -> bool:
            return bool((await _round(api, drive, rid))["status"] == "noticed")

        await eventually(noticed)
        plan = await _round(api, drive, rid)
        assert [(p["asset_id"], p["members"]) for p in plan["pools"]] == [(a1, [a2])]
        assert plan["pool_fen"] == INCOME + PROFIT
        households_fen = (INCOME + PROFIT) // 2  # 50 % by largest remainder: the odd fen goes to the collective
        assert plan["households_fen"] in (households_fen, households_fen + 1)
        async with sessions() as s:
            lines = dict(
                (
                    await s.execute(
                        select(DividendLine.household_code, DividendLine.amount_fen).where(DividendLine.round_id == rid)
                    )
                ).all()
            )
            claims = set((await s.scalars(select(DividendClaim.asset_id).where(DividendClaim.round_id == rid))).all())
        assert claims == {a1, a2}
        assert sum(lines.values()) == plan["households_fen"]
        # weights 1, 1 + 2, 2, 2 of 8: exact to a fen of each quota
        weights = dict(zip(households, (1, 3, 2, 2), strict=True))
        for h, w in weights.items():
            assert abs(lines[h] - plan["households_fen"] * w / 8) < 1, (h, lines[h])

        # the same year of the second greenhouse (or of the whole county) cannot be distributed again
        for scope in ({"scope_kind": "asset", "scope_code": a2}, {"scope_kind": "county", "scope_code": world.county}):
            r = await api.post("/api/v1/dividend-rounds", json=scope | {"fiscal_year": today.year}, headers=finance)
            assert (r.status_code, r.json()["code"]) == (409, "already_distributed"), r.text
        async with sessions() as s:
            rounds = await s.scalar(
                select(func.count()).select_from(DividendClaim).where(DividendClaim.round_id != rid)
            )
        assert rounds == 0
