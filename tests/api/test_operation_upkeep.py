"""An asset's upkeep through the API: inspections (damage opens a repair), repairs closed with their cost as the
year's upkeep cost and the asset back in use, routine costs, the upkeep arrangement, use status, and the register's
operation filters."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from db.engine import Sessions
from db.models import Asset, Contract, Inspection, Repair, UpkeepCost
from tests.api.operation_helpers import Operation, audit_actions, count, problems, seed_operation, upload
from tests.conftest import Login, World

URL = "/api/v1/assets"


@pytest.fixture
async def op(sessions: Sessions, world: World) -> Operation:
    return await seed_operation(sessions, world)


async def _asset(sessions: Sessions, asset_id: str) -> Asset:
    async with sessions() as s:
        asset = await s.get(Asset, asset_id)
        assert asset is not None
        return asset


async def test_a_good_inspection_marks_the_due_one_done(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    body = {"inspected_on": op.today.isoformat(), "condition": "good", "photos": [await upload(api, pm)]}
    r = await api.post(f"{URL}/{op.leased}/inspections", json=body, headers=pm)
    assert r.status_code == 201, r.text
    assert (r.json()["id"], r.json()["status"], r.json()["repair_id"]) == (op.inspection, "done", None)
    again = await api.post(f"{URL}/{op.leased}/inspections", json=body, headers=pm)  # a retry: the same record
    assert (again.status_code, again.json()["id"], again.headers["Idempotent-Replayed"]) == (201, op.inspection, "true")
    r = await api.post(f"{URL}/{op.leased}/inspections", json=body | {"condition": "fair"}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "inspection_recorded")
    # none due now: the next inspection is a done row of its own
    yesterday = {
        "inspected_on": (op.today - timedelta(days=1)).isoformat(),
        "condition": "fair",
        "photos": body["photos"],
    }
    r = await api.post(f"{URL}/{op.leased}/inspections", json=yesterday, headers=pm)
    assert r.status_code == 201, r.text
    assert r.json()["due_date"] == yesterday["inspected_on"]
    r = await api.get(f"{URL}/{op.leased}/inspections", headers=await login(world.users["supervisor"]))
    assert [(i["status"], i["condition"]) for i in r.json()["items"]] == [("done", "fair"), ("done", "good")]
    assert (await audit_actions(sessions, op.project)).count("inspection_done") == 2
    assert (await _asset(sessions, op.leased)).status == "leased"


async def test_an_inspection_needs_photos_and_a_day_not_in_the_future(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    tomorrow = (op.today + timedelta(days=1)).isoformat()
    r = await api.post(
        f"{URL}/{op.leased}/inspections", json={"inspected_on": tomorrow, "condition": "good", "photos": []}, headers=pm
    )
    assert problems(r) == {("photos", "too_short")}
    r = await api.post(
        f"{URL}/{op.leased}/inspections",
        json={"inspected_on": tomorrow, "condition": "broken", "photos": ["a" * 64]},
        headers=pm,
    )
    assert problems(r) == {("condition", "enum")}
    r = await api.post(
        f"{URL}/{op.leased}/inspections",
        json={"inspected_on": tomorrow, "condition": "good", "photos": ["a" * 64]},
        headers=pm,
    )
    assert problems(r) == {("inspected_on", "not_in_future"), ("photos[0]", "exists")}
    async with sessions() as s:
        due = await s.get(Inspection, op.inspection)
        assert due is not None
        assert due.status == "due"


async def test_damage_opens_a_repair_closed_with_its_cost_and_the_asset_is_back_in_use(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    photo = await upload(api, pm)
    body = {"inspected_on": op.today.isoformat(), "condition": "damaged", "photos": [photo], "note": "棚膜破损三处"}
    r = await api.post(f"{URL}/{op.leased}/inspections", json=body, headers=pm)
    assert r.status_code == 201, r.text
    repair_id = r.json()["repair_id"]
    assert repair_id is not None
    assert (await _asset(sessions, op.leased)).status == "damaged"
    r = await api.get(f"{URL}/{op.leased}/repairs", headers=pm)
    [repair] = r.json()["items"]
    assert (repair["description"], repair["status"], r.json()["asset_status"]) == ("棚膜破损三处", "open", "damaged")
    r = await api.post(f"{URL}/{op.leased}/status", json={"status": "in_use"}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "under_repair")
    close = f"{URL}/{op.leased}/repairs/{repair_id}/close"
    early = (op.today - timedelta(days=1)).isoformat()
    r = await api.post(close, json={"cost_fen": -1, "closed_on": early}, headers=pm)
    assert problems(r) == {("cost_fen", "greater_than_equal")}
    r = await api.post(close, json={"cost_fen": 80_000, "closed_on": early}, headers=pm)
    assert problems(r) == {("closed_on", "not_before_opened")}
    evidence = [await upload(api, pm)]
    done = {"cost_fen": 80_000, "closed_on": op.today.isoformat(), "evidence": evidence}
    r = await api.post(close, json=done, headers=pm)
    assert r.status_code == 200, r.text
    assert (r.json()["items"][0]["status"], r.json()["asset_status"]) == ("closed", "leased")
    again = await api.post(close, json=done, headers=pm)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    r = await api.post(close, json=done | {"cost_fen": 1}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "repair_closed")
    async with sessions() as s:
        [cost] = (await s.scalars(select(UpkeepCost).where(UpkeepCost.repair_id == repair_id))).all()
        assert (cost.kind, cost.amount_fen, cost.fiscal_year, cost.spent_on) == (
            "repair",
            80_000,
            op.today.year,
            op.today,
        )
        stored = await s.get(Repair, repair_id)
        assert stored is not None
        assert (stored.cost_fen, stored.evidence) == (80_000, evidence)
    assert (await _asset(sessions, op.leased)).status == "leased"
    actions = await audit_actions(sessions, op.project)
    assert [a for a in actions if a.startswith(("inspection", "repair"))] == [
        "inspection_done",
        "repair_opened",
        "repair_closed",
    ]
    r = await api.get(f"{URL}/{op.leased}/upkeep-costs", params={"year": op.today.year}, headers=pm)
    assert (r.json()["total_fen"], r.json()["items"][0]["repair_id"]) == (80_000, repair_id)


async def test_a_repair_opened_by_hand_puts_an_asset_without_contract_back_in_use(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    body = {"description": "水泵损坏", "opened_on": op.today.isoformat()}
    r = await api.post(f"{URL}/{op.own}/repairs", json=body, headers=pm)
    assert r.status_code == 201, r.text
    again = await api.post(f"{URL}/{op.own}/repairs", json=body, headers=pm)
    assert again.json()["id"] == r.json()["id"]
    assert await count(sessions, Repair, asset_id=op.own) == 1
    async with sessions.begin() as s:  # damaged, and its contract gone
        await s.execute(update(Asset).where(Asset.id == op.own).values(status="damaged"))
        await s.execute(update(Contract).where(Contract.asset_id == op.own).values(status="expired"))
    close = f"{URL}/{op.own}/repairs/{r.json()['id']}/close"
    r = await api.post(close, json={"cost_fen": 0, "closed_on": op.today.isoformat()}, headers=pm)
    assert r.status_code == 200, r.text
    assert r.json()["asset_status"] == "in_use"


async def test_routine_upkeep_costs_and_the_upkeep_arrangement(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    last_year = op.today.replace(year=op.today.year - 1, day=1)
    costs = f"{URL}/{op.own}/upkeep-costs"
    for amount, day, kind in ((12_000, op.today, "routine"), (3_000, last_year, "other")):
        body = {"amount_fen": amount, "spent_on": day.isoformat(), "kind": kind, "description": "日常管护"}
        r = await api.post(costs, json=body, headers=pm | {"Idempotency-Key": f"cost-{kind}"})
        assert r.status_code == 201, r.text
        assert r.json()["fiscal_year"] == day.year
        assert "Idempotent-Replayed" not in r.headers
        # the same request again (a retry after a lost answer) is the same cost, not a second one
        again = await api.post(costs, json=body, headers=pm | {"Idempotency-Key": f"cost-{kind}"})
        assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (201, r.json(), "true")
    # the key with another body is refused, and so is a cost without a key
    body = {"amount_fen": 12_001, "spent_on": op.today.isoformat(), "kind": "routine", "description": "日常管护"}
    r = await api.post(costs, json=body, headers=pm | {"Idempotency-Key": "cost-routine"})
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_reused")
    r = await api.post(costs, json=body, headers=pm)
    assert problems(r) == {("Idempotency-Key", "missing")}
    r = await api.post(
        costs,
        json={"amount_fen": 0, "spent_on": op.today.isoformat(), "kind": "repair", "description": ""},
        headers=pm | {"Idempotency-Key": "cost-bad"},
    )
    assert problems(r) == {("amount_fen", "greater_than"), ("kind", "enum"), ("description", "string_too_short")}
    r = await api.get(costs, params={"year": op.today.year}, headers=pm)
    assert (r.json()["total_fen"], len(r.json()["items"])) == (12_000, 1)
    r = await api.get(costs, headers=pm)
    assert r.json()["total_fen"] == 15_000
    assert (await audit_actions(sessions, op.project)).count("upkeep_cost_recorded") == 2
    upkeep = {"body": "东关村股份经济合作社", "person": "李四", "fund_source": "村集体经营收益"}
    r = await api.put(f"{URL}/{op.own}/upkeep", json=upkeep, headers=pm)
    assert r.status_code == 200, r.text
    r = await api.put(f"{URL}/{op.own}/upkeep", json=upkeep, headers=pm)  # the same again: nothing changes
    assert r.status_code == 200
    asset = await _asset(sessions, op.own)
    assert (asset.upkeep_body, asset.upkeep_person, asset.upkeep_fund_source) == tuple(upkeep.values())
    assert (await audit_actions(sessions, op.project)).count("upkeep_set") == 1
    r = await api.put(f"{URL}/{op.own}/upkeep", json=upkeep | {"person": "   "}, headers=pm)
    assert problems(r) == {("person", "string_too_short")}
    r = await api.put(f"{URL}/{op.own}/upkeep", json=upkeep, headers=await login(world.users["township"]))
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")


async def test_idle_and_back_to_use(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    status = f"{URL}/{op.own}/status"
    r = await api.post(status, json={"status": "idle"}, headers=pm)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["idle_since"]) == ("idle", op.today.isoformat())
    since = (op.today - timedelta(days=20)).isoformat()
    r = await api.post(status, json={"status": "idle", "since": since}, headers=pm)
    assert r.json()["idle_since"] == since
    r = await api.post(status, json={"status": "idle", "since": (op.today + timedelta(days=1)).isoformat()}, headers=pm)
    assert problems(r) == {("since", "not_in_future")}
    for refused, rule in (("disposed", "disposal_process"), ("damaged", "by_inspection"), ("sold", "enum")):
        r = await api.post(status, json={"status": refused}, headers=pm)
        assert problems(r) == {("status", rule)}, refused
    r = await api.post(status, json={"status": "in_use"}, headers=pm)
    assert (r.json()["status"], r.json()["idle_since"]) == ("in_use", None)
    asset = await _asset(sessions, op.own)
    assert (asset.status, asset.idle_since) == ("in_use", None)
    assert (await audit_actions(sessions, op.project)).count("asset_status_set") == 3
    r = await api.post(status, json={"status": "idle"}, headers=await login(world.users["pm2"]))
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")


async def test_register_filters_arrears_expiring_idle_and_colour(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])

    async def ids(**params: str) -> set[str]:
        r = await api.get(URL, params={"project": op.project, **params}, headers=county)
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["items"]}

    assert await ids() == {op.leased, op.own}
    assert await ids(arrears="true") == {op.leased}
    assert await ids(arrears="false") == {op.own}
    assert await ids(expiring_within_days="60") == {op.leased, op.own}  # both contracts end in 50 days
    assert await ids(expiring_within_days="30") == set()
    async with sessions.begin() as s:
        await s.execute(update(Asset).where(Asset.id == op.own).values(status="idle", operation_colour="red"))
        await s.execute(update(Asset).where(Asset.id == op.leased).values(operation_colour="blue"))
    assert await ids(idle="true") == {op.own}
    assert await ids(operation_colour="red") == {op.own}
    assert await ids(operation_colour="blue", arrears="true") == {op.leased}
    r = await api.get(URL, params={"operation_colour": "yellow", "expiring_within_days": "-1"}, headers=county)
    assert problems(r) == {
        ("operation_colour", "string_pattern_mismatch"),
        ("expiring_within_days", "greater_than_equal"),
    }
    # paying off both past-due periods takes the asset off the arrears list
    pm = await login(world.users["pm"])
    for n, rid in enumerate(op.receivables[:2]):
        r = await api.post(
            f"{URL}/{op.leased}/receivables/{rid}/payments",
            json={"amount_fen": 300_000, "received_on": op.today.isoformat()},
            headers=pm | {"Idempotency-Key": f"arrears-{n}"},
        )
        assert r.status_code == 201, r.text
    assert await ids(arrears="true") == set()
