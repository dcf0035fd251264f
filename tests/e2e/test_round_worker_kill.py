"""`python worker.py` killed with SIGKILL in the middle of a dividend round's payment, and a new worker process started:
every household is paid exactly once (checked in SQL, in our attempts and in the embedded bank's ledger)."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from bench.dividends import seed_round
from core.settings import Settings
from domain.enums import UpdateName
from domain.payloads import Actor
from domain.rounds import ConfirmInput, RoundInput, round_id
from tests.conftest import eventually
from tests.e2e.test_worker_kill import _start_worker

HOUSEHOLDS = 3_000
BATCH = 20  # 150 batches: long enough to be killed in the middle of


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar() or 0)


async def test_a_round_killed_while_paying_pays_every_household_once(
    engine: AsyncEngine, settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    county = f"99{int(tag[:4], 16) % 90 + 10:02d}01"  # 9910..9999: 9900 is the province, 990101 an absent region
    asset, county, users = await seed_round(engine, tag, HOUSEHOLDS, county)
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
    log = tmp_path / "worker.log"
    first = _start_worker(settings, log)
    try:
        handle = await temporal_client.start_workflow(
            "DividendRoundWorkflow",
            RoundInput(rid, county, users[1], 1 / 86400, 1 / 86400, BATCH, poll_seconds=1),
            id=rid,
            task_queue=settings.task_queue,
        )

        async def status_is(*statuses: str) -> bool:
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT status FROM dividend_rounds WHERE id = :id"), {"id": rid})
                return found.scalar() in statuses

        await eventually(lambda: status_is("awaiting_confirmation"), timeout=90)
        finance2 = Actor(users[2], "finance2", "finance", county, "county")
        await handle.execute_update(UpdateName.CONFIRM_ROUND, ConfirmInput(finance2), result_type=str)

        async def paying() -> bool:
            paid = await _scalar(
                engine, "SELECT count(*) FROM dividend_payments WHERE round_id = :r AND status = 'paid'", r=rid
            )
            return paid > 0

        await eventually(paying, timeout=90, interval=0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    paid_at_kill = await _scalar(
        engine, "SELECT count(*) FROM dividend_payments WHERE round_id = :r AND status = 'paid'", r=rid
    )
    assert 0 < paid_at_kill < HOUSEHOLDS, paid_at_kill  # killed in the middle of paying
    second = _start_worker(settings, log)
    try:
        await eventually(lambda: status_is("result_noticed", "closed"), timeout=180)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    twice = await _scalar(
        engine,
        "SELECT count(*) FROM (SELECT household_code FROM dividend_payments WHERE round_id = :r AND status = 'paid' "
        "GROUP BY household_code HAVING count(*) > 1) x",
        r=rid,
    )
    paid = await _scalar(
        engine, "SELECT count(*) FROM dividend_payments WHERE round_id = :r AND status = 'paid'", r=rid
    )
    in_bank = await _scalar(
        engine, "SELECT count(*) FROM bank_payments WHERE reference LIKE :p AND status = 'paid'", p=f"{rid}:%"
    )
    lines = await _scalar(engine, "SELECT count(*) FROM dividend_lines WHERE round_id = :r AND amount_fen > 0", r=rid)
    assert (twice, paid, in_bank) == (0, lines, lines)
    planned = await _scalar(engine, "SELECT households_fen FROM dividend_rounds WHERE id = :r", r=rid)
    paid_fen = await _scalar(engine, "SELECT paid_fen FROM dividend_rounds WHERE id = :r", r=rid)
    assert paid_fen == planned
