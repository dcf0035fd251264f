"""Dividend rounds (收益分配轮次, DOMAIN.md §7): payloads of DividendRoundWorkflow and its activities, its statuses,
and the rules of who may act on a round. Pure; no personal data (households by code, amounts in fen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from domain.enums import RegionLevel, Role
from domain.failures import DecisionRefused
from domain.payloads import Actor
from domain.regions import covers
from domain.task_rules import Refusal


class ScopeKind(StrEnum):
    """What a round pays for: one asset, the assets of a village, or all assets of a county."""

    ASSET = "asset"
    VILLAGE = "village"
    COUNTY = "county"


class RoundStatus(StrEnum):
    """Where a round is (the read model's `status`)."""

    PLANNING = "planning"
    NOTICED = "noticed"
    OBJECTIONS = "objections"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    PAYING = "paying"
    CORRECTING = "correcting"
    RECONCILING = "reconciling"
    RESULT_NOTICED = "result_noticed"
    CLOSED = "closed"


def round_id(scope_kind: str, scope_code: str, fiscal_year: int, n: int) -> str:
    """The round's workflow id (DESIGN.md): `dividend-{scope}-{fiscal year}-{n}`."""
    scope = scope_code if scope_kind != ScopeKind.ASSET else f"asset-{scope_code}"
    return f"dividend-{scope}-{fiscal_year}-{n}"


@dataclass(frozen=True)
class RoundInput:
    """A round as its workflow runs it; the settings are fixed when it opens."""

    round_id: str
    county_code: str
    opened_by: int
    notice_days: float = 10
    result_notice_days: float = 10
    batch_size: int = 500
    poll_seconds: float = 3600
    # the notices count working days (China's calendar) instead of calendar days (the county's practice)
    notice_working_days: bool = False


@dataclass(frozen=True)
class NoticeInput:
    """When a notice of `days` working days opened at `at` ends (the last working day's end, local time)."""

    at: datetime
    days: int
    time_zone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class PlanInput:
    round_id: str
    version: int
    at: datetime


@dataclass(frozen=True)
class PlanResult:
    """A stored plan version's totals."""

    version: int
    pool_fen: int
    households_fen: int
    lines: int


@dataclass(frozen=True)
class RoundStep:
    """A status change of the round (audited), with the notice's end when it opens one."""

    round_id: str
    status: str
    at: datetime
    waiting_for: str = ""
    notice_ends_at: datetime | None = None
    version: int = 0


@dataclass(frozen=True)
class ObjectionInput:
    """Anyone of the round's county files an objection during the plan's notice."""

    actor: Actor
    text: str


@dataclass(frozen=True)
class ResolveInput:
    """The county upholds (an amended plan is made and noticed again) or dismisses an objection."""

    actor: Actor
    objection_id: str
    uphold: bool
    opinion: str


@dataclass(frozen=True)
class ObjectionRecord:
    round_id: str
    objection_id: str
    version: int
    actor: Actor
    at: datetime
    text: str = ""
    uphold: bool | None = None
    opinion: str = ""


@dataclass(frozen=True)
class ConfirmInput:
    """A second finance user confirms the noticed plan."""

    actor: Actor


@dataclass(frozen=True)
class CheckInput:
    """A finance user other than its maker checks a corrected account; approved, the household is paid again."""

    actor: Actor
    correction_id: int
    approve: bool
    opinion: str = ""


@dataclass(frozen=True)
class RoundAct:
    """A person's act on a round, stored and audited (confirmation, a correction's check)."""

    round_id: str
    actor: Actor
    at: datetime
    correction_id: int = 0
    approve: bool = True
    opinion: str = ""


@dataclass(frozen=True)
class PaymentsInput:
    round_id: str
    version: int
    batch_size: int
    at: datetime


@dataclass(frozen=True)
class BatchInput:
    round_id: str
    batch_no: str
    at: datetime


@dataclass(frozen=True)
class BatchOutcome:
    """A batch's lines as the bank answered so far."""

    batch_no: str
    lines: int
    paid: int = 0
    failed: int = 0
    pending: int = 0


@dataclass(frozen=True)
class Reconciliation:
    """Σ paid + Σ failed against what was submitted, every bank result matched to its line."""

    submitted_fen: int
    paid_fen: int
    failed_fen: int
    unresolved: int
    exceptions: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.submitted_fen == self.paid_fen + self.failed_fen and not self.exceptions


@dataclass(frozen=True)
class RoundView:
    """DividendRoundWorkflow's status query."""

    round_id: str
    status: str
    version: int
    confirmed_by: int | None = None
    open_objections: list[str] = field(default_factory=list)
    unresolved_failures: int = 0


def in_county(actor: Actor, county_code: str) -> bool:
    """The actor's region covers the round's county (or lies inside it)."""
    level = RegionLevel(actor.region_level)
    return covers(actor.region_code, level, county_code) or actor.region_code.startswith(county_code)


def confirm_refusal(actor: Actor, inp: RoundInput, status: str, confirmed_by: int | None) -> Refusal | None:
    """A finance user of the county confirms the noticed plan; never the one who opened the round."""
    if actor.role != Role.FINANCE or not covers(actor.region_code, RegionLevel(actor.region_level), inp.county_code):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "only a finance user of the round's county confirms it")
    if actor.user_id == inp.opened_by:
        return Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "the finance user who opened the round may not confirm it")
    if confirmed_by is not None:
        return Refusal(DecisionRefused.TASK_NOT_OPEN, "the round is confirmed already")
    if status != RoundStatus.AWAITING_CONFIRMATION:
        return Refusal(DecisionRefused.WRONG_STAGE, f"the round is {status}, not awaiting confirmation")
    return None


def objection_refusal(actor: Actor, inp: RoundInput, status: str, text: str) -> Refusal | None:
    """An objection needs a text, a user of the county, and the plan's notice open."""
    if not text.strip():
        return Refusal(DecisionRefused.OPINION_REQUIRED, "an objection needs a text")
    if not in_county(actor, inp.county_code):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "only users of the round's county may object")
    if status != RoundStatus.NOTICED:
        return Refusal(DecisionRefused.NOTICE_CLOSED, "the plan's notice is not open")
    return None


def resolve_refusal(actor: Actor, inp: RoundInput, open_objections: set[str], objection_id: str) -> Refusal | None:
    """A county reviewer resolves an open objection, with an opinion."""
    if actor.role != Role.COUNTY_REVIEWER or not covers(
        actor.region_code, RegionLevel(actor.region_level), inp.county_code
    ):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "only a county reviewer of the round's county resolves it")
    if objection_id not in open_objections:
        return Refusal(DecisionRefused.TASK_NOT_OPEN, "this objection is not open")
    return None


def check_refusal(actor: Actor, inp: RoundInput, maker: int | None, status: str) -> Refusal | None:
    """A finance user of the county other than the correction's maker checks it."""
    if actor.role != Role.FINANCE or not covers(actor.region_code, RegionLevel(actor.region_level), inp.county_code):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "only a finance user of the round's county checks a correction")
    if maker is None:
        return Refusal(DecisionRefused.TASK_NOT_OPEN, "no such correction awaits a check")
    if actor.user_id == maker:
        return Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "the maker of a correction may not check it")
    if status != RoundStatus.CORRECTING:
        return Refusal(DecisionRefused.WRONG_STAGE, f"the round is {status}, not correcting failed payments")
    return None


def period_of(fiscal_year: int) -> tuple[date, date]:
    """A fiscal year's days."""
    return date(fiscal_year, 1, 1), date(fiscal_year, 12, 31)
