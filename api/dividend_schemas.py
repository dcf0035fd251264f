"""HTTP schemas of dividend rounds (收益分配轮次); money in fen, accounts masked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.edge import STORABLE, TEXT_SCHEMA, Text
from api.schemas import _d, _In

Account = Annotated[str, Field(pattern=r"^[0-9]{12,30}$", description=_d("卡号（12–30 位数字）", "card number"))]


class RoundIn(_In):
    """Open a round: one asset, the assets of a village, or all assets of a county, for a fiscal year."""

    scope_kind: Literal["asset", "village", "county"] = Field(description=_d("范围类型", "asset, village or county"))
    scope_code: Annotated[str, Field(min_length=1, max_length=64), STORABLE, TEXT_SCHEMA] = Field(
        description=_d("资产编号或区划代码", "the asset id, or the village's or county's code")
    )
    fiscal_year: int = Field(ge=2013, le=2100, description=_d("分配年度", "fiscal year whose income is distributed"))


class RoundPublic(BaseModel):
    """A round as the read model holds it."""

    id: str = Field(description=_d("轮次编号", "round id"))
    scope_kind: str = Field(description=_d("范围类型", "scope kind"))
    scope_code: str = Field(description=_d("范围", "scope"))
    fiscal_year: int = Field(description=_d("年度", "fiscal year"))
    status: str = Field(description=_d("状态", "status"))
    waiting_for: str = Field(description=_d("等待事项", "what the round waits for"))
    plan_version: int = Field(description=_d("方案版本", "plan version"))
    pool_fen: int = Field(description=_d("收益池（分）", "pools, fen"))
    households_fen: int = Field(description=_d("农户分红合计（分）", "household dividends, fen"))
    lines: int = Field(description=_d("户数", "households"))
    paid_fen: int = Field(description=_d("已发放（分）", "paid, fen"))
    failed_fen: int = Field(description=_d("发放失败（分）", "failed, fen"))
    notice_ends_at: datetime | None = Field(None, description=_d("公示截止", "notice ends"))
    opened_by: int = Field(description=_d("发起人", "opened by"))
    confirmed_by: int | None = Field(None, description=_d("复核确认人", "confirmed by"))
    period_start: date = Field(description=_d("期间起", "period start"))
    period_end: date = Field(description=_d("期间止", "period end"))


class PoolPublic(BaseModel):
    """One asset's pool in the plan, with the rule version it pins."""

    asset_id: str
    rule_id: str = Field(description=_d("所用分配方案版本", "the pinned rule version"))
    income_fen: int
    upkeep_fen: int
    pool_fen: int
    final: dict[str, int] = Field(description=_d("各部分金额（分）", "bucket → fen"))
    households_fen: int
    members: list[str] = Field(
        default_factory=list, description=_d("资产组的其他资产（合并为一个收益池）", "a group's other assets, pooled")
    )


class ObjectionPublic(BaseModel):
    id: str
    plan_version: int
    text: str
    status: str
    resolution: str
    filed_at: datetime


class RoundDetail(RoundPublic):
    """A round with its pools and objections."""

    pools: list[PoolPublic]
    objections: list[ObjectionPublic]


class RoundsPublic(BaseModel):
    items: list[RoundPublic]
    count: int


class LinePublic(BaseModel):
    """A household's dividend in the current plan, explained per asset."""

    household_code: str
    village_code: str
    head_name: str = Field(description=_d("户主", "head of household"))
    amount_fen: int
    parts: list[dict[str, Any]] = Field(description=_d("各资产部分及计算说明", "per asset: amount and why"))


class LinesPublic(BaseModel):
    items: list[LinePublic]
    count: int
    total_fen: int = Field(description=_d("本页之外合计（分）", "sum over all matching lines, fen"))


class PaymentPublic(BaseModel):
    """A payment attempt (the account masked)."""

    reference: str
    household_code: str
    attempt: int
    amount_fen: int
    account: str = Field(description=_d("卡号（脱敏）", "card number, masked"))
    status: str
    reason: str
    replaces: str | None


class PaymentsPublic(BaseModel):
    items: list[PaymentPublic]
    count: int


class ObjectionIn(_In):
    text: Text = Field(min_length=2, max_length=2000, description=_d("异议内容", "the objection"))


class ResolveIn(_In):
    decision: Literal["uphold", "dismiss"] = Field(description=_d("成立/不成立", "uphold or dismiss"))
    opinion: Text = Field(min_length=2, max_length=2000, description=_d("处理意见", "opinion"))


class CorrectionIn(_In):
    """A failed payment's corrected account (the maker); a second finance user checks it."""

    failed_reference: Annotated[str, Field(min_length=3, max_length=200), STORABLE, TEXT_SCHEMA]
    account: Account
    bank: Text = Field(min_length=2, max_length=100, description=_d("开户行", "bank"))


class CheckIn(_In):
    approve: bool = Field(description=_d("核对通过", "the corrected account is right"))
    opinion: Text = Field("", max_length=2000, description=_d("意见", "opinion"))


class ActPublic(BaseModel):
    round_id: str
    result: str = Field(description=_d("结果", "result"))
    id: str = Field("", description=_d("编号", "id of what was made"))


class HouseholdDividend(BaseModel):
    """A dividend a household received (or is to receive), by round."""

    round_id: str
    fiscal_year: int
    amount_fen: int
    paid_fen: int
    status: str


class HouseholdDividends(BaseModel):
    household_code: str
    items: list[HouseholdDividend]


class RecoveryIn(_In):
    """Money paid wrongly, to be recovered (追回): the paid attempt, how much, why."""

    reference: Annotated[str, Field(min_length=3, max_length=200), STORABLE, TEXT_SCHEMA] = Field(
        description=_d("已发放记录编号", "the paid attempt's reference")
    )
    amount_fen: int = Field(ge=1, le=10**12, description=_d("追回金额（分）", "amount to recover, fen"))
    reason: Text = Field(min_length=2, max_length=2000, description=_d("追回原因", "why it was paid wrongly"))


class RecoveryPublic(BaseModel):
    id: int
    reference: str
    household_code: str
    amount_fen: int
    reason: str
    status: str = Field(description=_d("状态：待核对/已追回/驳回", "proposed, recovered, rejected"))
    made_by: int
    checked_by: int | None


class RecoveriesPublic(BaseModel):
    items: list[RecoveryPublic]
