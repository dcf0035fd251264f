"""HTTP schemas of a contract proposal (经营权合同续签、变更、更换经营主体)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.construction_schemas import Fen
from api.edge import STORABLE, TEXT_SCHEMA, Text
from api.schemas import Sha256, _d, _In
from domain.assets import OperatorType
from domain.enums import OperatingModel
from domain.operation import Schedule


class ProposedOperatorIn(_In):
    """Who will run the asset."""

    name: Text = Field(min_length=2, max_length=200, description=_d("经营主体名称", "operator's name"))
    type: OperatorType = Field(description=_d("主体类型", "operator type"))
    credit_code: Annotated[str, Field(max_length=18), STORABLE, TEXT_SCHEMA] = Field(
        "", description=_d("统一社会信用代码（18 位）", "unified social credit code, 18 characters")
    )


class ContractProposalIn(_In):
    """A renewal, a change of terms or another operator, proposed by the manager for the township and county."""

    kind: Literal["renewal", "change", "new_operator"] = Field(
        description=_d("类型：续签/变更/更换经营主体", "renewal, change of terms, or another operator")
    )
    operator: ProposedOperatorIn
    mode: OperatingModel = Field(description=_d("经营方式", "contract mode"))
    start: date = Field(description=_d("起始日期", "first day"))
    end: date = Field(description=_d("终止日期（含）", "last day"))
    rent_fen: Fen = Field(description=_d("每期租金或保底收益（分）", "rent or guaranteed return per period, fen"))
    schedule: Schedule = Field(description=_d("收款周期：年/半年/季/月", "annual, half_yearly, quarterly, monthly"))
    deposit_fen: Fen = Field(0, description=_d("押金（分）", "deposit, fen"))
    escalation_bp: int = Field(
        0, ge=0, le=2000, description=_d("年递增（万分之一）", "yearly escalation, basis points")
    )
    signed_contract: Sha256 = Field(description=_d("已签合同扫描件（附件）", "the signed contract (an upload)"))
    village_resolution: Sha256 = Field(
        description=_d("村民（代表）会议决议（附件）", "the village meeting's resolution (an upload)")
    )
    note: Text = Field("", max_length=2000, description=_d("说明", "note"))


class ContractProposalPublic(BaseModel):
    """The proposal and the township's review task it opened."""

    proposal_id: str = Field(description=_d("合同提议编号", "proposal id"))
    task_id: str = Field(description=_d("乡镇审核任务", "the township's review task"))
    status: str = Field(description=_d("状态", "status"))
