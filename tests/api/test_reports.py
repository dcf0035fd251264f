"""The reports through the API: made on demand for a past period (once), listed, read, downloaded as .xlsx (read back
with openpyxl: sheets, headers, cells, native charts), readers told in-app; the wrong users and bad input refused."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import select
from temporalio.worker import Worker

from db.engine import Sessions
from db.models import AuditEntry
from tests.conftest import Login, World, local_today
from tests.report_data import MONTH, WEEK, add_county, seed_county


def _rows(sheet: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in sheet.iter_rows(values_only=True)]


def _value(rows: list[tuple[Any, ...]], label: str) -> Any:
    return next(r[1] for r in rows if r and r[0] == label)


async def test_weekly_report_on_demand_read_and_downloaded(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    codes = await seed_county(sessions, world)
    sv = await login(world.users["supervisor"])
    body = {"kind": "weekly", "region_code": world.county, "period": WEEK}
    r = await api.post("/api/v1/reports", json=body, headers=sv)
    assert r.status_code == 201, r.text
    made = r.json()
    rid = f"weekly-{world.county}-{WEEK}"
    assert made["id"] == rid
    assert made["title"].endswith("2025年第10周周调度报告")
    assert made["period_last_day"] == "2025-03-09"
    assert made["requested_by"] == world.users["supervisor"].id
    again = await api.post("/api/v1/reports", json=body, headers=sv)
    assert again.status_code == 200
    assert again.json()["id"] == rid

    listed = (await api.get("/api/v1/reports", params={"kind": "weekly"}, headers=sv)).json()
    assert [i["id"] for i in listed["items"]] == [rid]
    assert listed["items"][0]["region_name"].startswith("测试县")
    detail = (await api.get(f"/api/v1/reports/{rid}", headers=sv)).json()
    assert detail["figures"]["totals"]["projects"]["total"] == 5
    city = await login(world.users["city"])  # the city's leadership office reads its counties' reports
    assert (await api.get(f"/api/v1/reports/{rid}", headers=city)).status_code == 200

    x = await api.get(f"/api/v1/reports/{rid}.xlsx", headers=sv)
    assert x.status_code == 200
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == [
        "概况",
        "项目阶段",
        "三色档案",
        "乡镇汇总",
        "红黄名单",
        "欠款清单",
        "超期问题",
        "新增项目",
        "项目清单",
    ]
    summary = _rows(book["概况"])
    assert summary[0][0] == made["title"]
    assert summary[5][:2] == ("指标", "数值")
    assert _value(summary, "项目总数") == 5
    assert _value(summary, "本期新增项目") == 2
    assert _value(summary, "欠款金额（元）") == 700
    assert _value(summary, "本期分红发放金额（元）") == 3000
    assert _value(summary, "确权完成率") == 0.5
    stages = dict(_rows(book["项目阶段"])[1:])
    assert stages["建设实施"] == 2
    assert stages["乡镇初审"] == 2
    projects = _rows(book["项目清单"])
    assert projects[0][:6] == ("项目编号", "项目名称", "乡镇", "类型", "阶段", "建设进度")
    assert {p[0] for p in projects[1:]} == set(codes.values())
    colours = {r[0]: r[1:] for r in _rows(book["三色档案"])[1:]}
    assert colours["综合"] == (0, 3, 1, 1)
    arrears = _rows(book["欠款清单"])
    assert [a[6] for a in arrears[1:]] == [400, 300]
    charts = [n for n in zipfile.ZipFile(io.BytesIO(x.content)).namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 2  # projects by stage, the archive colours

    notes = (await api.get("/api/v1/notifications", headers=sv)).json()["items"]
    assert [n["title"] for n in notes if n["kind"] == "report_ready"] == [
        f"报表已生成：{made['title']} / Report ready: {made['title']}"
    ]
    async with sessions() as s:
        entry = (await s.scalars(select(AuditEntry).where(AuditEntry.chain == f"reports:{world.county}"))).one()
    assert (entry.action, entry.actor_id, entry.actor_name) == (
        "report_made",
        world.users["supervisor"].id,
        "on_demand",
    )


async def test_monthly_bulletin_for_the_city_read_by_its_counties(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    await seed_county(sessions, world)
    second, other_supervisor = await add_county(sessions, world)
    admin = await login(world.users["admin"])
    r = await api.post(
        "/api/v1/reports", json={"kind": "monthly", "region_code": world.city, "period": MONTH}, headers=admin
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert rid == f"monthly-{world.city}-{MONTH}"
    for user in (world.users["supervisor"], other_supervisor, world.users["county"]):
        auth = await login(user)
        assert (await api.get(f"/api/v1/reports/{rid}", headers=auth)).status_code == 200
        listed = (await api.get("/api/v1/reports", params={"kind": "monthly"}, headers=auth)).json()
        assert [i["id"] for i in listed["items"]] == [rid]
        notes = (await api.get("/api/v1/notifications", headers=auth)).json()["items"]
        assert any(n["kind"] == "report_ready" for n in notes)
    x = await api.get(f"/api/v1/reports/{rid}.xlsx", headers=admin)
    book = load_workbook(io.BytesIO(x.content))
    assert "县区排名" in book.sheetnames
    assert "县区汇总" in book.sheetnames
    ranking = _rows(book["县区排名"])
    assert ranking[0][:3] == ("排名", "县区", "得分")
    assert [(row[0], row[2]) for row in ranking[1:3]] == [(1, 1.0), (2, 0.357)]
    counties = {row[0] for row in _rows(book["县区汇总"])[1:]}
    assert counties == {world.county, second}
    charts = [n for n in zipfile.ZipFile(io.BytesIO(x.content)).namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 3  # stages, colours, the ranking


async def test_the_wrong_users_and_bad_input_are_refused(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    second, other_supervisor = await add_county(sessions, world)
    sv, expert, pm, county = [await login(world.users[k]) for k in ("supervisor", "expert", "pm", "county")]

    async def post(body: dict[str, str], auth: dict[str, str]) -> httpx.Response:
        return await api.post("/api/v1/reports", json=body, headers=auth)

    weekly = {"kind": "weekly", "region_code": world.county, "period": WEEK}
    assert (await api.get("/api/v1/reports", headers=expert)).status_code == 403
    assert (await post(weekly, pm)).json()["code"] == "role_forbidden"
    assert (await post(weekly, county)).json()["code"] == "role_forbidden"  # reads reports, does not order them
    outside = await post({**weekly, "region_code": second}, sv)
    assert (outside.status_code, outside.json()["code"]) == (403, "region_forbidden")

    def problems(r: httpx.Response) -> set[tuple[str, str]]:
        assert r.status_code == 422, r.text
        return {(d["field"], d["rule"]) for d in r.json()["details"]}

    this_week = local_today().isocalendar()
    current = f"{this_week[0]}-W{this_week[1]:02d}"
    assert problems(await post({**weekly, "period": current}, sv)) == {("period", "ended")}
    assert problems(await post({**weekly, "period": "2025-13"}, sv)) == {("period", "a_period")}
    assert problems(await post({**weekly, "period": "x"}, sv)) == {("period", "string_pattern_mismatch")}
    monthly_for_county = {"kind": "monthly", "region_code": world.county, "period": MONTH}
    assert problems(await post(monthly_for_county, sv)) == {("region_code", "level")}
    assert (await post({**weekly, "extra": "1"}, sv)).status_code == 422

    missing = await api.get(f"/api/v1/reports/weekly-{world.county}-2024-W01", headers=sv)
    assert missing.status_code == 404
    assert (await api.get("/api/v1/reports/nonsense", headers=sv)).status_code == 404
    assert (await api.get(f"/api/v1/reports/weekly-{second}-{WEEK}.xlsx", headers=sv)).status_code == 403
    other = await login(other_supervisor)
    assert (await api.get(f"/api/v1/reports/weekly-{world.county}-{WEEK}", headers=other)).status_code == 403
    assert (await api.get("/api/v1/reports", params={"region": second}, headers=sv)).status_code == 403
    assert problems(await api.get("/api/v1/reports", params={"period": "2025-W99"}, headers=sv)) == {
        ("period", "a_period")
    }
    assert (await api.get("/api/v1/reports")).status_code == 401
