"""`assetflow import projects` (存量资产纳管) against the real database and the Temporal dev server: every table
written with exact fen, bad rows named by line and column with nothing written, --partial, reruns, refusals, and
each project's workflow started directly in operation."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from typer.testing import CliRunner, Result

from cli.main import app
from core.settings import Settings, get_settings
from db.engine import Sessions
from db.models import Asset, AssetIncomeShare, AssetOwnership, AuditEntry, Contract, Project
from db.repositories.audit import project_chain
from domain.imports import HEADERS, with_credit_check
from tests.conftest import World, seed_project


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose settings point at the test database, the dev server and this test's task queue."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", settings.temporal_address)
    monkeypatch.setenv("TASK_QUEUE", settings.task_queue)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    """Exit code and output with rich's line wrapping undone."""
    result: Result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, " ".join(result.output.split())


def project_rows(world: World, code: str, *, kind: str = "two_assets", **overrides: str) -> list[dict[str, str]]:
    """The rows of one project of the world's first village; `overrides` replace cells of every row."""
    v0, v1 = world.villages[0], world.villages[1]
    h0 = world.households[v0]
    base = {
        "项目编号": code,
        "项目名称": "东关村光伏电站",
        "项目类型": "光伏",
        "村代码": v0,
        "项目管理员账号": world.users["pm"].username,
        "实施主体": "东关村股份经济合作社",
        "建设年份": "2019",
        "开工日期": "2019-03-01",
        "竣工日期": "2019-09-30",
        "验收日期": "2019/10/20",
        "总投资（元）": "1,000,000.00",
        "衔接资金": "600000",
        "县级配套": "400000",
        "决算金额（元）": "980000.00",
        "预期年收益（元）": "70000",
        "管护主体": "东关村村委会",
        "管护责任人": "王建国",
        "管护资金来源": "村集体收益",
    }
    if kind == "household":
        base |= {"项目类型": "养殖", "总投资（元）": "5000", "衔接资金": "", "县级配套": "", "自筹": "5000"}
        base |= {"决算金额（元）": "5000.00", "预期年收益（元）": ""}
        assets = [
            {
                "资产名称": "肉牛 2 头",
                "资产类别": "到户类",
                "资产价值（元）": "5000",
                "数量": "2",
                "单位": "头",
                "坐落位置": "农户家中",
                "到户户码": h0[2],
            }
        ]
    else:
        assets = [
            {
                "资产名称": "光伏电站",
                "资产类别": "经营性",
                "资产价值（元）": "600000.50",
                "数量": "1",
                "单位": "座",
                "坐落位置": "东关村北",
                "所有权（村代码:比例;…）": f"{v0}:60；{v1}:40",
                "经营主体": "济阳光伏运维有限公司",
                "主体类型": "公司",
                "统一社会信用代码": with_credit_check("91370125MA3C4R2X1"),
                "经营方式": "租赁",
                "合同开始": "2019-06-01",  # before the acceptance: allowed for an import
                "合同结束": "2029-05-31",
                "租金（元/期）": "30000.25",
                "收款周期": "年",
                "押金（元）": "5000",
                "年递增（%）": "2.5",
                "受益户（户码:股数;…）": f"{h0[0]}:2;{h0[1]}:1",
            },
            {
                "资产名称": "村内道路",
                "资产类别": "公益性",
                "资产价值（元）": "379999.50",
                "坐落位置": "东关村",
                "所有权（村代码:比例;…）": f"{v0}:100",
                "平台卡号": f"CARD-{code}",
            },
        ]
    return [{**base, **a, **overrides} for a in assets]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Rows as Excel's "CSV UTF-8" (with its BOM)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8-sig")
    return path


def xlsx_bytes(rows: list[dict[str, str]]) -> bytes:
    """Rows as an .xlsx sheet; amounts and years as numbers, like a real sheet holds them."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(HEADERS))
    numeric = {"建设年份", "资产价值（元）", "租金（元/期）"}
    for r in rows:
        sheet.append([float(r[h]) if h in numeric and r.get(h) else r.get(h, "") for h in HEADERS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def counts(sessions: Sessions, codes: list[str]) -> dict[str, int]:
    """Rows of each table an import writes, for these projects."""
    async with sessions() as s:
        ids = select(Asset.id).where(Asset.project_code.in_(codes))
        return {
            "projects": await s.scalar(select(func.count()).where(Project.code.in_(codes))) or 0,
            "assets": await s.scalar(select(func.count()).where(Asset.project_code.in_(codes))) or 0,
            "ownerships": await s.scalar(select(func.count()).where(AssetOwnership.asset_id.in_(ids))) or 0,
            "income": await s.scalar(select(func.count()).where(AssetIncomeShare.asset_id.in_(ids))) or 0,
            "contracts": await s.scalar(select(func.count()).where(Contract.project_code.in_(codes))) or 0,
            "audit": await s.scalar(
                select(func.count()).where(
                    AuditEntry.chain.in_([project_chain(c) for c in codes]), AuditEntry.action == "imported"
                )
            )
            or 0,
        }


async def started_input(client: Client, code: str) -> dict[str, Any]:
    """The running workflow of a project and the input its history began with."""
    handle = client.get_workflow_handle(f"project-{code}")
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.workflow_type == "ProjectWorkflow"
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    state: dict[str, Any] = json.loads(started.input.payloads[0].data)
    return state


def codes_for(world: World, n: int) -> list[str]:
    """Project codes of this test alone."""
    tag = uuid.uuid4().hex[:6].upper()
    return [f"IMP{world.county}-{tag}-{i}" for i in range(1, n + 1)]


async def test_a_good_csv_imports_every_table_and_starts_each_workflow_in_operation(
    cli: CliRunner, world: World, sessions: Sessions, temporal_client: Client, settings: Settings, tmp_path: Path
) -> None:
    a, b = codes_for(world, 2)
    f = write_csv(tmp_path / "projects.csv", project_rows(world, a) + project_rows(world, b, kind="household"))
    sha = hashlib.sha256(f.read_bytes()).hexdigest()

    code, out = await invoke(cli, "import", "projects", str(f))
    assert code == 0, out
    assert "projects: 2 of 2 written (3 rows): 3 assets, 3 ownership shares, 2 household links, 1 contracts" in out
    assert await counts(sessions, [a, b]) == {
        "projects": 2,
        "assets": 3,
        "ownerships": 3,
        "income": 2,
        "contracts": 1,
        "audit": 2,
    }
    async with sessions() as s:
        p = await s.get(Project, a)
        assert p is not None
        assert (p.stage, p.status, p.imported_from, p.workflow_id, p.phase_workflow_id) == (
            "operation",
            "active",
            sha,
            f"project-{a}",
            None,
        )
        assert (p.total_budget_fen, p.final_cost_fen, p.applicant_id) == (100_000_000, 98_000_000, world.users["pm"].id)
        assert (p.planned_start.isoformat(), p.planned_end.isoformat(), str(p.completion_date)) == (
            "2019-03-01",
            "2019-09-30",
            "2019-09-30",
        )
        assert p.application["budget"]["sources"] == [
            {"source": "linkage_central", "amount_fen": 60_000_000},
            {"source": "county_match", "amount_fen": 40_000_000},
        ]
        assert p.application["revenue"]["expected_annual_revenue_fen"] == 7_000_000
        assert p.application["benefit"]["household_codes"] == world.households[world.villages[0]][:2]
        a1, a2 = await s.get(Asset, f"{a}-A1"), await s.get(Asset, f"{a}-A2")
        assert a1 is not None
        assert a2 is not None
        assert (a1.value_fen, a1.status, a1.registration_status, a1.platform_card_no) == (
            60_000_050,
            "leased",
            "queued",
            None,
        )
        assert (a1.operator_name, a1.contract_mode, a1.annual_rent_fen, a1.contract_term_years) == (
            "济阳光伏运维有限公司",
            "lease",
            3_000_025,
            10,
        )
        assert (a1.upkeep_body, a1.upkeep_person, a1.upkeep_fund_source) == ("东关村村委会", "王建国", "村集体收益")
        assert (a2.value_fen, a2.status, a2.registration_status, a2.platform_card_no) == (
            37_999_950,
            "in_use",
            "registered",
            f"CARD-{a}",
        )
        owners = (
            await s.execute(
                select(AssetOwnership.village_code, AssetOwnership.share_bp)
                .where(AssetOwnership.asset_id == a1.id)
                .order_by(AssetOwnership.village_code)
            )
        ).all()
        assert [tuple(o) for o in owners] == [(world.villages[0], 6000), (world.villages[1], 4000)]
        contract = await s.get(Contract, f"{a}-A1-c0")
        assert contract is not None
        assert (contract.kind, contract.status, contract.rent_fen, contract.deposit_fen, contract.escalation_bp) == (
            "imported",
            "active",
            3_000_025,
            500_000,
            250,
        )
        assert (contract.schedule, str(contract.start_date), str(contract.end_date)) == (
            "annual",
            "2019-06-01",
            "2029-05-31",
        )
        household = await s.get(Asset, f"{b}-A1")
        assert household is not None
        assert (household.asset_class, household.household_code, household.value_fen) == (
            "household",
            world.households[world.villages[0]][2],
            500_000,
        )
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.chain == project_chain(a)))
        assert entry is not None
        assert (entry.action, entry.actor_name, entry.event_key) == ("imported", "cli", f"imported:{a}:{sha}")
        assert entry.payload["file_sha256"] == sha
        assert (entry.payload["assets"], entry.payload["income_shares"], entry.payload["contracts"]) == (2, 2, 1)

    state = await started_input(temporal_client, a)
    assert state["phase"] == "operation"
    assert state["start"]["code"] == a
    assert state["start"]["applicant_id"] == world.users["pm"].id
    assert (state["start"]["village_code"], state["start"]["county_code"]) == (world.villages[0], world.county)
    assert state["start"]["config"]["review_working_days"] == settings.review.working_days

    # the same file again: every row the same, no second audit entry, the running workflow kept
    before = await counts(sessions, [a, b])
    code, out = await invoke(cli, "import", "projects", str(f))
    assert code == 0, out
    assert await counts(sessions, [a, b]) == before
    runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = 'project-{a}'")]
    assert len(runs) <= 1

    # a changed file updates the project and its rights, and is audited once more
    changed = project_rows(world, a, 项目名称="东关村光伏电站（扩建）")
    changed[0]["受益户（户码:股数;…）"] = f"{world.households[world.villages[0]][3]}:5"
    changed[0]["租金（元/期）"] = "31000"
    code, out = await invoke(cli, "import", "projects", str(write_csv(tmp_path / "v2.csv", changed)))
    assert code == 0, out
    async with sessions() as s:
        p = await s.get(Project, a)
        assert p is not None
        assert p.name == "东关村光伏电站（扩建）"
        shares = (
            await s.execute(
                select(AssetIncomeShare.household_code, AssetIncomeShare.shares).where(
                    AssetIncomeShare.asset_id == f"{a}-A1"
                )
            )
        ).all()
        assert [tuple(r) for r in shares] == [(world.households[world.villages[0]][3], 5)]
        contract = await s.get(Contract, f"{a}-A1-c0")
        assert contract is not None
        assert contract.rent_fen == 3_100_000
    assert (await counts(sessions, [a]))["audit"] == 2
    assert (await counts(sessions, [a]))["contracts"] == 1


async def test_an_xlsx_imports_like_the_csv(
    cli: CliRunner, world: World, sessions: Sessions, temporal_client: Client, tmp_path: Path
) -> None:
    (a,) = codes_for(world, 1)
    f = tmp_path / "projects.xlsx"
    f.write_bytes(xlsx_bytes(project_rows(world, a)))
    code, out = await invoke(cli, "import", "projects", str(f))
    assert code == 0, out
    async with sessions() as s:
        a1 = await s.get(Asset, f"{a}-A1")
        contract = await s.get(Contract, f"{a}-A1-c0")
    assert a1 is not None
    assert a1.value_fen == 60_000_050
    assert contract is not None
    assert contract.rent_fen == 3_000_025
    assert (await started_input(temporal_client, a))["phase"] == "operation"


async def test_bad_rows_are_each_named_by_line_and_column_and_nothing_is_written(
    cli: CliRunner, world: World, sessions: Sessions, tmp_path: Path
) -> None:
    a, b, c = codes_for(world, 3)
    rows = (
        project_rows(world, a)
        + project_rows(world, b, 竣工日期="2019-02-01")  # lines 4, 5: completion before the start
        + project_rows(world, c, kind="household")
    )
    rows[1]["项目名称"] = "另一个名称"  # line 3 disagrees with line 2
    rows[3]["资产价值（元）"] = "12.345"  # line 5: three decimals
    rows[4]["到户户码"] = "H-NOBODY"  # line 6: unknown household
    rows[4]["验收日期"] = "2099-01-01"
    code, out = await invoke(cli, "import", "projects", str(write_csv(tmp_path / "bad.csv", rows)))
    assert code == 1
    assert "line 3: 项目名称: differs from line 2 of the same project" in out
    assert "line 4: 竣工日期: on or after the start (开工日期)" in out
    assert "line 5: 资产价值（元）: an amount in yuan with at most two decimals" in out
    assert "line 6: 验收日期: a date from 2013-01-01 to today" in out
    assert "line 6: 到户户码: no household H-NOBODY" in out
    assert "nothing was imported" in out
    assert await counts(sessions, [a, b, c]) == dict.fromkeys(
        ("projects", "assets", "ownerships", "income", "contracts", "audit"), 0
    )


async def test_registration_rules_apply_to_an_imported_asset(
    cli: CliRunner, world: World, sessions: Sessions, tmp_path: Path
) -> None:
    (a,) = codes_for(world, 1)
    rows = project_rows(world, a)
    rows[0]["所有权（村代码:比例;…）"] = f"{world.villages[0]}:60;{world.villages[1]}:30"
    rows[0]["受益户（户码:股数;…）"] = ""
    rows[1]["资产价值（元）"] = "1"
    rows[1]["自筹"] = "1"  # sources no longer sum to the total
    code, out = await invoke(cli, "import", "projects", str(write_csv(tmp_path / "rules.csv", rows)))
    assert code == 1
    assert "line 2: 所有权（村代码:比例;…）: shares sum to 90 %, not exactly 100 %" in out
    assert "line 3: 自筹: differs from line 2 of the same project" in out
    assert (await counts(sessions, [a]))["projects"] == 0

    rows = project_rows(world, a)
    rows[0]["受益户（户码:股数;…）"] = ""
    rows[1]["资产价值（元）"] = "1"
    code, out = await invoke(cli, "import", "projects", str(write_csv(tmp_path / "rules2.csv", rows)))
    assert code == 1
    assert "line 2: 受益户（户码:股数;…）: name the beneficiary households (收益权)" in out
    assert "line 2: 资产价值（元）: asset values sum to 60000150 fen; the accepted final cost is 98000000 fen" in out


async def test_partial_writes_only_the_good_projects(
    cli: CliRunner, world: World, sessions: Sessions, temporal_client: Client, tmp_path: Path
) -> None:
    a, b = codes_for(world, 2)
    rows = project_rows(world, a, 项目管理员账号=world.users["pm2"].username) + project_rows(world, b, kind="household")
    code, out = await invoke(cli, "import", "projects", str(write_csv(tmp_path / "p.csv", rows)), "--partial")
    assert code == 1
    assert f"line 2: 项目管理员账号: {world.users['pm2'].username}'s region does not cover village" in out
    assert "projects: 1 of 2 written" in out
    assert (await counts(sessions, [a]))["projects"] == 0
    assert await counts(sessions, [b]) == {
        "projects": 1,
        "assets": 1,
        "ownerships": 0,
        "income": 0,
        "contracts": 0,
        "audit": 1,
    }
    assert (await started_input(temporal_client, b))["phase"] == "operation"


async def test_a_project_filed_through_the_application_is_not_imported_over(
    cli: CliRunner, world: World, sessions: Sessions, tmp_path: Path
) -> None:
    filed = await seed_project(sessions, world, stage="township_review")
    code, out = await invoke(
        cli, "import", "projects", str(write_csv(tmp_path / "f.csv", project_rows(world, filed, kind="household")))
    )
    assert code == 1
    assert f"line 2: 项目编号: project {filed} was filed through the application, not imported" in out
    async with sessions() as s:
        p = await s.get(Project, filed)
        assert p is not None
        assert (p.stage, p.imported_from) == ("township_review", None)
        assert await s.scalar(select(func.count()).where(Asset.project_code == filed)) == 0


async def test_an_unreadable_file_is_refused_whole(cli: CliRunner, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("项目编号,项目名称\nX,Y\n", encoding="utf-8")
    code, out = await invoke(cli, "import", "projects", str(f))
    assert code == 2
    assert "missing column(s) 项目类型, 村代码" in out
    png = tmp_path / "p.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    code, out = await invoke(cli, "import", "projects", str(png))
    assert code == 2
    assert "not UTF-8 text" in out
