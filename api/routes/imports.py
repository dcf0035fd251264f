"""Imports of existing projects and their assets (存量资产纳管): the template, and the upload that brings them
straight into operation; the same checks, writes and report as `assetflow import projects`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import CurrentUser, SessionsDep, SettingsDep, TemporalDep
from api.edge import EdgeRoute
from api.errors import ApiError, forbidden, invalid
from api.import_schemas import ImportRowError, ProjectImportPublic
from api.openapi import multipart_file_body
from api.routes.attachments import read_upload
from core.imports import import_projects
from core.spreadsheets import SpreadsheetError, project_template
from domain.enums import RegionLevel, Role
from domain.login_throttle import printable

router = APIRouter(prefix="/imports", tags=["imports"], route_class=EdgeRoute)
IMPORTERS = (Role.COUNTY_REVIEWER, Role.ADMIN)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_BODY = multipart_file_body(
    "项目资产表（.xlsx 或 UTF-8 .csv，中文表头，见模板）；表单字段 partial=true 时只导入无误的项目 / "
    "the projects sheet (.xlsx or UTF-8 .csv with the template's Chinese headers); form field partial=true "
    "writes the good projects only"
)
UPLOAD_BODY["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["partial"] = {
    "type": "boolean",
    "default": False,
    "description": "部分导入 / write the good projects even if others are bad",
}


@router.get(
    "/templates/projects.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "the template"}},
)
async def project_template_xlsx(user: CurrentUser) -> Response:
    """The project import template: Chinese headers, one example row, and every column explained on 说明 (模板)."""
    return Response(
        project_template(),
        media_type=XLSX,
        headers={"Content-Disposition": "attachment; filename=\"projects.xlsx\"; filename*=UTF-8''projects.xlsx"},
    )


@router.post("/projects", response_model=ProjectImportPublic, openapi_extra=UPLOAD_BODY)
async def import_projects_(
    request: Request, user: CurrentUser, sessions: SessionsDep, temporal: TemporalDep, settings: SettingsDep
) -> ProjectImportPublic:
    """Import existing projects and assets straight into operation: all or none, bad rows by line (存量资产纳管)."""
    user.require_role(*IMPORTERS)
    if user.region_level not in (RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY):
        raise forbidden("existing projects are imported by county staff (a county's or a city's)", "role_forbidden")
    upload, data, fields = await read_upload(request, settings.attachments.max_bytes)
    name = printable(upload.filename or "upload", 200)
    if not name.lower().endswith((".csv", ".xlsx")):
        raise invalid([{"field": "file", "rule": "spreadsheet", "message": "upload a .xlsx or a UTF-8 .csv file"}])
    partial = fields.get("partial", "").strip().lower() in ("1", "true", "yes", "on", "是")
    try:
        report = await import_projects(
            sessions,
            temporal.client,
            settings,
            data,
            file_name=name,
            partial=partial,
            actor_id=user.id,
            actor_name=user.username,
            in_scope=user.covers,
        )
    except SpreadsheetError as err:
        raise invalid([{"field": "file", "rule": "spreadsheet", "message": str(err)}]) from err
    errors = [ImportRowError(line=e.line, column=e.column, reason=e.reason) for e in report.errors]
    if report.errors and not partial:
        raise ApiError(
            422,
            "import_rejected",
            f"{len(errors)} problem(s) in {report.refused_projects} of {report.projects_in_file} project(s); "
            "nothing was imported",
            [
                {"field": e.column, "rule": "import_row", "message": str(e), "line": e.line, "column": e.column}
                for e in report.errors
            ],
        )
    c = report.counts
    return ProjectImportPublic(
        sha256=report.sha256,
        rows=report.rows,
        projects_in_file=report.projects_in_file,
        projects=c.projects,
        assets=c.assets,
        ownerships=c.ownerships,
        links=c.income_shares,
        contracts=c.contracts,
        workflows_started=report.workflows_started,
        partial=partial,
        errors=errors,
    )
