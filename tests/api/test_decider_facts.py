"""Every decider sees what they decide on (issue 9): experts read the application while seated and never the
beneficiaries' personal data; an open panel's names stay inside the reviewing chain; the county's approval, the
acceptance and the registration confirmation carry their facts; a declined expert is excluded as `declined`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from db.models import User
from domain.construction import week_start_of
from tests.api.chain_helpers import GOOD_SCORES, POOR_SCORES, Driver, add_library
from tests.api.test_construction import _accepted_on, _assets, _notice_open, _post, _to_construction
from tests.conftest import World, eventually, local_today

pytestmark = pytest.mark.usefixtures("skipping_worker")


@pytest.fixture
def drive(skipping_api: httpx.AsyncClient, world: World) -> Driver:
    """A driver of this test's world."""
    return Driver(skipping_api, world)


async def _get(drive: Driver, path: str, user: User) -> httpx.Response:
    return await drive.api.get(path, headers=await drive.headers(user))


def _no_personal_data(world: World, text: str) -> None:
    """No household code, head of household, ID number or account of the world appears in `text`."""
    for village, codes in world.households.items():
        for i, code in enumerate(codes, start=1):
            assert code not in text
            assert f"622848{village}{i:02d}" not in text
    assert "household_codes" not in text
    assert "户主" not in text


async def test_an_expert_reads_the_application_only_while_seated(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    library = await add_library(sessions, world, eligible=4)
    code = await drive.create()
    u = world.users
    path = f"/api/v1/projects/{code}"
    # before any seat: no expert reads the project
    r = await _get(drive, path, library.eligible[0])
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "role_forbidden"

    # the township attaches its site survey to its approval: the panel reads it with the application
    survey = b"%PDF-1.7\n" + uuid.uuid4().bytes + b"x" * 100
    r = await drive.api.post(
        "/api/v1/attachments",
        files={"file": ("现场踏勘.pdf", survey, "application/pdf")},
        headers=await drive.headers(u["township"]),
    )
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    review = await drive.task_for(u["township"], code, "township_review")
    r = await drive.decide(u["township"], review["id"], decision="approve", opinion="同意", attachments=[sha])
    assert r.status_code == 200, r.text
    seats = await drive.panel(code, library.eligible)
    seated_id, seat = next(iter(seats.items()))
    seated = next(e for e in library.eligible if e.id == seated_id)
    spare = next(e for e in library.eligible if e.id not in seats)
    assert (await _get(drive, path, spare)).status_code == 403  # in the library, not on this panel

    r = await _get(drive, path, seated)
    assert r.status_code == 200, r.text
    app = r.json()["application"]
    assert app["content"] == "新建冬暖式大棚 10 个"
    assert app["scale"] == "占地 40 亩"
    assert app["budget"]["total_fen"] == 100_000_000
    assert [s["source"] for s in app["budget"]["sources"]] == ["linkage_central", "county_match"]
    assert app["revenue"] == {"expected_annual_revenue_fen": 7_000_000, "expected_yield_percent": 7.0}
    assert app["benefit"]["households"] == 3
    assert app["benefit"]["people"] == 9
    assert app["benefit"]["categories"] == {"elderly": 1}
    assert app["performance_targets"] == [{"indicator": "带动增收", "target": "3 户"}]
    assert app["attachments"] == [{"sha256": sha, "filename": "现场踏勘.pdf", "step": "township_review"}]
    download = await _get(drive, f"/api/v1/attachments/{sha}", seated)
    assert download.status_code == 200, download.text
    assert download.content == survey
    assert (await _get(drive, f"/api/v1/attachments/{sha}", spare)).status_code == 403
    assert [t["id"] for t in r.json()["open_tasks"]] == [seat["id"]]  # only their own seat, no one else's
    _no_personal_data(world, r.text)
    # the expert's task and inbox item carry the same application
    r = await _get(drive, f"/api/v1/tasks/{seat['id']}", seated)
    assert r.status_code == 200, r.text
    assert r.json()["facts"]["application"]["benefit"]["households"] == 3
    _no_personal_data(world, r.text)
    [item] = await drive.inbox(seated, project=code)
    assert item["facts"]["application"]["content"] == "新建冬暖式大棚 10 个"

    # once the seat is decided, the application is closed to the expert again
    r = await drive.decide(seated, seat["id"], decision="score", scores=GOOD_SCORES, opinion="可行")
    assert r.status_code == 200, r.text
    r = await _get(drive, path, seated)
    assert r.status_code == 403
    assert r.json()["code"] == "role_forbidden"
    r = await _get(drive, f"/api/v1/tasks/{seat['id']}", seated)
    assert r.status_code == 200
    assert r.json()["facts"] == {}
    assert (await _get(drive, f"/api/v1/attachments/{sha}", seated)).status_code == 403


async def test_a_declined_expert_is_excluded_as_declined_and_loses_the_application(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    library = await add_library(sessions, world, eligible=4)
    code = await drive.create()
    await drive.approve(world.users["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    decliner_id = next(iter(seats))
    decliner = next(e for e in library.eligible if e.id == decliner_id)
    assert (await _get(drive, f"/api/v1/projects/{code}", decliner)).status_code == 200
    r = await drive.decide(decliner, seats[decliner_id]["id"], decision="decline", opinion="与实施主体有业务往来")
    assert r.status_code == 200, r.text
    spare = next(e for e in library.eligible if e.id not in seats)
    await drive.task_for(spare, code, "expert_review")
    assert (await _get(drive, f"/api/v1/projects/{code}", decliner)).status_code == 403
    assert (await _get(drive, f"/api/v1/projects/{code}", spare)).status_code == 200

    draws = (await drive.project(code))["draws"]
    assert len(draws) == 2
    reasons = {x["expert_id"]: x["reason"] for x in draws[1]["exclusions"]}
    assert reasons[library.ids[decliner_id]] == "declined"
    others = {library.ids[i] for i in seats if i != decliner_id}
    assert {reasons[i] for i in others} == {"already drawn for this panel"}


async def test_panel_names_stay_in_the_reviewing_chain_until_the_panel_completes(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create()
    u = world.users
    path = f"/api/v1/projects/{code}"
    await drive.approve(u["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    panel = [e for e in library.eligible if e.id in seats]
    first = panel[0]
    r = await drive.decide(first, seats[first.id]["id"], decision="score", scores=GOOD_SCORES, opinion="可行")
    assert r.status_code == 200, r.text

    def nameless(text: str) -> None:
        for e in panel:
            assert e.username not in text
            assert e.full_name not in text

    # the applicant and the township (outside the reviewing chain) learn that a panel was drawn, not who is on it
    for outsider in (drive.pm, u["township"]):
        r = await _get(drive, path, outsider)
        assert r.status_code == 200, r.text
        nameless(r.text)
        [draw] = r.json()["draws"]
        assert draw["chosen"] == []
        assert draw["chosen_count"] == 3
        assert draw["widened"] is False
        assert all(t["assignee_id"] is None for t in r.json()["open_tasks"] if t["kind"] == "expert_review")
        r = await _get(drive, f"{path}/history", outsider)
        assert r.status_code == 200
        nameless(r.text)
    # the applicant may read the seat's task, but not whose it is
    seat = await _get(drive, f"/api/v1/tasks/{seats[first.id]['id']}", drive.pm)
    assert seat.status_code == 200, seat.text
    assert seat.json()["decided_by"] is None
    assert seat.json()["assignee_id"] is None
    assert "expert_name" not in seat.json()["details"]
    nameless(seat.text)
    # the county reviewer (the reviewing chain) sees the names
    r = await _get(drive, path, u["county"])
    [draw] = r.json()["draws"]
    assert {c["name"] for c in draw["chosen"]} == {e.full_name for e in panel}

    await drive.score_all(code, panel[1:], seats_open=2)
    detail = await drive.recorded(code, "panel_verdict")
    assert detail["stage"] == "county_approval"
    # once the panel is complete, the applicant sees who scored
    r = await _get(drive, path, drive.pm)
    [draw] = r.json()["draws"]
    assert {c["name"] for c in draw["chosen"]} == {e.full_name for e in panel}

    # the county's approval task carries each expert's scores by criterion and the panel's average
    task = await drive.task_for(u["county"], code, "county_approval")
    facts = task["facts"]["panel"]
    assert facts["passed"] is True
    assert facts["average_total"] == 80
    assert facts["criteria_average"] == GOOD_SCORES
    assert sorted(e["name"] for e in facts["experts"]) == sorted(e.full_name for e in panel)
    assert all(e["scores"] == GOOD_SCORES and e["total"] == 80 for e in facts["experts"])
    r = await _get(drive, f"/api/v1/tasks/{task['id']}", u["county"])
    assert r.json()["facts"]["panel"]["criteria_average"] == GOOD_SCORES


async def test_the_panel_average_is_by_criterion(drive: Driver, world: World, sessions: Sessions) -> None:
    library = await add_library(sessions, world, eligible=3)
    code = await drive.create()
    u = world.users
    await drive.approve(u["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    mixed = [GOOD_SCORES, GOOD_SCORES, dict(POOR_SCORES, benefit_linkage=22)]
    for (uid, seat), scores in zip(seats.items(), mixed, strict=True):
        user = next(e for e in library.eligible if e.id == uid)
        r = await drive.decide(user, seat["id"], decision="score", scores=scores, opinion="可行")
        assert r.status_code == 200, r.text
    task = await drive.task_for(u["county"], code, "county_approval")
    panel = task["facts"]["panel"]
    assert panel["criteria_average"] == {
        "operating_model": round(50 / 3, 2),
        "revenue_estimate": round(50 / 3, 2),
        "benefit_linkage": 24.0,
        "compliance_risk": round(40 / 3, 2),
    }
    assert sorted(e["total"] for e in panel["experts"]) == [52, 80, 80]


async def test_acceptance_and_confirmation_carry_their_facts(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    u = world.users
    code = await _to_construction(drive, world, sessions, skipping_env)
    path = f"/api/v1/projects/{code}"
    monday = week_start_of(local_today())
    report = {"week_start": monday.isoformat(), "percent": 100, "funds_paid_fen": 94_000_000, "note": "主体完工"}
    r = await _post(drive, f"{path}/progress-reports", report)
    assert r.status_code == 201, r.text
    done = {"final_cost_fen": 95_000_000, "completion_date": local_today().isoformat()}
    r = await _post(drive, f"{path}/completion", done)
    assert r.status_code == 201, r.text

    task = await drive.task_for(u["county"], code, "acceptance")
    facts = task["facts"]
    assert facts["last_progress"]["percent"] == 100
    assert facts["last_progress"]["week_start"] == monday.isoformat()
    assert facts["last_progress"]["note"] == "主体完工"
    assert facts["funds_paid_fen"] == 94_000_000
    assert facts["total_budget_fen"] == 100_000_000
    assert facts["final_cost_fen"] == 95_000_000
    assert facts["completion_date"] == local_today().isoformat()
    r = await drive.decide(u["county"], task["id"], decision="accept", opinion="验收合格")
    assert r.status_code == 200, r.text
    await eventually(lambda: _notice_open(drive, code, "acceptance"))
    await skipping_env.sleep(timedelta(days=10, hours=1))
    await drive.task_for(drive.pm, code, "asset_registration")
    start = _accepted_on(await drive.project(code))  # a contract starts on or after the acceptance
    r = await _post(drive, f"{path}/asset-registration", {"assets": _assets(world, 95_000_000, start)})
    assert r.status_code == 201, r.text

    confirm = await drive.task_for(u["county"], code, "confirm_registration")
    by_class: dict[str, dict[str, Any]] = {a["asset_class"]: a for a in confirm["facts"]["assets"]}
    assert set(by_class) == {"operating", "household"}
    operating = by_class["operating"]
    assert operating["name"] == "冬暖式大棚 10 个"
    assert operating["value_fen"] == 90_000_000
    assert operating["owners"] == [
        {"village_code": world.villages[0], "share_bp": 6000},
        {"village_code": world.villages[1], "share_bp": 4000},
    ]
    assert operating["operator"] == {"name": "东关果蔬专业合作社", "type": "cooperative"}
    assert operating["contract"]["mode"] == "lease"
    assert operating["contract"]["start"] == start.isoformat()
    assert operating["contract"]["term_years"] == 10
    assert operating["contract"]["annual_rent_fen"] == 6_000_000
    assert operating["beneficiary_households"] == 3
    assert by_class["household"]["value_fen"] == 5_000_000
    r = await _get(drive, f"/api/v1/tasks/{confirm['id']}", u["county"])
    assert len(r.json()["facts"]["assets"]) == 2


async def test_a_seat_reassigned_away_closes_the_application_and_names_no_one(
    drive: Driver, world: World, sessions: Sessions
) -> None:
    library = await add_library(sessions, world, eligible=4)
    code = await drive.create()
    u = world.users
    path = f"/api/v1/projects/{code}"
    await drive.approve(u["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    holder_id, seat = next(iter(seats.items()))
    holder = next(e for e in library.eligible if e.id == holder_id)
    spare = next(e for e in library.eligible if e.id not in seats)
    assert (await _get(drive, path, holder)).status_code == 200
    r = await drive.api.post(
        f"/api/v1/tasks/{seat['id']}/reassign",
        json={"user_id": spare.id, "reason": "原专家出差"},
        headers=await drive.headers(u["supervisor"]),
    )
    assert r.status_code == 200, r.text
    assert (await _get(drive, path, holder)).status_code == 403
    r = await _get(drive, path, spare)
    assert r.status_code == 200, r.text
    assert r.json()["application"]["benefit"]["households"] == 3

    def moves(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [e["payload"] for e in body["items"] if e["action"] == "task_reassigned"]

    [seen] = moves((await _get(drive, f"{path}/history", u["supervisor"])).json())
    assert seen["to"] == spare.id
    r = await _get(drive, f"{path}/history", drive.pm)
    [hidden] = moves(r.json())
    assert "to" not in hidden
    assert "from" not in hidden
    assert spare.username not in r.text
    assert holder.username not in r.text
