"""The approval chain (两库三审) through the HTTP API, on the time-skipping server and the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from db.models import Expert, ExpertDraw, Notice, Task
from tests.api.chain_helpers import GOOD_SCORES, POOR_SCORES, Driver, add_expert, add_library
from tests.conftest import World

pytestmark = pytest.mark.usefixtures("skipping_worker")


@pytest.fixture
def drive(skipping_api: httpx.AsyncClient, world: World) -> Driver:
    """A driver of this test's world."""
    return Driver(skipping_api, world)


async def test_full_chain_with_notice_and_dismissed_objection(
    drive: Driver, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    library = await add_library(sessions, world)
    code = await drive.create()
    u = world.users

    assert await drive.approve(u["township"], code, "township_review") == "expert_review"
    seats = await drive.panel(code, [*library.eligible, library.same_township, library.same_entity])
    excluded = {library.same_township.id, library.same_entity.id, library.declared_conflict.id, library.inactive.id}  # type: ignore[union-attr]
    assert excluded.isdisjoint(seats)
    assert len(seats) == 3

    # the earlier township opinion is visible to the experts; scores of others are hidden until the panel completes
    first_uid, first_task = next(iter(seats.items()))
    assert first_task["details"]["earlier_opinions"][0]["opinion"] == "同意"
    first = next(e for e in library.eligible if e.id == first_uid)
    r = await drive.decide(first, first_task["id"], decision="score", scores=GOOD_SCORES, opinion="模式可行")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "expert_review"
    # a retry is answered as the first time; a changed score is refused: a decision is final
    r = await drive.decide(first, first_task["id"], decision="score", scores=GOOD_SCORES, opinion="模式可行")
    assert r.status_code == 200
    changed = dict(GOOD_SCORES, operating_model=5)
    r = await drive.decide(first, first_task["id"], decision="score", scores=changed, opinion="模式可行")
    assert r.status_code == 409
    assert r.json()["details"]["decided_by"] == first.username
    history = (
        await drive.api.get(f"/api/v1/projects/{code}/history", headers=await drive.headers(u["supervisor"]))
    ).json()
    scored = [e for e in history["items"] if e["action"] == "decision" and e["payload"].get("kind") == "expert_review"]
    assert scored
    assert "scores" not in scored[0]["payload"]
    assert scored[0]["payload"]["hidden"]

    stage = await drive.score_all(code, [e for e in library.eligible if e.id != first_uid], seats_open=2)
    assert stage == "county_approval"
    detail = await drive.recorded(code, "panel_verdict")
    verdict = next(e for e in detail["timeline"] if e["action"] == "panel_verdict")
    assert verdict["payload"]["passed"] is True
    assert verdict["payload"]["average_total"] == 80
    scored = [
        e for e in detail["timeline"] if e["action"] == "decision" and e["payload"].get("kind") == "expert_review"
    ]
    assert all(e["payload"]["scores"] == GOOD_SCORES for e in scored)
    [draw] = detail["draws"]
    assert {x["expert_id"] for x in draw["exclusions"]} == {library.ids[i] for i in excluded}
    reasons = {x["reason"] for x in draw["exclusions"]}
    assert {"from the project's own township", "affiliated with the implementing entity", "inactive"} <= reasons

    assert await drive.approve(u["county"], code, "county_approval") == "city_filing"
    assert await drive.approve(u["city"], code, "city_filing") == "approval_notice"
    detail = await drive.notice_open(code)
    assert detail["stage"] == "approval_notice"
    [notice] = detail["notices"]
    assert notice["levels"] == ["village", "township", "county"]
    assert notice["status"] == "open"

    # someone of another township may not object; someone of the project's township may
    r = await drive.api.post(
        f"/api/v1/projects/{code}/objections", json={"text": "占用基本农田"}, headers=await drive.headers(u["pm2"])
    )
    assert r.status_code == 403, r.text
    r = await drive.api.post(
        f"/api/v1/projects/{code}/objections",
        json={"text": "占用基本农田"},
        headers=await drive.headers(u["township2"]),
    )
    assert r.status_code == 201, r.text
    objection_task = await drive.task_for(u["county"], code, "objection")
    assert objection_task["details"]["text"] == "占用基本农田"
    r = await drive.decide(u["county"], objection_task["id"], decision="dismiss")
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "opinion"
    r = await drive.decide(u["county"], objection_task["id"], decision="dismiss", opinion="经核实为一般耕地")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "approval_notice"

    await skipping_env.sleep(timedelta(days=10, hours=1))
    detail = await drive.stage_is(code, "construction")
    assert detail["notices"][0]["status"] == "completed"
    assert detail["objections"][0]["status"] == "dismissed"
    actions = [e["action"] for e in detail["timeline"]]
    for action in ("expert_draw", "panel_verdict", "notice_opened", "objection_filed", "notice_closed"):
        assert action in actions
    history = (
        await drive.api.get(f"/api/v1/projects/{code}/history", headers=await drive.headers(u["supervisor"]))
    ).json()
    assert history["verified"] is True
    # the manager heard of each step in the app (notifications), never of who objected or what they wrote
    items = (await drive.api.get("/api/v1/notifications", headers=await drive.headers(u["pm"]))).json()["items"]
    mine = [n for n in items if n["project_code"] == code]
    kinds = [n["kind"] for n in mine]
    for kind in ("decision_approved", "notice_opened", "objection_filed", "notice_closed"):
        assert kind in kinds, kinds
    assert kinds.count("decision_approved") == 4  # township, panel, county, city
    assert all("占用基本农田" not in n["body"] for n in mine)


async def test_return_revise_resubmit_keeps_diff_and_opinions(drive: Driver, world: World) -> None:
    code = await drive.create()
    u = world.users
    task = await drive.task_for(u["township"], code, "township_review")
    r = await drive.decide(u["township"], task["id"], decision="return")
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "opinion"
    r = await drive.decide(u["township"], task["id"], decision="return", opinion="预算来源不清")
    assert r.status_code == 200
    assert r.json()["stage"] == "returned"

    revision = await drive.task_for(drive.pm, code, "revision")
    assert revision["details"]["opinions"][0]["opinion"] == "预算来源不清"
    # only the applicant revises; the body is validated like an application
    from tests.conftest import application

    body = application(world, name="测试冬暖式大棚项目（修改）")
    r = await drive.api.put(f"/api/v1/projects/{code}/application", json=body, headers=await drive.headers(u["pm2"]))
    assert r.status_code == 403
    bad = application(world, planned_end="2020-01-01")
    r = await drive.api.put(f"/api/v1/projects/{code}/application", json=bad, headers=await drive.headers(drive.pm))
    assert r.status_code == 422
    r = await drive.api.put(f"/api/v1/projects/{code}/application", json=body, headers=await drive.headers(drive.pm))
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "township_review"
    r = await drive.api.put(f"/api/v1/projects/{code}/application", json=body, headers=await drive.headers(drive.pm))
    assert r.status_code == 409

    second = await drive.task_for(u["township"], code, "township_review")
    assert second["round"] == 2
    assert second["details"]["earlier_opinions"][0]["opinion"] == "预算来源不清"
    detail = await drive.project(code)
    assert detail["name"] == "测试冬暖式大棚项目（修改）"
    assert detail["revision_round"] == 2
    [rev] = detail["revisions"]
    assert {"field": "name", "before": "测试冬暖式大棚项目", "after": "测试冬暖式大棚项目（修改）"} in rev["diff"]


async def test_reject_ends_the_project(drive: Driver, world: World) -> None:
    code = await drive.create()
    task = await drive.task_for(world.users["township"], code, "township_review")
    r = await drive.decide(world.users["township"], task["id"], decision="reject", opinion="不符合产业规划")
    assert r.status_code == 200
    assert r.json()["stage"] == "rejected"
    detail = await drive.project(code)
    assert detail["status"] == "rejected"
    assert detail["open_tasks"] == []


async def test_revision_limit_rejects_with_reason(drive: Driver, world: World) -> None:
    from tests.conftest import application

    code = await drive.create()
    u = world.users
    for n in range(3):
        task = await drive.task_for(u["township"], code, "township_review")
        r = await drive.decide(u["township"], task["id"], decision="return", opinion=f"第{n + 1}次退回")
        assert r.json()["stage"] == "returned", r.text
        await drive.task_for(drive.pm, code, "revision")
        body = application(world, name=f"修改第{n + 1}次")
        r = await drive.api.put(
            f"/api/v1/projects/{code}/application", json=body, headers=await drive.headers(drive.pm)
        )
        assert r.status_code == 200, r.text
    task = await drive.task_for(u["township"], code, "township_review")
    assert task["round"] == 4
    r = await drive.decide(u["township"], task["id"], decision="return", opinion="仍不合格")
    assert r.status_code == 200
    assert r.json()["stage"] == "rejected"
    detail = await drive.project(code)
    last = [e for e in detail["timeline"] if e["action"] == "decision"][-1]
    assert "limit is 3" in last["payload"]["rejected_because"]


async def test_too_few_experts_waits_for_the_county_to_extend_the_library(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    first, _ = await add_expert(sessions, world)
    code = await drive.create()
    u = world.users
    await drive.approve(u["township"], code, "township_review")
    extend = await drive.task_for(u["county"], code, "extend_expert_library")
    assert extend["details"]["shortfall"] == 2
    detail = await drive.project(code)
    assert detail["stage"] == "expert_review"
    assert "2 more eligible" in detail["waiting_for"]
    # the library grows; one of the new experts is of another specialty and is drawn only by widening
    second, _ = await add_expert(sessions, world)
    third, _ = await add_expert(sessions, world, specialties=["photovoltaic"])
    r = await drive.decide(u["county"], extend["id"], decision="done", opinion="已补充专家")
    assert r.status_code == 200, r.text
    seats = await drive.panel(code, [first, second, third])
    assert set(seats) == {first.id, second.id, third.id}
    async with sessions() as s:
        draws = (
            await s.scalars(select(ExpertDraw).where(ExpertDraw.project_code == code).order_by(ExpertDraw.id))
        ).all()
    assert [d.widened for d in draws] == [False, True]
    assert (await drive.project(code))["waiting_for"] == ""


async def test_decline_draws_a_replacement_and_veto_returns(drive: Driver, world: World, sessions: Sessions) -> None:
    library = await add_library(sessions, world, eligible=4)
    code = await drive.create()
    u = world.users
    await drive.approve(u["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    decliner_id = next(iter(seats))
    decliner = next(e for e in library.eligible if e.id == decliner_id)
    r = await drive.decide(decliner, seats[decliner_id]["id"], decision="decline")
    assert r.status_code == 422
    r = await drive.decide(decliner, seats[decliner_id]["id"], decision="decline", opinion="与实施主体有业务往来")
    assert r.status_code == 200
    assert r.json()["stage"] == "expert_review"
    spare = next(e for e in library.eligible if e.id not in seats)
    replacement = await drive.task_for(spare, code, "expert_review")
    # invalid scores are refused before they reach the workflow's history
    bad = dict(GOOD_SCORES, benefit_linkage=31)
    r = await drive.decide(spare, replacement["id"], decision="score", scores=bad, opinion="x")
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "scores"
    r = await drive.decide(
        spare, replacement["id"], decision="score", scores=GOOD_SCORES, veto=["village_borrowing"], opinion="村级举债"
    )
    assert r.status_code == 200, r.text
    others = [e for e in library.eligible if e.id in seats and e.id != decliner_id]
    stage = await drive.score_all(code, others, seats_open=2)
    assert stage == "returned"
    revision = await drive.task_for(drive.pm, code, "revision")
    assert any(o["opinion"] == "村级举债" for o in revision["details"]["opinions"])
    verdict = next(
        e for e in (await drive.recorded(code, "panel_verdict"))["timeline"] if e["action"] == "panel_verdict"
    )
    assert verdict["payload"]["passed"] is False
    assert "village_borrowing" in verdict["payload"]["reason"]


async def test_low_average_returns(drive: Driver, world: World, sessions: Sessions) -> None:
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create(revenue={"expected_annual_revenue_fen": 12_000_000, "expected_yield_percent": 12.0})
    await drive.approve(world.users["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    for task in seats.values():
        assert task["details"]["flags"] == ["expected yield 12 % a year lies outside the usual 5–10 %"]
    assert await drive.score_all(code, library.eligible, POOR_SCORES) == "returned"


async def test_objection_upheld_restarts_at_township_review(drive: Driver, world: World, sessions: Sessions) -> None:
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create()
    u = world.users
    await drive.approve(u["township"], code, "township_review")
    await drive.score_all(code, library.eligible)
    await drive.approve(u["county"], code, "county_approval")
    await drive.approve(u["city"], code, "city_filing")
    await drive.notice_open(code)
    ids = []
    for text in ("资金重复申报", "选址存在争议"):
        r = await drive.api.post(
            f"/api/v1/projects/{code}/objections", json={"text": text}, headers=await drive.headers(u["supervisor"])
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["task_id"])
    r = await drive.decide(u["county"], ids[0], decision="uphold", opinion="情况属实")
    assert r.status_code == 200
    assert r.json()["stage"] == "township_review"
    task = await drive.task_for(u["township"], code, "township_review")
    assert task["round"] == 2
    assert task["details"]["objection"]
    async with sessions() as s:
        other = await s.get(Task, ids[1])
        notices = (await s.scalars(select(Notice).where(Notice.project_code == code))).all()
    assert other is not None
    assert other.status == "cancelled"
    assert [n.status for n in notices] == ["interrupted"]
    r = await drive.decide(u["county"], ids[1], decision="dismiss", opinion="x")
    assert r.status_code == 409


async def test_excluded_experts_are_never_drawn(drive: Driver, world: World, sessions: Sessions) -> None:
    """Many draws over one library: recused experts never appear, and every eligible one can."""
    library = await add_library(sessions, world, eligible=5)
    excluded = {library.same_township.id, library.same_entity.id, library.declared_conflict.id, library.inactive.id}  # type: ignore[union-attr]
    seen: set[int] = set()
    for _ in range(6):
        code = await drive.create()
        await drive.approve(world.users["township"], code, "township_review")
        seats = await drive.panel(code, [*library.eligible])
        assert excluded.isdisjoint(seats)
        seen |= set(seats)
    async with sessions() as s:
        experts = (await s.scalars(select(Expert).where(Expert.id.in_(library.ids.values())))).all()
        draws = (await s.scalars(select(ExpertDraw).where(ExpertDraw.project_code.like(f"XM{world.county}%")))).all()
    excluded_ids = {library.ids[i] for i in excluded}
    assert len(draws) == 6
    for d in draws:
        assert excluded_ids.isdisjoint(c["expert_id"] for c in d.chosen)
        assert {x["expert_id"] for x in d.exclusions} == excluded_ids
    assert len(experts) == 9
    assert len(seen) >= 4
