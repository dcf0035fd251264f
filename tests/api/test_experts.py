"""The expert library through the API: who may read and change it, every bad value, duplicates, audit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db.engine import Sessions
from db.models import AuditEntry, Expert
from db.repositories.audit import verify_audit_chains
from tests.conftest import Login, World

CHAIN = "library:experts"


def _expert(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "刘建华",
        "specialties": ["greenhouse", "livestock"],
        "region_code": world.county,
        "affiliation": "县农业农村局",
        "conflict_townships": [world.townships[1]],
        "conflict_organisations": ["东关村股份经济合作社"],
        "active": True,
    }
    body.update(overrides)
    return body


async def _audit(sessions: Sessions, expert_id: int) -> list[AuditEntry]:
    async with sessions() as s:
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.chain == CHAIN).order_by(AuditEntry.seq))).all()
    return [r for r in rows if r.payload.get("expert_id") == expert_id]


async def test_create_stores_the_library_shape_and_audits(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    body = _expert(world, username=world.users["expert"].username, specialties=["greenhouse", "greenhouse", "workshop"])
    r = await api.post("/api/v1/experts", json=body, headers=county)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created == {
        "id": created["id"],
        "name": "刘建华",
        "specialties": ["greenhouse", "workshop"],
        "region_code": world.county,
        "affiliation": "县农业农村局",
        "conflict_townships": [world.townships[1]],
        "conflict_organisations": ["东关村股份经济合作社"],
        "active": True,
        "user_id": world.users["expert"].id,
        "username": world.users["expert"].username,
    }
    async with sessions() as s:
        row = await s.get(Expert, created["id"])
    assert row is not None
    # the same JSON shape the CSV import writes and the expert draw reads
    assert row.conflicts == {"townships": [world.townships[1]], "organisations": ["东关村股份经济合作社"]}
    assert (row.user_id, row.specialties, row.active) == (world.users["expert"].id, ["greenhouse", "workshop"], True)

    entries = await _audit(sessions, created["id"])
    assert [(e.action, e.actor_id) for e in entries] == [("expert_created", world.users["county"].id)]
    assert entries[0].payload["conflicts"] == row.conflicts
    async with sessions() as s:
        [report] = await verify_audit_chains(s, chain=CHAIN)
    assert report.problems == []

    r = await api.get(f"/api/v1/experts/{created['id']}", headers=county)
    assert (r.status_code, r.json()) == (200, created)


@pytest.mark.parametrize(
    ("case", "overrides", "field", "rule"),
    [
        ("empty name", {"name": "  "}, "name", "string_too_short"),
        ("no specialty", {"specialties": []}, "specialties", "too_short"),
        ("unknown specialty", {"specialties": ["greenhouse", "rockets"]}, "specialties[1]", "enum"),
        ("malformed region", {"region_code": "12345"}, "region_code", "string_pattern_mismatch"),
        (
            "malformed township",
            {"conflict_townships": ["12345678"]},
            "conflict_townships[0]",
            "string_pattern_mismatch",
        ),
        ("empty organisation", {"conflict_organisations": [""]}, "conflict_organisations[0]", "string_too_short"),
        ("active not a boolean", {"active": "maybe"}, "active", "bool_parsing"),
        ("unknown field", {"email": "a@b.c"}, "email", "extra_forbidden"),
        ("missing region", {"region_code": None}, "region_code", "string_type"),
    ],
)
async def test_create_refuses_each_malformed_value(
    api: httpx.AsyncClient,
    world: World,
    login: Login,
    sessions: Sessions,
    case: str,
    overrides: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    r = await api.post("/api/v1/experts", json=_expert(world, **overrides), headers=await login(world.users["county"]))
    assert r.status_code == 422, case
    assert r.json()["code"] == "validation_error"
    assert {"field": field, "rule": rule} in [{"field": d["field"], "rule": d["rule"]} for d in r.json()["details"]], (
        case,
        r.json(),
    )
    async with sessions() as s:
        assert (await s.scalars(select(Expert).where(Expert.region_code.startswith(world.county)))).all() == []


async def test_create_refuses_values_naming_nothing_usable(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    cases = [
        ({"region_code": "990101"}, "region_code", "exists"),  # well-formed, no such region
        ({"region_code": world.city}, "region_code", "in_your_region"),  # the city is above the county
        ({"conflict_townships": [world.townships[0], world.county + "999"]}, "conflict_townships[1]", "exists"),
        ({"conflict_townships": [world.villages[0][:9]], "region_code": world.villages[0]}, None, None),
        ({"username": "nobody-at-all"}, "username", "expert_account"),
        ({"username": world.users["township"].username}, "username", "expert_account"),  # not an expert
    ]
    for overrides, field, rule in cases:
        r = await api.post("/api/v1/experts", json=_expert(world, **overrides), headers=county)
        if field is None:
            assert r.status_code == 201, r.text  # a village inside the county is a fine region
            continue
        assert r.status_code == 422, overrides
        assert r.json()["details"] == [{"field": field, "rule": rule, "message": r.json()["details"][0]["message"]}]

    # several bad values at once: each one is named
    r = await api.post(
        "/api/v1/experts",
        json=_expert(world, region_code=world.city, conflict_townships=[world.county + "999"], username="nobody"),
        headers=county,
    )
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["details"]] == ["region_code", "conflict_townships[0]", "username"]
    async with sessions() as s:
        stored = (await s.scalars(select(Expert).where(Expert.region_code.startswith(world.county)))).all()
    assert [e.region_code for e in stored] == [world.villages[0]]


async def test_duplicates_and_a_second_link_of_one_account_are_409(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    account = world.users["expert"].username
    first = await api.post("/api/v1/experts", json=_expert(world, username=account), headers=county)
    assert first.status_code == 201
    r = await api.post("/api/v1/experts", json=_expert(world, specialties=["other"]), headers=county)
    assert r.status_code == 409
    assert r.json()["code"] == "expert_exists"
    assert r.json()["details"] == {"expert_id": first.json()["id"]}
    # the same name elsewhere is another person
    other = await api.post("/api/v1/experts", json=_expert(world, affiliation="市农科院"), headers=county)
    assert other.status_code == 201
    r = await api.post("/api/v1/experts", json=_expert(world, name="陈明", username=account), headers=county)
    assert r.status_code == 409
    assert r.json()["code"] == "account_linked"
    # a change that would make two experts the same person, or link one account twice, is refused too
    r = await api.patch(f"/api/v1/experts/{other.json()['id']}", json={"affiliation": "县农业农村局"}, headers=county)
    assert (r.status_code, r.json()["code"]) == (409, "expert_exists")
    r = await api.patch(f"/api/v1/experts/{other.json()['id']}", json={"username": account}, headers=county)
    assert (r.status_code, r.json()["code"]) == (409, "account_linked")
    async with sessions() as s:
        stored = (await s.scalars(select(Expert).where(Expert.region_code == world.county).order_by(Expert.id))).all()
    assert [(e.name, e.affiliation, e.user_id) for e in stored] == [
        ("刘建华", "县农业农村局", world.users["expert"].id),
        ("刘建华", "市农科院", None),
    ]


async def test_only_reviewers_and_admins_change_and_only_overseers_read(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    for key in ("pm", "township", "expert", "finance", "supervisor"):
        r = await api.post("/api/v1/experts", json=_expert(world), headers=await login(world.users[key]))
        assert r.status_code == 403, key
        assert r.json()["code"] == "role_forbidden"
        assert set(r.json()) == {"code", "message", "details"}
    created = {}
    for key in ("county", "city", "admin"):
        r = await api.post(
            "/api/v1/experts", json=_expert(world, name=f"专家{key}"), headers=await login(world.users[key])
        )
        assert r.status_code == 201, (key, r.text)
        created[key] = r.json()["id"]

    for key in ("pm", "township", "expert", "finance"):
        headers = await login(world.users[key])
        assert (await api.get("/api/v1/experts", headers=headers)).status_code == 403, key
        assert (await api.get(f"/api/v1/experts/{created['county']}", headers=headers)).status_code == 403, key
    for key in ("supervisor", "county", "city", "admin"):
        headers = await login(world.users[key])
        r = await api.get("/api/v1/experts", headers=headers, params={"region": world.county})
        assert r.status_code == 200, key
        assert sorted(e["id"] for e in r.json()["items"]) == sorted(created.values()), key
        assert (await api.get(f"/api/v1/experts/{created['county']}", headers=headers)).status_code == 200

    sup = await login(world.users["supervisor"])
    r = await api.patch(f"/api/v1/experts/{created['county']}", json={"active": False}, headers=sup)
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        assert (await api.get("/api/v1/experts", headers=headers)).status_code == 401
        assert (await api.post("/api/v1/experts", json=_expert(world), headers=headers)).status_code == 401


async def test_region_limits_reads_and_changes(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    city = await login(world.users["city"])
    county = await login(world.users["county"])
    # an expert registered at city level lies outside the county reviewer's region
    r = await api.post("/api/v1/experts", json=_expert(world, region_code=world.city, name="市级专家"), headers=city)
    assert r.status_code == 201
    city_expert = r.json()["id"]
    r = await api.post("/api/v1/experts", json=_expert(world, name="县级专家"), headers=county)
    county_expert = r.json()["id"]

    r = await api.get(f"/api/v1/experts/{city_expert}", headers=county)
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.patch(f"/api/v1/experts/{city_expert}", json={"active": False}, headers=county)
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    listed = (await api.get("/api/v1/experts", headers=county)).json()
    assert [e["id"] for e in listed["items"]] == [county_expert]
    # asking for a region above yours is refused, as on every list with a region filter
    r = await api.get("/api/v1/experts", headers=county, params={"region": world.city})
    assert (r.status_code, r.json()["code"], r.json()["details"][0]["field"]) == (403, "region_forbidden", "region")
    # moving an expert out of your region is refused, naming the field
    r = await api.patch(f"/api/v1/experts/{county_expert}", json={"region_code": world.city}, headers=county)
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "region_code"
    assert r.json()["details"][0]["rule"] == "in_your_region"

    assert (await api.get("/api/v1/experts/999999999", headers=county)).status_code == 404
    r = await api.patch("/api/v1/experts/999999999", json={"active": False}, headers=county)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (await api.get("/api/v1/experts/not-a-number", headers=county)).status_code == 422
    async with sessions() as s:
        stored = await s.get(Expert, city_expert)
    assert stored is not None
    assert stored.active is True


async def test_list_filters_and_paging(api: httpx.AsyncClient, world: World, login: Login) -> None:
    county = await login(world.users["county"])
    specs = [
        ("王大棚", ["greenhouse"], world.county, "县农业农村局", True),
        ("李光伏", ["photovoltaic"], world.townships[0], "县发改局", True),
        ("张冷库", ["cold_storage", "greenhouse"], world.townships[1], "市农科院", False),
    ]
    ids = {}
    for name, specialties, region, affiliation, active in specs:
        body = _expert(world, name=name, specialties=specialties, region_code=region, affiliation=affiliation)
        r = await api.post("/api/v1/experts", json=body | {"active": active}, headers=county)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]

    async def listed(**params: Any) -> list[str]:
        r = await api.get("/api/v1/experts", headers=county, params=params)
        assert r.status_code == 200, r.text
        return [e["name"] for e in r.json()["items"]]

    assert await listed() == ["王大棚", "李光伏", "张冷库"]  # by region, then name
    assert await listed(specialty="greenhouse") == ["王大棚", "张冷库"]
    assert await listed(active=False) == ["张冷库"]
    assert await listed(active=True, specialty="greenhouse") == ["王大棚"]
    assert await listed(region=world.townships[0]) == ["李光伏"]
    assert await listed(text="农科") == ["张冷库"]
    assert await listed(text="李") == ["李光伏"]
    assert await listed(text="%") == []
    page = (await api.get("/api/v1/experts", headers=county, params={"limit": 2, "offset": 1})).json()
    assert ([e["name"] for e in page["items"]], page["count"], page["limit"], page["offset"]) == (
        ["李光伏", "张冷库"],
        3,
        2,
        1,
    )
    for params, field in (
        ({"specialty": "rockets"}, "specialty"),
        ({"region": "12"}, "region"),
        ({"region": world.county + "999"}, "region"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"active": "perhaps"}, "active"),
    ):
        r = await api.get("/api/v1/experts", headers=county, params=params)
        assert r.status_code == 422, params
        assert r.json()["details"][0]["field"] == field


async def test_patch_changes_only_what_is_sent_and_audits_the_change(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    body = _expert(world, username=world.users["expert"].username)
    created = (await api.post("/api/v1/experts", json=body, headers=county)).json()
    url = f"/api/v1/experts/{created['id']}"

    r = await api.patch(url, json={"active": False}, headers=county)
    assert r.status_code == 200
    assert r.json() == created | {"active": False}
    r = await api.patch(url, json={"conflict_organisations": ["西关合作社", "西关合作社"]}, headers=county)
    assert r.json()["conflict_organisations"] == ["西关合作社"]
    assert r.json()["conflict_townships"] == created["conflict_townships"]
    r = await api.patch(url, json={"specialties": ["workshop"], "username": None}, headers=county)
    assert (r.json()["specialties"], r.json()["user_id"], r.json()["username"]) == (["workshop"], None, None)
    # nothing changes: nothing is audited
    r = await api.patch(url, json={"active": False}, headers=county)
    assert r.status_code == 200

    async with sessions() as s:
        row = await s.get(Expert, created["id"])
    assert row is not None
    assert row.conflicts == {"townships": created["conflict_townships"], "organisations": ["西关合作社"]}
    assert (row.active, row.user_id, row.specialties) == (False, None, ["workshop"])
    entries = await _audit(sessions, created["id"])
    assert [e.action for e in entries] == ["expert_created", "expert_updated", "expert_updated", "expert_updated"]
    assert entries[1].payload["changes"] == {"active": [True, False]}
    assert entries[2].payload["changes"] == {
        "conflicts": [
            {"townships": created["conflict_townships"], "organisations": ["东关村股份经济合作社"]},
            {"townships": created["conflict_townships"], "organisations": ["西关合作社"]},
        ]
    }
    assert entries[3].payload["changes"] == {
        "specialties": [["greenhouse", "livestock"], ["workshop"]],
        "user_id": [world.users["expert"].id, None],
    }

    for bad, field in (
        ({"name": None}, "name"),
        ({"active": None}, "active"),
        ({"specialties": []}, "specialties"),
        ({"conflict_townships": ["x"]}, "conflict_townships[0]"),
        ({"conflict_townships": [world.county + "999"]}, "conflict_townships[0]"),
        ({"region_code": "990101"}, "region_code"),
        ({"username": world.users["county"].username}, "username"),
        ({"colour": "red"}, "colour"),
    ):
        r = await api.patch(url, json=bad, headers=county)
        assert r.status_code == 422, bad
        assert r.json()["details"][0]["field"] == field, bad
    assert len(await _audit(sessions, created["id"])) == 4
