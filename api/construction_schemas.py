"""HTTP schemas of construction, completion and asset registration (bilingual descriptions for the OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from api.edge import MAX_FEN, STORABLE, TEXT_SCHEMA, Text
from api.schemas import Sha256, _d, _In
from domain.assets import AssetClass, OperatorType
from domain.construction import week_start_of
from domain.enums import OperatingModel

Fen = Annotated[int, Field(ge=0, le=MAX_FEN, description=_d("金额（分）", "amount in fen"))]


class ProgressIn(_In):
    """A weekly construction progress report (施工进度周报)."""

    week_start: date = Field(description=_d("报告周（周一日期）", "reporting week, its Monday"))
    percent: int = Field(ge=0, le=100, description=_d("完成百分比（0–100，不低于上次）", "percent complete, 0–100"))
    funds_paid_fen: Fen = Field(description=_d("累计支付资金（分）", "funds paid to date, fen"))
    over_budget_reason: Text = Field(
        "", max_length=2000, description=_d("超出批复预算的原因", "why funds paid exceed the approved budget")
    )
    note: Text = Field("", max_length=4000, description=_d("说明", "note"))
    attachments: list[Sha256] = Field(default_factory=list, max_length=20, description=_d("附件", "attachments"))

    @field_validator("week_start")
    @classmethod
    def _monday(cls, value: date) -> date:
        # The rule of domain.construction, checked here too so it is reported with the range errors, not after.
        if week_start_of(value) != value:
            raise PydanticCustomError("monday", "the reporting week starts on a Monday")
        return value


class ProgressPublic(BaseModel):
    """A stored progress report with the schedule it was measured against."""

    week_start: date = Field(description=_d("报告周", "reporting week"))
    percent: int = Field(description=_d("完成百分比", "percent complete"))
    expected_percent: int = Field(description=_d("计划应完成百分比", "planned percent on the report day"))
    funds_paid_fen: int = Field(description=_d("累计支付（分）", "funds paid to date, fen"))
    colour: str = Field(description=_d("施工档案颜色", "construction archive colour"))
    over_budget_reason: str = Field(description=_d("超预算原因", "over-budget reason"))
    note: str = Field(description=_d("说明", "note"))
    reported_at: datetime = Field(description=_d("报告时间", "reported at"))


class ProgressListPublic(BaseModel):
    """A project's progress reports and the construction colour now."""

    items: list[ProgressPublic]
    colour: str = Field(description=_d("施工档案颜色", "construction archive colour now"))
    percent: int = Field(description=_d("最新完成百分比", "latest percent complete"))


class CompletionIn(_In):
    """The completion report (竣工报告) that opens the county's acceptance."""

    final_cost_fen: int = Field(gt=0, le=MAX_FEN, description=_d("竣工决算（分）", "final cost, fen"))
    over_budget_reason: Text = Field(
        "", max_length=2000, description=_d("决算超出批复预算的原因", "why the final cost exceeds the budget")
    )
    completion_date: date = Field(description=_d("竣工日期", "completion date"))
    documents: list[Sha256] = Field(
        default_factory=list, max_length=50, description=_d("竣工资料（附件）", "completion documents")
    )
    note: Text = Field("", max_length=4000, description=_d("说明", "note"))


class StagePublic(BaseModel):
    """Where the project is now (read back from the database)."""

    code: str = Field(description=_d("项目编号", "project code"))
    stage: str = Field(description=_d("项目阶段", "stage"))
    colour: str = Field("", description=_d("施工档案颜色", "construction archive colour"))


class OwnerIn(_In):
    """One owning village collective and its share in basis points (10000 = 100 %)."""

    village_code: str = Field(pattern=r"^[0-9]{12}$", description=_d("所有权村（村集体）", "owning village"))
    share_bp: int = Field(gt=0, le=10_000, description=_d("份额（万分比）", "share, basis points"))


class OperatorIn(_In):
    """Operating rights (经营权): who runs the asset."""

    name: Text = Field(min_length=2, max_length=200, description=_d("经营主体", "operator"))
    type: OperatorType = Field(description=_d("主体类型", "operator type"))


class ContractIn(_In):
    """The operating contract."""

    mode: OperatingModel = Field(description=_d("经营方式", "contract mode"))
    start: date = Field(description=_d("起始日期", "start"))
    term_years: int = Field(ge=1, le=50, description=_d("期限（年）", "term, years"))
    annual_rent_fen: Fen = Field(description=_d("年租金或保底收益（分）", "annual rent or guaranteed return, fen"))


class IncomeIn(_In):
    """Income rights (收益权): a beneficiary household and its quantified shares (折股量化)."""

    household_code: Text = Field(min_length=1, max_length=32, description=_d("户码", "household code"))
    shares: int = Field(1, ge=1, le=10_000, description=_d("股数", "shares"))


class SupervisionIn(_In):
    """Supervision rights (监督权)."""

    township_unit: Text = Field(min_length=2, max_length=200, description=_d("乡镇监管单位", "township unit"))
    county_unit: Text = Field(min_length=2, max_length=200, description=_d("县级监管单位", "county unit"))
    supervisor: Text = Field(min_length=2, max_length=50, description=_d("监管责任人", "named supervisor"))


class AssetIn(_In):
    """One asset the project produced, with its four rights (四权分置)."""

    name: Text = Field(min_length=2, max_length=200, description=_d("资产名称", "asset name"))
    asset_class: AssetClass = Field(
        description=_d("资产类别：经营性/公益性/到户类", "operating, public welfare, household")
    )
    quantity: str = Field(pattern=r"^[0-9]+(\.[0-9]{1,3})?$", description=_d("数量", "quantity"))
    unit: Text = Field(min_length=1, max_length=16, description=_d("单位", "unit"))
    value_fen: int = Field(gt=0, le=MAX_FEN, description=_d("资产价值（分）", "value, fen"))
    location: Text = Field(min_length=2, max_length=300, description=_d("坐落位置", "location"))
    owners: list[OwnerIn] = Field(default_factory=list, max_length=50, description=_d("所有权", "ownership shares"))
    household_code: Annotated[str, Field(max_length=32), STORABLE, TEXT_SCHEMA] | None = Field(
        None, description=_d("到户类资产所属户", "household (household assets)")
    )
    operator: OperatorIn | None = Field(None, description=_d("经营权：经营主体", "operating rights: operator"))
    contract: ContractIn | None = Field(None, description=_d("经营权：合同", "operating rights: contract"))
    income: list[IncomeIn] = Field(default_factory=list, max_length=5000, description=_d("收益权", "income rights"))
    supervision: SupervisionIn | None = Field(None, description=_d("监督权", "supervision rights"))


class RegistrationIn(_In):
    """The assets a project produced (确权登记)."""

    assets: list[AssetIn] = Field(min_length=1, max_length=200, description=_d("资产清单", "assets"))
