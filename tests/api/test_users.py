"""Login accounts through the API: admins inside their region, password resets and changes, disabling, experts."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update

from db.engine import Sessions
from db.models import AuditEntry, Expert, User
from db.repositories.audit import verify_audit_chains
from domain.experts import ExpertCandidate, screen
from tests.conftest import Login, World, eventually

USERS = "/api/v1/users"


def _name(prefix: str = "u") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": _name(),
        "full_name": "赵新员",
        "role": "project_manager",
        "region_code": world.townships[0],
        "organisation": "东关镇人民政府",
    }
    body.update(overrides)
    return body


async def _token(api: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await api.post("/api/v1/auth/token", data={"username": username, "password": password})


def _bearer(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _audit(sessions: Sessions, user_id: int) -> list[AuditEntry]:
    async with sessions() as s:
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.chain == "users").order_by(AuditEntry.seq))).all()
    return [r for r in rows if r.payload.get("user_id") == user_id]


async def test_created_user_gets_a_temporary_password_once_and_must_change_it_first(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    admin = await login(world.users["admin"])
    body = _body(world)
    r = await api.post(USERS, json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    temporary = created["temporary_password"]
    assert temporary
    assert len(temporary) >= 12
    assert (created["role"], created["region_code"], created["active"], created["must_change_password"]) == (
        "project_manager",
        world.townships[0],
        True,
        True,
    )
    # shown once: the detail never carries it
    detail = (await api.get(f"{USERS}/{created['id']}", headers=admin)).json()
    assert "temporary_password" not in detail
    assert detail["must_change_password"] is True

    answer = await _token(api, body["username"], temporary)
    assert answer.json()["must_change_password"] is True
    headers = _bearer(answer)
    for method, path in (("GET", "/api/v1/me"), ("GET", "/api/v1/projects"), ("GET", "/api/v1/regions")):
        refused = await api.request(method, path, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "password_change_required"), path

    wrong = await api.post(
        "/api/v1/me/password", json={"old_password": "not-it-123", "new_password": "short"}, headers=headers
    )
    assert wrong.status_code == 422
    assert {(d["field"], d["rule"]) for d in wrong.json()["details"]} == {
        ("old_password", "current_password"),
        ("new_password", "length"),
        ("new_password", "letters_and_digits"),
    }
    same = await api.post(
        "/api/v1/me/password",
        json={"old_password": temporary, "new_password": f"x{body['username']}9"},
        headers=headers,
    )
    assert {(d["field"], d["rule"]) for d in same.json()["details"]} == {("new_password", "not_username")}
    changed = await api.post(
        "/api/v1/me/password", json={"old_password": temporary, "new_password": "Nong-ye-2026"}, headers=headers
    )
    assert changed.status_code == 204, changed.text
    me = await api.get("/api/v1/me", headers=headers)
    assert (me.status_code, me.json()["username"]) == (200, body["username"])
    assert (await _token(api, body["username"], temporary)).status_code == 401
    again = await _token(api, body["username"], "Nong-ye-2026")
    assert again.json()["must_change_password"] is False

    entries = await _audit(sessions, created["id"])
    assert [(e.action, e.actor_id) for e in entries] == [
        ("user_created", world.users["admin"].id),
        ("password_changed", created["id"]),
    ]
    dumped = json.dumps([e.payload for e in entries], ensure_ascii=False)
    assert temporary not in dumped
    assert "Nong-ye-2026" not in dumped
    async with sessions() as s:
        [report] = await verify_audit_chains(s, chain="users")
    assert report.problems == []


async def test_admins_grant_only_inside_their_region_and_admins_only_beneath_it(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    admin = await login(world.users["admin"])  # the admin of the world's city
    for role in ("pm", "county", "supervisor"):
        refused = await api.post(USERS, json=_body(world), headers=await login(world.users[role]))
        assert (refused.status_code, refused.json()["code"]) == (403, "role_forbidden"), role

    outside = await api.post(USERS, json=_body(world, region_code="990101"), headers=admin)
    assert outside.status_code == 422
    assert [(d["field"], d["rule"]) for d in outside.json()["details"]] == [("region_code", "exists")]
    other_city = world.city[:2] + "9900"
    peer = await api.post(USERS, json=_body(world, role="admin", region_code=world.city), headers=admin)
    assert [(d["field"], d["rule"]) for d in peer.json()["details"]] == [("role", "below_your_region")]
    wrong_level = await api.post(USERS, json=_body(world, role="county_reviewer"), headers=admin)
    assert [(d["field"], d["rule"]) for d in wrong_level.json()["details"]] == [("region_code", "role_level")]

    county_admin = _body(world, role="admin", region_code=world.county, password="Xian-guan-2026")
    r = await api.post(USERS, json=county_admin, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["temporary_password"] is None
    first = _bearer(await _token(api, county_admin["username"], "Xian-guan-2026"))
    changed = await api.post(
        "/api/v1/me/password", json={"old_password": "Xian-guan-2026", "new_password": "Xian-guan-2027"}, headers=first
    )
    assert changed.status_code == 204
    county = _bearer(await _token(api, county_admin["username"], "Xian-guan-2027"))

    # the county admin: inside the county, never above it or beside it
    city_user = await api.post(USERS, json=_body(world, role="city_reviewer", region_code=world.city), headers=county)
    assert [(d["field"], d["rule"]) for d in city_user.json()["details"]] == [("region_code", "in_your_region")]
    another_admin = await api.post(USERS, json=_body(world, role="admin", region_code=world.county), headers=county)
    assert [(d["field"], d["rule"]) for d in another_admin.json()["details"]] == [("role", "below_your_region")]
    for target in ("admin", "city"):
        refused = await api.post(f"{USERS}/{world.users[target].id}/disable", headers=county)
        assert (refused.status_code, refused.json()["code"]) == (403, "region_forbidden"), target
    pm = await api.post(f"{USERS}/{world.users['pm'].id}/disable", headers=county)
    assert (pm.status_code, pm.json()["active"]) == (200, False)
    listed = await api.get(USERS, params={"region": world.city}, headers=county)
    assert (listed.status_code, listed.json()["code"]) == (403, "region_forbidden")
    detail = await api.get(f"{USERS}/{world.users['city'].id}", headers=county)
    assert (detail.status_code, detail.json()["code"]) == (403, "region_forbidden")
    other = await api.post(USERS, json=_body(world, region_code=other_city), headers=admin)
    assert other.status_code == 422


async def test_bad_input_names_every_field_at_once_and_duplicates_conflict(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    admin = await login(world.users["admin"])
    bad = {
        "username": "a b",
        "full_name": "",
        "role": "king",
        "region_code": "12",
        "password": "x",
        "expert_id": 0,
    }
    r = await api.post(USERS, json=bad, headers=admin)
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["details"]}
    assert {"username", "full_name", "role", "region_code", "expert_id"} <= fields
    weak = await api.post(USERS, json=_body(world, password="onlyletters"), headers=admin)
    assert [(d["field"], d["rule"]) for d in weak.json()["details"]] == [("password", "letters_and_digits")]
    taken = await api.post(USERS, json=_body(world, username=world.users["pm"].username), headers=admin)
    assert (taken.status_code, taken.json()["code"]) == (409, "username_taken")
    unknown = await api.get(USERS, params={"colour": "red"}, headers=admin)
    assert unknown.status_code == 422
    missing = await api.post(f"{USERS}/2147483000/disable", headers=admin)
    assert missing.status_code == 404


async def test_list_filters_and_pages_inside_the_region(api: httpx.AsyncClient, world: World, login: Login) -> None:
    admin = await login(world.users["admin"])
    everyone = (await api.get(USERS, params={"limit": 200}, headers=admin)).json()
    ids = {u["id"] for u in everyone["items"]}
    assert {u.id for u in world.users.values()} <= ids
    assert all(u["region_code"].startswith(world.city[:4]) for u in everyone["items"])
    pms = (await api.get(USERS, params={"role": "project_manager"}, headers=admin)).json()
    assert {u["id"] for u in pms["items"]} == {world.users["pm"].id, world.users["pm2"].id}
    township = (await api.get(USERS, params={"region": world.townships[1]}, headers=admin)).json()
    assert {u["id"] for u in township["items"]} == {world.users["pm2"].id, world.users["township_other"].id}
    text = (await api.get(USERS, params={"text": world.users["finance"].username}, headers=admin)).json()
    assert [u["id"] for u in text["items"]] == [world.users["finance"].id]
    page = (await api.get(USERS, params={"limit": 2, "offset": 2}, headers=admin)).json()
    assert (len(page["items"]), page["count"]) == (2, everyone["count"])
    assert [u["id"] for u in page["items"]] == [u["id"] for u in everyone["items"][2:4]]
    await api.post(f"{USERS}/{world.users['pm2'].id}/disable", headers=admin)
    inactive = (await api.get(USERS, params={"active": "false"}, headers=admin)).json()
    assert [u["id"] for u in inactive["items"]] == [world.users["pm2"].id]
    for bad in ({"role": "king"}, {"region": "abc"}, {"limit": 0}):
        assert (await api.get(USERS, params=bad, headers=admin)).status_code == 422, bad


async def test_disabled_tokens_stop_working_and_enable_restores(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    admin = await login(world.users["admin"])
    pm = await login(world.users["pm"])
    assert (await api.get("/api/v1/me", headers=pm)).status_code == 200
    r = await api.post(f"{USERS}/{world.users['pm'].id}/disable", headers=admin)
    assert (r.status_code, r.json()["active"]) == (200, False)
    refused = await api.get("/api/v1/me", headers=pm)
    assert refused.status_code == 401
    assert (await _token(api, world.users["pm"].username, "test-Pass-1234")).status_code == 401
    own = await api.post(f"{USERS}/{world.users['admin'].id}/disable", headers=admin)
    assert (own.status_code, own.json()["code"]) == (403, "own_account")
    r = await api.post(f"{USERS}/{world.users['pm'].id}/enable", headers=admin)
    assert (r.status_code, r.json()["active"]) == (200, True)
    assert (await api.get("/api/v1/me", headers=pm)).status_code == 200
    entries = await _audit(sessions, world.users["pm"].id)
    assert [e.action for e in entries] == ["user_disabled", "user_enabled"]


async def test_password_reset_returns_a_temporary_password_and_blocks_until_changed(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    admin = await login(world.users["admin"])
    finance = await login(world.users["finance"])
    r = await api.post(f"{USERS}/{world.users['finance'].id}/password-reset", headers=admin)
    assert r.status_code == 200, r.text
    temporary = r.json()["temporary_password"]
    assert temporary
    assert r.json()["must_change_password"] is True
    # the token issued before the reset is held to the change too
    blocked = await api.get("/api/v1/tasks", headers=finance)
    assert (blocked.status_code, blocked.json()["code"]) == (403, "password_change_required")
    assert (await _token(api, world.users["finance"].username, "test-Pass-1234")).status_code == 401
    chosen = await api.post(
        f"{USERS}/{world.users['finance'].id}/password-reset", json={"password": "abc"}, headers=admin
    )
    assert chosen.status_code == 422
    assert {d["rule"] for d in chosen.json()["details"]} == {"length", "letters_and_digits"}
    pm = await login(world.users["pm"])
    refused = await api.post(f"{USERS}/{world.users['finance'].id}/password-reset", headers=pm)
    assert (refused.status_code, refused.json()["code"]) == (403, "role_forbidden")
    entries = await _audit(sessions, world.users["finance"].id)
    assert [e.action for e in entries] == ["password_reset"]
    assert temporary not in json.dumps(entries[0].payload)


async def test_an_expert_of_the_library_gets_a_login_through_the_api(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    admin = await login(world.users["admin"])
    r = await api.post(
        "/api/v1/experts",
        json={"name": "孙专家", "specialties": ["greenhouse"], "region_code": world.county, "affiliation": "农科院"},
        headers=county,
    )
    assert r.status_code == 201, r.text
    expert_id = r.json()["id"]
    not_expert = await api.post(USERS, json=_body(world, expert_id=expert_id), headers=admin)
    assert [(d["field"], d["rule"]) for d in not_expert.json()["details"]] == [("role", "expert_role")]
    body = _body(world, role="expert", region_code=world.county, expert_id=expert_id)
    created = await api.post(USERS, json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["expert_id"] == expert_id
    async with sessions() as s:
        expert = await s.get(Expert, expert_id)
        account = await s.scalar(select(User).where(User.username == body["username"]))
    assert expert is not None
    assert account is not None
    assert expert.user_id == account.id
    shown = (await api.get(f"/api/v1/experts/{expert_id}", headers=county)).json()
    assert shown["username"] == body["username"]
    twice = await api.post(USERS, json=_body(world, role="expert", expert_id=expert_id), headers=admin)
    assert (twice.status_code, twice.json()["code"]) == (409, "account_linked")
    unknown = await api.post(USERS, json=_body(world, role="expert", expert_id=2147483000), headers=admin)
    assert [(d["field"], d["rule"]) for d in unknown.json()["details"]] == [("expert_id", "exists")]


def test_the_draw_says_how_to_give_an_expert_a_login() -> None:
    candidate = ExpertCandidate(
        expert_id=1,
        name="无账号",
        user_id=None,
        region_code="110101",
        specialties=["greenhouse"],
        affiliation="",
        conflict_townships=[],
        conflict_organisations=[],
        active=True,
    )
    pool = screen([candidate], project_type="greenhouse", township_code="120101100", implementing_entity="合作社")
    assert "POST /api/v1/users with expert_id" in pool.exclusions[0].reason


async def test_a_user_disabled_outside_this_api_process_is_refused_within_the_auth_cache_seconds(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    """Requests are authenticated from a few seconds' cache of the user (no read per request); a change made
    elsewhere (another API replica, SQL, the CLI) takes effect within AUTH_CACHE_SECONDS (5 s by default)."""
    township = await login(world.users["township"])
    assert (await api.get("/api/v1/me", headers=township)).status_code == 200  # now cached
    async with sessions.begin() as s:
        await s.execute(update(User).where(User.id == world.users["township"].id).values(active=False))

    async def refused() -> bool:
        return (await api.get("/api/v1/me", headers=township)).status_code != 200

    assert await eventually(refused, timeout=5 + 2, interval=0.2), "still accepted well past the cache's 5 s"
    r = await api.get("/api/v1/me", headers=township)
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), r.text
