"""The asset register through the API: filters and paging, the four rights without personal data, who may read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.worker import Worker

from db.engine import Sessions
from db.models import AssetIncomeShare, AssetOwnership, Household
from domain.enums import Stage
from tests.conftest import Login, World, application, asset_row

URL = "/api/v1/assets"


@dataclass
class Register:
    """Four assets in two projects of one county."""

    project: str
    other_project: str
    leased: str  # operating, two owning villages, three beneficiary households, registered, contract ends 2026
    idle: str  # public welfare, idle
    household: str  # a household asset
    elsewhere: str  # operating, in the second township, contract ends 2030


@pytest.fixture
async def register(api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions) -> Register:
    """Two projects filed through the API, and assets inserted for them."""
    r = await api.post("/api/v1/projects", json=application(world), headers=await login(world.users["pm"]))
    assert r.status_code == 201, r.text
    project = r.json()["code"]
    v0, v1, v2 = world.villages
    r = await api.post("/api/v1/projects", json=application(world, village=v2), headers=await login(world.users["pm2"]))
    assert r.status_code == 201, r.text
    other = r.json()["code"]
    tag = uuid.uuid4().hex[:8]
    reg = Register(project, other, f"ZC-{tag}-1", f"ZC-{tag}-2", f"ZC-{tag}-3", f"ZC-{tag}-4")
    async with sessions.begin() as s:
        s.add_all(
            [
                asset_row(
                    reg.leased,
                    project,
                    v0,
                    name="冬暖式大棚 10 个",
                    quantity="10",
                    unit="个",
                    value_fen=98_000_000,
                    status="leased",
                    operator_name="东关村股份经济合作社",
                    operator_type="cooperative",
                    contract_mode="lease",
                    contract_start=date(2024, 7, 1),
                    contract_end=date(2026, 6, 30),
                    contract_term_years=2,
                    annual_rent_fen=6_860_000,
                    supervision={"township": "镇农经站", "county": "县农业农村局"},
                    platform_card_no=f"SZ{world.county}20250101{tag}",
                    platform_registered_at=datetime(2025, 1, 1, 2, tzinfo=UTC),
                    registration_status="registered",
                ),
                asset_row(reg.idle, project, v0, name="村道路灯", asset_class="public_welfare", status="idle"),
                asset_row(
                    reg.household,
                    project,
                    v0,
                    name="到户肉牛 2 头",
                    asset_class="household",
                    household_code=world.households[v0][3],
                ),
                asset_row(
                    reg.elsewhere,
                    other,
                    v2,
                    name="冷库",
                    operator_name="润丰农业有限公司",
                    operator_type="company",
                    contract_mode="entrusted",
                    contract_start=date(2025, 1, 1),
                    contract_end=date(2030, 12, 31),
                    contract_term_years=6,
                    annual_rent_fen=1_000_000,
                    registration_status="waiting_for_platform",
                ),
            ]
        )
        await s.flush()
        s.add_all(
            [
                AssetOwnership(asset_id=reg.leased, village_code=v1, share_bp=4000),
                AssetOwnership(asset_id=reg.leased, village_code=v0, share_bp=6000),
                AssetOwnership(asset_id=reg.idle, village_code=v0, share_bp=10000),
                AssetOwnership(asset_id=reg.elsewhere, village_code=v2, share_bp=3333),
                AssetOwnership(asset_id=reg.elsewhere, village_code=v0, share_bp=6667),
            ]
        )
        s.add_all(
            [
                AssetIncomeShare(asset_id=reg.leased, household_code=code, shares=shares)
                for code, shares in zip(world.households[v0][:3], (2, 1, 1), strict=True)
            ]
        )
    return reg


async def _ids(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    r = await api.get(URL, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["items"])  # every test register fits one default page
    return {a["id"] for a in body["items"]}


async def test_filters_and_paging(api: httpx.AsyncClient, register: Register, world: World, login: Login) -> None:
    reg = register
    county = await login(world.users["county"])
    everything = {reg.leased, reg.idle, reg.household, reg.elsewhere}
    assert await _ids(api, county) == everything
    # 冷库 lies in another township but a village of the pm's township owns two thirds of it: a co-owner sees it
    assert await _ids(api, await login(world.users["pm"])) == {reg.leased, reg.idle, reg.household, reg.elsewhere}
    assert await _ids(api, await login(world.users["pm2"])) == {reg.elsewhere}
    assert await _ids(api, county, region=world.townships[1]) == {reg.elsewhere}
    assert await _ids(api, county, region=world.villages[0]) == {reg.leased, reg.idle, reg.household, reg.elsewhere}
    assert await _ids(api, county, region=world.villages[1]) == {reg.leased}  # a 40 % co-owner
    assert await _ids(api, await login(world.users["city"]), region=world.county) == everything
    assert await _ids(api, county, **{"class": "operating"}) == {reg.leased, reg.elsewhere}
    assert await _ids(api, county, **{"class": "household"}) == {reg.household}
    assert await _ids(api, county, operator="合作社") == {reg.leased}
    assert await _ids(api, county, operator="%") == set()  # a wildcard is a character, not a pattern
    assert await _ids(api, county, status="leased") == {reg.leased}
    assert await _ids(api, county, contract_expiring_before="2027-01-01") == {reg.leased}
    assert await _ids(api, county, contract_expiring_before="2031-01-01") == {reg.leased, reg.elsewhere}
    assert await _ids(api, county, idle="true") == {reg.idle}
    assert await _ids(api, county, idle="false") == everything - {reg.idle}
    assert await _ids(api, county, project=reg.project) == {reg.leased, reg.idle, reg.household}
    assert await _ids(api, county, registration_status="registered") == {reg.leased}
    assert await _ids(api, county, registration_status="waiting_for_platform") == {reg.elsewhere}
    operating_here = {reg.leased, reg.elsewhere}
    assert await _ids(api, county, **{"class": "operating"}, region=world.townships[0], idle="false") == operating_here
    pages = [await api.get(URL, params={"limit": 3, "offset": o}, headers=county) for o in (0, 3)]
    assert [p.json()["count"] for p in pages] == [4, 4]
    assert [len(p.json()["items"]) for p in pages] == [3, 1]
    assert {a["id"] for p in pages for a in p.json()["items"]} == everything
    summary = next(a for a in pages[0].json()["items"] + pages[1].json()["items"] if a["id"] == reg.leased)
    assert summary["platform_card_no"].startswith(f"SZ{world.county}")
    assert summary["contract_end"] == "2026-06-30"


async def test_bad_filters(api: httpx.AsyncClient, register: Register, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    r = await api.get(URL, params={"region": world.townships[1]}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.get(URL, params={"region": world.county}, headers=pm)  # wider than the caller's township
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.get(URL, params={"region": world.townships[0] + "999"}, headers=pm)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "region")
    for params, field in [
        ({"class": "mine"}, "class"),
        ({"status": "lost"}, "status"),
        ({"region": "12ab"}, "region"),
        ({"contract_expiring_before": "next year"}, "contract_expiring_before"),
        ({"idle": "maybe"}, "idle"),
        ({"limit": 0}, "limit"),
        ({"registration_status": "done"}, "registration_status"),
    ]:
        r = await api.get(URL, params=params, headers=pm)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["details"][0]["field"] == field


async def test_detail_shows_the_four_rights_without_personal_data(
    api: httpx.AsyncClient, register: Register, world: World, login: Login, sessions: Sessions
) -> None:
    reg = register
    r = await api.get(f"{URL}/{reg.leased}", headers=await login(world.users["supervisor"]))
    assert r.status_code == 200, r.text
    a = r.json()
    v0, v1, _ = world.villages
    assert (a["id"], a["name"], a["asset_class"], a["value_fen"]) == (
        reg.leased,
        "冬暖式大棚 10 个",
        "operating",
        98_000_000,
    )
    assert (a["quantity"], a["unit"], a["location"], a["status"]) == ("10", "个", "村南", "leased")
    assert a["ownership"] == {
        "owners": [
            {"village_code": v0, "village_name": f"村{v0}", "share_bp": 6000, "share_percent": "60.00%"},
            {"village_code": v1, "village_name": f"村{v1}", "share_bp": 4000, "share_percent": "40.00%"},
        ],
        "household": None,
    }
    assert a["operating"] == {
        "operator_name": "东关村股份经济合作社",
        "operator_type": "cooperative",
        "contract_mode": "lease",
        "contract_start": "2024-07-01",
        "contract_end": "2026-06-30",
        "contract_term_years": 2,
        "annual_rent_fen": 6_860_000,
    }
    codes = world.households[v0][:3]
    assert a["income"] == {
        "households": [
            {"household_code": codes[0], "head_name": "户主1", "shares": 2},
            {"household_code": codes[1], "head_name": "户主2", "shares": 1},
            {"household_code": codes[2], "head_name": "户主3", "shares": 1},
        ],
        "total_shares": 4,
    }
    assert a["supervision"] == {"township": "镇农经站", "county": "县农业农村局"}
    assert a["platform_card_no"].startswith(f"SZ{world.county}2025")
    assert a["platform_registered_at"].startswith("2025-01-01T02:00")
    assert a["registration_status"] == "registered"
    assert a["project"]["code"] == reg.project
    assert a["project"]["name"] == "测试冬暖式大棚项目"
    assert a["project"]["stage"] in {s.value for s in Stage}
    async with sessions() as s:
        people = (await s.execute(select(Household.id_number, Household.bank_account))).all()
    assert people
    assert "id_number" not in r.text
    assert "bank_account" not in r.text
    assert not any(number in r.text or account in r.text for number, account in people)

    # uneven shares keep two decimals, largest first
    r = await api.get(f"{URL}/{reg.elsewhere}", headers=await login(world.users["county"]))
    assert [(o["share_bp"], o["share_percent"]) for o in r.json()["ownership"]["owners"]] == [
        (6667, "66.67%"),
        (3333, "33.33%"),
    ]
    assert r.json()["income"] == {"households": [], "total_shares": 0}

    r = await api.get(f"{URL}/{reg.household}", headers=await login(world.users["pm"]))
    h = r.json()
    assert h["ownership"] == {
        "owners": [],
        "household": {"household_code": world.households[v0][3], "head_name": "户主4"},
    }
    assert (h["household_code"], h["platform_card_no"], h["registration_status"]) == (
        world.households[v0][3],
        None,
        "draft",
    )
    assert not any(number in r.text or account in r.text for number, account in people)


async def test_every_role_but_expert_reads_inside_its_region(
    api: httpx.AsyncClient, register: Register, world: World, login: Login
) -> None:
    for key in ("pm", "township", "county", "city", "supervisor", "finance", "admin"):
        r = await api.get(f"{URL}/{register.leased}", headers=await login(world.users[key]))
        assert r.status_code == 200, (key, r.text)
    for key in ("pm2", "township_other"):
        headers = await login(world.users[key])
        r = await api.get(f"{URL}/{register.leased}", headers=headers)
        assert (r.status_code, r.json()["code"]) == (403, "region_forbidden"), key
        assert register.leased not in await _ids(api, headers)
    expert = await login(world.users["expert"])
    for path in (URL, f"{URL}/{register.leased}"):
        r = await api.get(path, headers=expert)
        assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")


async def test_unknown_asset_and_missing_token(api: httpx.AsyncClient, world: World, login: Login) -> None:
    r = await api.get(f"{URL}/ZC-no-such-asset", headers=await login(world.users["county"]))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    for path in (URL, f"{URL}/ZC-no-such-asset"):
        r = await api.get(path)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        r = await api.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
