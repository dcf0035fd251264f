"""Every bad application is a 422 naming the field and the rule, and stores nothing: no row, no workflow."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from db.engine import Sessions
from db.models import Project
from tests.conftest import Login, World, application


def _bad_cases(world: World) -> list[tuple[str, dict[str, Any], str, str]]:
    """(case, overrides, field named, rule)."""
    _v0, v2 = world.villages[0], world.villages[2]
    ok = application(world)
    return [
        ("missing name", {"name": None}, "name", "string_type"),
        ("unknown type", {"project_type": "rocket"}, "project_type", "enum"),
        ("malformed village", {"village_code": "12345"}, "village_code", "string_pattern_mismatch"),
        ("no such village", {"village_code": world.townships[0] + "999"}, "village_code", "exists"),
        (
            "village outside region",
            {"village_code": v2, "benefit": {**ok["benefit"], "household_codes": world.households[v2][:1]}},
            "village_code",
            "in_your_region",
        ),
        (
            "sources do not sum",
            {"budget": {**ok["budget"], "total_fen": 100_000_001}},
            "budget.sources",
            "sum_equals_total",
        ),
        (
            "negative amount",
            {"budget": {"total_fen": 1, "sources": [{"source": "donation", "amount_fen": -5}]}},
            "budget.sources[0].amount_fen",
            "greater_than",
        ),
        (
            "unknown fund source",
            {"budget": {"total_fen": 5, "sources": [{"source": "lottery", "amount_fen": 5}]}},
            "budget.sources[0].source",
            "enum",
        ),
        ("end before start", {"planned_end": date(2020, 1, 1).isoformat()}, "planned_end", "after_start"),
        ("bad date", {"planned_start": "2026-02-30"}, "planned_start", "date_from_datetime_parsing"),
        (
            "yield does not match revenue",
            {"revenue": {"expected_annual_revenue_fen": 7_000_000, "expected_yield_percent": 12.0}},
            "revenue.expected_yield_percent",
            "matches_revenue",
        ),
        (
            "unknown household",
            {"benefit": {**ok["benefit"], "household_codes": ["HNOPE"]}},
            "benefit.household_codes[0]",
            "exists",
        ),
        (
            "household of another village",
            {"benefit": {**ok["benefit"], "household_codes": [world.households[world.villages[1]][0]]}},
            "benefit.household_codes[0]",
            "in_project_village",
        ),
        (
            "no beneficiaries",
            {"benefit": {**ok["benefit"], "household_codes": []}},
            "benefit.household_codes",
            "not_empty",
        ),
        ("no performance targets", {"performance_targets": []}, "performance_targets", "not_empty"),
        ("unknown field", {"colour": "red"}, "colour", "extra_forbidden"),
        (
            "bad phone",
            {"implementing_entity": {**ok["implementing_entity"], "phone": "call me"}},
            "implementing_entity.phone",
            "string_pattern_mismatch",
        ),
    ]


async def test_bad_applications_are_422_naming_the_field_and_store_nothing(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions, temporal_client: Client
) -> None:
    pm = await login(world.users["pm"])
    for case, overrides, field, rule in _bad_cases(world):
        r = await api.post("/api/v1/projects", json=application(world, **overrides), headers=pm)
        assert r.status_code == 422, (case, r.text)
        body = r.json()
        assert body["code"] == "validation_error", case
        named = {(d["field"], d["rule"]) for d in body["details"]}
        assert (field, rule) in named, (case, body["details"])
        assert field in body["message"], case

    r = await api.post("/api/v1/projects", content=b"{not json", headers=pm | {"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"

    async with sessions() as s:
        stored = await s.scalar(select(func.count()).select_from(Project).where(Project.county_code == world.county))
    assert stored == 0
    first_code = f"XM{world.county}-{date.today().year}-0001"
    with pytest.raises(RPCError) as missing:
        await temporal_client.get_workflow_handle(f"project-{first_code}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND

    # nothing was allocated either: the first valid application gets the county's first code
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201, r.text
    assert r.json()["code"] == first_code
    assert (await temporal_client.get_workflow_handle(f"project-{first_code}").describe()).id == f"project-{first_code}"


async def test_milestones_lie_within_the_plan_in_order(api: httpx.AsyncClient, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    body = application(world)
    start = date.fromisoformat(body["planned_start"])
    bad = [
        {"on": (start + timedelta(days=50)).isoformat(), "percent": 40},
        {"on": (start + timedelta(days=40)).isoformat(), "percent": 30},
        {"on": (start + timedelta(days=900)).isoformat(), "percent": 90},
    ]
    r = await api.post("/api/v1/projects", json=body | {"milestones": bad}, headers=pm)
    assert r.status_code == 422
    fields = {(d["field"], d["rule"]) for d in r.json()["details"]}
    assert fields == {
        ("milestones[1].on", "within_plan_in_order"),
        ("milestones[1].percent", "increasing"),
        ("milestones[2].on", "within_plan_in_order"),
    }
    good = [{"on": (start + timedelta(days=50)).isoformat(), "percent": 40}]
    r = await api.post("/api/v1/projects", json=body | {"milestones": good}, headers=pm)
    assert r.status_code == 201, r.text
