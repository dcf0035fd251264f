"""HTTP schemas (pydantic, at the edge only). Descriptions are Chinese / English for the OpenAPI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.edge import INT32_MAX, MAX_FEN, STORABLE, TEXT_SCHEMA, Text
from domain.enums import Decision, FundSource, OperatingModel, ProjectType


def _d(zh: str, en: str) -> str:
    return f"{zh} / {en}"


class _In(BaseModel):
    # NaN and infinity are not numbers any column or rule can hold
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


HouseholdCode = Annotated[
    str, Field(min_length=1, max_length=32, description=_d("户码", "household code")), STORABLE, TEXT_SCHEMA
]
ScoreName = Annotated[
    str, Field(min_length=1, max_length=64, description=_d("评分项", "criterion")), STORABLE, TEXT_SCHEMA
]
Score = Annotated[int, Field(ge=0, le=100, description=_d("得分", "score"))]
VetoItem = Annotated[
    str, Field(min_length=1, max_length=64, description=_d("否决事项", "veto item")), STORABLE, TEXT_SCHEMA
]
RectifyItem = Annotated[
    str, Field(min_length=1, max_length=500, description=_d("整改事项", "item to rectify")), STORABLE, TEXT_SCHEMA
]


class FieldProblem(BaseModel):
    """One problem of a request: the field it is in, the rule it breaks, and a message a person understands."""

    field: str = Field(description=_d("字段（如 budget.sources[0].amount_fen 或查询参数名）", "the field or parameter"))
    rule: str = Field(description=_d("规则（如 storable_text、unknown_parameter）", "the rule it breaks"))
    message: str = Field(description=_d("说明", "what is wrong"))


class ErrorPublic(BaseModel):
    """Every error answer: a machine-readable code, a message for people, and details."""

    code: str = Field(description=_d("错误代码（如 validation_error、region_forbidden）", "machine-readable code"))
    message: str = Field(description=_d("错误说明", "what went wrong"))
    details: list[FieldProblem] | dict[str, Any] | None = Field(
        None,
        description=_d(
            "详情：输入错误逐项列出字段和规则；其他错误为相关对象",
            "details: every invalid field with its rule (422), or the objects concerned",
        ),
    )


class TokenPublic(BaseModel):
    """OAuth2 bearer token."""

    access_token: str = Field(description=_d("访问令牌", "bearer token"))
    token_type: str = Field("bearer", description=_d("令牌类型", "token type"))
    expires_in: int = Field(description=_d("有效秒数", "seconds until expiry"))
    must_change_password: bool = Field(
        False,
        description=_d(
            "须先修改密码（POST /api/v1/me/password），此前其他接口一律 403",
            "change the password first (POST /api/v1/me/password); every other endpoint answers 403 until then",
        ),
    )


class MePublic(BaseModel):
    """The logged-in user."""

    id: int
    username: str = Field(description=_d("登录名", "login name"))
    full_name: str = Field(description=_d("姓名", "full name"))
    role: str = Field(description=_d("角色", "role"))
    region_code: str = Field(description=_d("所属区划代码", "region code"))
    region_level: str = Field(description=_d("区划层级", "region level"))
    region_name: str = Field(description=_d("区划名称", "region name"))


class FundLineIn(_In):
    """One fund source of the budget."""

    source: FundSource = Field(description=_d("资金来源", "fund source"))
    amount_fen: int = Field(gt=0, le=MAX_FEN, description=_d("金额（分）", "amount in fen"))


class BudgetIn(_In):
    """Total budget split by fund source; the parts sum to the total exactly."""

    total_fen: int = Field(gt=0, le=MAX_FEN, description=_d("总投资（分）", "total budget in fen"))
    sources: list[FundLineIn] = Field(min_length=1, max_length=20, description=_d("资金构成", "fund sources"))


class EntityIn(_In):
    """The implementing entity and the person in charge."""

    name: Text = Field(min_length=2, max_length=200, description=_d("实施主体", "implementing entity"))
    person_in_charge: Text = Field(min_length=2, max_length=50, description=_d("负责人", "person in charge"))
    phone: str = Field(pattern=r"^[0-9+\- ]{7,20}$", description=_d("联系电话", "phone"))


class RevenueIn(_In):
    """The revenue estimate."""

    expected_annual_revenue_fen: int = Field(
        ge=0, le=MAX_FEN, description=_d("预计年收益（分）", "annual revenue, fen")
    )
    expected_yield_percent: float = Field(ge=0, le=100, description=_d("预计年收益率（%）", "annual yield, percent"))


class BenefitIn(_In):
    """Benefit linkage (利益联结): who benefits and how income reaches them."""

    household_codes: list[HouseholdCode] = Field(
        max_length=5000, description=_d("受益户户码（一户一码）", "beneficiary household codes")
    )
    people: int = Field(gt=0, le=10**6, description=_d("受益人数", "beneficiary people"))
    mechanism: Text = Field(min_length=2, max_length=2000, description=_d("联农带农机制", "how income reaches them"))


class TargetIn(_In):
    """One performance target (绩效目标)."""

    indicator: Text = Field(min_length=1, max_length=200, description=_d("指标", "indicator"))
    target: Text = Field(min_length=1, max_length=200, description=_d("目标值", "target value"))


class MilestoneIn(_In):
    """A planned percent complete on a date (施工节点); the schedule is linear between milestones."""

    on: date = Field(description=_d("节点日期", "milestone date"))
    percent: int = Field(ge=1, le=99, description=_d("计划完成百分比", "planned percent complete"))


class ProjectCreate(_In):
    """An application (申报) for the project library."""

    name: Text = Field(min_length=2, max_length=200, description=_d("项目名称", "project name"))
    project_type: ProjectType = Field(description=_d("项目类型", "project type"))
    village_code: str = Field(
        pattern=r"^[0-9]{12}$", description=_d("所在村（12位区划代码）", "village code, 12 digits")
    )
    content: Text = Field(min_length=2, max_length=4000, description=_d("建设内容", "construction content"))
    scale: Text = Field(min_length=1, max_length=1000, description=_d("建设规模", "construction scale"))
    budget: BudgetIn = Field(description=_d("投资预算", "budget"))
    implementing_entity: EntityIn = Field(description=_d("实施主体", "implementing entity"))
    planned_start: date = Field(description=_d("计划开工日期", "planned start"))
    planned_end: date = Field(description=_d("计划完工日期", "planned end"))
    operating_model: OperatingModel = Field(description=_d("经营模式", "operating model"))
    revenue: RevenueIn = Field(description=_d("收益测算", "revenue estimate"))
    benefit: BenefitIn = Field(description=_d("利益联结", "benefit linkage"))
    performance_targets: list[TargetIn] = Field(max_length=100, description=_d("绩效目标", "performance targets"))
    milestones: list[MilestoneIn] = Field(
        default_factory=list,
        max_length=50,
        description=_d("施工进度节点（可选）", "construction milestones (optional)"),
    )


class TaskPublic(BaseModel):
    """A human step in an inbox."""

    id: str
    project_code: str = Field(description=_d("项目编号", "project code"))
    project_name: str | None = Field(None, description=_d("项目名称", "project name"))
    kind: str = Field(description=_d("任务类型", "task kind"))
    stage: str = Field(description=_d("所处阶段", "stage"))
    round: int = Field(description=_d("审核轮次", "review round"))
    candidate_role: str = Field(description=_d("办理角色", "role that decides"))
    region_code: str = Field(description=_d("办理区划", "region that decides"))
    allowed_decisions: list[str] = Field(description=_d("可选决定", "allowed decisions"))
    status: str = Field(description=_d("状态", "status"))
    opened_at: datetime = Field(description=_d("创建时间", "opened at"))
    due_at: datetime = Field(description=_d("办理期限", "due at"))
    overdue: bool = Field(description=_d("是否超期", "past due"))
    decided_by: int | None = Field(None, description=_d("决定人", "decided by (user id)"))
    decided_at: datetime | None = Field(None, description=_d("决定时间", "decided at"))
    decision: str | None = Field(None, description=_d("决定", "decision"))
    escalate_at: datetime | None = Field(
        None, description=_d("超期上报时间（两倍期限）", "escalation at twice the limit")
    )
    escalated: bool = Field(False, description=_d("已超期上报", "escalated to the next level"))
    assignee_id: int | None = Field(None, description=_d("指定办理人", "assigned user (id)"))
    claimed_by: int | None = Field(None, description=_d("认领人", "claimed by (user id)"))
    claimed_at: datetime | None = Field(None, description=_d("认领时间", "claimed at"))
    details: dict[str, Any] = Field(
        default_factory=dict,
        description=_d("任务附加信息（前序意见、异议内容、提示）", "task details: earlier opinions, objection, flags"),
    )
    decision_help: dict[str, str] = Field(
        default_factory=dict, description=_d("决定需填写的内容", "what a decision on this task must carry")
    )
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description=_d(
            "决策依据：专家评审任务为申报内容（含受益户数与类别，不含户码等个人信息）；县级审批任务为各专家分项评分"
            "与平均分；确权确认任务为拟确认资产（名称、类别、价值、所有权份额、经营主体与合同、受益户数）；"
            "竣工验收任务为最近一次进度、已付资金与预算、竣工决算。专家组未完成前，评审链以外的人看不到专家姓名",
            "the facts the task is decided on: expert_review → the application (beneficiary count and categories, "
            "never household codes or other personal data); county_approval → each expert's scores by criterion "
            "and the panel average; confirm_registration → the assets (name, class, value, owners and shares, "
            "operator and contract, beneficiary count); acceptance → the last progress report, funds paid against "
            "the budget, the final cost. While a panel is open, no one outside the reviewing chain sees its names",
        ),
    )


class TasksPublic(BaseModel):
    """A page of tasks."""

    items: list[TaskPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description=_d("附件 SHA-256", "attachment sha256"))]


class DecisionIn(_In):
    """A decision on a task; an opinion (审核意见) is required to return, reject, decline, uphold or dismiss."""

    decision: Decision = Field(
        description=_d(
            "决定：通过/退回修改/不予立项/评分/回避/支持异议/驳回异议/完成",
            "approve, return, reject, score, decline, uphold, dismiss or done (as the task allows)",
        )
    )
    opinion: Text = Field("", max_length=4000, description=_d("审核意见", "opinion"))
    scores: dict[ScoreName, Score] = Field(
        default_factory=dict,
        max_length=10,
        description=_d(
            "专家评分：经营模式0–25、收益测算0–25、利益联结0–30、合规与风险0–20",
            "expert scores: operating_model 0–25, revenue_estimate 0–25, benefit_linkage 0–30, compliance_risk 0–20",
        ),
    )
    veto: list[VetoItem] = Field(
        default_factory=list, max_length=10, description=_d("一票否决事项", "one-vote veto items")
    )
    veto_other: Text = Field("", max_length=2000, description=_d("其他否决事由", "the 'other' veto, described"))
    attachments: list[Sha256] = Field(
        default_factory=list, max_length=20, description=_d("附件（先上传取得哈希）", "attachments (upload first)")
    )
    items: list[RectifyItem] = Field(
        default_factory=list, max_length=100, description=_d("整改事项（竣工验收整改）", "items to rectify")
    )


class ReassignIn(_In):
    """Give a task to another eligible user (county supervisor or admin), with a reason."""

    user_id: int = Field(gt=0, le=INT32_MAX, description=_d("转办给（用户编号）", "reassign to (user id)"))
    reason: Text = Field(min_length=1, max_length=2000, description=_d("转办理由", "reason"))


class TaskChangePublic(BaseModel):
    """Who holds a task after a claim, release or reassignment."""

    task_id: str
    assignee_id: int | None = Field(description=_d("指定办理人", "assigned user"))
    claimed_by: int | None = Field(description=_d("认领人", "claimed by"))


class ObjectionIn(_In):
    """An objection (异议) to a project under public notice."""

    text: Text = Field(min_length=2, max_length=4000, description=_d("异议内容", "the objection"))


class ObjectionPublic(BaseModel):
    """A filed objection and the county task that resolves it."""

    objection_id: str = Field(description=_d("异议编号", "objection id"))
    task_id: str = Field(description=_d("处理任务编号", "task that resolves it"))


class DecisionPublic(BaseModel):
    """The stored decision and where the project is now (read back from the database)."""

    task_id: str
    decision: str = Field(description=_d("决定", "decision"))
    stage: str = Field(description=_d("项目当前阶段", "project stage now"))


class RetryPublic(BaseModel):
    """The blocked step an operator asked the project's workflow to try again."""

    project_code: str = Field(description=_d("项目编号", "project code"))
    step: str = Field(description=_d("重试的步骤", "the step retried"))


class ProjectCreated(BaseModel):
    """The new project's code and stage."""

    code: str = Field(description=_d("项目编号", "project code"))
    stage: str = Field(description=_d("项目阶段", "stage"))
    workflow_id: str = Field(description=_d("流程实例编号", "workflow id"))


class ProjectSummary(BaseModel):
    """A project in a list."""

    code: str = Field(description=_d("项目编号", "project code"))
    name: str = Field(description=_d("项目名称", "project name"))
    project_type: str = Field(description=_d("项目类型", "project type"))
    village_code: str = Field(description=_d("村", "village"))
    township_code: str = Field(description=_d("乡镇", "township"))
    county_code: str = Field(description=_d("县", "county"))
    stage: str = Field(description=_d("阶段", "stage"))
    status: str = Field(description=_d("状态", "status"))
    total_budget_fen: int = Field(description=_d("总投资（分）", "total budget, fen"))
    applicant_id: int = Field(description=_d("申报人", "applicant (user id)"))
    created_at: datetime = Field(description=_d("申报时间", "filed at"))
    overdue: bool = Field(False, description=_d("审核超期", "a review is past twice its limit"))
    colour: str = Field(
        "blue",
        description=_d(
            "颜色预警：审核超期为红，否则取四类档案（施工、确权登记、运营、收益分配）中最差的颜色，尚无则为蓝",
            "colour warning: red while a review is overdue, else the worst of its four archives' colours "
            "(construction, registration, operation, distribution), blue before any",
        ),
    )


class ProjectsPublic(BaseModel):
    """A page of projects."""

    items: list[ProjectSummary]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int


class TimelineEntry(BaseModel):
    """One audited event of a project."""

    seq: int = Field(description=_d("序号", "sequence"))
    at: datetime = Field(description=_d("时间", "time"))
    actor: str = Field(description=_d("操作人", "actor"))
    action: str = Field(description=_d("事项", "action"))
    payload: dict[str, Any] = Field(description=_d("内容", "details"))
    hash: str = Field(description=_d("链式哈希", "chain hash"))


class ProjectDetail(ProjectSummary):
    """A project with its application, open tasks and timeline."""

    application: dict[str, Any] = Field(
        description=_d(
            "申报内容；在席评审专家看到的是摘要：受益户数与类别，不含户码、姓名、身份证号、账号",
            "the application; a seated expert reads it without the beneficiaries' personal data "
            "(benefit.households and benefit.categories instead of household codes) and with `attachments`",
        )
    )
    open_tasks: list[TaskPublic] = Field(description=_d("待办任务", "open tasks"))
    timeline: list[TimelineEntry] = Field(description=_d("时间线", "timeline"))
    revision_round: int = Field(1, description=_d("申报轮次", "application round"))
    construction_colour: str = Field(
        "", description=_d("施工档案颜色（绿、黄、红；未开工为空）", "construction archive colour (green, yellow, red)")
    )
    registration_colour: str = Field(
        "",
        description=_d(
            "确权登记档案颜色：绿 已全部登记、蓝 登记中或待发卡、红 超期/平台退回/缺卡；未到登记为空",
            "registration archive: green all carded, blue registering or awaiting cards, red overdue, refused or "
            "a card missing too long; empty before registration",
        ),
    )
    operation_colour: str = Field("", description=_d("运营档案颜色", "operation archive colour"))
    distribution_colour: str = Field(
        "",
        description=_d(
            "收益分配档案颜色：绿 已分配完毕、蓝 分配进行中或待分配、红 发放失败久未更正或年度未分配；尚无为空",
            "income-distribution archive: green every round closed, blue a round under way or due, red a failed "
            "payment uncorrected too long or a year's rule never paid out; empty before any",
        ),
    )
    overdue_problem_archives: list[str] = Field(
        default_factory=list,
        description=_d(
            "有超期未销号问题的档案（显示为红色）", "archives with an open problem past its deadline (shown red)"
        ),
    )
    progress_percent: int = Field(0, description=_d("施工完成百分比", "percent complete"))
    funds_paid_fen: int = Field(0, description=_d("累计支付资金（分）", "funds paid to date, fen"))
    final_cost_fen: int | None = Field(None, description=_d("竣工决算（分）", "accepted final cost, fen"))
    waiting_for: str = Field(
        "",
        description=_d(
            "等待事项；以 operator: 开头表示某步骤失败，需管理员排除原因后重试",
            "what the project waits for; `operator: …` names a failed step an operator retries (POST …/retry)",
        ),
    )
    draws: list[dict[str, Any]] = Field(
        default_factory=list,
        description=_d(
            "专家抽取记录；专家组完成评审前，评审链（本辖区县、市审核人，监督员，管理员）以外的人只看到抽取键、"
            "候选人数、排除人数、抽中人数（chosen_count）和是否扩大范围，chosen 为空",
            "expert draws; until the panel completes, readers outside the reviewing chain (county and city "
            "reviewers, supervisors and admins of the project's region) see the draw key, pool_size, excluded, "
            "chosen_count and widened, with `chosen` empty and no pool or exclusions",
        ),
    )
    notices: list[dict[str, Any]] = Field(default_factory=list, description=_d("公示", "public notices"))
    objections: list[dict[str, Any]] = Field(default_factory=list, description=_d("异议", "objections"))
    revisions: list[dict[str, Any]] = Field(
        default_factory=list, description=_d("修改记录（含差异）", "revisions with their diffs")
    )


class HistoryPublic(BaseModel):
    """A project's audit history and whether its chain verifies."""

    items: list[TimelineEntry]
    count: int = Field(description=_d("记录总数", "entries in the whole history"))
    limit: int = Field(description=_d("每页条数", "page size"))
    offset: int = Field(description=_d("起始位置", "offset of this page"))
    verified: bool = Field(description=_d("哈希链校验通过", "hash chain verifies"))
    problems: list[str] = Field(description=_d("校验问题", "verification problems"))


TownshipCode = Annotated[
    str, Field(pattern=r"^[0-9]{9}$", description=_d("乡镇代码（9位）", "township code, 9 digits"))
]
Username = Annotated[str, Field(min_length=1, max_length=64), STORABLE, TEXT_SCHEMA]
ExpertName = Annotated[str, Field(min_length=1, max_length=100), STORABLE, TEXT_SCHEMA]
Affiliation = Annotated[str, Field(max_length=200), STORABLE, TEXT_SCHEMA]
OrganisationName = Annotated[
    str, Field(min_length=1, max_length=200, description=_d("单位名称", "organisation")), STORABLE, TEXT_SCHEMA
]


class ExpertCreate(_In):
    """A new member of the expert library (专家库)."""

    name: Text = Field(min_length=1, max_length=100, description=_d("姓名", "name"))
    specialties: list[ProjectType] = Field(
        min_length=1, max_length=20, description=_d("擅长的项目类型", "project types the expert appraises")
    )
    region_code: str = Field(
        pattern=r"^[0-9]{6}([0-9]{3}){0,2}$", description=_d("所属区划代码", "region the expert belongs to")
    )
    affiliation: Text = Field("", max_length=200, description=_d("工作单位", "affiliation"))
    conflict_townships: list[TownshipCode] = Field(
        default_factory=list, max_length=200, description=_d("回避乡镇", "townships the expert must not appraise")
    )
    conflict_organisations: list[OrganisationName] = Field(
        default_factory=list,
        max_length=100,
        description=_d("回避单位（实施主体）", "implementing entities the expert must not appraise"),
    )
    active: bool = Field(True, description=_d("是否在库可抽取", "may be drawn"))
    username: Username | None = Field(None, description=_d("登录账号（角色须为专家）", "login account, role expert"))


class ExpertUpdate(_In):
    """A partial change of an expert; only the fields sent change (`username: null` unlinks the account)."""

    name: ExpertName | None = Field(None, description=_d("姓名", "name"))
    specialties: list[ProjectType] | None = Field(
        None, min_length=1, max_length=20, description=_d("擅长的项目类型", "project types the expert appraises")
    )
    region_code: str | None = Field(
        None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$", description=_d("所属区划代码", "region the expert belongs to")
    )
    affiliation: Affiliation | None = Field(None, description=_d("工作单位", "affiliation"))
    conflict_townships: list[TownshipCode] | None = Field(
        None, max_length=200, description=_d("回避乡镇", "townships the expert must not appraise")
    )
    conflict_organisations: list[OrganisationName] | None = Field(
        None,
        max_length=100,
        description=_d("回避单位（实施主体）", "implementing entities the expert must not appraise"),
    )
    active: bool | None = Field(None, description=_d("是否在库可抽取", "may be drawn"))
    username: Username | None = Field(None, description=_d("登录账号（角色须为专家）", "login account, role expert"))

    @field_validator(
        "name", "specialties", "region_code", "affiliation", "conflict_townships", "conflict_organisations", "active"
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class ExpertPublic(BaseModel):
    """A member of the expert library."""

    id: int
    name: str = Field(description=_d("姓名", "name"))
    specialties: list[str] = Field(description=_d("擅长的项目类型", "project types"))
    region_code: str = Field(description=_d("所属区划代码", "region code"))
    affiliation: str = Field(description=_d("工作单位", "affiliation"))
    conflict_townships: list[str] = Field(description=_d("回避乡镇", "conflict townships"))
    conflict_organisations: list[str] = Field(description=_d("回避单位", "conflict organisations"))
    active: bool = Field(description=_d("是否在库可抽取", "may be drawn"))
    user_id: int | None = Field(None, description=_d("登录账号编号", "login account (user id)"))
    username: str | None = Field(None, description=_d("登录账号", "login account"))


class ExpertsPublic(BaseModel):
    """A page of experts."""

    items: list[ExpertPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int


class AttachmentPublic(BaseModel):
    """A stored attachment (附件), named by the SHA-256 of its content."""

    sha256: str = Field(description=_d("内容的 SHA-256", "SHA-256 of the content"))
    size: int = Field(description=_d("字节数", "size in bytes"))
    content_type: str = Field(description=_d("文件类型", "content type"))
    filename: str = Field(description=_d("文件名", "file name"))


class AttachmentMeta(AttachmentPublic):
    """An attachment with who uploaded it and when."""

    uploaded_by: int = Field(description=_d("上传人", "uploaded by (user id)"))
    uploaded_at: datetime = Field(description=_d("上传时间", "uploaded at"))


class NotificationPublic(BaseModel):
    """An in-app notification (站内通知)."""

    id: int
    kind: str = Field(description=_d("类型", "kind"))
    title: str = Field(description=_d("标题", "title"))
    body: str = Field(description=_d("内容", "body"))
    project_code: str | None = Field(None, description=_d("项目编号", "project code"))
    task_id: str | None = Field(None, description=_d("任务编号", "task id"))
    created_at: datetime = Field(description=_d("时间", "created at"))
    read_at: datetime | None = Field(None, description=_d("阅读时间", "read at"))
    resolved_at: datetime | None = Field(
        None, description=_d("所涉任务已办结的时间（不再计入未读）", "when its task closed (no longer unread)")
    )


class NotificationsPublic(BaseModel):
    """My notifications, newest first."""

    items: list[NotificationPublic]
    count: int = Field(description=_d("本页条数", "items on this page"))
    unread: int = Field(description=_d("未读总数", "unread in total"))


class AssetSummary(BaseModel):
    """An asset in the register (资产台账)."""

    id: str = Field(description=_d("资产编号", "asset id"))
    name: str = Field(description=_d("资产名称", "asset name"))
    asset_class: str = Field(
        description=_d("资产类别：经营性/公益性/到户类", "class: operating, public_welfare, household")
    )
    value_fen: int = Field(description=_d("资产价值（分）", "value, fen"))
    village_code: str = Field(description=_d("所在村", "village"))
    township_code: str = Field(description=_d("乡镇", "township"))
    county_code: str = Field(description=_d("县", "county"))
    status: str = Field(description=_d("使用状态", "use status: in_use, leased, idle, damaged, disposed"))
    operation_colour: str = Field("", description=_d("运营档案颜色", "operation archive colour (green, blue, red)"))
    operator_name: str = Field(description=_d("经营主体", "operator"))
    contract_end: date | None = Field(None, description=_d("合同到期日", "contract ends"))
    household_code: str | None = Field(
        None, description=_d("所属农户户码（到户类）", "owning household (household class)")
    )
    project_code: str = Field(description=_d("项目编号", "project code"))
    platform_card_no: str | None = Field(None, description=_d("三资平台卡号", "three-assets platform card number"))
    registration_status: str = Field(
        description=_d("平台登记状态", "platform registration: draft, waiting_for_platform, registered")
    )


class AssetsPublic(BaseModel):
    """A page of assets."""

    items: list[AssetSummary]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int


class OwnerSharePublic(BaseModel):
    """One village collective's ownership share."""

    village_code: str = Field(description=_d("村集体（村代码）", "owning village collective (code)"))
    village_name: str = Field(description=_d("村名称", "village name"))
    share_bp: int = Field(description=_d("份额（基点，10000=100%）", "share in basis points, 10000 = 100 %"))
    share_percent: str = Field(description=_d("份额（百分比）", "share as a percentage, e.g. 60.00%"))


class HouseholdRef(BaseModel):
    """A household by code and head's name (ID numbers and bank accounts are never shown here)."""

    household_code: str = Field(description=_d("户码", "household code"))
    head_name: str = Field(description=_d("户主姓名", "head of household"))


class OwnershipRight(BaseModel):
    """Ownership rights (所有权): the village collectives by share, or the household of a household asset."""

    owners: list[OwnerSharePublic] = Field(description=_d("所有权人及份额", "owners and their shares"))
    household: HouseholdRef | None = Field(None, description=_d("所属农户（到户类）", "owning household"))


class OperatingRight(BaseModel):
    """Operating rights (经营权): the operator and the contract."""

    operator_name: str = Field(description=_d("经营主体", "operator"))
    operator_type: str = Field(description=_d("经营主体类型", "operator type"))
    contract_mode: str = Field(description=_d("经营方式（租赁/委托经营/股份合作/发包/自营）", "contract mode"))
    contract_start: date | None = Field(None, description=_d("合同起始日", "contract starts"))
    contract_end: date | None = Field(None, description=_d("合同到期日", "contract ends"))
    contract_term_years: int | None = Field(None, description=_d("合同期限（年）", "contract term, years"))
    annual_rent_fen: int | None = Field(None, description=_d("年租金（分）", "annual rent, fen"))


class IncomeSharePublic(HouseholdRef):
    """A beneficiary household and its quantified shares (折股量化)."""

    shares: int = Field(description=_d("量化股份数", "quantified shares"))


class IncomeRight(BaseModel):
    """Income rights (收益权): the beneficiary households with their shares."""

    households: list[IncomeSharePublic] = Field(description=_d("受益农户", "beneficiary households"))
    total_shares: int = Field(description=_d("股份总数", "shares in all"))


class AssetProjectRef(BaseModel):
    """The project an asset came from."""

    code: str = Field(description=_d("项目编号", "project code"))
    name: str = Field(description=_d("项目名称", "project name"))
    stage: str = Field(description=_d("项目阶段", "project stage"))


class AssetDetail(AssetSummary):
    """An asset with its four rights (四权分置), platform card and project."""

    quantity: str = Field(description=_d("数量", "quantity"))
    unit: str = Field(description=_d("单位", "unit"))
    location: str = Field(description=_d("坐落位置", "location"))
    ownership: OwnershipRight = Field(description=_d("所有权", "ownership rights"))
    operating: OperatingRight = Field(description=_d("经营权", "operating rights"))
    income: IncomeRight = Field(description=_d("收益权", "income rights"))
    supervision: dict[str, Any] = Field(description=_d("监督权", "supervision rights"))
    platform_registered_at: datetime | None = Field(
        None, description=_d("平台登记时间", "registered on the platform at")
    )
    project: AssetProjectRef = Field(description=_d("所属项目", "project"))
    history: list[TimelineEntry] = Field(
        default_factory=list, description=_d("项目全过程记录", "the project's history (audit timeline)")
    )
    created_at: datetime = Field(description=_d("建档时间", "recorded at"))
