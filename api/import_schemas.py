"""HTTP schemas of the project import (存量资产纳管)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import _d


class ImportRowError(BaseModel):
    """One problem of one row: its line in the file, the column and the reason."""

    line: int = Field(description=_d("文件行号（表头为第 1 行）", "line in the file; the header is line 1"))
    column: str = Field(description=_d("列名（中文表头）", "column: its Chinese header"))
    reason: str = Field(description=_d("原因", "reason"))


class ProjectImportPublic(BaseModel):
    """What a project import read and wrote: the same report as `assetflow import projects`."""

    sha256: str = Field(description=_d("文件 SHA-256（项目 imported_from）", "the file's SHA-256 (imported_from)"))
    rows: int = Field(description=_d("文件行数（不含表头）", "rows in the file, header excluded"))
    projects_in_file: int = Field(description=_d("文件中的项目数", "projects in the file"))
    projects: int = Field(description=_d("写入（新增或更新）的项目数", "projects created or updated"))
    assets: int = Field(description=_d("写入的资产数", "assets written"))
    ownerships: int = Field(description=_d("写入的所有权份额数", "ownership shares written"))
    links: int = Field(description=_d("写入的受益户关联数（收益权）", "household income links written"))
    contracts: int = Field(description=_d("写入的导入合同数", "imported contracts written"))
    workflows_started: int = Field(
        description=_d("运营阶段已启动或已在运行的项目工作流数", "project workflows running in operation")
    )
    partial: bool = Field(description=_d("是否部分导入", "whether only the good projects were written"))
    errors: list[ImportRowError] = Field(
        description=_d("未导入项目的逐行问题", "the problems of the projects not written (partial import)")
    )
