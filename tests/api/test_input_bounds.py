"""Nothing a client sends reaches the database unless it can store it: refused at the edge as one 422 naming
every field and rule (NUL and unpaired surrogates, integers beyond their column, unbounded maps and lists,
unknown query parameters, malformed JSON); region filters outside the caller's region are a 403 on every list;
the OpenAPI lists every error status with the one error schema."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from tests.conftest import PASSWORD, Login, World, application, eventually

INT32_OVER = 2**31


def _problems(r: httpx.Response) -> set[tuple[str, str]]:
    """(field, rule) of every problem a 422 names."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_error", body
    return {(p["field"], p["rule"]) for p in body["details"]}


@pytest.mark.timeout(120)  # on the old code the decision hung for good: fail in two minutes, not five
async def test_a_nul_in_a_decision_is_refused_and_the_project_goes_on(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]
    reviewer = await login(world.users["township"])

    async def open_task() -> dict[str, Any] | None:
        items = (await api.get("/api/v1/tasks", headers=reviewer, params={"project": code})).json()["items"]
        return items[0] if items else None

    task = await eventually(open_task)
    url = f"/api/v1/tasks/{task['id']}/decision"
    r = await api.post(url, json={"decision": "approve", "opinion": "可行\u0000"}, headers=reviewer)
    assert _problems(r) == {("opinion", "storable_text")}
    assert "U+0000" in r.json()["message"]
    r = await api.post(
        url, json={"decision": "return", "opinion": "补\u0001充", "items": ["a\u0000"]}, headers=reviewer
    )
    assert _problems(r) == {("opinion", "storable_text"), ("items[0]", "storable_text")}
    # nothing reached the workflow: the same task takes a clean decision at once
    r = await api.post(url, json={"decision": "approve", "opinion": "可行"}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] != "application"


async def test_nul_in_query_path_header_and_form_is_422(api: httpx.AsyncClient, world: World, login: Login) -> None:
    sup = await login(world.users["supervisor"])
    r = await api.get("/api/v1/projects?text=%00", headers=sup)
    assert _problems(r) == {("text", "storable_text")}
    r = await api.get("/api/v1/projects/XM%00", headers=sup)
    assert _problems(r) == {("code", "storable_text")}
    r = await api.get("/api/v1/assets/A%01", headers=sup)
    assert _problems(r) == {("asset_id", "storable_text")}
    r = await api.post(
        "/api/v1/auth/token", data={"username": world.users["pm"].username + "\x00", "password": PASSWORD}
    )
    assert _problems(r) == {("username", "storable_text")}


async def test_unpaired_surrogates_are_422_even_as_a_map_key(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    expert = await login(world.users["expert"])
    # json.dumps writes the lone surrogate as the escape \ud800, which Python's JSON reader accepts
    body = json.dumps({"decision": "score", "opinion": "ok", "scores": {"\ud800": 1}})
    r = await api.post(
        "/api/v1/tasks/no-such-task/decision",
        content=body,
        headers=expert | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    [problem] = r.json()["details"]  # the answer is JSON that can be encoded, naming the map's key
    assert (problem["field"][:7], problem["field"][-5:], problem["rule"]) == ("scores.", "[key]", "string_unicode")
    county = await login(world.users["county"])
    body = json.dumps({"name": "专家\udfff", "specialties": ["greenhouse"], "region_code": world.county})
    r = await api.post("/api/v1/experts", content=body, headers=county | {"Content-Type": "application/json"})
    assert {f for f, _ in _problems(r)} == {"name"}


async def test_integers_beyond_their_column_are_422(api: httpx.AsyncClient, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    county = await login(world.users["county"])
    sup = await login(world.users["supervisor"])
    r = await api.post(f"/api/v1/notifications/{INT32_OVER}/read", headers=pm)
    assert _problems(r) == {("notification_id", "less_than_equal")}
    r = await api.get(f"/api/v1/experts/{INT32_OVER}", headers=county)
    assert _problems(r) == {("expert_id", "less_than_equal")}
    r = await api.patch(f"/api/v1/experts/-{INT32_OVER + 1}", json={"active": False}, headers=county)
    assert _problems(r) == {("expert_id", "greater_than_equal")}
    for url in ("/api/v1/projects", "/api/v1/tasks", "/api/v1/experts", "/api/v1/assets"):
        headers = county if "experts" in url else sup
        r = await api.get(url, params={"offset": "99999999999999999999"}, headers=headers)
        assert _problems(r) == {("offset", "less_than_equal")}, url
    r = await api.post(
        "/api/v1/tasks/no-such-task/reassign", json={"user_id": INT32_OVER, "reason": "休假"}, headers=sup
    )
    assert _problems(r) == {("user_id", "less_than_equal")}
    r = await api.post(
        "/api/v1/projects",
        json=application(
            world, budget={"total_fen": 10**19, "sources": [{"source": "donation", "amount_fen": 10**19}]}
        ),
        headers=pm,
    )
    assert _problems(r) == {
        ("budget.total_fen", "less_than_equal"),
        ("budget.sources[0].amount_fen", "less_than_equal"),
    }


async def test_maps_lists_and_strings_are_bounded(api: httpx.AsyncClient, world: World, login: Login) -> None:
    expert = await login(world.users["expert"])
    scores = {f"criterion_{i}": 1 for i in range(200_000)}
    r = await api.post(
        "/api/v1/tasks/no-such-task/decision",
        json={"decision": "score", "opinion": "ok", "scores": scores},
        headers=expert,
    )
    assert _problems(r) == {("scores", "too_long")}
    r = await api.post(
        "/api/v1/tasks/no-such-task/decision",
        json={"decision": "done", "items": ["整改" * 1000], "veto": ["x" * 65]},
        headers=expert,
    )
    assert _problems(r) == {("items[0]", "string_too_long"), ("veto[0]", "string_too_long")}
    pm = await login(world.users["pm"])
    body = application(world)
    body["budget"]["sources"] = [{"source": "donation", "amount_fen": 1}] * 21
    body["benefit"]["household_codes"] = ["H" * 33]
    r = await api.post("/api/v1/projects", json=body, headers=pm)
    assert _problems(r) == {("budget.sources", "too_long"), ("benefit.household_codes[0]", "string_too_long")}
    sup = await login(world.users["supervisor"])
    r = await api.get("/api/v1/projects/" + "X" * 65, headers=sup)
    assert _problems(r) == {("code", "string_too_long")}


async def test_unknown_query_parameters_are_422_on_every_route(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    sup = await login(world.users["supervisor"])
    r = await api.get("/api/v1/projects", params={"colour": "red", "color": "red"}, headers=sup)
    assert _problems(r) == {("color", "unknown_parameter")}
    assert "colour" in r.json()["details"][0]["message"]  # the message lists what is allowed
    for method, url in (
        ("GET", "/api/v1/me"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/api/v1/tasks/x/claim"),
    ):
        r = await api.request(method, url, params={"debug": "1"}, headers=sup)
        assert _problems(r) == {("debug", "unknown_parameter")}, url


async def test_malformed_json_names_the_body_and_the_position(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    r = await api.post(
        "/api/v1/projects", content=b'{"name": "x",,}', headers=pm | {"Content-Type": "application/json"}
    )
    assert _problems(r) == {("body", "json_invalid")}
    assert "character 13" in r.json()["details"][0]["message"]


async def test_all_problems_of_one_request_are_reported_at_once(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    tuesday = date.today() - timedelta(days=date.today().weekday()) - timedelta(days=6)
    r = await api.post(
        "/api/v1/projects/XM000000-2026-0001/progress-reports",
        params={"dry_run": "1"},
        json={"week_start": tuesday.isoformat(), "percent": 150, "funds_paid_fen": -1, "note": "\x00"},
        headers=pm,
    )
    assert _problems(r) == {
        ("dry_run", "unknown_parameter"),
        ("week_start", "monday"),
        ("percent", "less_than_equal"),
        ("funds_paid_fen", "greater_than_equal"),
        ("note", "storable_text"),
    }
    r = await api.get("/api/v1/tasks", params={"due_before": "2030-01-01T00:00:00", "offset": -1}, headers=pm)
    assert _problems(r) == {("due_before", "timezone_aware"), ("offset", "greater_than_equal")}
    sup = await login(world.users["supervisor"])
    r = await api.get("/api/v1/projects", params={"text": "\x00", "limit": 0, "offset": -1, "x": 1}, headers=sup)
    assert _problems(r) == {
        ("x", "unknown_parameter"),
        ("text", "storable_text"),
        ("limit", "greater_than_equal"),
        ("offset", "greater_than_equal"),
    }


async def test_region_filters_outside_yours_are_403_on_every_list(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])  # a project manager of the first township
    county = await login(world.users["county"])
    other_county = f"{int(world.county[:4]) % 9000 + 1000:04d}01"
    cases = [
        (pm, "/api/v1/projects", "county", world.county),  # wider than the caller's township
        (pm, "/api/v1/projects", "township", world.townships[1]),
        (county, "/api/v1/projects", "county", other_county),
        (pm, "/api/v1/assets", "region", world.townships[1]),
        (county, "/api/v1/experts", "region", world.city),
    ]
    for headers, url, name, code in cases:
        r = await api.get(url, params={name: code}, headers=headers)
        assert r.status_code == 403, (url, name, r.text)
        assert r.json()["code"] == "region_forbidden"
        assert [p["field"] for p in r.json()["details"]] == [name]
    # inside the caller's region the same filters answer, and an unknown code is a 422
    r = await api.get("/api/v1/projects", params={"township": world.townships[0]}, headers=pm)
    assert r.status_code == 200
    r = await api.get("/api/v1/projects", params={"township": world.townships[0][:6] + "999"}, headers=county)
    assert _problems(r) == {("township", "exists")}


async def test_openapi_lists_the_error_statuses_with_one_error_schema(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    error = spec["components"]["schemas"]["ErrorPublic"]
    assert set(error["properties"]) == {"code", "message", "details"}
    ref = {"$ref": "#/components/schemas/ErrorPublic"}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            statuses = set(op["responses"])
            assert "422" in statuses, (method, path)
            if op.get("security"):
                assert {"401", "403", "422", "503", "504"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            for status in {s for s in statuses if s[0] in "45"}:  # every error answer, not 2xx (e.g. 204)
                assert op["responses"][status]["content"]["application/json"]["schema"] == ref, (method, path, status)
                assert " / " in op["responses"][status]["description"]  # Chinese / English
    assert "401" not in spec["paths"]["/healthz"]["get"]["responses"]
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    assert {"401", "429"} <= set(spec["paths"]["/api/v1/auth/token"]["post"]["responses"])
    assert "413" in spec["paths"]["/api/v1/attachments"]["post"]["responses"]
    assert "409" in spec["paths"]["/api/v1/tasks/{task_id}/decision"]["post"]["responses"]


async def test_a_revision_reports_a_moved_village_with_the_other_rules(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]
    reviewer = await login(world.users["township"])

    async def open_task(headers: dict[str, str], kind: str) -> dict[str, Any] | None:
        detail = (await api.get(f"/api/v1/projects/{code}", headers=headers)).json()
        return next((t for t in detail["open_tasks"] if t["kind"] == kind), None)

    task = await eventually(lambda: open_task(reviewer, "township_review"))
    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "return", "opinion": "补充材料"}, headers=reviewer
    )
    assert r.status_code == 200, r.text
    await eventually(lambda: open_task(pm, "revision"))
    moved = application(world, village=world.villages[1], planned_end="2020-01-01")
    r = await api.put(f"/api/v1/projects/{code}/application", json=moved, headers=pm)
    assert {("village_code", "unchanged"), ("planned_end", "after_start")} <= _problems(r)
