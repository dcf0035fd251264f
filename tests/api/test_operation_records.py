"""An asset's operation records through the API: contracts, receivables and payments (idempotent, never above the
amount, even concurrently), revenue reports of self-run assets, the yearly summary, and who may read and write."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from db.engine import Sessions
from db.models import OperationWarning, Receivable, ReceivedPayment, RevenueReport
from tests.api.operation_helpers import Operation, audit_actions, count, problems, seed_operation, upload
from tests.conftest import Login, World

URL = "/api/v1/assets"


@pytest.fixture
async def op(sessions: Sessions, world: World) -> Operation:
    return await seed_operation(sessions, world)


def _pay_url(op: Operation, n: int = 0) -> str:
    return f"{URL}/{op.leased}/receivables/{op.receivables[n]}/payments"


async def test_contracts_and_receivables_are_read_with_terms_totals_and_days_overdue(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login
) -> None:
    county = await login(world.users["county"])
    r = await api.get(f"{URL}/{op.leased}/contracts", headers=county)
    assert r.status_code == 200, r.text
    [c] = r.json()["items"]
    assert (c["id"], c["status"], c["kind"], c["mode"], c["schedule"]) == (
        op.contract,
        "active",
        "initial",
        "lease",
        "half_yearly",
    )
    assert (c["rent_fen"], c["deposit_fen"], c["escalation_bp"], c["start"]) == (
        300_000,
        50_000,
        200,
        op.contract_start.isoformat(),
    )
    r = await api.get(f"{URL}/{op.leased}/receivables", headers=county)
    body = r.json()
    assert (body["due_fen"], body["received_fen"], body["outstanding_fen"]) == (900_000, 0, 900_000)
    first, second, third = body["items"]
    assert [first["days_overdue"], second["days_overdue"], third["days_overdue"]] == [400, 400 - 182, 0]
    r = await api.get(f"{URL}/{op.leased}/receivables", params={"status": "paid"}, headers=county)
    assert r.json()["items"] == []
    r = await api.get(f"{URL}/{op.leased}/receivables", params={"year": op.today.year + 5}, headers=county)
    assert r.json()["due_fen"] == 0


async def test_partial_then_full_payment(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    sha = await upload(api, pm)
    first_day = op.today - timedelta(days=10)
    body = {"amount_fen": 100_000, "received_on": first_day.isoformat(), "evidence": [sha], "note": "银行转账"}
    r = await api.post(_pay_url(op), json=body, headers=pm | {"Idempotency-Key": "pay-1"})
    assert r.status_code == 201, r.text
    assert r.json()["receivable"]["status"] == "partial"
    assert r.json()["payment"]["evidence"] == [sha]
    body = {"amount_fen": 200_000, "received_on": op.today.isoformat()}
    r = await api.post(_pay_url(op), json=body, headers=pm | {"Idempotency-Key": "pay-2"})
    assert r.status_code == 201, r.text
    receivable = r.json()["receivable"]
    assert (receivable["status"], receivable["received_fen"], receivable["paid_on"]) == (
        "paid",
        300_000,
        op.today.isoformat(),
    )
    assert [p["amount_fen"] for p in receivable["payments"]] == [100_000, 200_000]
    async with sessions() as s:
        stored = await s.get(Receivable, op.receivables[0])
        assert stored is not None
        assert (stored.received_fen, stored.status, stored.paid_on) == (300_000, "paid", op.today)
    assert (await audit_actions(sessions, op.project)).count("payment_received") == 2
    r = await api.get(f"{URL}/{op.leased}/receivables", headers=pm)
    assert (r.json()["received_fen"], r.json()["outstanding_fen"]) == (300_000, 600_000)


async def test_a_payment_above_outstanding_or_with_bad_input_is_refused_and_nothing_written(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    key = {"Idempotency-Key": "too-much"}
    r = await api.post(
        _pay_url(op), json={"amount_fen": 300_001, "received_on": op.today.isoformat()}, headers=pm | key
    )
    assert problems(r) == {("amount_fen", "not_above_outstanding")}
    bad = {
        "amount_fen": -5,
        "received_on": (op.today + timedelta(days=1)).isoformat(),
        "evidence": ["0" * 64],
    }
    r = await api.post(_pay_url(op), json=bad, headers=pm | key)
    assert problems(r) == {("amount_fen", "greater_than")}
    bad["amount_fen"] = 10
    r = await api.post(_pay_url(op), json=bad, headers=pm | key)
    assert problems(r) == {("received_on", "not_in_future"), ("evidence[0]", "exists")}
    early = (op.contract_start - timedelta(days=1)).isoformat()
    r = await api.post(_pay_url(op), json={"amount_fen": 10, "received_on": early}, headers=pm | key)
    assert problems(r) == {("received_on", "not_before_contract_start")}
    other = await upload(api, await login(world.users["township"]))  # exists, but not the caller's upload
    body = {"amount_fen": 10, "received_on": op.today.isoformat(), "evidence": [other]}
    r = await api.post(_pay_url(op), json=body, headers=pm | key)
    assert problems(r) == {("evidence[0]", "uploaded_by_you")}
    r = await api.post(_pay_url(op), json={"amount_fen": 10, "received_on": op.today.isoformat()}, headers=pm)
    assert problems(r) == {("Idempotency-Key", "missing")}
    assert await count(sessions, ReceivedPayment, asset_id=op.leased) == 0
    assert "payment_received" not in await audit_actions(sessions, op.project)


async def test_the_same_idempotency_key_is_one_payment(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"]) | {"Idempotency-Key": "same-key"}
    body = {"amount_fen": 50_000, "received_on": op.today.isoformat(), "note": "现金"}
    first = await api.post(_pay_url(op), json=body, headers=pm)
    again = await api.post(_pay_url(op), json=body, headers=pm)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["payment"] == first.json()["payment"]
    assert await count(sessions, ReceivedPayment, asset_id=op.leased) == 1
    assert (await audit_actions(sessions, op.project)).count("payment_received") == 1
    r = await api.post(_pay_url(op), json=body | {"amount_fen": 60_000}, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_reused")
    r = await api.post(_pay_url(op, 1), json=body, headers=pm)  # the same key against another receivable
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_reused")
    assert await count(sessions, ReceivedPayment, asset_id=op.leased) == 1


async def test_two_concurrent_payments_never_exceed_the_amount(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    body = {"amount_fen": 200_000, "received_on": op.today.isoformat()}
    answers = await asyncio.gather(
        *(api.post(_pay_url(op), json=body, headers=pm | {"Idempotency-Key": f"race-{i}"}) for i in range(2))
    )
    assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
    async with sessions() as s:
        stored = await s.get(Receivable, op.receivables[0])
        assert stored is not None
        assert (stored.received_fen, stored.status) == (200_000, "partial")
    assert await count(sessions, ReceivedPayment, receivable_id=op.receivables[0]) == 1


async def test_revenue_reports_of_a_self_operated_asset_only(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    start = op.today.replace(day=1) - timedelta(days=31)
    end = op.today - timedelta(days=1)
    body = {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "revenue_fen": 900_000,
        "cost_fen": 400_000,
        "evidence": [await upload(api, pm)],
    }
    r = await api.post(f"{URL}/{op.leased}/revenue-reports", json=body, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "not_self_reported")
    assert "lease" in r.json()["message"]
    r = await api.post(f"{URL}/{op.own}/revenue-reports", json=body | {"profit_fen": 1}, headers=pm)
    assert problems(r) == {("profit_fen", "revenue_minus_cost")}
    backwards = body | {"period_end": (start - timedelta(days=1)).isoformat()}
    r = await api.post(f"{URL}/{op.own}/revenue-reports", json=backwards, headers=pm)
    assert problems(r) == {("period_end", "not_before_start")}
    future = body | {"period_end": (op.today + timedelta(days=1)).isoformat()}
    r = await api.post(f"{URL}/{op.own}/revenue-reports", json=future, headers=pm)
    assert problems(r) == {("period_end", "not_in_future")}
    r = await api.post(f"{URL}/{op.own}/revenue-reports", json=body | {"cost_fen": -1}, headers=pm)
    assert problems(r) == {("cost_fen", "greater_than_equal")}
    r = await api.post(f"{URL}/{op.own}/revenue-reports", json=body, headers=pm)
    assert r.status_code == 201, r.text
    assert r.json()["profit_fen"] == 500_000
    r = await api.post(f"{URL}/{op.own}/revenue-reports", json=body, headers=pm)
    assert (r.status_code, r.json()["code"]) == (409, "period_reported")
    assert await count(sessions, RevenueReport, asset_id=op.own) == 1
    assert (await audit_actions(sessions, op.project)).count("revenue_reported") == 1
    r = await api.get(f"{URL}/{op.own}/revenue-reports", headers=await login(world.users["supervisor"]))
    [report] = r.json()["items"]
    assert (report["revenue_fen"], report["cost_fen"], report["profit_fen"]) == (900_000, 400_000, 500_000)


async def test_operation_summary_per_year_with_yield_and_warnings(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    paid = {"amount_fen": 300_000, "received_on": op.today.isoformat()}
    r = await api.post(_pay_url(op), json=paid, headers=pm | {"Idempotency-Key": "summary"})
    assert r.status_code == 201, r.text
    r = await api.post(
        f"{URL}/{op.leased}/upkeep-costs",
        json={"amount_fen": 20_000, "spent_on": op.today.isoformat(), "kind": "routine", "description": "清理排水沟"},
        headers=pm | {"Idempotency-Key": "ditch"},
    )
    assert r.status_code == 201, r.text
    async with sessions.begin() as s:
        s.add(
            OperationWarning(
                key=f"receivable:{op.receivables[1]}:arrears",
                asset_id=op.leased,
                project_code=op.project,
                kind="arrears",
                level="blue",
                message="租金逾期",
                raised_at=datetime.now(UTC),
            )
        )
    r = await api.get(f"{URL}/{op.leased}/operation", headers=await login(world.users["county"]))
    assert r.status_code == 200, r.text
    body = r.json()
    year = next(y for y in body["years"] if y["year"] == op.today.year)
    assert (year["received_fen"], year["upkeep_fen"], year["income_fen"], year["profit_fen"]) == (
        300_000,
        20_000,
        300_000,
        0,
    )
    assert (year["yield_percent"], year["expected_yield_percent"], year["low_yield"]) == (3.0, 7.0, False)
    assert [w["kind"] for w in body["warnings"]] == ["arrears"]
    assert body["colour"] == "blue"


async def test_who_may_read_and_write(
    api: httpx.AsyncClient, op: Operation, world: World, login: Login, sessions: Sessions
) -> None:
    body = {"amount_fen": 10, "received_on": op.today.isoformat()}
    key = {"Idempotency-Key": "who"}
    r = await api.post(_pay_url(op), json=body, headers=await login(world.users["township"]) | key)
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    r = await api.post(_pay_url(op), json=body, headers=await login(world.users["pm2"]) | key)
    assert (r.status_code, r.json()["code"]) == (403, "region_forbidden")
    r = await api.post(_pay_url(op), json=body, headers=key)
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    expert = await login(world.users["expert"])
    other = await login(world.users["township_other"])
    for path in ("contracts", "receivables", "revenue-reports", "operation"):
        r = await api.get(f"{URL}/{op.leased}/{path}", headers=expert)
        assert (r.status_code, r.json()["code"]) == (403, "role_forbidden"), path
        r = await api.get(f"{URL}/{op.leased}/{path}", headers=other)
        assert (r.status_code, r.json()["code"]) == (403, "region_forbidden"), path
        r = await api.get(f"{URL}/{op.leased}/{path}")
        assert r.status_code == 401, path
    r = await api.post(
        f"{URL}/{op.leased}/receivables/999999999/payments", json=body, headers=await login(world.users["pm"]) | key
    )
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert await count(sessions, ReceivedPayment, asset_id=op.leased) == 0
