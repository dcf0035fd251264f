"""The project import (存量资产纳管), one place for the CLI (`assetflow import projects`) and the API
(`POST /api/v1/imports/projects`): read the file, check every row, write the good projects in one transaction
(nothing at all when a row is bad, unless `partial`), then start each project's workflow directly in operation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from temporalio.client import Client

from core.settings import Settings
from core.spreadsheets import SpreadsheetError, read_project_rows
from core.temporal import project_start, start_project_workflows
from db.engine import Sessions
from db.repositories.imports import ImportCounts, get_import_lookups, write_imported_projects
from domain.enums import Phase
from domain.households import RowError
from domain.imports import MAX_ROWS, check_project_rows, group_rows


@dataclass
class ProjectImportReport:
    """What a project import read, wrote and refused (nothing written when `errors` and not `partial`)."""

    sha256: str
    rows: int
    projects_in_file: int
    partial: bool
    counts: ImportCounts = field(default_factory=ImportCounts)
    workflows_started: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def written(self) -> bool:
        """Whether anything was written."""
        return self.counts.projects > 0

    @property
    def refused_projects(self) -> int:
        """Projects of the file that were not written."""
        return self.projects_in_file - self.counts.projects


async def import_projects(
    sessions: Sessions,
    client: Client,
    settings: Settings,
    data: bytes,
    *,
    file_name: str,
    partial: bool = False,
    actor_id: int | None = None,
    actor_name: str = "cli",
    in_scope: Callable[[str], bool] | None = None,
    tick: Callable[[int], None] = lambda _: None,
    phase: Callable[[str, int], None] = lambda _, __: None,
) -> ProjectImportReport:
    """Import a .csv or .xlsx of projects and their assets; `phase` is told ("check", rows), ("write", projects)
    and ("start", projects), `tick` counts within the phase. Raises SpreadsheetError when the file as a whole is
    unreadable. A workflow start that fails leaves the projects written: the same file again starts them."""
    sha256 = hashlib.sha256(data).hexdigest()
    rows = read_project_rows(data, max_rows=MAX_ROWS)
    if not rows:
        raise SpreadsheetError("the file has a header but no rows")
    report = ProjectImportReport(sha256=sha256, rows=len(rows), projects_in_file=len(group_rows(rows)), partial=partial)
    today = datetime.now(ZoneInfo(settings.time_zone)).date()
    async with sessions.begin() as session:
        phase("check", len(rows))
        lookups = await get_import_lookups(session, rows, in_scope=in_scope)
        projects, report.errors = check_project_rows(rows, lookups, today=today, tick=tick)
        if report.errors and not partial:
            return report
        phase("write", len(projects))
        report.counts = await write_imported_projects(
            session, projects, sha256=sha256, file_name=file_name, actor_id=actor_id, actor_name=actor_name
        )
        tick(len(projects))
    # after the commit: a workflow never runs ahead of the rows it reads
    phase("start", len(projects))
    starts = [
        project_start(
            settings,
            code=p.code,
            applicant_id=p.manager_id,
            project_type=p.project_type,
            village_code=p.village_code,
            implementing_entity=p.implementing_entity,
        )
        for p in projects
    ]
    report.workflows_started = await start_project_workflows(
        client, settings, starts, phase=Phase.OPERATION, done=lambda: tick(1)
    )
    return report
