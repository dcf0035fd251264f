"""Construction, completion acceptance and asset registration through the HTTP API, on the time-skipping
server: weekly colours over months, rectify then accept, registration validation, platform cards, operation."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from domain.construction import week_start_of
from tests.api.chain_helpers import Driver, add_library
from tests.conftest import World, eventually, local_today
from tests.replay.test_replay import _replayer, record_history

pytestmark = pytest.mark.usefixtures("skipping_worker")


async def _to_construction(drive: Driver, world: World, sessions: Sessions, env: WorkflowEnvironment) -> str:
    """File a project and take it through the approval chain and its notice."""
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create()
    u = world.users
    await drive.approve(u["township"], code, "township_review")
    await drive.score_all(code, library.eligible)
    await drive.approve(u["county"], code, "county_approval")
    await drive.approve(u["city"], code, "city_filing")
    await drive.notice_open(code)
    await env.sleep(timedelta(days=10, hours=1))
    await drive.stage_is(code, "construction")
    return code


async def _post(drive: Driver, path: str, body: dict[str, Any], user: Any = None) -> httpx.Response:
    return await drive.api.post(path, json=body, headers=await drive.headers(user or drive.pm))


def _fields(r: httpx.Response) -> set[str]:
    assert r.status_code == 422, r.text
    return {d["field"] for d in r.json()["details"]}


def _rules(r: httpx.Response) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    return [(d["field"], d["rule"]) for d in r.json()["details"]]


def _accepted_on(detail: dict[str, Any]) -> date:
    """The day (in the app's zone) the county last accepted the completion, from the project's timeline."""
    accepted = [
        e
        for e in detail["timeline"]
        if e["action"] == "decision"
        and e["payload"].get("kind") == "acceptance"
        and e["payload"]["decision"] == "accept"
    ]
    return datetime.fromisoformat(accepted[-1]["at"]).astimezone(ZoneInfo("Asia/Shanghai")).date()


def _assets(world: World, final_cost: int, contract_start: date) -> list[dict[str, Any]]:
    v0, v1 = world.villages[0], world.villages[1]
    households = world.households[v0]
    return [
        {
            "name": "冬暖式大棚 10 个",
            "asset_class": "operating",
            "quantity": "10",
            "unit": "个",
            "value_fen": final_cost - 5_000_000,
            "location": "东关村北",
            "owners": [{"village_code": v0, "share_bp": 6000}, {"village_code": v1, "share_bp": 4000}],
            "operator": {"name": "东关果蔬专业合作社", "type": "cooperative"},
            "contract": {
                "mode": "lease",
                "start": contract_start.isoformat(),
                "term_years": 10,
                "annual_rent_fen": 6_000_000,
            },
            "income": [{"household_code": h, "shares": 1 + i} for i, h in enumerate(households[:3])],
            "supervision": {
                "township_unit": "济阳街道农业办",
                "county_unit": "济阳区乡村振兴局",
                "supervisor": "张监督",
            },
        },
        {
            "name": "到户肉牛 5 头",
            "asset_class": "household",
            "quantity": "5",
            "unit": "头",
            "value_fen": 5_000_000,
            "location": "农户自有圈舍",
            "household_code": households[3],
        },
    ]


async def test_construction_to_operation(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    u = world.users
    code = await _to_construction(drive, world, sessions, skipping_env)
    path = f"/api/v1/projects/{code}"
    monday = week_start_of(local_today())

    # progress: every bad value is a 422 naming the rule, and nothing is stored; the manager reports the works
    # complete with 60 % of the coming final cost (95,000,000 fen) paid: exactly the default threshold
    good = {"week_start": monday.isoformat(), "percent": 100, "funds_paid_fen": 57_000_000}
    assert _fields(
        await _post(drive, f"{path}/progress-reports", good | {"week_start": (monday + timedelta(days=1)).isoformat()})
    ) == {"week_start"}
    assert _fields(
        await _post(drive, f"{path}/progress-reports", good | {"week_start": (monday + timedelta(days=7)).isoformat()})
    ) == {"week_start"}
    assert _fields(await _post(drive, f"{path}/progress-reports", good | {"percent": 101})) == {"percent"}
    assert _fields(await _post(drive, f"{path}/progress-reports", good | {"funds_paid_fen": 100_000_001})) == {
        "over_budget_reason"
    }
    # the week before the filing's week ended before the project was filed (today): refused by its own rule
    before_filing = good | {"week_start": (monday - timedelta(days=7)).isoformat()}
    assert _rules(await _post(drive, f"{path}/progress-reports", before_filing)) == [
        ("week_start", "not_before_filing")
    ]
    r = await _post(drive, f"{path}/progress-reports", good, u["pm2"])
    assert r.status_code == 403
    r = await _post(drive, f"{path}/progress-reports", good)
    assert r.status_code == 201, r.text
    assert r.json()["stage"] == "construction"
    assert r.json()["colour"] == "green"
    r = await _post(drive, f"{path}/progress-reports", good | {"percent": 20})
    assert r.status_code == 409
    assert r.json()["code"] == "week_reported"
    earlier = good | {"week_start": (monday - timedelta(days=7)).isoformat()}
    assert _fields(await _post(drive, f"{path}/progress-reports", earlier)) == {"week_start"}
    listing = (await drive.api.get(f"{path}/progress-reports", headers=await drive.headers(u["supervisor"]))).json()
    assert [(p["percent"], p["colour"]) for p in listing["items"]] == [(100, "green")]

    # completion → rectify (items required) → completion → accept → notice → registration
    done = {"final_cost_fen": 95_000_000, "completion_date": local_today().isoformat()}
    over = done | {"final_cost_fen": 100_000_001}
    # over the budget: the reason is missing, and 57,000,000 fen paid is under 60 % of that cost: both at once
    assert _rules(await _post(drive, f"{path}/completion", over)) == [
        ("over_budget_reason", "required_over_budget"),
        ("funds_paid_fen", "paid_near_final_cost"),
    ]
    # one fen more of final cost and the 60 % paid are no longer reached
    assert _rules(await _post(drive, f"{path}/completion", done | {"final_cost_fen": 95_000_001})) == [
        ("funds_paid_fen", "paid_near_final_cost")
    ]
    early = done | {"completion_date": "2020-01-01"}
    assert _fields(await _post(drive, f"{path}/completion", early)) == {"completion_date"}
    r = await _post(drive, f"{path}/completion", done, u["pm2"])
    assert r.status_code == 403
    r = await _post(drive, f"{path}/completion", done)
    assert r.status_code == 201, r.text
    assert r.json()["stage"] == "acceptance"
    assert await drive.inbox(drive.pm, kind="progress_report", project=code) == []
    task = await drive.task_for(u["county"], code, "acceptance")
    r = await drive.decide(u["county"], task["id"], decision="rectify", opinion="排水沟未完工")
    assert _fields(r) == {"items"}
    r = await drive.decide(u["county"], task["id"], decision="rectify", opinion="排水沟未完工", items=["补建排水沟"])
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "construction"
    await drive.stage_is(code, "construction")
    r = await _post(drive, f"{path}/completion", done)
    assert r.status_code == 201, r.text
    task = await drive.task_for(u["county"], code, "acceptance")
    r = await drive.decide(u["county"], task["id"], decision="accept", opinion="验收合格")
    assert r.status_code == 200, r.text
    await eventually(lambda: _notice_open(drive, code, "acceptance"))
    await skipping_env.sleep(timedelta(days=10, hours=1))
    registration = await drive.task_for(drive.pm, code, "asset_registration")
    assert registration["assignee_id"] == drive.pm.id

    # registration: values sum to the final cost, shares to 100 %, household assets name their household
    # the operating contract starts on or after the acceptance (its day in Asia/Shanghai), never before it
    accepted_on = _accepted_on(await drive.project(code))
    early_contract = _assets(world, 95_000_000, accepted_on - timedelta(days=1))
    assert _rules(await _post(drive, f"{path}/asset-registration", {"assets": early_contract})) == [
        ("assets[0].contract.start", "after_acceptance")
    ]
    # a 10-year contract from 1 December ends on 30 November ten years on, not on 1 December
    december = date(accepted_on.year, 12, 1)
    start = december if december >= accepted_on else date(accepted_on.year + 1, 12, 1)
    assets = _assets(world, 95_000_000, start)
    bad_sum = [dict(assets[0], value_fen=assets[0]["value_fen"] + 1), assets[1]]
    assert "assets" in _fields(await _post(drive, f"{path}/asset-registration", {"assets": bad_sum}))
    bad_share = [
        dict(
            assets[0],
            owners=[
                {"village_code": world.villages[0], "share_bp": 6000},
                {"village_code": world.villages[1], "share_bp": 3999},
            ],
        ),
        assets[1],
    ]
    assert _fields(await _post(drive, f"{path}/asset-registration", {"assets": bad_share})) == {"assets[0].owners"}
    bad_household = [assets[0], dict(assets[1], owners=[{"village_code": world.villages[0], "share_bp": 10000}])]
    assert _fields(await _post(drive, f"{path}/asset-registration", {"assets": bad_household})) == {"assets[1].owners"}
    no_rights = [{k: v for k, v in assets[0].items() if k not in ("operator", "supervision")}, assets[1]]
    assert _fields(await _post(drive, f"{path}/asset-registration", {"assets": no_rights})) == {
        "assets[0].operator",
        "assets[0].supervision",
    }
    stranger = world.households[world.villages[2]][0]  # lives in the other township's village
    foreign = [dict(assets[0], income=[{"household_code": stranger, "shares": 1}]), assets[1]]
    assert _fields(await _post(drive, f"{path}/asset-registration", {"assets": foreign})) == {
        "assets[0].income[0].household_code"
    }
    r = await drive.decide(drive.pm, registration["id"], decision="register")
    assert r.status_code == 409
    assert r.json()["code"] == "use_form"
    r = await _post(drive, f"{path}/asset-registration", {"assets": assets}, u["pm2"])
    assert r.status_code == 403
    r = await _post(drive, f"{path}/asset-registration", {"assets": assets})
    assert r.status_code == 201, r.text

    # the county confirms; the operating asset gets its platform card, the household asset needs none
    confirm = await drive.task_for(u["county"], code, "confirm_registration")
    r = await drive.decide(u["county"], confirm["id"], decision="confirm", opinion="确权资料齐全")
    assert r.status_code == 200, r.text
    await eventually(lambda: _notice_open(drive, code, "registration"))
    await skipping_env.sleep(timedelta(days=10, hours=1))
    await drive.stage_is(code, "operation")

    listed = (
        await drive.api.get("/api/v1/assets", params={"project": code}, headers=await drive.headers(u["supervisor"]))
    ).json()
    by_class = {a["asset_class"]: a for a in listed["items"]}
    assert set(by_class) == {"operating", "household"}
    assert by_class["operating"]["platform_card_no"]
    assert by_class["household"]["platform_card_no"] is None
    assert by_class["operating"]["status"] == "leased"
    one = (
        await drive.api.get(
            f"/api/v1/assets/{by_class['operating']['id']}", headers=await drive.headers(u["supervisor"])
        )
    ).json()
    assert [o["share_percent"] for o in one["ownership"]["owners"]] == ["60.00%", "40.00%"]
    assert one["operating"]["contract_start"] == start.isoformat()
    assert one["operating"]["contract_end"] == date(start.year + 10, 11, 30).isoformat()
    assert one["income"]["total_shares"] == 6
    assert one["supervision"]["supervisor"] == "张监督"
    assert "assets_registered" in [e["action"] for e in one["history"]]
    detail = await drive.project(code)
    actions = [e["action"] for e in detail["timeline"]]
    for action in ("progress_reported", "completion_reported", "assets_registered", "platform_registered"):
        assert action in actions
    # the registration archive: blue while registering, green once every card is issued and operation begins
    registration = [
        (e["payload"]["from"], e["payload"]["to"])
        for e in detail["timeline"]
        if e["action"] == "archive_colour_changed" and e["payload"]["archive"] == "registration"
    ]
    assert registration == [(None, "blue"), ("blue", "green")]
    assert (detail["registration_colour"], detail["distribution_colour"]) == ("green", "")
    history = (await drive.api.get(f"{path}/history", headers=await drive.headers(u["supervisor"]))).json()
    assert history["verified"] is True

    # the whole life replays against today's code, and may be recorded for the replay tests of later changes
    # every phase's workflow replays, and the project's executions stay small (it continued as new per phase)
    client = skipping_env.client
    for phase in ("approval", "construction", "registration"):
        handle = client.get_workflow_handle(f"project-{code}-{phase}-1")
        recorded = await handle.fetch_history()
        replayed = await _replayer().replay_workflow(recorded, raise_on_replay_failure=True)
        assert replayed.replay_failure is None
        if os.environ.get("RECORD_HISTORIES") == "1" and phase != "approval":
            await record_history(client, handle.id, f"{phase}_phase")
    project = await client.get_workflow_handle(f"project-{code}").fetch_history()
    assert len(project.events) < 20  # this run waits in operation


async def _colours(drive: Driver, code: str) -> dict[str, str]:
    """The project's colour as the list, the detail and the construction archive each show it."""
    headers = await drive.headers(drive.world.users["supervisor"])
    listed = (await drive.api.get("/api/v1/projects", params={"text": code}, headers=headers)).json()
    detail = await drive.project(code)
    archive = (await drive.api.get(f"/api/v1/projects/{code}/progress-reports", headers=headers)).json()
    (item,) = [p for p in listed["items"] if p["code"] == code]
    return {
        "list": item["colour"],
        "detail": detail["colour"],
        "detail_archive": detail["construction_colour"],
        "archive": archive["colour"],
    }


async def _listed_under(drive: Driver, code: str, colour: str) -> bool:
    headers = await drive.headers(drive.world.users["supervisor"])
    listed = (await drive.api.get("/api/v1/projects", params={"colour": colour}, headers=headers)).json()
    return code in {p["code"] for p in listed["items"]}


async def test_list_and_archive_colours_agree_and_completion_waits_for_works_and_payments(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    u = world.users
    code = await _to_construction(drive, world, sessions, skipping_env)
    path = f"/api/v1/projects/{code}"
    monday = week_start_of(local_today())

    # a progress report colours the archive, and the list shows the same colour (it showed blue beside green)
    r = await _post(
        drive,
        f"{path}/progress-reports",
        {"week_start": monday.isoformat(), "percent": 10, "funds_paid_fen": 10_000_000},
    )
    assert r.status_code == 201, r.text
    assert r.json()["colour"] == "green"  # before the planned start nothing is expected yet
    assert set((await _colours(drive, code)).values()) == {"green"}
    assert await _listed_under(drive, code, "green")
    assert not await _listed_under(drive, code, "blue")
    listing = (await drive.api.get(f"{path}/progress-reports", headers=await drive.headers(u["supervisor"]))).json()
    assert [(p["percent"], p["colour"]) for p in listing["items"]] == [(10, "green")]

    # months pass with no further report: weekly checks turn the archive yellow, then red, and remind the manager;
    # after each check the list says what the archive says
    detail = await drive.project(code)
    planned_start = date.fromisoformat(detail["application"]["planned_start"])
    now = (await skipping_env.get_current_time()).date()
    await skipping_env.sleep(timedelta(days=(planned_start - now).days + 45))
    detail = await eventually(lambda: _colour_is(drive, code, "yellow"))
    assert set((await _colours(drive, code)).values()) == {"yellow"}
    assert await _listed_under(drive, code, "yellow")
    await skipping_env.sleep(timedelta(days=60))
    detail = await eventually(lambda: _colour_is(drive, code, "red"))
    assert set((await _colours(drive, code)).values()) == {"red"}
    assert await _listed_under(drive, code, "red")
    assert not await _listed_under(drive, code, "yellow")
    changes = [e["payload"]["to"] for e in detail["timeline"] if e["action"] == "colour_changed"]
    assert changes[:1] == ["green"]
    assert changes[-2:] == ["yellow", "red"]
    reminders = await drive.inbox(drive.pm, kind="progress_report", project=code)
    assert len(reminders) == 1
    notes = (await drive.api.get("/api/v1/notifications", headers=await drive.headers(drive.pm))).json()["items"]
    warned = [n["title"] for n in notes if n["kind"] == "warning_construction" and n["project_code"] == code]
    assert [t.split("：")[0] for t in warned] == ["建设预警（红色）", "建设预警（黄色）"]  # newest first

    # the walk: completion at 10 % with 10,000,000 of a 95,000,000 fen final cost paid is refused, both rules in
    # one answer, and the project stays under construction
    done = {"final_cost_fen": 95_000_000, "completion_date": local_today().isoformat()}
    r = await _post(drive, f"{path}/completion", done)
    assert _rules(r) == [("progress_percent", "complete_progress"), ("funds_paid_fen", "paid_near_final_cost")]
    messages = [d["message"] for d in r.json()["details"]]
    assert "10 %" in messages[0]
    assert "60 %" in messages[1]
    assert (await drive.project(code))["stage"] == "construction"
    assert await drive.inbox(u["county"], kind="acceptance", project=code) == []


async def _colour_is(drive: Driver, code: str, colour: str) -> dict[str, Any] | None:
    listing = (
        await drive.api.get(
            f"/api/v1/projects/{code}/progress-reports", headers=await drive.headers(drive.world.users["supervisor"])
        )
    ).json()
    if listing["colour"] != colour:
        return None
    return await drive.project(code)


async def _notice_open(drive: Driver, code: str, kind: str) -> bool:
    detail = await drive.project(code)
    return any(n["kind"] == kind and n["status"] == "open" for n in detail["notices"])


async def test_an_upheld_objection_to_the_acceptance_reopens_it(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    u = world.users
    code = await _to_construction(drive, world, sessions, skipping_env)
    path = f"/api/v1/projects/{code}"
    complete = {"week_start": week_start_of(local_today()).isoformat(), "percent": 100, "funds_paid_fen": 95_000_000}
    assert (await _post(drive, f"{path}/progress-reports", complete)).status_code == 201
    done = {"final_cost_fen": 95_000_000, "completion_date": local_today().isoformat()}
    assert (await _post(drive, f"{path}/completion", done)).status_code == 201
    first = await drive.task_for(u["county"], code, "acceptance")
    assert (await drive.decide(u["county"], first["id"], decision="accept", opinion="合格")).status_code == 200
    await eventually(lambda: _notice_open(drive, code, "acceptance"))
    r = await _post(drive, f"{path}/objections", {"text": "大棚实际只建了 8 个"}, u["township2"])
    assert r.status_code == 201, r.text
    r = await drive.decide(u["county"], r.json()["task_id"], decision="uphold", opinion="经核实属实")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "acceptance"
    second = await drive.task_for(u["county"], code, "acceptance")
    assert second["id"] != first["id"]
    assert second["round"] == first["round"] + 1
    detail = await drive.project(code)
    assert [n["status"] for n in detail["notices"] if n["kind"] == "acceptance"] == ["interrupted"]
    assert (await drive.decide(u["county"], second["id"], decision="accept", opinion="复验合格")).status_code == 200
    await eventually(lambda: _notice_open(drive, code, "acceptance"))
    await skipping_env.sleep(timedelta(days=10, hours=1))
    await drive.task_for(drive.pm, code, "asset_registration")
