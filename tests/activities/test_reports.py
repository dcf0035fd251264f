"""The report figures against a hand-built data set (tests/report_data.py): every number of a county's week and a city's
month counted by hand, each fact placed on or just past a boundary of the period."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.reports import ReportActivities
from core.settings import ReportSettings
from db.engine import Sessions
from db.models import AuditEntry, Report
from domain.reports import ReportInput
from tests.conftest import World
from tests.report_data import MONTH, WEEK, add_county, seed_county


async def _make(sessions: Sessions, kind: str, region: str, period: str) -> dict[str, Any]:
    acts = ReportActivities(sessions, ReportSettings(), "Asia/Shanghai")
    made = await ActivityEnvironment().run(acts.make_report, ReportInput(kind, region, period))
    assert made.created
    again = await ActivityEnvironment().run(acts.make_report, ReportInput(kind, region, period))
    assert again == made.__class__(made.report_id, created=False)  # a re-run writes nothing
    async with sessions() as s:
        report = await s.get(Report, made.report_id)
        assert report is not None
        return report.figures


async def test_weekly_figures_match_the_hand_count(world: World, sessions: Sessions) -> None:
    codes = await seed_county(sessions, world)
    f = await _make(sessions, "weekly", world.county, WEEK)
    assert f["id"] == f"weekly-{world.county}-{WEEK}"
    assert f["period"] == {"label": WEEK, "start": "2025-03-03", "last_day": "2025-03-09"}
    assert f["as_of"] == "2025-03-09T16:00:00+00:00"  # Monday 00:00 in Shanghai
    t = f["totals"]
    assert t["projects"]["total"] == 5
    assert t["projects"]["new"] == 2  # p1 and p4 (23:30 on Sunday); p5 at Monday 00:00 is next week's
    stages = {k: v for k, v in t["projects"]["by_stage"].items() if v}
    assert stages == {"construction": 2, "operation": 1, "township_review": 2}
    assert t["construction"] == {"under_construction": 2, "yellow": 1, "red": 1}
    assert t["reviews_overdue"] == 2  # open at the cut: task 1, and task 4 decided only afterwards
    assert t["revenue"] == {
        "due_fen": 100_000,
        "received_fen": 60_000,
        "due_ytd_fen": 180_000,
        "received_ytd_fen": 110_000,
    }
    assert t["arrears"] == {"count": 2, "outstanding_fen": 70_000}  # r1's 40,000 and r4's 30,000 (paid after)
    assert t["payouts"] == {"paid_count": 2, "paid_fen": 300_000, "failed_count": 1, "failed_fen": 50_000}
    assert t["dividends"] == {"rounds": 1, "planned_fen": 1_000_000, "paid_fen": 300_000}
    assert t["problems"] == {"opened": 1, "closed": 1, "open": 2, "overdue": 1}
    assert t["assets"] == {"total": 3, "to_register": 2, "registered": 1, "in_operation": 3, "idle": 1}
    assert t["colours"]["colour"] == {"green": 0, "blue": 3, "yellow": 1, "red": 1}
    assert t["colours"]["construction_colour"] == {"green": 1, "blue": 0, "yellow": 1, "red": 1}
    assert t["colours"]["operation_colour"]["blue"] == 1
    assert t["rates_bp"]["registration"] == 5000
    assert t["rates_bp"]["idle_asset_rate"] == 3333
    assert t["rates_bp"]["revenue"] == 6111
    assert t["rates_bp"]["on_schedule"] == 0

    townships = {s["code"]: s for s in f["townships"]}
    t0, t1 = world.townships
    assert townships[t0]["projects"]["total"] == 3
    assert townships[t1]["projects"]["total"] == 2
    assert townships[t0]["payouts"] == {"paid_count": 1, "paid_fen": 100_000, "failed_count": 1, "failed_fen": 50_000}
    assert townships[t1]["payouts"]["paid_fen"] == 200_000
    assert townships[t0]["reviews_overdue"] == 1
    assert townships[t1]["reviews_overdue"] == 1
    assert townships[t1]["arrears"]["outstanding_fen"] == 70_000

    assert [p["code"] for p in f["construction_behind"]] == [codes["p1"], codes["p2"]]
    assert [p["code"] for p in f["red_list"]] == [codes["p2"]]
    assert [p["code"] for p in f["yellow_list"]] == [codes["p1"]]
    assert sorted(p["code"] for p in f["new"]) == sorted([codes["p1"], codes["p4"]])
    assert [a["outstanding_fen"] for a in f["arrears_list"]] == [40_000, 30_000]
    assert f["overdue_problems_by_unit"] == [{"unit": "东关村委会", "overdue": 1, "oldest_deadline": "2025-03-08"}]
    assert len(f["projects"]) == 5
    assert "ranking" not in f

    async with sessions() as s:
        entries = (await s.scalars(select(AuditEntry).where(AuditEntry.chain == f"reports:{world.county}"))).all()
    assert [(e.action, e.actor_name) for e in entries] == [("report_made", "schedule")]


async def test_monthly_bulletin_ranks_the_counties(world: World, sessions: Sessions) -> None:
    await seed_county(sessions, world)
    second, _ = await add_county(sessions, world)
    f = await _make(sessions, "monthly", world.city, MONTH)
    t = f["totals"]
    assert t["projects"]["total"] == 6
    assert t["revenue"]["due_ytd_fen"] == 250_000
    assert t["revenue"]["received_ytd_fen"] == 140_000
    assert t["arrears"] == {"count": 2, "outstanding_fen": 110_000}  # r1's 40,000, r3's 70,000 at 1 April
    assert t["problems"] == {"opened": 2, "closed": 1, "open": 3, "overdue": 2}
    counties = {c["code"]: c for c in f["counties"]}
    assert set(counties) == {world.county, second}
    assert counties[world.county]["rates_bp"] == {
        "on_schedule": 0,
        "registration": 5000,
        "revenue": 5600,
        "dividends": 3000,
        "problems": 3333,
        "idle": 6667,
        "idle_asset_rate": 3333,
    }
    # weights 25/20/20/15/10/10: (0·25 + 5000·20 + 5600·20 + 3000·15 + 3333·10 + 6667·10) / 100
    assert [(r["code"], r["rank"], r["score_bp"]) for r in f["ranking"]] == [
        (second, 1, 10000),
        (world.county, 2, 3570),
    ]
    assert f["weights"] == ReportSettings().weights
    assert {s["code"] for s in f["townships"]} == {*world.townships, second + "100"}
