"""HTTP schemas of distribution rules (收益分配方案): buckets in basis points, coefficients in bp of 1.0."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.construction_schemas import Fen
from api.edge import STORABLE, TEXT_SCHEMA, Text
from api.schemas import HouseholdCode, Sha256, _d, _In
from domain.enums import HouseholdCategory

Bp = Annotated[int, Field(ge=0, le=10_000, description=_d("万分比（100 = 1%）", "basis points, 100 = 1 %"))]


class BucketsIn(_In):
    """How the income pool is split; the four sum to exactly 10000 (100 %)."""

    collective_bp: Bp = Field(description=_d("村集体留存（万分比）", "village collective retention, bp"))
    public_welfare_posts_bp: Bp = Field(0, description=_d("公益岗位工资（万分比）", "public-welfare post wages, bp"))
    upkeep_reinvestment_bp: Bp = Field(0, description=_d("管护及再投入（万分比）", "upkeep and reinvestment, bp"))
    households_bp: Bp = Field(0, description=_d("农户分红（万分比）", "household dividends, bp"))


class ExclusionIn(_In):
    """A beneficiary household not eligible this year (e.g. stably out of poverty and exited)."""

    household_code: HouseholdCode
    reason: Annotated[str, Field(min_length=2, max_length=200), STORABLE, TEXT_SCHEMA] = Field(
        description=_d("不参与分红的原因", "why the household takes no dividend this year")
    )


class DistributionRuleIn(_In):
    """The village's distribution rule for an asset's fiscal year, with its meeting's resolution (民主决策)."""

    fiscal_year: int = Field(ge=2013, le=2100, description=_d("年度", "fiscal year"))
    buckets: BucketsIn
    basis: Literal["shares", "members"] = Field(
        "shares", description=_d("农户分红依据：折股量化股数/家庭人口", "households by quantified shares or by members")
    )
    deduct_upkeep: bool = Field(True, description=_d("收益池扣除当年管护费用", "the pool is income minus upkeep"))
    coefficients_bp: dict[HouseholdCategory, Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=dict,
        max_length=20,
        description=_d("类别系数（万分之一，15000 = 1.5 倍）", "coefficient per household category, bp of 1.0"),
    )
    combine: Literal["max", "product"] = Field(
        "max", description=_d("多类别系数取最高或相乘", "several categories: highest coefficient, or product")
    )
    min_fen: Fen | None = Field(None, description=_d("每户最低（分）", "minimum per household, fen"))
    max_fen: Fen | None = Field(None, description=_d("每户最高（分）", "maximum per household, fen"))
    residue_to: Literal["collective", "public_welfare_posts", "upkeep_reinvestment"] = Field(
        "collective", description=_d("余额归属", "where what households cannot take goes")
    )
    excluded: list[ExclusionIn] = Field(
        default_factory=list, max_length=5000, description=_d("本年不参与分红的户", "households excluded this year")
    )
    village_resolution: Sha256 = Field(
        description=_d("村民（代表）会议决议（附件）", "the village meeting's resolution (an upload)")
    )
    group_assets: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=200,
        description=_d(
            "合并分配的同村其他经营性资产（同一项目；收益合并为一个收益池）",
            "other operating assets of the same village and project pooled under this rule (one income pool)",
        ),
    )
    note: Text = Field("", max_length=2000, description=_d("说明", "note"))


class DistributionRulePublic(BaseModel):
    """A version of an asset's distribution rule."""

    id: str = Field(description=_d("方案编号", "rule version id"))
    fiscal_year: int = Field(description=_d("年度", "fiscal year"))
    version: int = Field(description=_d("版本", "version"))
    status: str = Field(description=_d("状态：待审/已批准/已替代/退回/不予批准", "proposed, approved, superseded…"))
    rule: dict[str, Any] = Field(description=_d("方案内容", "the rule"))
    excluded: dict[str, str] = Field(description=_d("不参与户及原因", "excluded households and why"))
    attachments: list[str] = Field(description=_d("附件", "attachments"))
    asset_id: str = Field(description=_d("方案所属资产（资产组牵头）", "the asset it is for (leads a group)"))
    group_assets: list[str] = Field(description=_d("资产组的其他资产", "the group's other assets, if a group"))
    note: str = Field(description=_d("说明", "note"))
    proposed_at: datetime = Field(description=_d("提出时间", "proposed at"))
    decided_at: datetime | None = Field(None, description=_d("审批时间", "decided at"))


class DistributionRulesPublic(BaseModel):
    """An asset's rule versions, newest first."""

    items: list[DistributionRulePublic]


class RuleProposalPublic(BaseModel):
    """The proposed version and the township's review task it opened."""

    rule_id: str = Field(description=_d("方案编号", "rule version id"))
    task_id: str = Field(description=_d("乡镇审核任务", "the township's review task"))
    status: str = Field(description=_d("状态", "status"))
