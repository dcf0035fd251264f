"""The dividend round's benchmark: a county round of 100,000 households, plan → notice → confirmed → paid → reconciled
on the embedded bank, against PostgreSQL COPY of the same number of lines in the same process and database.

The county, its households, the asset with its beneficiaries, its approved rule and the year's income are written
first, outside the timing (COPY). The round's notices last a second (the law's ten days are a setting); a second
finance user confirms as soon as the plan may be confirmed. Batches of BATCH_SIZE (a setting, PAYMENTS__BATCH_SIZE)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.payments import EmbeddedBank
from db.engine import make_sessions
from db.models import Asset, Contract, Project, Receivable, ReceivedPayment, User
from db.models import DistributionRule as RuleRow
from domain.distribution import Buckets, DistributionRule, rule_as_json
from domain.enums import UpdateName
from domain.payloads import Actor
from domain.rounds import ConfirmInput, RoundInput, round_id
from worker import build_worker

HOUSEHOLDS = 100_000
BATCH_SIZE = 5_000
NOTICE_DAYS = 1 / 86400  # one second


@dataclass(frozen=True)
class RoundFigures:
    households: int
    seconds: float
    copy_seconds: float
    events: int
    paid_fen: int
    pool_fen: int

    def summary(self) -> dict[str, Any]:
        """As the JSON line carries it."""
        return {
            "households": self.households,
            "seconds": round(self.seconds, 2),
            "copy_seconds": round(self.copy_seconds, 3),
            "ratio_vs_copy": round(self.seconds / self.copy_seconds, 1),
            "events": self.events,
            "paid_fen": self.paid_fen,
            "pool_fen": self.pool_fen,
        }


async def _copy(engine: AsyncEngine, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> float:
    """COPY rows into a table; seconds taken."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        started = time.perf_counter()
        async with driver.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        await driver.commit()
        return time.perf_counter() - started


async def seed_round(
    engine: AsyncEngine, tag: str, households: int = HOUSEHOLDS, county: str = ""
) -> tuple[str, str, list[int]]:
    """A county with one village of `households` households, an asset whose income rights they hold, its approved rule,
    and the year's income received; two finance users. The asset id, the county, the finance users."""
    n = int(tag[:4], 16) % 80
    county = county or f"{71 + n // 40}{n % 40 + 10:02d}01"
    township, village = county + "100", county + "100201"
    city, province = county[:4] + "00", county[:2] + "0000"
    code, asset = f"XMB{county}-{tag}", f"XMB{county}-{tag}-A1"
    year = datetime.now(UTC).year
    async with engine.begin() as conn:
        for c, name, level, parent in [
            (province, "基准省", "province", None),
            (city, "基准市", "city", province),
            (county, f"基准县{tag}", "county", city),
            (township, "基准镇", "township", county),
            (village, "基准村", "village", township),
        ]:
            await conn.execute(
                text(
                    "INSERT INTO regions (code, name, level, parent_code) VALUES (:c, :n, :l, :p) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"c": c, "n": name, "l": level, "p": parent},
            )
    sessions = make_sessions(engine)
    async with sessions.begin() as s:
        people = [
            User(
                username=f"bench-{role}-{uuid.uuid4().hex[:8]}",
                full_name="基准",
                password_hash="x",
                role=role,
                region_code=county,
            )
            for role in ("project_manager", "finance", "finance")
        ]
        s.add_all(people)
        await s.flush()
        users = [p.id for p in people]
        s.add(
            Project(
                code=code,
                name="基准光伏",
                project_type="photovoltaic",
                village_code=village,
                township_code=township,
                county_code=county,
                city_code=city,
                stage="operation",
                status="active",
                total_budget_fen=10**9,
                planned_start=date(year - 3, 1, 1),
                planned_end=date(year - 3, 6, 1),
                applicant_id=users[0],
                application={},
                workflow_id=f"project-{code}",
            )
        )
        await s.flush()
        s.add(
            Asset(
                id=asset,
                project_code=code,
                name="光伏电站",
                asset_class="operating",
                quantity="1",
                unit="座",
                value_fen=10**9,
                location="村北",
                village_code=village,
                township_code=township,
                county_code=county,
                status="leased",
            )
        )
        await s.flush()
        s.add(
            Contract(
                id=f"{asset}-c0",
                asset_id=asset,
                project_code=code,
                kind="imported",
                status="active",
                operator_name="基准运维公司",
                operator_type="company",
                mode="lease",
                start_date=date(year, 1, 1),
                end_date=date(year + 9, 12, 31),
                rent_fen=200_000_000,
                schedule="annual",
            )
        )
        await s.flush()
        receivable = Receivable(
            contract_id=f"{asset}-c0",
            asset_id=asset,
            project_code=code,
            period_no=1,
            period_start=date(year, 1, 1),
            period_end=date(year, 12, 31),
            due_date=date(year, 1, 1),
            amount_fen=200_000_000,
        )
        s.add(receivable)
        await s.flush()
        s.add(
            ReceivedPayment(
                receivable_id=receivable.id,
                asset_id=asset,
                project_code=code,
                amount_fen=200_000_000,
                received_on=date(year, 1, 2),
                recorded_by=users[0],
                idempotency_key=f"bench-{tag}",
            )
        )
        rule = DistributionRule(Buckets(collective_bp=3000, households_bp=7000), coefficients_bp={"elderly": 15000})
        s.add(
            RuleRow(
                id=str(uuid.uuid4()),
                asset_id=asset,
                project_code=code,
                fiscal_year=year,
                version=1,
                status="approved",
                rule=rule_as_json(rule),
                proposed_by=users[0],
                proposed_at=datetime.now(UTC),
            )
        )
    rows = [
        (
            f"H{tag}{i:07d}",
            village,
            f"户主{i}",
            1 + i % 5,
            '["elderly"]' if i % 7 == 0 else "[]",
            f"3701{i:014d}",
            f"62284800{i:011d}",
        )
        for i in range(households)
    ]
    await _copy(
        engine,
        "households",
        ["code", "village_code", "head_name", "members", "categories", "id_number", "bank_account"],
        rows,
    )
    await _copy(
        engine,
        "asset_income_shares",
        ["asset_id", "household_code", "shares"],
        [(asset, h[0], 1 + i % 3) for i, h in enumerate(rows)],
    )
    return asset, county, users


async def measure_round(engine: AsyncEngine, client: Client, task_queue: str) -> RoundFigures:
    """Seed, then time a round of 100,000 households from its start to its reconciliation; COPY the same number of
    lines as the baseline."""
    tag = uuid.uuid4().hex[:8]
    asset, county, users = await seed_round(engine, tag)
    sessions = make_sessions(engine)
    year = datetime.now(UTC).year
    rid = round_id("asset", asset, year, 1)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dividend_rounds (id, scope_kind, scope_code, fiscal_year, n, county_code, period_start, "
                "period_end, status, opened_by, opened_at) VALUES (:id, 'asset', :a, :y, 1, :c, :s, :e, 'planning', "
                ":u, now())"
            ),
            {
                "id": rid,
                "a": asset,
                "y": year,
                "c": county,
                "s": date(year, 1, 1),
                "e": date(year, 12, 31),
                "u": users[1],
            },
        )
    finance2 = Actor(users[2], "finance2", "finance", county, "county")
    inp = RoundInput(rid, county, users[1], NOTICE_DAYS, NOTICE_DAYS, BATCH_SIZE, poll_seconds=1)
    async with build_worker(
        client, sessions, task_queue=task_queue, payments=EmbeddedBank(sessions, max_lines=BATCH_SIZE)
    ):
        started = time.perf_counter()
        handle = await client.start_workflow("DividendRoundWorkflow", inp, id=rid, task_queue=task_queue)
        await _wait_status(engine, rid, {"awaiting_confirmation"})
        await handle.execute_update(UpdateName.CONFIRM_ROUND, ConfirmInput(finance2), result_type=str)
        await _wait_status(engine, rid, {"result_noticed", "closed"})
        seconds = time.perf_counter() - started
        await handle.result()
        history = await handle.fetch_history()
        events = len(history.events)
    _where_the_time_went(history)
    async with engine.connect() as conn:
        paid, pool = (
            await conn.execute(text("SELECT paid_fen, pool_fen FROM dividend_rounds WHERE id = :id"), {"id": rid})
        ).one()
    copy_seconds = await _copy(
        engine,
        "dividend_lines",
        ["round_id", "plan_version", "household_code", "village_code", "head_name", "amount_fen", "parts"],
        [(rid, 99, f"H{tag}{i:07d}", county + "100201", f"户主{i}", 1400, "[]") for i in range(HOUSEHOLDS)],
    )
    return RoundFigures(HOUSEHOLDS, seconds, copy_seconds, events, int(paid), int(pool))


async def _wait_status(engine: AsyncEngine, rid: str, statuses: set[str]) -> None:
    while True:
        async with engine.connect() as conn:
            status = (
                await conn.execute(text("SELECT status FROM dividend_rounds WHERE id = :id"), {"id": rid})
            ).scalar()
        if status in statuses:
            return
        await asyncio.sleep(0.1)


def _where_the_time_went(history: Any) -> None:
    """Seconds per activity type (scheduled → completed), to stderr: where a round's time goes."""
    import sys
    from collections import defaultdict

    scheduled: dict[int, tuple[str, float]] = {}
    spent: dict[str, float] = defaultdict(float)
    for e in history.events:
        at = e.event_time.ToDatetime().timestamp()
        if e.HasField("activity_task_scheduled_event_attributes"):
            scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name, at)
        elif e.HasField("activity_task_completed_event_attributes"):
            name, began = scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
            spent[name] += at - began
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24} {seconds:7.2f} s", file=sys.stderr)
