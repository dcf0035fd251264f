"""The problem ledger over the API: registration, rectification, close-out with evidence by a verifier (and the
refusals), filters and paging, the .xlsx export, role and region, bad input, and a rule-raised problem listed."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import update

from db.engine import Sessions
from db.models import Problem
from db.repositories.audit import create_audit_entry
from tests.conftest import Login, World, local_today, seed_project

BASE = "/api/v1/problems"


async def _upload(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    data = b"%PDF-1.7\n" + uuid.uuid4().hex.encode()
    r = await api.post(
        "/api/v1/attachments", files={"file": ("整改照片.pdf", data, "application/pdf")}, headers=headers
    )
    assert r.status_code == 201, r.text
    sha: str = r.json()["sha256"]
    return sha


def _problem(world: World, project: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_code": project,
        "source": "supervision",
        "description": "大棚租金台账不全",
        "responsible_unit": "东关村股份经济合作社",
        "responsible_person": "王建国",
        "responsible_user_id": world.users["pm"].id,
        "deadline": (local_today() + timedelta(days=30)).isoformat(),
        "measures": "补齐台账",
    }
    body.update(overrides)
    return body


def _rules(r: httpx.Response) -> set[tuple[str, str]]:
    return {(d["field"], d["rule"]) for d in r.json()["details"]}


async def test_close_out_needs_evidence_and_a_verifier_who_did_not_rectify(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    sup, county, pm = [await login(world.users[k]) for k in ("supervisor", "county", "pm")]
    r = await api.post(BASE, json=_problem(world, code), headers=sup)
    assert r.status_code == 201, r.text
    p = r.json()
    assert (p["status"], p["region_code"], p["raised_by"], p["overdue"]) == (
        "registered",
        world.villages[0],
        world.users["supervisor"].id,
        False,
    )
    pid = p["id"]
    # not yet rectifying: a submission is a state conflict
    r = await api.post(f"{BASE}/{pid}/submit", json={"note": "已整改"}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "wrong_status")
    # only the responsible person (or the project's manager) starts
    r = await api.post(f"{BASE}/{pid}/rectifying", json={}, headers=county)
    assert (r.status_code, r.json()["code"]) == (403, "not_responsible")
    r = await api.post(f"{BASE}/{pid}/rectifying", json={"note": "开始整改"}, headers=pm)
    assert (r.status_code, r.json()["status"]) == (200, "rectifying")
    # close-out needs evidence: none, or a file someone else uploaded, is refused
    r = await api.post(f"{BASE}/{pid}/submit", json={"note": "已整改"}, headers=pm)
    assert r.status_code == 422
    assert _rules(r) == {("attachments", "evidence_required")}
    foreign = await _upload(api, sup)
    r = await api.post(f"{BASE}/{pid}/submit", json={"note": "已整改", "attachments": [foreign]}, headers=pm)
    assert (r.status_code, _rules(r)) == (422, {("attachments[0]", "uploaded_by_you")})
    evidence = await _upload(api, pm)
    r = await api.post(f"{BASE}/{pid}/submit", json={"note": "已整改", "attachments": [evidence]}, headers=pm)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["evidence"], r.json()["submitted_by"]) == (
        "submitted",
        [evidence],
        world.users["pm"].id,
    )
    # the verifier reads the evidence; a reader outside the region does not
    r = await api.get(f"/api/v1/attachments/{evidence}/meta", headers=sup)
    assert (r.status_code, r.json()["uploaded_by"]) == (200, world.users["pm"].id)
    other = await login(world.users["township_other"])
    assert (await api.get(f"/api/v1/attachments/{evidence}/meta", headers=other)).status_code == 403
    # the responsible project manager is no verifier; a supervisor is
    r = await api.post(f"{BASE}/{pid}/close", json={}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    r = await api.post(f"{BASE}/{pid}/close", json={"opinion": "核查属实"}, headers=sup)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert (closed["status"], closed["closed_by"], closed["verifier_id"]) == (
        "closed",
        world.users["supervisor"].id,
        world.users["supervisor"].id,
    )
    actions = [h["action"] for h in closed["history"]]
    assert actions == ["problem_registered", "problem_rectifying", "problem_submit", "problem_close"]
    assert all(h["payload"]["problem_id"] == pid for h in closed["history"])
    # reopened, rectified again, sent back, then closed by the county
    r = await api.post(f"{BASE}/{pid}/reopen", json={"reason": "复查仍有问题"}, headers=county)
    assert (r.json()["status"], r.json()["reopened_count"], r.json()["closed_at"]) == ("reopened", 1, None)
    assert (await api.post(f"{BASE}/{pid}/rectifying", json={}, headers=pm)).json()["status"] == "rectifying"
    r = await api.post(f"{BASE}/{pid}/submit", json={"note": "再次整改", "attachments": [evidence]}, headers=pm)
    assert r.json()["status"] == "submitted"
    r = await api.post(f"{BASE}/{pid}/send-back", json={"reason": "照片不清"}, headers=county)
    assert (r.json()["status"], r.json()["evidence"], r.json()["verifier_id"]) == (
        "rectifying",
        [],
        world.users["county"].id,
    )
    r = await api.post(f"{BASE}/{pid}/send-back", json={"reason": "x"}, headers=county)
    assert (r.status_code, r.json()["code"]) == (409, "wrong_status")


async def test_close_out_by_the_responsible_person_is_separation_of_duties(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    sup, county = await login(world.users["supervisor"]), await login(world.users["county"])
    body = _problem(world, code, responsible_user_id=world.users["county"].id, source="audit")
    pid = (await api.post(BASE, json=body, headers=sup)).json()["id"]
    assert (await api.post(f"{BASE}/{pid}/rectifying", json={}, headers=county)).status_code == 200
    evidence = await _upload(api, county)
    r = await api.post(f"{BASE}/{pid}/submit", json={"note": "已整改", "attachments": [evidence]}, headers=county)
    assert r.status_code == 200, r.text
    r = await api.post(f"{BASE}/{pid}/close", json={}, headers=county)
    assert (r.status_code, r.json()["code"]) == (403, "separation_of_duties")
    r = await api.post(f"{BASE}/{pid}/close", json={}, headers=sup)
    assert (r.status_code, r.json()["status"]) == (200, "closed")


async def test_close_out_without_evidence_is_refused(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    sup = await login(world.users["supervisor"])
    pid = (await api.post(BASE, json=_problem(world, code), headers=sup)).json()["id"]
    async with sessions.begin() as s:  # a submission whose evidence is gone (a row edited by hand)
        await s.execute(
            update(Problem)
            .where(Problem.id == pid)
            .values(status="submitted", evidence=[], submitted_by=world.users["pm"].id)
        )
    r = await api.post(f"{BASE}/{pid}/close", json={}, headers=sup)
    assert (r.status_code, r.json()["code"]) == (409, "evidence_required")


async def _row(sessions: Sessions, world: World, **values: Any) -> int:
    village = values.pop("region_code", world.villages[0])
    row: dict[str, Any] = {
        "region_code": village,
        "county_code": village[:6],
        "township_code": village[:9],
        "source": "inspection",
        "description": "问题",
        "responsible_unit": "单位",
        "status": "registered",
        "opened_at": datetime.now(UTC),
        "raised_level": "county",
    }
    row.update(values)
    async with sessions.begin() as s:
        p = Problem(**row)
        s.add(p)
        await s.flush()
        return p.id


async def test_filters_and_paging(api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login) -> None:
    code = await seed_project(sessions, world, stage="operation")
    today = local_today()
    pm = world.users["pm"].id
    late = await _row(sessions, world, project_code=code, deadline=today - timedelta(days=1), responsible_user_id=pm)
    closed_late = await _row(
        sessions, world, project_code=code, deadline=today - timedelta(days=3), status="closed", source="audit"
    )
    on_time = await _row(sessions, world, project_code=code, deadline=today, description="村集体台账缺失")
    elsewhere = await _row(
        sessions, world, region_code=world.townships[1], description="乡镇级问题", responsible_unit="某镇政府"
    )
    county = await login(world.users["county"])

    async def ids(**params: Any) -> list[int]:
        r = await api.get(BASE, params=params, headers=county)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert await ids() == [elsewhere, on_time, closed_late, late]
    assert await ids(overdue="true") == [late]
    assert set(await ids(overdue="false")) == {elsewhere, on_time, closed_late}
    assert await ids(status="closed") == [closed_late]
    assert await ids(source="audit") == [closed_late]
    assert await ids(responsible_user_id=pm) == [late]
    assert await ids(responsible="某镇") == [elsewhere]
    assert await ids(text="台账缺失") == [on_time]
    assert await ids(region=world.townships[1]) == [elsewhere]
    assert set(await ids(project=code)) == {late, closed_late, on_time}
    r = await api.get(BASE, params={"limit": 2, "offset": 1}, headers=county)
    page = r.json()
    assert (page["count"], page["limit"], page["offset"], [p["id"] for p in page["items"]]) == (
        4,
        2,
        1,
        [on_time, closed_late],
    )
    overdue = {p["id"]: p["overdue"] for p in (await api.get(BASE, headers=county)).json()["items"]}
    assert overdue == {late: True, closed_late: False, on_time: False, elsewhere: False}
    # the township reviewer of the other township sees only theirs
    other = await login(world.users["township_other"])
    r = await api.get(BASE, headers=other)
    assert [p["id"] for p in r.json()["items"]] == [elsewhere]


async def test_export_is_the_filtered_ledger_with_chinese_headers(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    today = local_today()
    late = await _row(
        sessions,
        world,
        project_code=code,
        deadline=today - timedelta(days=2),
        description='=HYPERLINK("http://x")',
        responsible_person="李四",
    )
    await _row(sessions, world, project_code=code, status="closed")
    sup = await login(world.users["supervisor"])
    r = await api.get(f"{BASE}.xlsx", params={"overdue": "true"}, headers=sup)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("问题编号", "项目编号", "资产编号", "区划代码", "来源", "问题描述")
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["问题编号"] == late
    assert row["项目编号"] == code
    assert row["来源"] == "检查"
    assert row["责任人"] == "李四"
    assert row["是否超期"] == "是"
    assert row["状态"] == "已登记"
    assert row["整改时限"].date() == today - timedelta(days=2)
    # a client's text that looks like a formula stays text
    assert row["问题描述"] == '=HYPERLINK("http://x")'
    assert sheet.cell(row=2, column=6).data_type == "s"
    r = await api.get(f"{BASE}.xlsx", params={"bogus": "1"}, headers=sup)
    assert (r.status_code, _rules(r)) == (422, {("bogus", "unknown_parameter")})


async def test_roles_regions_and_bad_input(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    assert (await api.get(BASE)).status_code == 401
    assert (await api.post(BASE, json=_problem(world, code))).status_code == 401
    users = {
        k: await login(world.users[k]) for k in ("pm", "expert", "finance", "township", "township_other", "county")
    }
    assert (await api.get(BASE, headers=users["expert"])).json()["code"] == "role_forbidden"
    for who in ("pm", "finance", "expert"):
        r = await api.post(BASE, json=_problem(world, code), headers=users[who])
        assert (r.status_code, r.json()["code"]) == (403, "role_forbidden"), who
    r = await api.post(BASE, json=_problem(world, code), headers=users["township_other"])
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.get(BASE, params={"region": "999999"}, headers=users["county"])
    assert r.status_code == 403
    # a township reviewer registers in their township; a county-registered problem is not theirs to change
    r = await api.post(BASE, json=_problem(world, code), headers=users["township"])
    assert r.status_code == 201, r.text
    mine = r.json()["id"]
    r = await api.get(f"{BASE}/{mine}", headers=users["township_other"])
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.post(BASE, json=_problem(world, code), headers=users["county"])
    theirs = r.json()["id"]
    r = await api.patch(f"{BASE}/{theirs}", json={"measures": "改"}, headers=users["township"])
    assert (r.status_code, r.json()["code"]) == (403, "level_forbidden")
    r = await api.patch(f"{BASE}/{mine}", json={"measures": "限期补齐台账"}, headers=users["township"])
    assert (r.status_code, r.json()["measures"]) == (200, "限期补齐台账")
    assert r.json()["history"][-1]["action"] == "problem_updated"
    assert r.json()["history"][-1]["payload"]["changes"]["measures"]["to"] == "限期补齐台账"
    r = await api.patch(f"{BASE}/{mine}", json={}, headers=users["county"])
    assert (r.status_code, _rules(r)) == (422, {("body", "empty_update")})
    r = await api.patch(
        f"{BASE}/{mine}", json={"responsible_unit": "", "responsible_user_id": None}, headers=users["county"]
    )
    assert (r.status_code, _rules(r)) == (422, {("responsible_unit", "responsible_required")})
    # bad input names the field and the rule, all at once
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    r = await api.post(
        BASE,
        json=_problem(world, code, deadline=yesterday, responsible_user_id=2_000_000_000),
        headers=users["county"],
    )
    assert (r.status_code, _rules(r)) == (422, {("deadline", "not_past"), ("responsible_user_id", "exists")})
    r = await api.post(BASE, json=_problem(world, code, source="rule", description=""), headers=users["county"])
    assert r.status_code == 422
    assert {f for f, _ in _rules(r)} == {"source", "description"}
    body = _problem(world, code)
    del body["project_code"]
    r = await api.post(BASE, json=body, headers=users["county"])
    assert (r.status_code, _rules(r)) == (422, {("region_code", "required")})
    r = await api.post(BASE, json=_problem(world, "XM-NONE"), headers=users["county"])
    assert (r.status_code, _rules(r)) == (422, {("project_code", "exists")})
    r = await api.post(
        BASE, json=_problem(world, code, responsible_unit="", responsible_user_id=None), headers=users["county"]
    )
    assert (r.status_code, _rules(r)) == (422, {("responsible_unit", "responsible_required")})
    r = await api.get(BASE, params={"status": "lost", "limit": 0}, headers=users["county"])
    assert (r.status_code, {f for f, _ in _rules(r)}) == (422, {"status", "limit"})
    assert (await api.get(f"{BASE}/2000000000", headers=users["county"])).status_code == 404
    assert (await api.get(f"{BASE}/99999999999", headers=users["county"])).status_code == 422
    # a region-only problem (no project) sits on its county's problem chain
    r = await api.post(
        BASE,
        json={
            "region_code": world.townships[0],
            "source": "report",
            "description": "群众反映帮扶车间闲置",
            "responsible_unit": "镇政府",
        },
        headers=users["county"],
    )
    assert r.status_code == 201, r.text
    region_only = r.json()
    assert (region_only["project_code"], region_only["township_code"], region_only["history"][0]["action"]) == (
        None,
        world.townships[0],
        "problem_registered",
    )


async def test_a_rule_raised_problem_is_listed_with_its_rule(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    key = f"arrears:{uuid.uuid4().int % 10**9}"
    # the row and the audit entry as the operation check writes them
    pid = await _row(sessions, world, project_code=code, key=key, source="rule", description="租金逾期 61 天未缴")
    async with sessions.begin() as s:
        await create_audit_entry(
            s,
            chain=f"project:{code}",
            action="problem_registered",
            event_key=f"problem_registered:{key}",
            payload={"problem_id": pid, "key": key, "source": "rule"},
        )
    county = await login(world.users["county"])
    r = await api.get(BASE, params={"source": "rule"}, headers=county)
    [listed] = r.json()["items"]
    assert (listed["id"], listed["key"], listed["rule"], listed["raised_by"]) == (pid, key, "arrears", None)
    detail = (await api.get(f"{BASE}/{pid}", headers=county)).json()
    assert [h["action"] for h in detail["history"]] == ["problem_registered"]
    # a human may not register under the rule's source
    r = await api.post(BASE, json={**_problem(world, code), "source": "rule"}, headers=county)
    assert (r.status_code, {f for f, _ in _rules(r)}) == (422, {"source"})
