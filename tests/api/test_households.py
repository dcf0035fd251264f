"""Households through the API: read by village with personal data masked, kept by county staff, CSV upload."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db.engine import Sessions
from db.models import AuditEntry, Household
from domain.households import check_household_rows, with_check_digit
from tests.conftest import Login, World

HOUSEHOLDS = "/api/v1/households"
HEADER = "code,village_code,head_name,members,categories,id_number,bank_account\n"


def _body(world: World, code: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "village_code": world.villages[0],
        "head_name": "钱大山",
        "members": 4,
        "categories": ["monitored", "elderly", "monitored"],
        "id_number": with_check_digit("37010219650301123"),
        "bank_account": "6228480012345678901",
    }
    body.update(overrides)
    return body


async def test_list_by_village_masks_personal_data_and_filters(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    v = world.villages[0]
    r = await api.get(HOUSEHOLDS, params={"village": v}, headers=pm)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [h["code"] for h in page["items"]] == world.households[v]
    assert page["count"] == 4
    first = page["items"][0]
    assert (first["village_name"], first["members"], first["categories"]) == (f"村{v}", 1, ["elderly"])
    stored_id = with_check_digit("65010219800101001")
    assert first["id_number"] == stored_id[:3] + "*" * 11 + stored_id[-4:]
    assert first["bank_account"].startswith("622")
    assert "*" in first["bank_account"]
    assert stored_id not in r.text
    assert f"622848{v}01" not in r.text

    elderly = (await api.get(HOUSEHOLDS, params={"category": "elderly"}, headers=pm)).json()
    # the township's project manager sees its two villages only
    assert {h["code"] for h in elderly["items"]} == {world.households[v][0], world.households[world.villages[1]][0]}
    text = (await api.get(HOUSEHOLDS, params={"text": "户主3", "village": v}, headers=pm)).json()
    assert [h["code"] for h in text["items"]] == [world.households[v][2]]
    paged = (await api.get(HOUSEHOLDS, params={"limit": 3, "offset": 3}, headers=pm)).json()
    assert (len(paged["items"]), paged["count"]) == (3, 8)

    detail = await api.get(f"{HOUSEHOLDS}/{world.households[v][1]}", headers=pm)
    assert (detail.status_code, detail.json()["head_name"]) == (200, "户主2")
    assert "*" in detail.json()["id_number"]


async def test_region_and_role_paths(api: httpx.AsyncClient, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    other = world.villages[2]  # in the other township
    beside = await api.get(HOUSEHOLDS, params={"village": other}, headers=pm)
    assert (beside.status_code, beside.json()["code"]) == (403, "region_forbidden")
    detail = await api.get(f"{HOUSEHOLDS}/{world.households[other][0]}", headers=pm)
    assert (detail.status_code, detail.json()["code"]) == (403, "region_forbidden")
    expert = await api.get(HOUSEHOLDS, headers=await login(world.users["expert"]))
    assert (expert.status_code, expert.json()["code"]) == (403, "role_forbidden")
    missing = await api.get(f"{HOUSEHOLDS}/NOPE-0", headers=pm)
    assert missing.status_code == 404
    for bad in ({"category": "rich"}, {"village": "12x"}, {"limit": 0}, {"colour": "red"}):
        assert (await api.get(HOUSEHOLDS, params=bad, headers=pm)).status_code == 422, bad
    for role in ("pm", "township", "finance", "supervisor"):
        refused = await api.post(
            HOUSEHOLDS, json=_body(world, f"HR{world.county}{role}"), headers=await login(world.users[role])
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "role_forbidden"), role


async def test_county_staff_create_and_update_with_audit(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    code = f"HC{world.villages[0]}9"
    r = await api.post(HOUSEHOLDS, json=_body(world, code), headers=county)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["categories"] == ["monitored", "elderly"]
    assert created["id_number"].count("*") == 11
    again = await api.post(HOUSEHOLDS, json=_body(world, code), headers=county)
    assert (again.status_code, again.json()["code"]) == (409, "household_exists")

    changed = await api.patch(
        f"{HOUSEHOLDS}/{code}",
        json={"members": 5, "categories": ["serious_illness"], "bank_account": "6228480099999999999"},
        headers=county,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["members"], changed.json()["categories"]) == (5, ["serious_illness"])
    async with sessions() as s:
        row = await s.scalar(select(Household).where(Household.code == code))
        entries = (
            await s.scalars(select(AuditEntry).where(AuditEntry.chain == "library:households").order_by(AuditEntry.seq))
        ).all()
    assert row is not None
    assert (row.members, row.bank_account) == (5, "6228480099999999999")
    mine = [e for e in entries if e.payload.get("code") == code]
    assert [e.action for e in mine] == ["household_created", "household_updated"]
    dumped = json.dumps([e.payload for e in mine])
    assert row.id_number not in dumped
    assert "6228480099999999999" not in dumped

    null = await api.patch(f"{HOUSEHOLDS}/{code}", json={"members": None, "village_code": "x"}, headers=county)
    assert {d["field"] for d in null.json()["details"]} == {"members", "village_code"}
    beside = await api.patch(f"{HOUSEHOLDS}/{code}", json={"village_code": world.townships[0] + "999"}, headers=county)
    assert [(d["field"], d["rule"]) for d in beside.json()["details"]] == [("village_code", "exists")]


async def test_create_names_every_bad_field(api: httpx.AsyncClient, world: World, login: Login) -> None:
    county = await login(world.users["county"])
    bad = _body(world, "bad code!", members=0, categories=["rich"], id_number="123", bank_account="12", head_name="")
    r = await api.post(HOUSEHOLDS, json=bad, headers=county)
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} >= {
        "code",
        "members",
        "categories[0]",
        "id_number",
        "bank_account",
        "head_name",
    }
    assert "elderly" in r.text  # the allowed categories are named
    checksum = await api.post(HOUSEHOLDS, json=_body(world, "HCK1", id_number="110105194912310021"), headers=county)
    assert [(d["field"], d["rule"]) for d in checksum.json()["details"]] == [("id_number", "id_checksum")]
    outside = await api.post(HOUSEHOLDS, json=_body(world, "HCK2", village_code="110101100201"), headers=county)
    assert outside.status_code == 422


def _csv(rows: list[str]) -> dict[str, Any]:
    return {"file": ("households.csv", ("\ufeff" + HEADER + "".join(rows)).encode(), "text/csv")}


async def test_import_upload_writes_all_rows_or_reports_every_bad_line(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    v, other_county_village = world.villages[1], "990101100201"
    ok = with_check_digit("11010519491231002")
    bad = [
        f"HI{v}01,{v},张三,3,elderly;no_labour,{ok},622848000000000001\n",
        f"HI{v}02,{v},李四,2,,110105194912310021,622848000000000002\n",
        f"HI{v}03,{world.townships[0]},王五,0,rich,{ok},12\n",
        f"HI{v}01,{v},重复,1,,{ok},622848000000000003\n",
    ]
    r = await api.post(f"{HOUSEHOLDS}/import", files=_csv(bad), headers=county)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "import_rejected"
    found = {(d["line"], d["field"]) for d in body["details"]}
    assert found == {
        (3, "id_number"),
        (4, "village_code"),
        (4, "members"),
        (4, "categories"),
        (4, "bank_account"),
        (5, "code"),
    }
    messages = " ".join(d["message"] for d in body["details"])
    assert "line 3: id_number: the ID number's check digit is wrong" in messages
    assert "allowed: elderly, monitored, no_labour, serious_illness, severe_disability" in messages
    async with sessions() as s:
        assert await s.scalar(select(Household).where(Household.code == f"HI{v}01")) is None

    # another county's household may not be moved in, nor a village outside the county named
    foreign = [f"{world.households[world.villages[0]][0]},{other_county_village},外县,1,,{ok},622848000000000009\n"]
    pm_upload = await api.post(f"{HOUSEHOLDS}/import", files=_csv(foreign), headers=await login(world.users["pm"]))
    assert (pm_upload.status_code, pm_upload.json()["code"]) == (403, "role_forbidden")

    good = [bad[0], f"HI{v}02,{v},李四,2,severe_disability,{ok},622848000000000002\n"]
    r = await api.post(f"{HOUSEHOLDS}/import", files=_csv(good), headers=county)
    assert (r.status_code, r.json()) == (200, {"rows": 2, "written": 2})
    async with sessions() as s:
        stored = await s.scalar(select(Household).where(Household.code == f"HI{v}01"))
        audit = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "import_households").order_by(AuditEntry.id))
        ).all()
    assert stored is not None
    assert stored.categories == ["elderly", "no_labour"]
    assert audit[-1].actor_id == world.users["county"].id
    assert audit[-1].payload == {"file": "households.csv", "rows": 2, "written": 2, "rejected": 0}


async def test_import_refuses_rows_outside_the_region(api: httpx.AsyncClient, world: World, login: Login) -> None:
    county = await login(world.users["county"])
    ok = with_check_digit("11010519491231002")
    rows = [f"HO{world.county}1,110101100201,外村,1,,{ok},622848000000000009\n"]
    r = await api.post(f"{HOUSEHOLDS}/import", files=_csv(rows), headers=county)
    assert r.status_code == 422
    assert [(d["line"], d["field"]) for d in r.json()["details"]] == [(2, "village_code")]


def test_an_import_never_moves_a_household_from_outside_the_region() -> None:
    row = {
        "code": "H1",
        "village_code": "110101100201",
        "head_name": "甲",
        "members": "1",
        "categories": "",
        "id_number": with_check_digit("11010519491231002"),
        "bank_account": "622848000000000009",
    }
    errors = check_household_rows(
        [(2, row)],
        region_levels={"110101100201": "village"},
        existing_villages={"H1": "120101100201"},
        in_scope=lambda code: code.startswith("110101"),
    )
    assert [str(e) for e in errors] == ["line 2: code: a household of this code lives outside your region"]


@pytest.mark.parametrize(
    ("files", "rule"),
    [
        ({"file": ("h.csv", b"code,name\nx,y\n", "text/csv")}, "csv_header"),
        ({"file": ("h.csv", "code\n".encode("utf-16"), "text/csv")}, "utf8"),
        ({"other": ("h.csv", b"x", "text/csv")}, "required"),
        ({"file": ("h.csv", HEADER.encode(), "text/csv")}, "rows"),
    ],
)
async def test_import_refuses_an_unreadable_file(
    api: httpx.AsyncClient, world: World, login: Login, files: dict[str, Any], rule: str
) -> None:
    county = await login(world.users["county"])
    r = await api.post(f"{HOUSEHOLDS}/import", files=files, headers=county)
    assert r.status_code == 422, r.text
    assert [d["rule"] for d in r.json()["details"]] == [rule]


async def test_openapi_lists_the_categories(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert schema["components"]["schemas"]["HouseholdCategory"]["enum"] == [
        "no_labour",
        "severe_disability",
        "serious_illness",
        "elderly",
        "monitored",
    ]
    assert "/api/v1/households/import" in schema["paths"]
