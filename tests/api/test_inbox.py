"""The task inbox through the HTTP API on the dev server: claims, reassignment, filters, every refusal of a
decision, and attachments carried by a decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from db.engine import Sessions
from db.models import Task, User
from tests.api.chain_helpers import Driver, add_library
from tests.conftest import World, eventually

pytestmark = pytest.mark.usefixtures("worker")

REVIEW_DECISIONS = ["approve", "return", "reject"]
CLAIM_ACTIONS = {"task_claimed", "task_released"}


@pytest.fixture
def drive(api: httpx.AsyncClient, world: World) -> Driver:
    """A driver of this test's world on the dev server."""
    return Driver(api, world)


async def _task(drive: Driver, user: User, task_id: str) -> httpx.Response:
    return await drive.api.get(f"/api/v1/tasks/{task_id}", headers=await drive.headers(user))


async def _claim(drive: Driver, user: User, task_id: str, *, release: bool = False) -> httpx.Response:
    method = drive.api.delete if release else drive.api.post
    return await method(f"/api/v1/tasks/{task_id}/claim", headers=await drive.headers(user))


async def _reassign(drive: Driver, user: User, task_id: str, body: dict[str, Any]) -> httpx.Response:
    return await drive.api.post(f"/api/v1/tasks/{task_id}/reassign", json=body, headers=await drive.headers(user))


async def _history(drive: Driver, code: str) -> list[dict[str, Any]]:
    r = await drive.api.get(
        f"/api/v1/projects/{code}/history", headers=await drive.headers(drive.world.users["supervisor"])
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _notifications(drive: Driver, user: User, task_id: str) -> list[dict[str, Any]]:
    r = await drive.api.get("/api/v1/notifications", headers=await drive.headers(user))
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["task_id"] == task_id and n["kind"] != "task_opened"]


async def _upload_pdf(drive: Driver, user: User) -> str:
    data = b"%PDF-1.4 " + uuid.uuid4().hex.encode() + b"\n%%EOF\n"  # unique: the store is shared by every test
    r = await drive.api.post(
        "/api/v1/attachments",
        files={"file": ("审核意见.pdf", data, "application/pdf")},
        headers=await drive.headers(user),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["sha256"])


def _error(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


def _field(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["details"][0]["field"]


# ---------------------------------------------------------------- claim / release


async def test_claim_blocks_others_until_released(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    task = await drive.task_for(u["township"], code, "township_review")
    assert task["claimed_by"] is None
    tid = task["id"]

    r = await _claim(drive, u["township"], tid)
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] == u["township"].id
    # both reviewers of the township still see the task, and see who holds it
    for reviewer in (u["township"], u["township2"]):
        [seen] = [t for t in await drive.inbox(reviewer, project=code)]
        assert seen["claimed_by"] == u["township"].id
        assert seen["claimed_at"] is not None
    assert (await _task(drive, u["township2"], tid)).json()["claimed_by"] == u["township"].id

    # while it is held, the other reviewer may neither decide, claim nor release it
    r = await drive.decide(u["township2"], tid, decision="approve", opinion="同意")
    assert _error(r) == (409, "task_claimed")
    assert _error(await _claim(drive, u["township2"], tid)) == (409, "task_claimed")
    assert _error(await _claim(drive, u["township2"], tid, release=True)) == (409, "not_claimed")
    # claiming again is harmless for the holder
    r = await _claim(drive, u["township"], tid)
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] == u["township"].id

    r = await _claim(drive, u["township"], tid, release=True)
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] is None
    [seen] = await drive.inbox(u["township2"], project=code)
    assert seen["claimed_by"] is None
    r = await _claim(drive, u["township2"], tid)
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] == u["township2"].id
    assert _error(await drive.decide(u["township"], tid, decision="approve", opinion="同意")) == (409, "task_claimed")
    # the same request that was refused while the task was held now goes through (no stale refusal is replayed)
    r = await drive.decide(u["township2"], tid, decision="approve", opinion="同意")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "expert_review"

    actions = [(e["action"], e["actor"]) for e in await _history(drive, code) if e["action"] in CLAIM_ACTIONS]
    assert actions == [
        ("task_claimed", u["township"].username),
        ("task_claimed", u["township"].username),
        ("task_released", u["township"].username),
        ("task_claimed", u["township2"].username),
    ]


async def test_claim_by_users_who_may_not_decide(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    tid = (await drive.task_for(u["township"], code, "township_review"))["id"]
    assert (await _claim(drive, u["township_other"], tid)).status_code == 403
    assert (await _claim(drive, u["county"], tid)).status_code == 403
    assert _error(await _claim(drive, u["supervisor"], tid)) == (403, "not_eligible")
    assert _error(await _claim(drive, drive.pm, tid)) == (403, "not_eligible")
    # releasing a claim nobody holds
    assert _error(await _claim(drive, u["township"], tid, release=True)) == (409, "not_claimed")
    assert (await _claim(drive, u["township"], f"{uuid.uuid4()}")).status_code == 404
    [task] = await drive.inbox(u["township"], project=code)
    assert task["claimed_by"] is None


# ---------------------------------------------------------------- reassignment (转办)


async def test_county_supervisor_reassigns_with_a_reason(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    tid = (await drive.task_for(u["township"], code, "township_review"))["id"]
    assert (await _claim(drive, u["township"], tid)).status_code == 200

    # who may not reassign, and to whom a task may not go
    body = {"user_id": u["township2"].id, "reason": "原审核人休假"}
    for who in ("township", "pm", "county", "township2"):
        assert _error(await _reassign(drive, u[who], tid, body)) == (403, "role_forbidden"), who
    assert _field(await _reassign(drive, u["supervisor"], tid, {"user_id": u["township2"].id})) == (422, "reason")
    assert _field(await _reassign(drive, u["supervisor"], tid, {"user_id": u["township2"].id, "reason": "  "})) == (
        422,
        "reason",
    )
    for wrong in ("county", "township_other", "pm", "supervisor"):
        r = await _reassign(drive, u["supervisor"], tid, {"user_id": u[wrong].id, "reason": "原审核人休假"})
        assert r.status_code == 403, (wrong, r.text)
    r = await _reassign(drive, u["supervisor"], tid, {"user_id": 2_000_000_000, "reason": "原审核人休假"})
    assert _field(r) == (422, "user_id")
    r = await _reassign(drive, u["supervisor"], tid, {"user_id": u["expert"].id, "reason": "原审核人休假"})
    assert _field(r) == (422, "user_id")  # an expert account outside the library
    [still] = await drive.inbox(u["township"], project=code)
    assert still["assignee_id"] is None
    assert still["claimed_by"] == u["township"].id

    r = await _reassign(drive, u["supervisor"], tid, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"task_id": tid, "assignee_id": u["township2"].id, "claimed_by": None}

    # only the new assignee sees it and may decide it
    assert await drive.inbox(u["township"], project=code) == []
    [mine] = await drive.inbox(u["township2"], project=code)
    assert mine["assignee_id"] == u["township2"].id
    assert mine["claimed_by"] is None
    r = await drive.decide(u["township"], tid, decision="approve", opinion="同意")
    assert r.status_code == 403, r.text
    assert (await _claim(drive, u["township"], tid)).status_code == 403

    entries = [e for e in await _history(drive, code) if e["action"] == "task_reassigned"]
    assert len(entries) == 1
    assert entries[0]["actor"] == u["supervisor"].username
    assert entries[0]["payload"]["to"] == u["township2"].id
    assert entries[0]["payload"]["reason"] == "原审核人休假"
    [note] = await _notifications(drive, u["township2"], tid)
    assert "原审核人休假" in note["body"]
    assert note["project_code"] == code
    assert await _notifications(drive, u["township"], tid) == []

    r = await drive.decide(u["township2"], tid, decision="approve", opinion="同意")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "expert_review"
    assert _error(await _reassign(drive, u["supervisor"], tid, body)) == (409, "task_not_open")


async def test_decision_by_the_former_candidate_says_not_eligible(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    tid = (await drive.task_for(u["township"], code, "township_review"))["id"]
    r = await _reassign(drive, u["supervisor"], tid, {"user_id": u["township2"].id, "reason": "原审核人休假"})
    assert r.status_code == 200, r.text
    r = await drive.decide(u["township"], tid, decision="approve", opinion="同意")
    assert _error(r) == (403, "not_eligible")


async def test_reassigning_back_and_forth_with_the_same_reason_takes_effect(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    tid = (await drive.task_for(u["township"], code, "township_review"))["id"]
    for to in ("township2", "township", "township2"):
        r = await _reassign(drive, u["supervisor"], tid, {"user_id": u[to].id, "reason": "人员调整"})
        assert r.status_code == 200, r.text
        assert r.json()["assignee_id"] == u[to].id
    assert await drive.inbox(u["township"], project=code) == []
    [task] = await drive.inbox(u["township2"], project=code)
    assert task["assignee_id"] == u["township2"].id
    reassigned = [e for e in await _history(drive, code) if e["action"] == "task_reassigned"]
    assert len(reassigned) == 3


# ---------------------------------------------------------------- inbox filters


async def _set_due(sessions: Sessions, task_id: str, due: datetime) -> None:
    """Move a task's deadline in the read model (the workflow's own deadline watcher is days away)."""
    async with sessions.begin() as s:
        await s.execute(update(Task).where(Task.id == task_id).values(due_at=due))


async def test_inbox_filters_and_order(drive: Driver, world: World, sessions: Sessions) -> None:
    u = world.users
    codes = [await drive.create(name=f"项目{i}") for i in range(3)]
    tasks = [await drive.task_for(u["township"], c, "township_review") for c in codes]
    now = datetime.now(UTC)
    late, soon, later = tasks[1]["id"], tasks[2]["id"], tasks[0]["id"]
    await _set_due(sessions, late, now - timedelta(days=1))
    await _set_due(sessions, soon, now + timedelta(days=1))
    await _set_due(sessions, later, now + timedelta(days=3))

    async def ids(user: User, **params: Any) -> list[str]:
        return [t["id"] for t in await drive.inbox(user, **params)]

    # soonest due first; every reviewer of the township sees the same
    assert await ids(u["township"]) == [late, soon, later]
    assert await ids(u["township2"]) == [late, soon, later]
    items = await drive.inbox(u["township"])
    assert [t["overdue"] for t in items] == [True, False, False]
    for t in items:
        assert t["allowed_decisions"] == REVIEW_DECISIONS
        assert t["decision_help"]["decision"] == "approve | return | reject"
        assert "opinion" in t["decision_help"]
        assert t["project_name"].startswith("项目")
    r = await drive.api.get("/api/v1/tasks", params={"limit": 2}, headers=await drive.headers(u["township"]))
    assert r.json()["count"] == 3
    assert [t["id"] for t in r.json()["items"]] == [late, soon]
    r = await drive.api.get(
        "/api/v1/tasks", params={"limit": 2, "offset": 2}, headers=await drive.headers(u["township"])
    )
    assert [t["id"] for t in r.json()["items"]] == [later]

    assert await ids(u["township"], overdue=True) == [late]
    assert await ids(u["township"], overdue=False) == [soon, later]
    assert await ids(u["township"], due_before=(now + timedelta(days=2)).isoformat()) == [late, soon]
    assert await ids(u["township"], due_before=(now - timedelta(days=2)).isoformat()) == []
    assert await ids(u["township"], kind="township_review") == [late, soon, later]
    assert await ids(u["township"], kind="expert_review") == []
    assert await ids(u["township"], project=codes[0]) == [later]
    assert await ids(u["township"], project="XM-NO-SUCH") == []
    assert await ids(u["township"], mine=True) == []

    # others never see them: another township, another role, the applicant
    for other in ("township_other", "county", "pm", "supervisor"):
        assert await ids(u[other]) == [], other

    assert (await _claim(drive, u["township"], soon)).status_code == 200
    assert await ids(u["township"], mine=True) == [soon]
    assert await ids(u["township2"], mine=True) == []
    assert await ids(u["township"], mine=True, overdue=True) == []
    assert await ids(u["township2"]) == [late, soon, later]

    headers = await drive.headers(u["township"])
    for params, field in [
        ({"due_before": "2030-01-01T00:00:00"}, "due_before"),
        ({"due_before": "tomorrow"}, "due_before"),
        ({"kind": "coffee"}, "kind"),
        ({"overdue": "maybe"}, "overdue"),
        ({"limit": 0}, "limit"),
    ]:
        r = await drive.api.get("/api/v1/tasks", params=params, headers=headers)
        assert _field(r) == (422, field), params

    # a decided task leaves every inbox
    r = await drive.decide(u["township"], late, decision="approve", opinion="同意")
    assert r.status_code == 200, r.text
    assert await ids(u["township"]) == [soon, later]
    assert await ids(u["township"], overdue=True) == []


# ---------------------------------------------------------------- every refusal of a decision


async def test_decision_refusals(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    tid = (await drive.task_for(u["township"], code, "township_review"))["id"]
    reviewer = u["township"]
    approve = {"decision": "approve", "opinion": "同意"}

    r = await drive.api.post(f"/api/v1/tasks/{tid}/decision", json=approve)
    assert _error(r) == (401, "unauthorized")
    r = await drive.api.post(
        f"/api/v1/tasks/{tid}/decision", json=approve, headers={"Authorization": "Bearer not-a-token"}
    )
    assert r.status_code == 401
    assert _error(await drive.decide(reviewer, f"{uuid.uuid4()}", **approve)) == (404, "not_found")

    # wrong role, another region, the applicant, an overseer
    assert (await drive.decide(u["county"], tid, **approve)).status_code == 403
    assert (await drive.decide(u["city"], tid, **approve)).status_code == 403
    assert _error(await drive.decide(u["township_other"], tid, **approve)) == (403, "region_forbidden")
    assert (await drive.decide(u["pm2"], tid, **approve)).status_code == 403
    assert (await drive.decide(drive.pm, tid, **approve)).status_code == 403
    assert _error(await drive.decide(u["supervisor"], tid, **approve)) == (403, "not_eligible")

    # decisions this kind of task does not take, and opinions that must be given
    for bad in ("score", "uphold", "done", "shrug", ""):
        assert _field(await drive.decide(reviewer, tid, decision=bad, opinion="x")) == (422, "decision"), bad
    assert _field(await drive.decide(reviewer, tid, opinion="x")) == (422, "decision")
    for decision in ("return", "reject"):
        assert _field(await drive.decide(reviewer, tid, decision=decision)) == (422, "opinion")
        assert _field(await drive.decide(reviewer, tid, decision=decision, opinion=" \n ")) == (422, "opinion")
    assert _field(await drive.decide(reviewer, tid, decision="approve", opinion="x" * 4001)) == (422, "opinion")
    assert _field(await drive.decide(reviewer, tid, decision="approve", surprise=1)) == (422, "surprise")
    assert (await _task(drive, reviewer, tid)).json()["status"] == "open"
    assert not [e for e in await _history(drive, code) if e["action"] == "decision"]

    r = await drive.decide(reviewer, tid, **approve)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "expert_review"
    # decided: another reviewer, or the same one changing their mind, gets 409; a plain retry gets the first answer
    assert _error(await drive.decide(u["township2"], tid, **approve)) == (409, "task_not_open")
    assert _error(await drive.decide(reviewer, tid, decision="reject", opinion="改主意")) == (409, "task_not_open")
    r = await drive.decide(reviewer, tid, **approve)
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "approve"
    decisions = [e for e in await _history(drive, code) if e["action"] == "decision"]
    assert len(decisions) == 1
    assert decisions[0]["actor"] == reviewer.username


async def test_applicant_moved_to_a_reviewer_post_may_not_decide_own_project(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    """The project manager becomes a township reviewer after filing: their own project stays out of reach."""
    code = await drive.create()
    tid = (await drive.task_for(world.users["township"], code, "township_review"))["id"]
    async with sessions.begin() as s:
        await s.execute(update(User).where(User.id == drive.pm.id).values(role="township_reviewer"))

    async def as_reviewer() -> list[str]:  # a change made in SQL reaches the API within AUTH_CACHE_SECONDS
        return [t["id"] for t in await drive.inbox(drive.pm, project=code)]

    assert await eventually(as_reviewer, timeout=10) == [tid]
    r = await drive.decide(drive.pm, tid, decision="approve", opinion="同意")
    assert _error(r) == (403, "separation_of_duties")
    assert (await _task(drive, drive.pm, tid)).json()["status"] == "open"


# ---------------------------------------------------------------- attachments on decisions


async def test_decision_with_attachment(drive: Driver, world: World) -> None:
    u = world.users
    code = await drive.create()
    tid = (await drive.task_for(u["township"], code, "township_review"))["id"]
    sha = await _upload_pdf(drive, u["township"])

    # a hash that names nothing stored: 422 on that element, and nothing changes
    unknown = uuid.uuid4().hex * 2
    r = await drive.decide(u["township"], tid, decision="approve", opinion="同意", attachments=[unknown])
    assert _field(r) == (422, "attachments[0]")
    r = await drive.decide(u["township"], tid, decision="approve", opinion="同意", attachments=[sha, unknown])
    assert _field(r) == (422, "attachments[1]")
    r = await drive.decide(u["township"], tid, decision="approve", opinion="同意", attachments=["not-a-hash"])
    assert _field(r) == (422, "attachments[0]")
    assert (await _task(drive, u["township"], tid)).json()["status"] == "open"
    assert (await drive.project(code))["stage"] == "township_review"
    assert not [e for e in await _history(drive, code) if e["action"] == "decision"]
    # before the decision links it, only the uploader may read the file
    assert (await drive.api.get(f"/api/v1/attachments/{sha}", headers=await drive.headers(drive.pm))).status_code == 403

    r = await drive.decide(u["township"], tid, decision="approve", opinion="同意，见附件", attachments=[sha])
    assert r.status_code == 200, r.text
    [decision] = [e for e in await _history(drive, code) if e["action"] == "decision"]
    assert decision["payload"]["attachments"] == [sha]

    r = await drive.api.get(f"/api/v1/attachments/{sha}", headers=await drive.headers(drive.pm))
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"%PDF-1.4 ")
    assert r.headers["content-type"] == "application/pdf"
    assert (
        await drive.api.get(f"/api/v1/attachments/{sha}", headers=await drive.headers(u["supervisor"]))
    ).status_code == 200
    r = await drive.api.get(f"/api/v1/attachments/{sha}", headers=await drive.headers(u["pm2"]))
    assert _error(r) == (403, "attachment_forbidden")
    r = await drive.api.get(f"/api/v1/attachments/{sha}", headers=await drive.headers(u["township_other"]))
    assert r.status_code == 403


async def test_applicant_downloads_the_county_decisions_attachment(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    u = world.users
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create()
    assert await drive.approve(u["township"], code, "township_review") == "expert_review"
    assert await drive.score_all(code, library.eligible) == "county_approval"
    task = await drive.task_for(u["county"], code, "county_approval")
    sha = await _upload_pdf(drive, u["county"])
    r = await drive.decide(u["county"], task["id"], decision="approve", opinion="批复见附件", attachments=[sha])
    assert r.status_code == 200, r.text
    # the applicant may read the task itself ...
    assert (await _task(drive, drive.pm, task["id"])).status_code == 200
    # ... and so the file it carries
    r = await drive.api.get(f"/api/v1/attachments/{sha}", headers=await drive.headers(drive.pm))
    assert r.status_code == 200, r.text
