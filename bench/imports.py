"""The project import's benchmark: 1,300 projects with 3,000 assets and 20,000 household links imported end to end
(read, check, write, commit, 1,300 workflow starts) against PostgreSQL COPY of the same rows into the same tables.

Regions, the project manager and the households are created first, outside the timing. The COPY baseline writes
the same rows under other project codes (the imported ones hold the keys), in the same process and database;
it writes no audit entries and starts no workflows, which the import does."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.imports import import_projects
from core.settings import Settings
from db.engine import make_sessions
from domain.households import with_check_digit
from domain.imports import HEADERS, with_credit_check

PROJECTS, ASSETS, LINKS = 1_300, 3_000, 20_000


@dataclass(frozen=True)
class ImportFigures:
    """The import against COPY of the same rows."""

    projects: int
    assets: int
    links: int
    seconds: float
    rows: int
    copy_seconds: float

    def summary(self) -> dict[str, Any]:
        """As the JSON line carries it."""
        return {
            "projects": self.projects,
            "assets": self.assets,
            "links": self.links,
            "seconds": round(self.seconds, 2),
            "rows_per_second": round(self.rows / self.seconds, 1),
            "copy_seconds": round(self.copy_seconds, 3),
            "ratio_to_copy": round(self.seconds / self.copy_seconds, 1),
        }


async def _seed(engine: AsyncEngine, tag: str) -> tuple[list[str], str, list[str]]:
    """A county of 13 townships and 100 villages, a project manager over it, 20,000 households."""
    n = int(tag[:4], 16) % 80
    province = f"{91 + n // 40}0000"
    city = f"{province[:2]}{n % 40 + 50:02d}00"
    county = city[:4] + "01"
    townships = [f"{county}{100 + t}" for t in range(13)]
    villages = [f"{townships[i % 13]}{200 + i // 13:03d}" for i in range(100)]
    households = [f"HB{tag}{i:06d}" for i in range(LINKS)]
    username = f"bench_pm_{tag}"
    async with engine.begin() as c:
        for code, level, parent in [(province, "province", None), (city, "city", province), (county, "county", city)]:
            await c.execute(
                text("INSERT INTO regions VALUES (:c, :n, :l, :p) ON CONFLICT DO NOTHING"),
                {"c": code, "n": f"基准{level}", "l": level, "p": parent},
            )
        await c.execute(
            text("INSERT INTO regions SELECT u.c, '镇', 'township', :p FROM unnest(CAST(:cs AS text[])) u(c)"),
            {"cs": townships, "p": county},
        )
        await c.execute(
            text("INSERT INTO regions SELECT u.c, '村', 'village', left(u.c, 9) FROM unnest(CAST(:cs AS text[])) u(c)"),
            {"cs": villages},
        )
        await c.execute(
            text(
                "INSERT INTO users (username, full_name, password_hash, role, region_code, organisation, active,"
                " is_demo, must_change_password) VALUES (:u, '基准', 'x', 'project_manager', :r, '', true, false,"
                " false)"
            ),
            {"u": username, "r": county},
        )
        await c.execute(
            text(
                "INSERT INTO households (code, village_code, head_name, members, categories, id_number, bank_account)"
                " SELECT u.c, u.v, '户主', 3, '[]'::jsonb, :idn, '6228480000000000' FROM"
                " unnest(CAST(:cs AS text[]), CAST(:vs AS text[])) u(c, v)"
            ),
            {
                "cs": households,
                "vs": [villages[i % 100] for i in range(LINKS)],
                "idn": with_check_digit("65010219800101001"),
            },
        )
    return villages, username, households


def _rows(tag: str, villages: list[str], username: str, households: list[str]) -> list[dict[str, str]]:
    """1,300 projects: 400 of 3 assets and 900 of 2; each first asset is leased with 16 or 15 households."""
    rows: list[dict[str, str]] = []
    linked = 0
    credit = with_credit_check("91370125MA3C4R2X1")
    for p in range(PROJECTS):
        n_assets = 3 if p < 400 else 2
        n_links = 16 if p < 500 else 15
        village = villages[p % 100]
        values = [600_000 + p, 200_000, 100_000][:n_assets]
        final = sum(values)
        project = {
            "项目编号": f"BI{tag}-{p:05d}",
            "项目名称": f"基准项目{p}",
            "项目类型": "光伏",
            "村代码": village,
            "项目管理员账号": username,
            "实施主体": "村股份经济合作社",
            "建设年份": "2019",
            "开工日期": "2019-03-01",
            "竣工日期": "2019-09-30",
            "验收日期": "2019-10-20",
            "总投资（元）": f"{final + 1000}.00",
            "衔接资金": f"{final}",
            "县级配套": "1000",
            "决算金额（元）": f"{final}.00",
            "预期年收益（元）": "50000",
        }
        for a in range(n_assets):
            row = {
                **project,
                "资产名称": f"资产{a}",
                "资产类别": "经营性" if a == 0 else "公益性",
                "资产价值（元）": f"{values[a]}.00",
                "数量": "1",
                "单位": "座",
                "坐落位置": "村北",
                "所有权（村代码:比例;…）": f"{village}:100",
                "管护主体": "村委会",
                "管护责任人": "张三",
                "管护资金来源": "村集体收益",
            }
            if a == 0:
                row |= {
                    "经营主体": "运维有限公司",
                    "主体类型": "公司",
                    "统一社会信用代码": credit,
                    "经营方式": "租赁",
                    "合同开始": "2019-11-01",
                    "合同结束": "2029-10-31",
                    "租金（元/期）": "50000.00",
                    "收款周期": "年",
                    "受益户（户码:股数;…）": ";".join(f"{h}:1" for h in households[linked : linked + n_links]),
                }
                linked += n_links
            rows.append(row)
    assert len(rows) == ASSETS
    assert linked == LINKS
    return rows


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


async def _copy(engine: AsyncEngine, rows: list[dict[str, str]], manager_id: int) -> float:
    """COPY the file's projects, assets, ownerships, income shares and contracts (other codes); seconds taken."""
    app = json.dumps({"imported": True})
    today = date(2019, 9, 30)
    project_rows: list[tuple[Any, ...]] = []
    asset_rows: list[tuple[Any, ...]] = []
    owner_rows: list[tuple[Any, ...]] = []
    income_rows: list[tuple[Any, ...]] = []
    contract_rows: list[tuple[Any, ...]] = []
    counters: dict[str, int] = {}
    for r in rows:
        code = "C" + r["项目编号"]
        counters[code] = counters.get(code, 0) + 1
        asset_id = f"{code}-A{counters[code]}"
        village = r["村代码"]
        if counters[code] == 1:
            project_rows.append(
                (
                    code,
                    r["项目名称"],
                    "photovoltaic",
                    village,
                    village[:9],
                    village[:6],
                    village[:4] + "00",
                    "operation",
                    "active",
                    100,
                    today,
                    today,
                    manager_id,
                    app,
                    f"project-{code}",
                    "x",
                    100,
                    today,
                    "copy",
                )
            )
        asset_rows.append(
            (
                asset_id,
                code,
                r["资产名称"],
                "operating",
                "1",
                "座",
                100,
                "村北",
                village,
                village[:9],
                village[:6],
                "in_use",
                "{}",
                "queued",
                "",
                "",
                "",
            )
        )
        owner_rows.append((asset_id, village, 10_000))
        for part in r.get("受益户（户码:股数;…）", "").split(";"):
            if part:
                income_rows.append((asset_id, part.split(":")[0], 1))
        if r.get("经营主体"):
            contract_rows.append(
                (
                    f"{asset_id}-c0",
                    asset_id,
                    code,
                    "imported",
                    "active",
                    "运维有限公司",
                    "company",
                    "lease",
                    date(2019, 11, 1),
                    date(2029, 10, 31),
                    5_000_000,
                    "annual",
                )
            )
    tables: list[tuple[str, list[tuple[Any, ...]]]] = [
        (
            "projects (code, name, project_type, village_code, township_code, county_code, city_code, stage, status,"
            " total_budget_fen, planned_start, planned_end, applicant_id, application, workflow_id,"
            " implementing_entity, final_cost_fen, completion_date, imported_from)",
            project_rows,
        ),
        (
            "assets (id, project_code, name, asset_class, quantity, unit, value_fen, location, village_code,"
            " township_code, county_code, status, supervision, registration_status, operator_name, operator_type,"
            " contract_mode)",
            asset_rows,
        ),
        ("asset_ownerships (asset_id, village_code, share_bp)", owner_rows),
        ("asset_income_shares (asset_id, household_code, shares)", income_rows),
        (
            "contracts (id, asset_id, project_code, kind, status, operator_name, operator_type, mode, start_date,"
            " end_date, rent_fen, schedule)",
            contract_rows,
        ),
    ]
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg: Any = raw.driver_connection
        started = time.perf_counter()
        async with pg.transaction():
            cur = pg.cursor()
            for table, table_rows in tables:
                async with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in table_rows:
                        await copy.write_row(row)
        return time.perf_counter() - started


async def measure_import(engine: AsyncEngine, client: Client, settings: Settings) -> ImportFigures:
    """Seed, time the import end to end (workflow starts included), then time COPY of the same rows."""
    tag = uuid.uuid4().hex[:6]
    villages, username, households = await _seed(engine, tag)
    rows = _rows(tag, villages, username, households)
    data = _csv(rows)
    sessions = make_sessions(engine)
    started = time.perf_counter()
    report = await import_projects(sessions, client, settings, data, file_name="bench.csv", actor_name="bench")
    seconds = time.perf_counter() - started
    if report.errors or report.counts.projects != PROJECTS or report.workflows_started != PROJECTS:
        raise RuntimeError(f"the import did not take the whole file: {report.errors[:3]} {report.counts}")
    if (report.counts.assets, report.counts.income_shares) != (ASSETS, LINKS):
        raise RuntimeError(f"the import wrote {report.counts}")
    async with engine.connect() as c:
        manager_id = int(
            (await c.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username})).scalar_one()
        )
    copy_seconds = await _copy(engine, rows, manager_id)
    return ImportFigures(PROJECTS, ASSETS, LINKS, seconds, len(rows), copy_seconds)
