"""HTTP schemas of the reports (周调度, 月通报): ask for a past period's report, list and read them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas import _d, _In
from domain.reports import ReportKind


class ReportCreate(_In):
    """Make a past period's report now (督查人员按需生成): a county's week or a city's month."""

    kind: ReportKind = Field(
        description=_d("类型：weekly 周调度（县）、monthly 月通报（市）", "weekly (county) or monthly (city)")
    )
    region_code: str = Field(
        pattern=r"^[0-9]{6}$",
        description=_d("区划代码：周调度为县，月通报为市", "a county (weekly) or a city (monthly)"),
    )
    period: str = Field(
        pattern=r"^[0-9]{4}-(W[0-9]{2}|[0-9]{2})$",
        description=_d(
            "期间：周为 2026-W48（ISO 周），月为 2026-11；须已结束", "ISO week 2026-W48 or month 2026-11, ended"
        ),
    )


class ReportPublic(BaseModel):
    """A stored report, without its figures."""

    id: str = Field(description=_d("报告编号（由类型、区划、期间生成）", "report id, from kind, region and period"))
    kind: ReportKind = Field(description=_d("类型", "kind"))
    title: str = Field(description=_d("标题", "title"))
    region_code: str = Field(description=_d("区划代码", "region code"))
    region_name: str = Field(description=_d("区划名称", "region name"))
    period: str = Field(description=_d("期间", "period"))
    period_start: date = Field(description=_d("期间首日", "first day of the period"))
    period_last_day: date = Field(description=_d("期间末日", "last day of the period"))
    as_of: datetime = Field(description=_d("数据截至", "figures as of"))
    generated_at: datetime = Field(description=_d("生成时间", "made at"))
    requested_by: int | None = Field(
        description=_d("按需生成人（空：定时生成）", "who asked for it (none: the schedule)")
    )
    xlsx: str = Field(description=_d("Excel 下载地址", "where the .xlsx is"))


class ReportsPublic(BaseModel):
    """A page of reports."""

    items: list[ReportPublic] = Field(description=_d("报告", "reports"))
    count: int = Field(description=_d("总条数", "how many match"))
    limit: int = Field(description=_d("每页条数", "page size"))
    offset: int = Field(description=_d("跳过条数", "rows skipped"))


class ReportDetail(ReportPublic):
    """A report with its figures: totals, by township (and by county and the ranking for a bulletin), and its lists;
    money in fen, rates in basis points (10000 = 100 %)."""

    figures: dict[str, Any] = Field(
        description=_d(
            "报告数据（金额单位：分；比率单位：万分之一）", "the figures (money in fen, rates in basis points)"
        )
    )
