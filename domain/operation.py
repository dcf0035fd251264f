"""Operation (运营管护, DOMAIN.md §6): contracts and their payment schedules, arrears, expiry, idle assets, upkeep
inspections and the operation archive's colour. Pure functions over facts read from the database; the
OperationWorkflow's check activity applies them once per wake-up and sleeps until `next_check` says something
can change.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum

from domain.assets import AssetClass, AssetStatus
from domain.colours import SEVERITY
from domain.enums import TaskKind


class Schedule(StrEnum):
    """How often rent or a guaranteed return falls due."""

    ANNUAL = "annual"
    HALF_YEARLY = "half_yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


MONTHS_PER_PERIOD = {Schedule.ANNUAL: 12, Schedule.HALF_YEARLY: 6, Schedule.QUARTERLY: 3, Schedule.MONTHLY: 1}


class ContractKind(StrEnum):
    """Why a contract exists: the registration's, a renewal, a change of terms, another operator, an import."""

    INITIAL = "initial"
    RENEWAL = "renewal"
    CHANGE = "change"
    NEW_OPERATOR = "new_operator"
    IMPORTED = "imported"


PROPOSABLE = (ContractKind.RENEWAL, ContractKind.CHANGE, ContractKind.NEW_OPERATOR)


class RuleStatus(StrEnum):
    """A distribution rule version: reviewed (township) and approved (county); a later approval supersedes."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    SUPERSEDED = "superseded"
    RETURNED = "returned"
    REJECTED = "rejected"


class ContractStatus(StrEnum):
    """A proposal is reviewed (township) and approved (county) before it becomes the active contract."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    RETURNED = "returned"
    REJECTED = "rejected"


class ReceivableStatus(StrEnum):
    OPEN = "open"
    PARTIAL = "partial"
    PAID = "paid"


class Condition(StrEnum):
    """What an inspection found."""

    GOOD = "good"
    FAIR = "fair"
    DAMAGED = "damaged"


class WarningKind(StrEnum):
    """Warnings of the operation archive."""

    CONTRACT_EXPIRING = "contract_expiring"
    CONTRACT_EXPIRED = "contract_expired"
    ARREARS = "arrears"
    ARREARS_PROBLEM = "arrears_problem"
    IDLE = "idle"
    IDLE_OVERDUE = "idle_overdue"
    NO_INCOME = "no_income"
    INSPECTION_DUE = "inspection_due"
    INSPECTION_OVERDUE = "inspection_overdue"
    UNDER_REPAIR = "under_repair"
    LOW_YIELD = "low_yield"


# Which warnings open a task for the project's manager (one task per warning key; closed by `done` or when the
# cause is gone).
TASK_OF: dict[WarningKind, TaskKind] = {
    WarningKind.CONTRACT_EXPIRING: TaskKind.RENEW_CONTRACT,
    WarningKind.ARREARS: TaskKind.ARREARS_REMINDER,
    WarningKind.IDLE: TaskKind.PUT_BACK_TO_USE,
    WarningKind.NO_INCOME: TaskKind.PUT_BACK_TO_USE,
    WarningKind.INSPECTION_DUE: TaskKind.INSPECTION,
}
MANAGER_TASKS = frozenset(TASK_OF.values())
RED = "red"
BLUE = "blue"
GREEN = "green"
# The colour each warning gives the operation archive (configurable: OPERATION__LEVELS).
LEVELS: dict[str, str] = {
    WarningKind.CONTRACT_EXPIRING: BLUE,
    WarningKind.CONTRACT_EXPIRED: RED,
    WarningKind.ARREARS: BLUE,
    WarningKind.ARREARS_PROBLEM: RED,
    WarningKind.IDLE: BLUE,
    WarningKind.IDLE_OVERDUE: RED,
    WarningKind.NO_INCOME: BLUE,
    WarningKind.INSPECTION_DUE: BLUE,
    WarningKind.INSPECTION_OVERDUE: RED,
    WarningKind.UNDER_REPAIR: BLUE,
    WarningKind.LOW_YIELD: RED,
}


@dataclass(frozen=True)
class Rules:
    """The configurable numbers of operation (core.settings.OperationSettings)."""

    expiry_warning_days: tuple[int, ...] = (90, 30, 7)
    arrears_reminder_days: int = 15
    arrears_problem_days: int = 60
    no_income_months: int = 6
    put_back_days: int = 90
    inspection_months: dict[str, int] = field(
        default_factory=lambda: {"operating": 3, "public_welfare": 6, "household": 12}
    )
    inspection_grace_days: int = 15
    low_yield_percent: int = 50
    levels: dict[str, str] = field(default_factory=lambda: dict(LEVELS))


def add_months(day: date, months: int) -> date:
    """The same day `months` later, the month's last day where it has no such day (31 Jan + 1 → 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def escalated(rent_fen: int, escalation_bp: int, years: int) -> int:
    """Rent after `years` whole contract years of escalation (basis points a year, compounded), in whole fen
    rounded half up — exact integer arithmetic, no floats."""
    if years <= 0 or escalation_bp == 0:
        return rent_fen
    num = rent_fen * (10_000 + escalation_bp) ** years
    den = 10_000**years
    result: int = (2 * num + den) // (2 * den)
    return result


@dataclass(frozen=True)
class Terms:
    """A contract's payment terms."""

    start: date
    end: date
    rent_fen: int
    schedule: str
    escalation_bp: int = 0


@dataclass(frozen=True)
class Period:
    """One scheduled period: due at its start (rent is paid in advance), amount in fen."""

    no: int
    start: date
    end: date
    due: date
    amount_fen: int


def periods(terms: Terms) -> list[Period]:
    """Every period of a contract. A last period cut short by the contract's end is charged by its days."""
    months = MONTHS_PER_PERIOD[Schedule(terms.schedule)]
    out: list[Period] = []
    n = 0
    while True:
        start = add_months(terms.start, n * months)
        if start > terms.end:
            return out
        full_end = add_months(terms.start, (n + 1) * months) - timedelta(days=1)
        end = min(full_end, terms.end)
        years = (n * months) // 12
        amount = escalated(terms.rent_fen, terms.escalation_bp, years)
        if end < full_end:
            full_days = (full_end - start).days + 1
            amount = (2 * amount * ((end - start).days + 1) + full_days) // (2 * full_days)
        n += 1
        out.append(Period(n, start, end, start, amount))


def periods_due_through(terms: Terms, through: date) -> list[Period]:
    """The periods falling due on or before `through` (receivables are created as their year comes)."""
    return [p for p in periods(terms) if p.due <= through]


def annual_amount(terms: Terms) -> int:
    """What the first contract year yields (rent per period × periods a year), for yields and lists."""
    return terms.rent_fen * (12 // MONTHS_PER_PERIOD[Schedule(terms.schedule)])


# ---------------------------------------------------------------- warnings


@dataclass(frozen=True)
class OpenReceivable:
    id: int
    due: date
    amount_fen: int
    received_fen: int


@dataclass(frozen=True)
class AssetOperation:
    """What the warning rules need to know of one asset on one day."""

    asset_id: str
    name: str
    asset_class: str
    status: str
    operating_since: date
    contract_id: str | None = None
    contract_end: date | None = None
    renewal_proposed: bool = False
    unpaid: Sequence[OpenReceivable] = ()
    last_income_on: date | None = None
    idle_since: date | None = None
    inspection_due: date | None = None
    open_repairs: int = 0
    low_yield_year: int | None = None


@dataclass(frozen=True)
class Warning:
    """A warning that holds today; `key` makes raising it idempotent."""

    key: str
    kind: WarningKind
    level: str
    message: str
    deadline: date | None = None
    ref: str = ""

    @property
    def task(self) -> TaskKind | None:
        """The kind of task this warning opens for the manager, if any."""
        return TASK_OF.get(self.kind)

    @property
    def task_key(self) -> str:
        """What the task belongs to: the contract for expiry warnings (one task through 90, 30 and 7 days)."""
        return self.ref if self.kind == WarningKind.CONTRACT_EXPIRING and self.ref else self.key


def warnings(a: AssetOperation, today: date, rules: Rules) -> list[Warning]:
    """Every warning that holds for the asset today, coloured as the rules' `levels` say."""
    return [replace(w, level=rules.levels.get(w.kind, w.level)) for w in _warnings(a, today, rules)]


def _warnings(a: AssetOperation, today: date, rules: Rules) -> list[Warning]:
    out: list[Warning] = []
    if a.status == AssetStatus.DISPOSED:
        return out
    if a.contract_id and a.contract_end:
        out.extend(_expiry(a, today, rules))
    for r in a.unpaid:
        late = (today - r.due).days
        owed = r.amount_fen - r.received_fen
        if late >= rules.arrears_problem_days:
            out.append(
                Warning(
                    f"receivable:{r.id}:problem",
                    WarningKind.ARREARS_PROBLEM,
                    RED,
                    f"{a.name}: {owed} fen due {r.due.isoformat()} still unpaid after {late} days",
                    ref=str(r.id),
                )
            )
        if late >= rules.arrears_reminder_days:
            out.append(
                Warning(
                    f"receivable:{r.id}:arrears",
                    WarningKind.ARREARS,
                    BLUE,
                    f"{a.name}: {owed} fen due {r.due.isoformat()} unpaid for {late} days",
                    ref=str(r.id),
                )
            )
    out.extend(_idle(a, today, rules))
    if a.inspection_due is not None and a.inspection_due <= today:
        out.append(
            Warning(
                f"{a.asset_id}:inspection:{a.inspection_due.isoformat()}",
                WarningKind.INSPECTION_DUE,
                BLUE,
                f"{a.name}: upkeep inspection due {a.inspection_due.isoformat()}",
                deadline=a.inspection_due + timedelta(days=rules.inspection_grace_days),
            )
        )
        if (today - a.inspection_due).days > rules.inspection_grace_days:
            out.append(
                Warning(
                    f"{a.asset_id}:inspection-overdue:{a.inspection_due.isoformat()}",
                    WarningKind.INSPECTION_OVERDUE,
                    RED,
                    f"{a.name}: the inspection due {a.inspection_due.isoformat()} is overdue",
                )
            )
    if a.open_repairs:
        out.append(
            Warning(
                f"{a.asset_id}:repair",
                WarningKind.UNDER_REPAIR,
                BLUE,
                f"{a.name}: {a.open_repairs} repair(s) open",
            )
        )
    if a.low_yield_year is not None:
        out.append(
            Warning(
                f"{a.asset_id}:low-yield:{a.low_yield_year}",
                WarningKind.LOW_YIELD,
                RED,
                f"{a.name}: the {a.low_yield_year} yield is far below the application's estimate",
            )
        )
    return out


def _expiry(a: AssetOperation, today: date, rules: Rules) -> list[Warning]:
    assert a.contract_end is not None
    left = (a.contract_end - today).days
    if left < 0:
        return [
            Warning(
                f"contract:{a.contract_id}:expired",
                WarningKind.CONTRACT_EXPIRED,
                RED,
                f"{a.name}: the contract ended {a.contract_end.isoformat()} and no new one is in force",
            )
        ]
    passed = [d for d in sorted(rules.expiry_warning_days) if left <= d]
    if not passed or a.renewal_proposed:
        return []
    threshold = passed[0]  # the nearest threshold reached: one warning at 90, another at 30, another at 7
    return [
        Warning(
            f"contract:{a.contract_id}:expiring:{threshold}",
            WarningKind.CONTRACT_EXPIRING,
            BLUE,
            f"{a.name}: the contract ends {a.contract_end.isoformat()} ({left} days): renew or re-let",
            deadline=a.contract_end,
            ref=f"contract:{a.contract_id}",
        )
    ]


def _idle(a: AssetOperation, today: date, rules: Rules) -> list[Warning]:
    if a.status == AssetStatus.IDLE and a.idle_since is not None:
        deadline = a.idle_since + timedelta(days=rules.put_back_days)
        found = [
            Warning(
                f"{a.asset_id}:idle:{a.idle_since.isoformat()}",
                WarningKind.IDLE,
                BLUE,
                f"{a.name}: idle since {a.idle_since.isoformat()}; put it back to use by {deadline.isoformat()}",
                deadline=deadline,
            )
        ]
        if today > deadline:
            found.append(
                Warning(
                    f"{a.asset_id}:idle-overdue:{a.idle_since.isoformat()}",
                    WarningKind.IDLE_OVERDUE,
                    RED,
                    f"{a.name}: still idle past {deadline.isoformat()}",
                )
            )
        return found
    if a.asset_class != AssetClass.OPERATING or not a.contract_id:
        return []
    since = a.last_income_on or a.operating_since
    limit = add_months(since, rules.no_income_months)
    if today < limit:
        return []
    deadline = limit + timedelta(days=rules.put_back_days)
    return [
        Warning(
            f"{a.asset_id}:no-income:{since.isoformat()}",
            WarningKind.NO_INCOME,
            BLUE,
            f"{a.name}: no income recorded since {since.isoformat()}; put it back to use by {deadline.isoformat()}",
            deadline=deadline,
        )
    ]


def next_check(assets: Iterable[AssetOperation], today: date, rules: Rules, *, year_end: date) -> date:
    """The first day after `today` on which a warning can appear or turn red — at most a month away, never past
    the fiscal year's end (so a workflow sleeps between the days that matter, not every day)."""
    days: list[date] = [year_end, today + timedelta(days=31)]
    for a in assets:
        if a.contract_end is not None:
            days.extend(a.contract_end - timedelta(days=d) for d in rules.expiry_warning_days)
            days.append(a.contract_end + timedelta(days=1))
        for r in a.unpaid:
            days.append(r.due + timedelta(days=rules.arrears_reminder_days))
            days.append(r.due + timedelta(days=rules.arrears_problem_days))
        if a.idle_since is not None:
            days.append(a.idle_since + timedelta(days=rules.put_back_days + 1))
        if a.contract_id and a.asset_class == AssetClass.OPERATING:
            days.append(add_months(a.last_income_on or a.operating_since, rules.no_income_months))
        if a.inspection_due is not None:
            days.append(a.inspection_due)
            days.append(a.inspection_due + timedelta(days=rules.inspection_grace_days + 1))
    return min(d for d in days if d > today) if any(d > today for d in days) else today + timedelta(days=1)


def colour(active: Iterable[Warning | str]) -> str:
    """The operation archive's colour: red with a red warning, blue with any warning, green without."""
    levels = [w if isinstance(w, str) else w.level for w in active]
    if not levels:
        return GREEN
    return max(levels, key=SEVERITY.__getitem__)


def next_inspection(asset_class: str, last: date, rules: Rules) -> date:
    """When the next upkeep inspection falls due after the last one (or the start of operation)."""
    return add_months(last, rules.inspection_months.get(asset_class, 6))


def low_yield(
    income_fen: int, value_fen: int, expected_yield_percent: float, rules: Rules, *, days: int, year_days: int
) -> bool:
    """A year's income far below the application's estimate: its yield on the asset's value, over the `days` of the
    year's `year_days` the asset was in operation, under `low_yield_percent` % of the estimate."""
    if rules.low_yield_percent == 0 or value_fen <= 0 or expected_yield_percent <= 0 or days <= 0:
        return False
    # income / value × 100 < expected% × low% / 100 × days / year_days, in integers (expected in 1/100 %)
    expected = round(expected_yield_percent * 100)
    return income_fen * 100 * 100 * 100 * year_days < expected * rules.low_yield_percent * value_fen * days


# ---------------------------------------------------------------- proposals

LEASE_MAX_YEARS = 20  # Civil Code art. 705: a lease term may not exceed twenty years
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_valid(code: str) -> bool:
    """A unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, the last a check character."""
    if len(code) != 18 or any(c not in CREDIT_CODE_CHARS for c in code):
        return False
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(code[:17], CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31] == code[17]


@dataclass(frozen=True)
class ProposalFacts:
    """A proposed contract as the rules see it, with the contract in force (if any)."""

    kind: str
    mode: str
    operator_name: str
    operator_credit_code: str
    start: date
    end: date
    current_operator: str | None = None
    current_start: date | None = None
    current_end: date | None = None


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str


def proposal_problems(p: ProposalFacts, today: date) -> list[Problem]:
    """Every rule a proposal breaks."""
    out: list[Problem] = []
    if p.end <= p.start:
        out.append(Problem("end", "after_start", "the contract ends after it starts"))
    elif p.mode == "lease" and add_months(p.start, 12 * LEASE_MAX_YEARS) <= p.end:
        out.append(Problem("end", "lease_max_20_years", "a lease runs at most 20 years (Civil Code art. 705)"))
    if p.end < today:
        out.append(Problem("end", "not_past", "a proposed contract ends in the future"))
    if p.operator_credit_code and not credit_code_valid(p.operator_credit_code):
        out.append(Problem("operator.credit_code", "gb32100", "not a valid unified social credit code"))
    if p.current_start is not None and p.start <= p.current_start:
        out.append(Problem("start", "after_current", f"starts after the contract in force ({p.current_start})"))
    if p.kind == ContractKind.RENEWAL:
        if p.current_operator is None:
            out.append(Problem("kind", "renews_a_contract", "there is no contract in force to renew"))
        elif p.operator_name != p.current_operator:
            out.append(Problem("operator.name", "same_operator", "a renewal keeps the operator; propose new_operator"))
    if p.kind == ContractKind.NEW_OPERATOR and p.current_operator is not None and p.operator_name == p.current_operator:
        out.append(Problem("operator.name", "another_operator", "a new operator differs from the one in force"))
    return out
