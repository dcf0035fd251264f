"""HTTP schemas of the problem ledger (问题台账): register, change, submit for close-out, verify, and read."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from api.edge import INT32_MAX, Text
from api.schemas import Sha256, TimelineEntry, _d, _In
from domain.archives import Archive
from domain.problems import ReportedSource

UserId = Field(None, ge=1, le=INT32_MAX, description=_d("责任人（用户编号）", "the responsible person, a user id"))


class ProblemCreate(_In):
    """A problem a person registers (登记问题): on a project, an asset, or a region only."""

    project_code: Text | None = Field(None, min_length=1, max_length=32, description=_d("项目编号", "project code"))
    asset_id: Text | None = Field(
        None, min_length=1, max_length=64, description=_d("资产编号（须属该项目）", "asset id, of the project if given")
    )
    region_code: str | None = Field(
        None,
        pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$",
        description=_d(
            "区划代码（县、乡镇或村）；未指定项目和资产时必填",
            "county, township or village code; without project or asset",
        ),
    )
    source: ReportedSource = Field(
        description=_d(
            "来源：inspection 检查、audit 审计、supervision 督查、report 举报（rule 为系统规则保留）",
            "source: inspection, audit, supervision, report (`rule` is reserved for rule-raised problems)",
        )
    )
    description: Text = Field(min_length=1, max_length=2000, description=_d("问题描述", "what is wrong"))
    responsible_unit: Text = Field("", max_length=200, description=_d("责任单位", "responsible unit"))
    responsible_person: Text = Field("", max_length=100, description=_d("责任人姓名", "responsible person's name"))
    responsible_user_id: int | None = UserId
    deadline: date | None = Field(None, description=_d("整改时限（不早于今天）", "rectify by (today or later)"))
    measures: Text = Field("", max_length=2000, description=_d("整改措施", "rectification measures"))
    attachments: list[Sha256] = Field(
        default_factory=list, max_length=20, description=_d("附件（本人上传）", "attachments you uploaded")
    )
    archive: Archive | None = Field(
        None,
        description=_d(
            "所涉档案：construction 施工、registration 确权登记、operation 运营、distribution 收益分配；"
            "默认按项目所处阶段；超期未销号时该档案显示红色",
            "the archive it concerns (default: by the project's stage); overdue, it turns that archive red",
        ),
    )


class ProblemUpdate(_In):
    """Change a problem's measures, deadline or who is responsible (登记层级及以上)."""

    measures: Text | None = Field(None, max_length=2000, description=_d("整改措施", "rectification measures"))
    deadline: date | None = Field(None, description=_d("整改时限（不早于今天）", "rectify by (today or later)"))
    responsible_unit: Text | None = Field(None, max_length=200, description=_d("责任单位", "responsible unit"))
    responsible_person: Text | None = Field(None, max_length=100, description=_d("责任人姓名", "responsible person"))
    responsible_user_id: int | None = UserId


class ProblemNote(_In):
    """A note on a step (开始整改)."""

    note: Text = Field("", max_length=2000, description=_d("说明", "note"))


class ProblemSubmit(_In):
    """A rectification submitted for close-out (提交销号), with its evidence."""

    note: Text = Field(min_length=1, max_length=2000, description=_d("整改情况说明", "what was done"))
    attachments: list[Sha256] = Field(
        default_factory=list,
        max_length=20,
        description=_d("销号佐证材料（本人上传，至少一件）", "evidence: at least one attachment you uploaded"),
    )


class ProblemVerdict(_In):
    """A verifier's close-out (销号) opinion."""

    opinion: Text = Field("", max_length=2000, description=_d("核查意见", "verification opinion"))


class ProblemReason(_In):
    """Why a submission goes back or a closed problem reopens."""

    reason: Text = Field(min_length=1, max_length=2000, description=_d("理由", "reason"))


class ProblemAttachment(BaseModel):
    """An attachment of a problem."""

    sha256: str = Field(description=_d("附件 SHA-256", "attachment SHA-256"))
    uploaded_by: int = Field(description=_d("上传人", "uploaded by (user id)"))
    purpose: str = Field(description=_d("用途：registration 登记、evidence 销号佐证", "registration or evidence"))
    at: datetime = Field(description=_d("添加时间", "added at"))


class ProblemPublic(BaseModel):
    """A problem of the ledger."""

    id: int = Field(description=_d("问题编号", "problem id"))
    key: str | None = Field(None, description=_d("规则问题的业务键", "business key of a rule-raised problem"))
    rule: str | None = Field(
        None,
        description=_d(
            "触发规则：arrears 欠租、idle 闲置超期、inspection 巡查超期、construction_red 施工持续红色、"
            "dividend_failure 分红发放失败未更正",
            "the rule that raised it: arrears, idle, inspection, construction_red, dividend_failure",
        ),
    )
    project_code: str | None = Field(None, description=_d("项目编号", "project code"))
    asset_id: str | None = Field(None, description=_d("资产编号", "asset id"))
    region_code: str = Field(description=_d("所在区划", "the problem's region"))
    county_code: str = Field(description=_d("县", "county"))
    township_code: str = Field(description=_d("乡镇（区县级问题为空）", "township, empty for a county problem"))
    source: str = Field(description=_d("来源", "source"))
    description: str = Field(description=_d("问题描述", "what is wrong"))
    responsible_unit: str = Field(description=_d("责任单位", "responsible unit"))
    responsible_person: str = Field(description=_d("责任人姓名", "responsible person's name"))
    responsible_user_id: int | None = Field(None, description=_d("责任人（用户编号）", "responsible user id"))
    deadline: date | None = Field(None, description=_d("整改时限", "rectify by"))
    overdue: bool = Field(
        description=_d("已超期未销号（北京时间）", "past its deadline and not closed (Asia/Shanghai)")
    )
    measures: str = Field(description=_d("整改措施", "measures"))
    status: str = Field(
        description=_d(
            "状态：registered 已登记、rectifying 整改中、submitted 待销号、closed 已销号、reopened 已重开",
            "registered, rectifying, submitted (for close-out), closed, reopened",
        )
    )
    opened_at: datetime = Field(description=_d("登记时间", "registered at"))
    raised_by: int | None = Field(None, description=_d("登记人（规则触发为空）", "registered by; null: a rule"))
    submitted_by: int | None = Field(None, description=_d("提交人", "submitted by"))
    submitted_at: datetime | None = Field(None, description=_d("提交时间", "submitted at"))
    evidence: list[str] = Field(description=_d("当前提交的佐证材料", "the current submission's evidence"))
    attachments: list[ProblemAttachment] = Field(description=_d("全部附件", "every attachment"))
    verifier_id: int | None = Field(None, description=_d("核查人", "verifier (last close or send-back)"))
    closed_by: int | None = Field(None, description=_d("销号人", "closed by"))
    closed_at: datetime | None = Field(None, description=_d("销号时间", "closed at"))
    reopened_count: int = Field(description=_d("重开次数", "times reopened"))
    archive: str | None = Field(None, description=_d("所涉档案", "the archive it concerns"))
    reminded_at: datetime | None = Field(
        None, description=_d("超期催办时间（本次整改时限）", "reminded past its current deadline at")
    )
    escalated: bool = Field(
        False,
        description=_d("超期已上报上一级（本次整改时限）", "escalated to the next level past its current deadline"),
    )
    escalated_at: datetime | None = Field(None, description=_d("上报时间", "escalated at"))
    escalated_to: str | None = Field(None, description=_d("上报至区划", "escalated to (region code)"))


class ProblemDetail(ProblemPublic):
    """A problem with its audit history."""

    history: list[TimelineEntry] = Field(description=_d("变更记录", "every change, audited"))


class ProblemsPublic(BaseModel):
    """A page of problems."""

    items: list[ProblemPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int
