"""The reports' benchmark (周调度, 月通报): a city of 10 counties, 100 townships and 500 villages with 10,000 projects
(assets, contracts, 120,000 receivables, 100,000 rent payments, 20,000 review tasks, 5,000 problems), 500,000
households and 1,000,000 dividend payment lines over the last year — written in bulk by PostgreSQL itself
(INSERT … SELECT generate_series), untimed — then the weekly report of one county for last week and the monthly
bulletin of the city for last month, each timed as the activity computes and stores it (SQL aggregates), and each
rendered as .xlsx (timed apart). Target: ≤ 5 s each."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from activities.reports import ReportActivities
from core.report_xlsx import render_report
from core.settings import ReportSettings
from db.engine import make_sessions
from db.models import Report
from domain.reports import ReportInput, ReportKind, previous_period

ZONE = "Asia/Shanghai"
PROVINCE, CITY = "630000", "630100"
COUNTIES = 10
PROJECTS = 10_000
HOUSEHOLDS = 500_000
PAYMENT_LINES = 1_000_000
TARGET_SECONDS = 5.0

# each statement builds one table from generate_series; :c is the city's 4-digit prefix
SEED = [
    """INSERT INTO regions (code, name, level, parent_code) VALUES ('630000', '基准省', 'province', NULL),
       ('630100', '基准市', 'city', '630000') ON CONFLICT DO NOTHING""",
    """INSERT INTO regions (code, name, level, parent_code)
       SELECT '6301' || lpad(c::text, 2, '0'), '基准县' || c, 'county', '630100' FROM generate_series(1, 10) c""",
    """INSERT INTO regions (code, name, level, parent_code)
       SELECT '6301' || lpad(c::text, 2, '0') || (100 + t), '基准镇' || c || '-' || t, 'township',
              '6301' || lpad(c::text, 2, '0')
       FROM generate_series(1, 10) c, generate_series(0, 9) t""",
    """INSERT INTO regions (code, name, level, parent_code)
       SELECT r.code || (201 + v), '基准村' || v, 'village', r.code
       FROM regions r, generate_series(0, 4) v WHERE r.level = 'township' AND r.code LIKE '6301%'""",
    # project i: county i % 10, township (i / 10) % 10, village (i / 100) % 5; stages and colours cycle
    """INSERT INTO projects (code, name, project_type, village_code, township_code, county_code, city_code, stage,
           status, total_budget_fen, planned_start, planned_end, applicant_id, application, workflow_id, colour,
           construction_colour, operation_colour, progress_percent, created_at)
       SELECT 'XMR' || i, '基准项目' || i, (ARRAY['photovoltaic','greenhouse','workshop','cold_storage'])[1 + i % 4],
              v, substr(v, 1, 9), substr(v, 1, 6), '630100',
              (ARRAY['township_review','expert_review','county_approval','construction','construction','acceptance',
                     'asset_registration','operation','operation','operation'])[1 + (i / 7) % 10],
              'active', 10000000, DATE '2025-01-01', DATE '2025-12-31', :pm, '{}'::jsonb, 'project-XMR' || i,
              (ARRAY['blue','green','yellow','red','blue'])[1 + i % 5],
              (ARRAY['','green','yellow','red'])[1 + (i / 3) % 4],
              (ARRAY['','green','blue','red'])[1 + (i / 11) % 4],
              (i * 7) % 101, now() - make_interval(days => i % 365)
       FROM (SELECT i, '6301' || lpad((1 + i % 10)::text, 2, '0') || (100 + (i / 10) % 10) || (201 + (i / 100) % 5) AS v
             FROM generate_series(0, 9999) i) s""",
    """INSERT INTO assets (id, project_code, name, asset_class, quantity, unit, value_fen, location, village_code,
           township_code, county_code, status, operator_name, operator_type, contract_mode, supervision,
           registration_status)
       SELECT p.code || '-A1', p.code, '资产', (ARRAY['operating','operating','public_welfare','household'])[1 + n % 4],
              '1', '座', 5000000, '村内', p.village_code, p.township_code, p.county_code,
              (ARRAY['leased','in_use','idle','leased','damaged'])[1 + n % 5], '运营方', 'company', 'lease',
              '{}'::jsonb,
              (ARRAY['registered','registered','draft'])[1 + n % 3]
       FROM (SELECT code, village_code, township_code, county_code, substr(code, 4)::int AS n FROM projects
             WHERE code LIKE 'XMR%') p""",
    """INSERT INTO contracts (id, asset_id, project_code, kind, status, operator_name, operator_type, mode, start_date,
           end_date, rent_fen, schedule)
       SELECT a.id || '-c', a.id, a.project_code, 'imported', 'active', '运营方', 'company', 'lease',
              (now() - interval '1 year')::date, (now() + interval '9 years')::date, 50000, 'monthly'
       FROM assets a WHERE a.id LIKE 'XMR%'""",
    # twelve monthly rents per asset over the last year
    """INSERT INTO receivables (contract_id, asset_id, project_code, period_no, period_start, period_end, due_date,
           amount_fen, received_fen, status)
       SELECT c.id, c.asset_id, c.project_code, m, d, d + 29, d, 50000,
              CASE WHEN m % 6 = 0 THEN 0 ELSE 50000 END, CASE WHEN m % 6 = 0 THEN 'open' ELSE 'paid' END
       FROM contracts c, generate_series(1, 12) m,
            LATERAL (SELECT ((now() - interval '1 year')::date + (m - 1) * 30) AS d) dd
       WHERE c.id LIKE 'XMR%'""",
    """INSERT INTO received_payments (receivable_id, asset_id, project_code, amount_fen, received_on, recorded_by,
           idempotency_key)
       SELECT r.id, r.asset_id, r.project_code, 50000, r.due_date + 3, :pm, 'bench-rp-' || r.id
       FROM receivables r WHERE r.project_code LIKE 'XMR%' AND r.status = 'paid'""",
    """INSERT INTO tasks (id, project_code, kind, stage, round, candidate_role, region_code, allowed_decisions, status,
           opened_at, due_at)
       SELECT 'bench-t' || i, 'XMR' || (i % 10000), 'county_approval', 'county_approval', 1, 'county_reviewer',
              '6301' || lpad((1 + i % 10)::text, 2, '0'), '["approve"]'::jsonb,
              CASE WHEN i % 3 = 0 THEN 'open' ELSE 'decided' END,
              now() - make_interval(days => i % 365 + 10), now() - make_interval(days => i % 365)
       FROM generate_series(0, 19999) i""",
    """INSERT INTO problems (project_code, county_code, township_code, region_code, source, description,
           responsible_unit, deadline, status, opened_at, closed_at)
       SELECT p.code, p.county_code, p.township_code, p.village_code, 'inspection', '基准问题',
              '责任单位' || (i % 40), (now() - make_interval(days => i % 365 - 30))::date,
              CASE WHEN i % 4 = 0 THEN 'closed' ELSE 'rectifying' END,
              now() - make_interval(days => i % 365 + 5),
              CASE WHEN i % 4 = 0 THEN now() - make_interval(days => i % 365) END
       FROM generate_series(0, 4999) i JOIN projects p ON p.code = 'XMR' || (i * 2)""",
    # 50,000 households a county (100 a village), each paid in two rounds of its county: 1,000,000 lines
    """INSERT INTO households (code, village_code, head_name, members, categories, id_number, bank_account)
       SELECT 'HB' || v.code || lpad(h::text, 4, '0'), v.code, '户主', 3, '[]'::jsonb, '630000000000000000',
              '6228480000000000'
       FROM regions v, generate_series(1, 1000) h WHERE v.level = 'village' AND v.code LIKE '6301%'""",
    """INSERT INTO dividend_rounds (id, scope_kind, scope_code, fiscal_year, n, county_code, period_start, period_end,
           status, households_fen, paid_fen, opened_by, opened_at)
       SELECT 'dividend-' || c.code || '-' || y || '-1', 'county', c.code, y, 1, c.code, make_date(y, 1, 1),
              make_date(y, 12, 31), 'closed', 5000000000::bigint, 4850000000::bigint, :pm,
              now() - make_interval(days => 40 + (extract(year from now())::int - 1 - y) * 180)
       FROM regions c, generate_series(extract(year from now())::int - 2, extract(year from now())::int - 1) y
       WHERE c.level = 'county' AND c.code LIKE '6301%'""",
    """INSERT INTO dividend_payments (reference, round_id, household_code, attempt, amount_fen, name, account, bank,
           batch_no, status, created_at, settled_at)
       SELECT r.id || ':' || h.code || '\\:1', r.id, h.code, 1, 100000, '户主', h.bank_account, '一卡通',
              r.id || '-' || lpad((h.rn / 500)::text, 3, '0'),
              CASE WHEN h.rn % 33 = 0 THEN 'failed' ELSE 'paid' END, r.opened_at,
              now() - make_interval(secs => (h.rn * 613 % 31536000))
       FROM dividend_rounds r
       JOIN (SELECT code, village_code, bank_account, row_number() OVER (ORDER BY code) AS rn FROM households
             WHERE code LIKE 'HB6301%') h ON substr(h.village_code, 1, 6) = r.county_code
       WHERE r.id LIKE 'dividend-6301%'""",
]


@dataclass(frozen=True)
class ReportFigures:
    """What the reports' bench measured."""

    projects: int
    payment_lines: int
    seed_seconds: float
    weekly_seconds: float
    monthly_seconds: float
    weekly_xlsx_seconds: float
    monthly_xlsx_seconds: float
    weekly_bytes: int
    monthly_bytes: int

    def summary(self) -> dict[str, Any]:
        """As the JSON line carries it."""
        return {
            "projects": self.projects,
            "payment_lines": self.payment_lines,
            "seed_seconds": round(self.seed_seconds, 1),
            "weekly_county_seconds": round(self.weekly_seconds, 2),
            "monthly_city_seconds": round(self.monthly_seconds, 2),
            "weekly_xlsx_seconds": round(self.weekly_xlsx_seconds, 2),
            "monthly_xlsx_seconds": round(self.monthly_xlsx_seconds, 2),
            "weekly_xlsx_bytes": self.weekly_bytes,
            "monthly_xlsx_bytes": self.monthly_bytes,
            "target_seconds": TARGET_SECONDS,
        }


async def seed(engine: AsyncEngine) -> tuple[int, int]:
    """The city's data in bulk; the numbers of projects and dividend payment lines written."""
    async with engine.begin() as conn:
        await conn.execute(text(SEED[0]))
        pm = (
            await conn.execute(
                text(
                    "INSERT INTO users (username, full_name, password_hash, role, region_code, organisation, active, "
                    "is_demo, must_change_password) VALUES ('bench-reports-pm', '基准', 'x', 'project_manager', "
                    "'630100', '', true, false, false) RETURNING id"
                )
            )
        ).scalar_one()
        for sql in SEED[1:]:
            await conn.execute(text(sql), {"pm": pm} if ":pm" in sql else {})
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
        projects = (await conn.execute(text("SELECT count(*) FROM projects WHERE code LIKE 'XMR%'"))).scalar_one()
        lines = (
            await conn.execute(text("SELECT count(*) FROM dividend_payments WHERE round_id LIKE 'dividend-6301%'"))
        ).scalar_one()
    return int(projects), int(lines)


async def measure_reports(engine: AsyncEngine) -> ReportFigures:
    """Seed the city, then time last week's report of one county and last month's bulletin of the city."""
    started = time.perf_counter()
    projects, lines = await seed(engine)
    seeded = time.perf_counter() - started
    sessions = make_sessions(engine)
    acts = ReportActivities(sessions, ReportSettings(), ZONE)
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    seconds: dict[str, float] = {}
    rendered: dict[str, tuple[float, int]] = {}
    for kind, region in ((ReportKind.WEEKLY, "630101"), (ReportKind.MONTHLY, CITY)):
        period = previous_period(kind, today)
        began = time.perf_counter()
        made = await ActivityEnvironment().run(acts.make_report, ReportInput(kind.value, region, period.label))
        seconds[kind.value] = time.perf_counter() - began
        async with sessions() as s:
            report = await s.get(Report, made.report_id)
            assert report is not None
            figures = report.figures
        began = time.perf_counter()
        data = render_report(figures)
        rendered[kind.value] = (time.perf_counter() - began, len(data))
    return ReportFigures(
        projects=projects,
        payment_lines=lines,
        seed_seconds=seeded,
        weekly_seconds=seconds["weekly"],
        monthly_seconds=seconds["monthly"],
        weekly_xlsx_seconds=rendered["weekly"][0],
        monthly_xlsx_seconds=rendered["monthly"][0],
        weekly_bytes=rendered["weekly"][1],
        monthly_bytes=rendered["monthly"][1],
    )
