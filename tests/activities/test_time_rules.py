"""The daily check's rules that raise problems by themselves: a construction archive red for N weeks, and failed
dividend payments left uncorrected N days — one problem per fact however often the check runs, and never a second
open problem for the same round; each with the rule's deadline (working days) and archive, audited once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from activities.problems import ProblemActivities
from core.calendar import is_china_workday
from core.settings import ProblemSettings
from db.engine import Sessions
from db.models import AuditEntry, DividendPayment, DividendRound, Problem, Project
from domain.monitoring import ProblemCheckInput
from domain.workdays import add_working_days
from tests.conftest import World, seed_project

CHINA = ZoneInfo("Asia/Shanghai")
SETTINGS = ProblemSettings(construction_red_weeks=4, dividend_failure_days=30, rule_deadline_working_days=10)


async def _check(sessions: Sessions, world: World, at: datetime) -> int:
    result = await ProblemActivities(sessions, SETTINGS).check_problems(ProblemCheckInput(at=at, scope=world.county))
    return result.raised


async def _red(sessions: Sessions, world: World, since: date) -> str:
    code = await seed_project(sessions, world, stage="construction")
    async with sessions.begin() as s:
        await s.execute(
            update(Project)
            .where(Project.code == code)
            .values(construction_colour="red", construction_red_since=since, colour="red")
        )
    return code


async def test_construction_red_for_n_weeks_raises_one_problem(sessions: Sessions, world: World) -> None:
    at = datetime.now(UTC)
    today = at.astimezone(CHINA).date()
    four_weeks = await _red(sessions, world, today - timedelta(weeks=4))
    not_yet = await _red(sessions, world, today - timedelta(weeks=4) + timedelta(days=1))
    assert await _check(sessions, world, at) == 1
    assert await _check(sessions, world, at) == 0  # a retried check: nothing twice
    async with sessions() as s:
        rows = list(await s.scalars(select(Problem).where(Problem.project_code.in_([four_weeks, not_yet]))))
        registered = list(
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.chain == f"project:{four_weeks}", AuditEntry.action == "problem_registered"
                )
            )
        )
    assert len(rows) == 1
    p = rows[0]
    assert (p.key, p.project_code, p.source, p.archive, p.raised_by, p.region_code) == (
        f"construction_red:{four_weeks}:{(today - timedelta(weeks=4)).isoformat()}",
        four_weeks,
        "rule",
        "construction",
        None,
        world.villages[0],
    )
    assert p.deadline == add_working_days(today, 10, is_china_workday)
    assert [e.payload["problem_id"] for e in registered] == [p.id]
    # the next day the other reaches its four weeks; the first raises nothing again
    assert await _check(sessions, world, at + timedelta(days=1)) == 1
    assert await _check(sessions, world, at + timedelta(days=2)) == 0


async def test_a_rule_turned_off_raises_nothing(sessions: Sessions, world: World) -> None:
    at = datetime.now(UTC)
    code = await _red(sessions, world, at.astimezone(CHINA).date() - timedelta(weeks=10))
    off = ProblemSettings(construction_red_problems=False, dividend_failure_problems=False)
    await ProblemActivities(sessions, off).check_problems(ProblemCheckInput(at=at, scope=world.county))
    async with sessions() as s:
        assert list(await s.scalars(select(Problem).where(Problem.project_code == code))) == []


def _payment(round_id: str, household: str, attempt: int, status: str, settled: datetime | None) -> DividendPayment:
    return DividendPayment(
        reference=f"{round_id}:{household}:{attempt}",
        round_id=round_id,
        household_code=household,
        attempt=attempt,
        amount_fen=123_400,
        name="户主",
        account="6228480000000000",
        bank="农业银行",
        batch_no=f"{round_id}-001",
        status=status,
        reason="card_closed" if status == "failed" else "",
        created_at=settled or datetime.now(UTC),
        settled_at=settled,
    )


async def test_a_dividend_failure_left_uncorrected_raises_one_open_problem_per_round(
    sessions: Sessions, world: World
) -> None:
    at = datetime.now(UTC)
    village = world.villages[0]
    a, b, c, d = world.households[village]
    round_id = f"dividend-{village}-2026-{uuid.uuid4().hex[:6]}"
    old, recent = at - timedelta(days=31), at - timedelta(days=5)
    async with sessions.begin() as s:
        s.add(
            DividendRound(
                id=round_id,
                scope_kind="village",
                scope_code=village,
                fiscal_year=2026,
                n=1,
                county_code=world.county,
                period_start=date(2026, 1, 1),
                period_end=date(2026, 12, 31),
                status="correcting",
                opened_by=world.users["finance"].id,
                opened_at=at - timedelta(days=60),
            )
        )
        await s.flush()
        s.add_all(
            [
                _payment(round_id, a, 1, "failed", old),  # uncorrected 31 days: the fact
                _payment(round_id, b, 1, "failed", old),
                _payment(round_id, b, 2, "submitted", None),  # corrected: a new attempt under way
                _payment(round_id, c, 1, "failed", recent),  # within its days
            ]
        )
    assert await _check(sessions, world, at) == 1
    assert await _check(sessions, world, at) == 0
    async with sessions() as s:
        rows = list(await s.scalars(select(Problem).where(Problem.key.startswith(f"dividend_failure:{round_id}:"))))
    assert len(rows) == 1
    p = rows[0]
    assert (p.region_code, p.project_code, p.archive, p.responsible_user_id, p.source) == (
        village,
        None,
        "distribution",
        world.users["finance"].id,
        "rule",
    )
    assert "1 户" in p.description
    assert "1 failed payments" in p.description
    assert "6228" not in p.description  # no account in the ledger
    # the first failure corrected, another one aged past its days: still one open problem for the round
    async with sessions.begin() as s:
        s.add_all([_payment(round_id, a, 2, "submitted", None), _payment(round_id, d, 1, "failed", old)])
    assert await _check(sessions, world, at) == 0
    # once that problem is closed, the failure still owed raises a new one (a new key: the oldest failure now)
    async with sessions.begin() as s:
        await s.execute(update(Problem).where(Problem.id == p.id).values(status="closed"))
    assert await _check(sessions, world, at) == 1
    async with sessions() as s:
        keys = sorted(
            k or ""
            for k in await s.scalars(select(Problem.key).where(Problem.key.startswith(f"dividend_failure:{round_id}:")))
        )
    assert len(keys) == 2
