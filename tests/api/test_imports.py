"""/api/v1/imports: the project template downloads and imports once filled in; the upload answers the CLI's report,
refuses the wrong role, the anonymous, the oversized and what is no spreadsheet, and writes nothing on a bad row."""

from __future__ import annotations

import io

import httpx
from openpyxl import load_workbook
from sqlalchemy import func, select
from temporalio.client import Client

from db.engine import Sessions
from db.models import Asset, AuditEntry, Project
from db.repositories.audit import project_chain
from domain.imports import HEADERS
from tests.cli.test_import_projects import codes_for, project_rows, started_input, xlsx_bytes
from tests.conftest import Login, World

URL = "/api/v1/imports/projects"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_the_template_downloads_and_imports_once_its_row_is_filled(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions, temporal_client: Client
) -> None:
    county = await login(world.users["county"])
    assert (await api.get("/api/v1/imports/templates/projects.xlsx")).status_code == 401
    r = await api.get("/api/v1/imports/templates/projects.xlsx", headers=county)
    assert r.status_code == 200
    assert r.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["项目资产", "说明"]
    sheet = book["项目资产"]
    assert [c.value for c in sheet[1]] == list(HEADERS)
    notes = [row[0] for row in book["说明"].iter_rows(min_row=2, values_only=True)]
    assert set(HEADERS) <= set(notes)

    # fill the example row with this world's codes and send the template back
    (code,) = codes_for(world, 1)
    v0 = world.villages[0]
    filled = {
        "项目编号": code,
        "村代码": v0,
        "项目管理员账号": world.users["pm"].username,
        "所有权（村代码:比例;…）": f"{v0}:100",
        "受益户（户码:股数;…）": f"{world.households[v0][0]}:1",
    }
    for i, header in enumerate(HEADERS, start=1):
        if header in filled:
            sheet.cell(row=2, column=i, value=filled[header])
    out = io.BytesIO()
    book.save(out)
    r = await api.post(URL, files={"file": ("模板.xlsx", out.getvalue(), XLSX)}, headers=county)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["projects"], body["assets"], body["links"], body["contracts"], body["errors"]) == (1, 1, 1, 1, [])
    async with sessions() as s:
        p = await s.get(Project, code)
        assert p is not None
        assert (p.stage, p.final_cost_fen, p.imported_from) == ("operation", 98_000_000, body["sha256"])
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.chain == project_chain(code)))
        assert entry is not None
        assert (entry.actor_name, entry.actor_id) == (world.users["county"].username, world.users["county"].id)
    assert (await started_input(temporal_client, code))["phase"] == "operation"


async def test_an_upload_answers_the_report_and_partial_takes_the_good_projects(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    county = await login(world.users["county"])
    a, b = codes_for(world, 2)
    rows = project_rows(world, a, 竣工日期="2018-01-01") + project_rows(world, b, kind="household")
    data = xlsx_bytes(rows)

    r = await api.post(URL, files={"file": ("p.xlsx", data, XLSX)}, headers=county)
    assert r.status_code == 422
    assert r.json()["code"] == "import_rejected"
    details = r.json()["details"]
    assert {(d["line"], d["column"]) for d in details} == {(2, "竣工日期"), (2, "建设年份")}
    async with sessions() as s:
        assert await s.scalar(select(func.count()).where(Project.code.in_([a, b]))) == 0

    r = await api.post(URL, files={"file": ("p.xlsx", data, XLSX)}, data={"partial": "true"}, headers=county)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["projects_in_file"], body["projects"], body["assets"], body["partial"]) == (
        3,
        2,
        1,
        1,
        True,
    )
    assert {(e["line"], e["column"]) for e in body["errors"]} == {(2, "竣工日期"), (2, "建设年份")}
    async with sessions() as s:
        assert await s.scalar(select(func.count()).where(Asset.project_code == b)) == 1
        assert await s.get(Project, a) is None


async def test_only_county_staff_import(api: httpx.AsyncClient, world: World, login: Login) -> None:
    (a,) = codes_for(world, 1)
    data = xlsx_bytes(project_rows(world, a, kind="household"))
    r = await api.post(URL, files={"file": ("p.xlsx", data, XLSX)}, headers=await login(world.users["township"]))
    assert r.status_code == 403
    r = await api.post(URL, files={"file": ("p.xlsx", data, XLSX)}, headers=await login(world.users["pm"]))
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")


async def test_anonymous_oversized_and_non_spreadsheet_uploads_are_refused(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    county = await login(world.users["county"])
    assert (await api.post(URL, files={"file": ("p.csv", b"x", "text/csv")})).status_code == 401
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    r = await api.post(URL, files={"file": ("p.png", png, "image/png")}, headers=county)
    assert (r.status_code, r.json()["details"][0]["rule"]) == (422, "spreadsheet")
    r = await api.post(URL, files={"file": ("p.csv", png, "text/csv")}, headers=county)
    assert r.status_code == 422
    assert "not UTF-8 text" in r.json()["details"][0]["message"]
    r = await api.post(URL, files={"file": ("p.xlsx", b"PK\x03\x04broken", XLSX)}, headers=county)
    assert r.status_code == 422
    assert "not a readable .xlsx" in r.json()["details"][0]["message"]
    big = b"0" * (10 * 1024 * 1024 + 1)
    r = await api.post(URL, files={"file": ("p.csv", big, "text/csv")}, headers=county)
    assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
    r = await api.post(URL, content=b"not multipart", headers={**county, "content-type": "text/plain"})
    assert r.status_code == 422
