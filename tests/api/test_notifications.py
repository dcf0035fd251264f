"""My notifications through the API: only mine, newest first, unread filter and count, marking read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from db.engine import Sessions
from db.models import Notification
from db.repositories.notifications import create_notifications
from tests.conftest import Login, World


async def _notify(sessions: Sessions, user_ids: list[int], title: str, at: datetime) -> None:
    async with sessions.begin() as s:
        await create_notifications(
            s,
            user_ids=user_ids,
            event_key=f"test:{uuid.uuid4().hex}",
            kind="reminder",
            title=title,
            body=f"{title}：请及时办理",
            project_code=None,
            task_id=None,
            at=at,
        )


async def _ids(sessions: Sessions, user_id: int) -> dict[str, int]:
    async with sessions() as s:
        rows = (await s.scalars(select(Notification).where(Notification.user_id == user_id))).all()
    return {n.title: n.id for n in rows}


async def test_i_see_only_mine_newest_first_with_the_unread_count(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    me, other = world.users["township"].id, world.users["township2"].id
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    await _notify(sessions, [me, other], "第一条", start)
    await _notify(sessions, [me], "第二条", start + timedelta(hours=1))
    await _notify(sessions, [other], "别人的", start + timedelta(hours=2))
    await _notify(sessions, [me], "第三条", start + timedelta(hours=3))
    headers = await login(world.users["township"])

    r = await api.get("/api/v1/notifications", headers=headers)
    assert r.status_code == 200
    page = r.json()
    assert [n["title"] for n in page["items"]] == ["第三条", "第二条", "第一条"]
    assert (page["count"], page["unread"]) == (3, 3)
    first = page["items"][2]
    assert first | {"id": 0} == {
        "id": 0,
        "kind": "reminder",
        "title": "第一条",
        "body": "第一条：请及时办理",
        "project_code": None,
        "task_id": None,
        "created_at": "2026-03-02T01:00:00Z",
        "read_at": None,
        "resolved_at": None,
    }

    r = await api.get("/api/v1/notifications", headers=headers, params={"limit": 2})
    assert [n["title"] for n in r.json()["items"]] == ["第三条", "第二条"]
    assert (r.json()["count"], r.json()["unread"]) == (2, 3)

    r = await api.post(f"/api/v1/notifications/{first['id']}/read", headers=headers)
    assert r.status_code == 200
    assert r.json()["read_at"] is not None
    r = await api.get("/api/v1/notifications", headers=headers, params={"unread_only": True})
    assert [n["title"] for n in r.json()["items"]] == ["第三条", "第二条"]
    assert r.json()["unread"] == 2
    r = await api.get("/api/v1/notifications", headers=headers, params={"unread_only": False})
    assert [n["read_at"] is not None for n in r.json()["items"]] == [False, False, True]


async def test_reading_again_keeps_the_first_time(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    me = world.users["county"]
    await _notify(sessions, [me.id], "超期提醒", datetime.now(UTC))
    nid = (await _ids(sessions, me.id))["超期提醒"]
    headers = await login(me)
    first = await api.post(f"/api/v1/notifications/{nid}/read", headers=headers)
    again = await api.post(f"/api/v1/notifications/{nid}/read", headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    async with sessions() as s:
        row = await s.get(Notification, nid)
    assert row is not None
    assert row.read_at is not None
    assert row.read_at.isoformat().replace("+00:00", "Z") == first.json()["read_at"]


async def test_another_users_or_an_unknown_notification_is_404(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    owner, intruder = world.users["township"], world.users["township2"]
    await _notify(sessions, [owner.id], "只给我", datetime.now(UTC))
    nid = (await _ids(sessions, owner.id))["只给我"]
    headers = await login(intruder)
    r = await api.post(f"/api/v1/notifications/{nid}/read", headers=headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (await api.get("/api/v1/notifications", headers=headers)).json()["items"] == []
    async with sessions() as s:
        row = await s.get(Notification, nid)
    assert row is not None
    assert row.read_at is None  # the intruder's attempt changed nothing
    r = await api.post("/api/v1/notifications/2000000000/read", headers=headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_bad_parameters_and_no_token(api: httpx.AsyncClient, world: World, login: Login) -> None:
    headers = await login(world.users["pm"])
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"unread_only": "sometimes"}, "unread_only"),
    ):
        r = await api.get("/api/v1/notifications", headers=headers, params=params)
        assert r.status_code == 422, params
        assert r.json()["details"][0]["field"] == field
    r = await api.post("/api/v1/notifications/abc/read", headers=headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "notification_id")
    assert (await api.get("/api/v1/notifications")).status_code == 401
    assert (await api.post("/api/v1/notifications/1/read")).status_code == 401
