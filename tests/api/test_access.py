"""Authentication, roles, regions, separation of duties and conflicts through the API."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.worker import Worker

from tests.conftest import Login, World, application, eventually


async def _open_task(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        items = (await api.get("/api/v1/tasks", headers=headers)).json()["items"]
        return items[0] if items else None

    result: dict[str, Any] = await eventually(check)
    return result


async def test_missing_bad_or_expired_tokens_are_401_json(api: httpx.AsyncClient, world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = await api.get("/api/v1/projects", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"] == "Bearer"
    r = await api.post("/api/v1/auth/token", data={"username": world.users["pm"].username, "password": "wrong"})
    assert r.status_code == 401
    assert r.json() == {"code": "unauthorized", "message": "wrong username or password", "details": None}
    r = await api.post("/api/v1/auth/token", data={"username": "nobody-here", "password": "whatever"})
    assert r.status_code == 401
    assert (await api.get("/healthz")).status_code == 200


async def test_me_shows_role_and_region(api: httpx.AsyncClient, world: World, login: Login) -> None:
    r = await api.get("/api/v1/me", headers=await login(world.users["county"]))
    assert r.status_code == 200
    me = r.json()
    assert (me["role"], me["region_code"], me["region_level"]) == ("county_reviewer", world.county, "county")


async def test_roles_and_regions_are_checked_on_reads_and_writes(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201
    code = r.json()["code"]

    r = await api.post("/api/v1/projects", json=application(world), headers=await login(world.users["township"]))
    assert r.status_code == 403
    assert r.json()["code"] == "role_forbidden"

    other = await login(world.users["pm2"])  # a project manager of the other township
    r = await api.get(f"/api/v1/projects/{code}", headers=other)
    assert r.status_code == 403
    assert r.json()["code"] == "region_forbidden"
    assert (await api.get(f"/api/v1/projects/{code}/history", headers=other)).status_code == 403
    assert code not in [p["code"] for p in (await api.get("/api/v1/projects", headers=other)).json()["items"]]

    for reader in ("supervisor", "county", "city", "township"):
        headers = await login(world.users[reader])
        assert (await api.get(f"/api/v1/projects/{code}", headers=headers)).status_code == 200, reader
        # a township reviewer's region is the township: a county filter is wider than theirs (see below)
        scope = {"township": world.townships[0]} if reader == "township" else {"county": world.county}
        listed = (await api.get("/api/v1/projects", headers=headers, params=scope)).json()
        assert [p["code"] for p in listed["items"]] == [code], reader
    r = await api.get("/api/v1/projects", headers=await login(world.users["township"]), params={"county": world.county})
    assert (r.status_code, r.json()["code"], r.json()["details"][0]["field"]) == (403, "region_forbidden", "county")

    assert (await api.get("/api/v1/projects", headers=await login(world.users["expert"]))).status_code == 403
    assert (await api.get("/api/v1/projects/XM000000-2026-9999", headers=pm)).status_code == 404

    task = await _open_task(api, await login(world.users["township"]))
    # the other township's reviewer may neither see nor decide it
    other_reviewer = await login(world.users["township_other"])
    assert (await api.get(f"/api/v1/tasks/{task['id']}", headers=other_reviewer)).status_code == 403
    r = await api.post(f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve"}, headers=other_reviewer)
    assert r.status_code == 403
    # the applicant may see their task but never decide it
    assert (await api.get(f"/api/v1/tasks/{task['id']}", headers=pm)).status_code == 200
    r = await api.post(f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve"}, headers=pm)
    assert r.status_code == 403
    assert r.json()["code"] == "not_eligible"
    # a county reviewer is the wrong role for a township review
    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve"}, headers=await login(world.users["county"])
    )
    assert r.status_code == 403
    assert (await api.get("/api/v1/tasks/no-such-task", headers=pm)).status_code == 404


async def test_filters_and_paging(api: httpx.AsyncClient, worker: Worker, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    codes = []
    for name, kind in (("东关大棚", "greenhouse"), ("西关光伏", "photovoltaic"), ("南关冷库", "cold_storage")):
        r = await api.post("/api/v1/projects", json=application(world, name=name, project_type=kind), headers=pm)
        codes.append(r.json()["code"])
    sup = await login(world.users["supervisor"])

    async def listed(**params: Any) -> list[str]:
        r = await api.get("/api/v1/projects", headers=sup, params={"county": world.county, **params})
        assert r.status_code == 200, r.text
        return [p["code"] for p in r.json()["items"]]

    assert sorted(await listed()) == sorted(codes)
    assert await listed(type="photovoltaic") == [codes[1]]
    assert await listed(text="冷库") == [codes[2]]
    assert await listed(text=codes[0]) == [codes[0]]
    assert await listed(township=world.townships[1]) == []
    page = (await api.get("/api/v1/projects", headers=sup, params={"county": world.county, "limit": 2})).json()
    assert (len(page["items"]), page["count"]) == (2, 3)
    page2 = (
        await api.get("/api/v1/projects", headers=sup, params={"county": world.county, "limit": 2, "offset": 2})
    ).json()
    assert len(page2["items"]) == 1
    r = await api.get("/api/v1/projects", headers=sup, params={"limit": 0})
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "limit"
    r = await api.get("/api/v1/projects", headers=sup, params={"stage": "flying"})
    assert r.status_code == 422


async def test_decided_task_is_409_and_the_first_decision_stands(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]
    first = await login(world.users["township"])
    task = await _open_task(api, first)
    r = await api.post(f"/api/v1/tasks/{task['id']}/decision", json={"decision": "return"}, headers=first)
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "opinion"

    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve", "opinion": "同意"}, headers=first
    )
    assert r.status_code == 200
    # the same request again (a client retry after a lost answer) answers the same and decides nothing new
    again = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve", "opinion": "同意"}, headers=first
    )
    assert (again.status_code, again.json()) == (200, r.json())
    changed_mind = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "reject", "opinion": "改变主意"}, headers=first
    )
    assert changed_mind.status_code == 409
    second = await login(world.users["township2"])
    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "reject", "opinion": "不同意"}, headers=second
    )
    assert r.status_code == 409
    assert r.json()["code"] == "task_not_open"
    history = (await api.get(f"/api/v1/projects/{code}/history", headers=pm)).json()
    assert [e["payload"]["decision"] for e in history["items"] if e["action"] == "decision"] == ["approve"]
    assert history["verified"] is True


async def test_idempotency_key_returns_same_project_and_refuses_other_body(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"]) | {"Idempotency-Key": "form-42"}
    r1 = await api.post("/api/v1/projects", json=application(world), headers=pm)
    r2 = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r1.json()["code"] == r2.json()["code"]
    assert r2.headers["Idempotent-Replayed"] == "true"
    r3 = await api.post("/api/v1/projects", json=application(world, name="另一个项目"), headers=pm)
    assert r3.status_code == 409
    assert r3.json()["code"] == "idempotency_key_reused"
    listed = (await api.get("/api/v1/projects", headers=pm, params={"township": world.townships[0]})).json()
    assert listed["count"] == 1
