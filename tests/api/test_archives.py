"""The three-colour archives over the API: a project registering its assets shows a blue registration archive; an
open problem of that archive past its deadline turns it (and the project's list colour) red, found by the list's
archive filters and shown on the detail; the problem's close-out by a verifier turns it back, audited with the
verifier as actor. Problems: the escalation shown and filtered, and started again by a new deadline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from activities.problems import ProblemActivities
from db.engine import Sessions
from db.models import AuditEntry, Problem
from domain.monitoring import ProblemCheckInput
from tests.api.test_problems import _problem, _upload
from tests.conftest import Login, World, asset_row, local_today, seed_project

PROJECTS = "/api/v1/projects"
PROBLEMS = "/api/v1/problems"


async def _check(sessions: Sessions, world: World) -> None:
    await ProblemActivities(sessions).check_problems(ProblemCheckInput(at=datetime.now(UTC), scope=world.county))


async def _codes(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> set[str]:
    r = await api.get(PROJECTS, params={"county": params.pop("county"), **params}, headers=headers)
    assert r.status_code == 200, r.text
    return {p["code"] for p in r.json()["items"]}


async def test_an_overdue_problem_turns_its_archive_red_until_a_verifier_closes_it(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="asset_registration")
    async with sessions.begin() as s:
        s.add(asset_row(f"{code}-A1", code, world.villages[0], registration_status="draft"))
    await _check(sessions, world)
    sup, pm = await login(world.users["supervisor"]), await login(world.users["pm"])
    assert code in await _codes(api, sup, county=world.county, registration_colour="blue")
    assert code not in await _codes(api, sup, county=world.county, registration_colour="red")
    detail = (await api.get(f"{PROJECTS}/{code}", headers=sup)).json()
    assert (detail["registration_colour"], detail["distribution_colour"], detail["colour"]) == ("blue", "", "blue")

    r = await api.post(PROBLEMS, json=_problem(world, code), headers=sup)
    assert r.status_code == 201, r.text
    problem = r.json()
    assert problem["archive"] == "registration"  # by the project's stage
    # time passes: the deadline is yesterday, and the daily check finds it overdue
    async with sessions.begin() as s:
        await s.execute(
            update(Problem).where(Problem.id == problem["id"]).values(deadline=local_today() - timedelta(days=1))
        )
    await _check(sessions, world)
    detail = (await api.get(f"{PROJECTS}/{code}", headers=sup)).json()
    assert (detail["registration_colour"], detail["overdue_problem_archives"], detail["colour"]) == (
        "red",
        ["registration"],
        "red",
    )
    assert code in await _codes(api, sup, county=world.county, registration_colour="red")
    assert code not in await _codes(api, sup, county=world.county, registration_colour="blue")
    assert code in await _codes(api, sup, county=world.county, colour="red")
    overdue = (await api.get(PROBLEMS, params={"project": code, "overdue": "true"}, headers=sup)).json()
    assert [p["id"] for p in overdue["items"]] == [problem["id"]]

    # rectified, submitted with evidence; the responsible manager may not close it, the supervisor does
    pid = problem["id"]
    assert (await api.post(f"{PROBLEMS}/{pid}/rectifying", json={}, headers=pm)).status_code == 200
    evidence = await _upload(api, pm)
    r = await api.post(f"{PROBLEMS}/{pid}/submit", json={"note": "已补登", "attachments": [evidence]}, headers=pm)
    assert r.status_code == 200, r.text
    r = await api.post(f"{PROBLEMS}/{pid}/close", json={}, headers=pm)
    assert r.status_code == 403
    r = await api.post(f"{PROBLEMS}/{pid}/close", json={"opinion": "已核实"}, headers=sup)
    assert (r.status_code, r.json()["status"]) == (200, "closed")
    detail = (await api.get(f"{PROJECTS}/{code}", headers=sup)).json()
    assert (detail["registration_colour"], detail["overdue_problem_archives"], detail["colour"]) == ("blue", [], "blue")
    async with sessions() as s:
        changes = list(
            await s.scalars(
                select(AuditEntry)
                .where(AuditEntry.chain == f"project:{code}", AuditEntry.action == "archive_colour_changed")
                .order_by(AuditEntry.seq)
            )
        )
    assert [(e.payload["archive"], e.payload["from"], e.payload["to"]) for e in changes] == [
        ("registration", None, "blue"),
        ("registration", "blue", "red"),
        ("registration", "red", "blue"),
    ]
    assert (changes[1].actor_name, changes[2].actor_id) == ("system", world.users["supervisor"].id)


async def test_escalation_is_shown_filtered_and_started_again_by_a_new_deadline(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    code = await seed_project(sessions, world, stage="operation")
    sup = await login(world.users["supervisor"])
    pid = (await api.post(PROBLEMS, json=_problem(world, code), headers=sup)).json()["id"]
    at = datetime.now(UTC)
    async with sessions.begin() as s:
        await s.execute(
            update(Problem).where(Problem.id == pid).values(reminded_at=at, escalated_at=at, escalated_to=world.city)
        )
    escalated = (await api.get(PROBLEMS, params={"escalated": "true", "project": code}, headers=sup)).json()
    assert [(p["id"], p["escalated"], p["escalated_to"]) for p in escalated["items"]] == [(pid, True, world.city)]
    later = (local_today() + timedelta(days=60)).isoformat()
    r = await api.patch(f"{PROBLEMS}/{pid}", json={"deadline": later}, headers=sup)
    assert r.status_code == 200, r.text
    assert (r.json()["escalated"], r.json()["reminded_at"], r.json()["deadline"]) == (False, None, later)
    assert (await api.get(PROBLEMS, params={"escalated": "true", "project": code}, headers=sup)).json()["count"] == 0
    assert (await api.get(PROBLEMS, params={"escalated": "false", "project": code}, headers=sup)).json()["count"] == 1


async def test_bad_archive_input_is_refused_naming_the_field(
    api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    sup = await login(world.users["supervisor"])
    r = await api.get(PROJECTS, params={"registration_colour": "purple"}, headers=sup)
    assert r.status_code == 422
    body = {
        "region_code": world.townships[0],
        "source": "supervision",
        "description": f"乡镇问题 {uuid.uuid4().hex[:6]}",
        "responsible_unit": "镇政府",
        "archive": "operation",
    }
    r = await api.post(PROBLEMS, json=body, headers=sup)
    assert r.status_code == 422
    assert {(d["field"], d["rule"]) for d in r.json()["details"]} == {("archive", "project_required")}
    r = await api.post(PROBLEMS, json={**body, "archive": "disposal"}, headers=sup)
    assert r.status_code == 422
