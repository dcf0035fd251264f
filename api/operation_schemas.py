"""HTTP schemas of an asset's operation records (运营管护): contracts, receivables and payments, revenue reports,
inspections, repairs, upkeep and use status. Money is integer fen; descriptions are Chinese / English."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from api.edge import MAX_FEN, Text
from api.schemas import Sha256, _d, _In
from domain.operation import Condition


def _evidence() -> Any:
    return Field(default_factory=list, max_length=20, description=_d("证明材料（附件哈希）", "evidence (attachments)"))


def _note() -> Any:
    return Field("", max_length=2000, description=_d("说明", "note"))


# ---------------------------------------------------------------- contracts


class ContractPublic(BaseModel):
    """One operating contract of an asset with its terms."""

    id: str = Field(description=_d("合同编号", "contract id"))
    kind: str = Field(
        description=_d("类型：初始/续签/变更/更换经营主体/导入", "initial, renewal, change, new_operator")
    )
    status: str = Field(description=_d("状态：拟议/生效/已替代/到期/退回/否决", "proposed, active, superseded, …"))
    operator_name: str = Field(description=_d("经营主体", "operator"))
    operator_type: str = Field(description=_d("主体类型", "operator type"))
    operator_credit_code: str = Field(description=_d("统一社会信用代码", "unified social credit code"))
    mode: str = Field(description=_d("经营方式", "operating mode"))
    start: date = Field(description=_d("起始日期", "start"))
    end: date = Field(description=_d("终止日期", "end"))
    rent_fen: int = Field(description=_d("每期租金或保底收益（分）", "rent or guaranteed return per period, fen"))
    schedule: str = Field(description=_d("缴付周期：年/半年/季/月", "annual, half_yearly, quarterly, monthly"))
    deposit_fen: int = Field(description=_d("保证金（分）", "deposit, fen"))
    escalation_bp: int = Field(description=_d("年递增（万分比）", "yearly escalation, basis points"))
    attachments: list[str] = Field(description=_d("合同附件", "contract attachments"))
    note: str = Field(description=_d("说明", "note"))
    proposed_at: datetime = Field(description=_d("提出时间", "proposed at"))
    decided_at: datetime | None = Field(None, description=_d("批准时间", "decided at"))
    replaces_id: str | None = Field(None, description=_d("替代的合同", "the contract it replaces"))


class ContractsPublic(BaseModel):
    """An asset's contracts, newest first."""

    items: list[ContractPublic] = Field(description=_d("合同", "contracts"))


# ---------------------------------------------------------------- receivables and payments


class PaymentIn(_In):
    """Money received from the operator (实收), recorded by the project manager."""

    amount_fen: int = Field(gt=0, le=MAX_FEN, description=_d("收款金额（分，不超过未收）", "amount received, fen"))
    received_on: date = Field(description=_d("收款日期（不晚于今天）", "received on, not in the future"))
    evidence: list[Sha256] = _evidence()
    note: Text = _note()


class PaymentPublic(BaseModel):
    """One payment received against a receivable."""

    id: int = Field(description=_d("收款编号", "payment id"))
    receivable_id: int = Field(description=_d("应收编号", "receivable id"))
    amount_fen: int = Field(description=_d("金额（分）", "amount, fen"))
    received_on: date = Field(description=_d("收款日期", "received on"))
    evidence: list[str] = Field(description=_d("证明材料", "evidence"))
    note: str = Field(description=_d("说明", "note"))
    recorded_at: datetime = Field(description=_d("登记时间", "recorded at"))


class ReceivablePublic(BaseModel):
    """One period's rent or guaranteed return due (应收), with what was received against it."""

    id: int = Field(description=_d("应收编号", "receivable id"))
    contract_id: str = Field(description=_d("合同编号", "contract id"))
    period_no: int = Field(description=_d("期次", "period number"))
    period_start: date = Field(description=_d("期间起", "period start"))
    period_end: date = Field(description=_d("期间止", "period end"))
    due_date: date = Field(description=_d("应收日期", "due date"))
    amount_fen: int = Field(description=_d("应收金额（分）", "amount due, fen"))
    received_fen: int = Field(description=_d("已收金额（分）", "received, fen"))
    outstanding_fen: int = Field(description=_d("未收金额（分）", "outstanding, fen"))
    status: str = Field(description=_d("状态：未收/部分/已收清", "open, partial, paid"))
    paid_on: date | None = Field(None, description=_d("收清日期", "paid in full on"))
    days_overdue: int = Field(description=_d("逾期天数（未逾期为0）", "days past due while unpaid, else 0"))
    payments: list[PaymentPublic] = Field(description=_d("收款记录", "payments received"))


class ReceivablesPublic(BaseModel):
    """An asset's receivables and their totals."""

    items: list[ReceivablePublic] = Field(description=_d("应收", "receivables"))
    due_fen: int = Field(description=_d("应收合计（分）", "total due, fen"))
    received_fen: int = Field(description=_d("已收合计（分）", "total received, fen"))
    outstanding_fen: int = Field(description=_d("未收合计（分）", "total outstanding, fen"))


class PaymentRecorded(BaseModel):
    """A payment recorded, and its receivable afterwards."""

    payment: PaymentPublic = Field(description=_d("收款记录", "the payment"))
    receivable: ReceivablePublic = Field(description=_d("应收（登记后）", "the receivable now"))


# ---------------------------------------------------------------- revenue reports


class RevenueReportIn(_In):
    """A period's revenue, cost and profit of a self-operated or share-cooperation asset (经营收益报告)."""

    period_start: date = Field(description=_d("期间起", "period start"))
    period_end: date = Field(description=_d("期间止（不早于期间起，不晚于今天）", "period end, not in the future"))
    revenue_fen: int = Field(ge=0, le=MAX_FEN, description=_d("收入（分）", "revenue, fen"))
    cost_fen: int = Field(ge=0, le=MAX_FEN, description=_d("成本（分）", "cost, fen"))
    profit_fen: int | None = Field(
        None, ge=-MAX_FEN, le=MAX_FEN, description=_d("利润（分，须等于收入减成本；可省略）", "revenue − cost")
    )
    evidence: list[Sha256] = _evidence()
    note: Text = _note()


class RevenueReportPublic(BaseModel):
    """A stored revenue report."""

    id: int = Field(description=_d("报告编号", "report id"))
    period_start: date = Field(description=_d("期间起", "period start"))
    period_end: date = Field(description=_d("期间止", "period end"))
    revenue_fen: int = Field(description=_d("收入（分）", "revenue, fen"))
    cost_fen: int = Field(description=_d("成本（分）", "cost, fen"))
    profit_fen: int = Field(description=_d("利润（分）", "profit, fen"))
    evidence: list[str] = Field(description=_d("证明材料", "evidence"))
    note: str = Field(description=_d("说明", "note"))
    reported_at: datetime = Field(description=_d("报告时间", "reported at"))


class RevenueReportsPublic(BaseModel):
    """An asset's revenue reports, latest period first."""

    items: list[RevenueReportPublic] = Field(description=_d("收益报告", "revenue reports"))


# ---------------------------------------------------------------- inspections and repairs


class InspectionIn(_In):
    """An upkeep inspection done (管护巡查)."""

    inspected_on: date = Field(description=_d("巡查日期（不晚于今天）", "inspected on, not in the future"))
    condition: Condition = Field(description=_d("状况：良好/一般/损坏", "good, fair or damaged"))
    photos: list[Sha256] = Field(min_length=1, max_length=20, description=_d("现场照片（至少一张）", "photos"))
    note: Text = _note()


class InspectionPublic(BaseModel):
    """An inspection, due or done."""

    id: int = Field(description=_d("巡查编号", "inspection id"))
    due_date: date = Field(description=_d("应巡查日期", "due date"))
    status: str = Field(description=_d("状态：待巡查/已巡查", "due or done"))
    inspected_on: date | None = Field(None, description=_d("巡查日期", "inspected on"))
    condition: str = Field(description=_d("状况", "condition"))
    photos: list[str] = Field(description=_d("现场照片", "photos"))
    note: str = Field(description=_d("说明", "note"))
    repair_id: int | None = Field(None, description=_d("因损坏开立的维修", "the repair it opened"))


class InspectionsPublic(BaseModel):
    """An asset's inspections, latest due first."""

    items: list[InspectionPublic] = Field(description=_d("巡查记录", "inspections"))
    asset_status: str = Field(description=_d("资产使用状态", "asset use status"))


class RepairIn(_In):
    """A repair opened by hand (damage found outside an inspection)."""

    description: Text = Field(min_length=2, max_length=2000, description=_d("损坏情况与维修内容", "what is broken"))
    opened_on: date = Field(description=_d("开立日期（不晚于今天）", "opened on, not in the future"))


class RepairCloseIn(_In):
    """A repair closed with its cost (维修完成)."""

    cost_fen: int = Field(ge=0, le=MAX_FEN, description=_d("维修费用（分）", "repair cost, fen"))
    closed_on: date = Field(description=_d("完成日期（不早于开立，不晚于今天）", "closed on"))
    evidence: list[Sha256] = _evidence()


class RepairPublic(BaseModel):
    """A repair record."""

    id: int = Field(description=_d("维修编号", "repair id"))
    inspection_id: int | None = Field(None, description=_d("来源巡查", "the inspection that opened it"))
    description: str = Field(description=_d("维修内容", "description"))
    opened_on: date = Field(description=_d("开立日期", "opened on"))
    status: str = Field(description=_d("状态：维修中/已完成", "open or closed"))
    closed_on: date | None = Field(None, description=_d("完成日期", "closed on"))
    cost_fen: int = Field(description=_d("维修费用（分）", "cost, fen"))
    evidence: list[str] = Field(description=_d("证明材料", "evidence"))


class RepairsPublic(BaseModel):
    """An asset's repairs, newest first."""

    items: list[RepairPublic] = Field(description=_d("维修记录", "repairs"))
    asset_status: str = Field(description=_d("资产使用状态", "asset use status"))


# ---------------------------------------------------------------- upkeep and use status


class UpkeepKind(StrEnum):
    """Upkeep costs recorded by hand (a repair's cost is recorded when it is closed)."""

    ROUTINE = "routine"
    OTHER = "other"


class UpkeepCostIn(_In):
    """A routine or other upkeep cost (管护费用)."""

    amount_fen: int = Field(gt=0, le=MAX_FEN, description=_d("金额（分）", "amount, fen"))
    spent_on: date = Field(description=_d("支出日期（不晚于今天）", "spent on, not in the future"))
    kind: UpkeepKind = Field(description=_d("类型：日常/其他", "routine or other"))
    description: Text = Field(min_length=2, max_length=2000, description=_d("内容", "what it paid for"))


class UpkeepCostPublic(BaseModel):
    """An upkeep cost of a fiscal year."""

    id: int = Field(description=_d("费用编号", "cost id"))
    fiscal_year: int = Field(description=_d("年度", "fiscal year"))
    spent_on: date = Field(description=_d("支出日期", "spent on"))
    amount_fen: int = Field(description=_d("金额（分）", "amount, fen"))
    kind: str = Field(description=_d("类型：维修/日常/其他", "repair, routine or other"))
    description: str = Field(description=_d("内容", "description"))
    repair_id: int | None = Field(None, description=_d("对应维修", "the repair it paid for"))


class UpkeepCostsPublic(BaseModel):
    """An asset's upkeep costs and their total."""

    items: list[UpkeepCostPublic] = Field(description=_d("管护费用", "upkeep costs"))
    total_fen: int = Field(description=_d("合计（分）", "total, fen"))


class UpkeepIn(_In):
    """Who keeps the asset up (管护主体、责任人、经费来源)."""

    body: Text = Field(min_length=1, max_length=200, description=_d("管护主体", "upkeep body"))
    person: Text = Field(min_length=1, max_length=100, description=_d("管护责任人", "person responsible"))
    fund_source: Text = Field(min_length=1, max_length=100, description=_d("管护经费来源", "upkeep fund source"))


class UpkeepPublic(BaseModel):
    """The asset's upkeep arrangement."""

    asset_id: str = Field(description=_d("资产编号", "asset id"))
    body: str = Field(description=_d("管护主体", "upkeep body"))
    person: str = Field(description=_d("管护责任人", "person responsible"))
    fund_source: str = Field(description=_d("管护经费来源", "upkeep fund source"))


class UseStatus(StrEnum):
    """The use statuses a manager sets by hand (damaged follows an inspection; disposal is its own process)."""

    IN_USE = "in_use"
    LEASED = "leased"
    IDLE = "idle"
    DAMAGED = "damaged"
    DISPOSED = "disposed"


class StatusIn(_In):
    """A change of the asset's use."""

    status: UseStatus = Field(
        description=_d(
            "使用状态：在用/出租/闲置（损坏由巡查登记，处置另有流程，均不可在此设置）",
            "in_use, leased or idle (damaged follows an inspection; disposal is its own process: both refused)",
        )
    )
    since: date | None = Field(None, description=_d("闲置起始日（默认今天）", "idle since (default today)"))


class StatusPublic(BaseModel):
    """The asset's use now."""

    asset_id: str = Field(description=_d("资产编号", "asset id"))
    status: str = Field(description=_d("使用状态", "use status"))
    idle_since: date | None = Field(None, description=_d("闲置起始日", "idle since"))


# ---------------------------------------------------------------- the operation summary


class WarningPublic(BaseModel):
    """A warning of the operation archive that holds now."""

    kind: str = Field(description=_d("预警类型", "warning kind"))
    level: str = Field(description=_d("级别：蓝/红", "blue or red"))
    message: str = Field(description=_d("内容", "message"))
    raised_at: datetime = Field(description=_d("发出时间", "raised at"))
    deadline: date | None = Field(None, description=_d("整改期限", "deadline"))


class YearPublic(BaseModel):
    """One fiscal year of the asset's operation, in fen."""

    year: int = Field(description=_d("年度", "fiscal year"))
    receivable_fen: int = Field(description=_d("应收（分）", "receivables due, fen"))
    received_fen: int = Field(description=_d("实收（分）", "received, fen"))
    profit_fen: int = Field(description=_d("经营利润（分）", "reported profit, fen"))
    upkeep_fen: int = Field(description=_d("管护费用（分）", "upkeep costs, fen"))
    income_fen: int = Field(description=_d("收益（实收＋利润，分）", "income: received + profit, fen"))
    yield_percent: float | None = Field(
        None, description=_d("资产收益率（%，两位小数）", "income on the asset's value, percent")
    )
    expected_yield_percent: float | None = Field(None, description=_d("申报预计收益率（%）", "the estimate"))
    low_yield: bool = Field(description=_d("收益率远低于预计", "far below the estimate"))


class OperationPublic(BaseModel):
    """An asset's operation: figures per fiscal year, warnings and the operation archive's colour."""

    asset_id: str = Field(description=_d("资产编号", "asset id"))
    value_fen: int = Field(description=_d("资产价值（分）", "value, fen"))
    status: str = Field(description=_d("使用状态", "use status"))
    colour: str = Field(description=_d("运营档案颜色", "operation archive colour"))
    years: list[YearPublic] = Field(description=_d("各年度（新在前）", "fiscal years, latest first"))
    warnings: list[WarningPublic] = Field(description=_d("当前预警", "warnings in force"))
