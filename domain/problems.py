"""The problem ledger (问题台账, 销号管理; DOMAIN.md §8): a problem's status machine and who may move it.

registered → rectifying → submitted → closed (销号); a verifier sends a submission back (submitted → rectifying);
a closed problem may be reopened (closed → reopened → rectifying). Every transition's rule lives in `refusal`,
which answers why an actor may not do an action now (None: they may). Pure: the caller reads the facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.archives import Archive
from domain.enums import RegionLevel, Role
from domain.regions import covers, region_prefix
from domain.workdays import IsWorkday, add_working_days


class ProblemStatus(StrEnum):
    """Where a problem is in its rectification."""

    REGISTERED = "registered"
    RECTIFYING = "rectifying"
    SUBMITTED = "submitted"
    CLOSED = "closed"
    REOPENED = "reopened"


class ProblemSource(StrEnum):
    """Where a problem came from: people (inspection, audit, supervision, a report) or a rule of the system."""

    INSPECTION = "inspection"
    AUDIT = "audit"
    SUPERVISION = "supervision"
    REPORT = "report"
    RULE = "rule"  # reserved: only the system raises these (the key says which rule)


class ReportedSource(StrEnum):
    """The sources a person may register a problem under (`rule` is reserved for the system)."""

    INSPECTION = "inspection"
    AUDIT = "audit"
    SUPERVISION = "supervision"
    REPORT = "report"


class RuleKind(StrEnum):
    """The rules that raise problems by themselves; each key starts with its kind."""

    ARREARS = "arrears"
    IDLE = "idle"
    INSPECTION = "inspection"
    CONSTRUCTION_RED = "construction_red"
    DIVIDEND_FAILURE = "dividend_failure"


# the archive each rule's problem concerns (its overdue problem turns that archive red)
ARCHIVE_OF_RULE: dict[RuleKind, Archive] = {
    RuleKind.ARREARS: Archive.OPERATION,
    RuleKind.IDLE: Archive.OPERATION,
    RuleKind.INSPECTION: Archive.OPERATION,
    RuleKind.CONSTRUCTION_RED: Archive.CONSTRUCTION,
    RuleKind.DIVIDEND_FAILURE: Archive.DISTRIBUTION,
}


def rule_of(key: str | None) -> RuleKind | None:
    """Which rule raised a problem, from its key (None: a person registered it)."""
    head = (key or "").split(":", 1)[0]
    return RuleKind(head) if head in {k.value for k in RuleKind} else None


def rule_key(kind: RuleKind, *parts: str) -> str:
    """The business key of a rule-raised problem: one problem per fact (`arrears:{receivable}`,
    `idle:{asset}:{idle_since}`, `inspection:{asset}:{due}`, `construction_red:{project}:{red_since}`,
    `dividend_failure:{round}:{oldest failed reference}`)."""
    return ":".join([kind.value, *parts])


class Action(StrEnum):
    """What someone does to a problem."""

    UPDATE = "update"
    START = "rectifying"
    SUBMIT = "submit"
    CLOSE = "close"
    SEND_BACK = "send_back"
    REOPEN = "reopen"


# from-status → to-status of each transition (UPDATE keeps the status)
TRANSITIONS: dict[Action, tuple[frozenset[ProblemStatus], ProblemStatus | None]] = {
    Action.UPDATE: (
        frozenset({ProblemStatus.REGISTERED, ProblemStatus.RECTIFYING, ProblemStatus.REOPENED}),
        None,
    ),
    Action.START: (frozenset({ProblemStatus.REGISTERED, ProblemStatus.REOPENED}), ProblemStatus.RECTIFYING),
    Action.SUBMIT: (frozenset({ProblemStatus.RECTIFYING}), ProblemStatus.SUBMITTED),
    Action.CLOSE: (frozenset({ProblemStatus.SUBMITTED}), ProblemStatus.CLOSED),
    Action.SEND_BACK: (frozenset({ProblemStatus.SUBMITTED}), ProblemStatus.RECTIFYING),
    Action.REOPEN: (frozenset({ProblemStatus.CLOSED}), ProblemStatus.REOPENED),
}

# Who registers problems (and so may edit one registered at their level or below).
REGISTRARS = frozenset({Role.SUPERVISOR, Role.COUNTY_REVIEWER, Role.ADMIN, Role.TOWNSHIP_REVIEWER})
# The supervising level: who verifies a close-out (销号), sends it back, or reopens a closed problem.
VERIFIERS = frozenset({Role.SUPERVISOR, Role.COUNTY_REVIEWER, Role.ADMIN})
# Higher levels first: a smaller rank is a wider region.
LEVEL_RANK: dict[RegionLevel, int] = {
    RegionLevel.PROVINCE: 0,
    RegionLevel.CITY: 1,
    RegionLevel.COUNTY: 2,
    RegionLevel.TOWNSHIP: 3,
    RegionLevel.VILLAGE: 4,
}
# A rule's problem is "a problem for the county" (DOMAIN.md §6): the county level registered it.
RULE_LEVEL = RegionLevel.COUNTY


def next_status(action: Action, status: ProblemStatus) -> ProblemStatus:
    """The status after `action` (allowed by `refusal`)."""
    return TRANSITIONS[action][1] or status


class Refusal(StrEnum):
    """Why an action is refused, as the HTTP edge maps it: forbidden (403), conflict (409), invalid (422)."""

    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    INVALID = "invalid"


@dataclass(frozen=True)
class Refused:
    """A refusal: its kind, a machine-readable code and a message a person understands."""

    kind: Refusal
    code: str
    message: str
    field: str = ""


@dataclass(frozen=True)
class ProblemFacts:
    """What the rules read of one problem."""

    status: ProblemStatus
    region_code: str
    responsible_user_id: int | None
    manager_id: int | None  # the project's manager (its applicant), who manages the responsible unit's work
    raised_level: RegionLevel
    submitted_by: int | None = None
    evidence: int = 0  # how many evidence attachments the current submission holds


@dataclass(frozen=True)
class Actor:
    """Who acts: their user id, role and region."""

    user_id: int
    role: Role
    region_code: str
    region_level: RegionLevel

    def covers(self, code: str) -> bool:
        """The code lies inside the actor's region."""
        return covers(self.region_code, self.region_level, code)


def _forbidden(code: str, message: str) -> Refused:
    return Refused(Refusal.FORBIDDEN, code, message)


def _is_responsible(actor: Actor, p: ProblemFacts) -> bool:
    return actor.user_id in {p.responsible_user_id, p.manager_id} - {None}


def may_register(actor: Actor, region_code: str) -> Refused | None:
    """A registrar (supervisor, county or township reviewer, admin) registers problems inside their region."""
    if actor.role not in REGISTRARS:
        names = ", ".join(sorted(r.value for r in REGISTRARS))
        return _forbidden("role_forbidden", f"registering a problem needs one of the roles: {names}")
    if not actor.covers(region_code):
        return _forbidden("region_forbidden", f"{region_code} lies outside your region {actor.region_code}")
    return None


def refusal(action: Action, actor: Actor, p: ProblemFacts) -> Refused | None:
    """Why `actor` may not do `action` to the problem now, or None. One home for every transition's rule:

    - update (measures, deadline, responsible): a registrar covering the problem at its registrar's level or above;
    - rectifying (start) and submit: the responsible person or the project's manager;
    - submit needs evidence (attachments the submitter uploaded);
    - close, send back, reopen: a verifier (supervisor, county reviewer, admin) covering the problem, who is
      neither the responsible person nor the submitter (separation of duties);
    - close needs the submission's evidence."""
    allowed_from, _ = TRANSITIONS[action]
    if action in (Action.UPDATE,):
        if actor.role not in REGISTRARS or not actor.covers(p.region_code):
            return _forbidden("role_forbidden", "only a registrar of the problem's region may change it")
        if LEVEL_RANK[actor.region_level] > LEVEL_RANK[p.raised_level]:
            return _forbidden(
                "level_forbidden",
                f"registered at {p.raised_level.value} level: only that level or above may change it",
            )
    elif action in (Action.START, Action.SUBMIT):
        if not _is_responsible(actor, p):
            return _forbidden("not_responsible", "only the responsible person or the project's manager may do this")
    else:
        if actor.role not in VERIFIERS:
            names = ", ".join(sorted(r.value for r in VERIFIERS))
            return _forbidden("role_forbidden", f"verifying a problem needs one of the roles: {names}")
        if not actor.covers(p.region_code):
            return _forbidden("region_forbidden", f"the problem lies outside your region {actor.region_code}")
        if action is not Action.REOPEN and actor.user_id in {p.responsible_user_id, p.submitted_by} - {None}:
            return _forbidden(
                "separation_of_duties",
                "the responsible person or the submitter may not verify their own rectification",
            )
    if p.status not in allowed_from:
        expected = " or ".join(sorted(s.value for s in allowed_from))
        return Refused(Refusal.CONFLICT, "wrong_status", f"the problem is {p.status.value}, not {expected}")
    if action is Action.CLOSE and p.evidence == 0:
        return Refused(Refusal.CONFLICT, "evidence_required", "close-out (销号) needs the submission's evidence")
    return None


def submission_refusal(attachments: int, uploaded_by_submitter: Iterable[bool]) -> Refused | None:
    """A submission for close-out carries evidence: at least one attachment, each uploaded by the submitter."""
    if attachments == 0:
        return Refused(
            Refusal.INVALID, "evidence_required", "attach the rectification evidence (销号佐证)", "attachments"
        )
    for i, mine in enumerate(uploaded_by_submitter):
        if not mine:
            return Refused(Refusal.INVALID, "uploaded_by_you", "attach only files you uploaded", f"attachments[{i}]")
    return None


def overdue(deadline: date | None, status: str, today: date) -> bool:
    """Past its deadline (a local date) and not closed."""
    return deadline is not None and deadline < today and status != ProblemStatus.CLOSED


def problem_chain(project_code: str | None, county_code: str) -> str:
    """The audit chain a problem's changes go on: its project's, or its county's problem chain."""
    return f"project:{project_code}" if project_code else f"problems:{county_code}"


def rule_deadline(today: date, working_days: int, is_workday: IsWorkday) -> date:
    """The rectification deadline a rule gives the problem it raises: `working_days` working days from today."""
    return add_working_days(today, working_days, is_workday)


class OverdueStep(StrEnum):
    """What an overdue problem's daily check does: remind those who rectify it, then tell the next level up."""

    REMIND = "remind"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class OverdueFacts:
    """What the overdue check reads of one problem."""

    deadline: date | None
    status: str
    reminded: bool  # reminded for its current deadline
    escalated: bool  # escalated for its current deadline


def overdue_step(p: OverdueFacts, today: date, is_workday: IsWorkday, escalate_after: int) -> OverdueStep | None:
    """The step due today, if any (checked on working days only, as tasks are): the first working day past the
    deadline a reminder; `escalate_after` working days past it, once reminded, the escalation. One step per check,
    so a problem found long overdue is reminded first and escalated at the next check, never both at once."""
    if not overdue(p.deadline, p.status, today) or not is_workday(today):
        return None
    if not p.reminded:
        return OverdueStep.REMIND
    assert p.deadline is not None
    if not p.escalated and today >= add_working_days(p.deadline, escalate_after, is_workday):
        return OverdueStep.ESCALATE
    return None


NEXT_LEVEL: dict[RegionLevel, RegionLevel] = {
    RegionLevel.VILLAGE: RegionLevel.TOWNSHIP,
    RegionLevel.TOWNSHIP: RegionLevel.COUNTY,
    RegionLevel.COUNTY: RegionLevel.CITY,
    RegionLevel.CITY: RegionLevel.PROVINCE,
    RegionLevel.PROVINCE: RegionLevel.PROVINCE,
}
# who an escalation tells at each level: its supervisors and the reviewers who lead there
ESCALATION_ROLES: dict[RegionLevel, tuple[Role, ...]] = {
    RegionLevel.TOWNSHIP: (Role.TOWNSHIP_REVIEWER,),
    RegionLevel.COUNTY: (Role.SUPERVISOR, Role.COUNTY_REVIEWER),
    RegionLevel.CITY: (Role.SUPERVISOR, Role.CITY_REVIEWER),
    RegionLevel.PROVINCE: (Role.SUPERVISOR, Role.ADMIN),
}


@dataclass(frozen=True)
class Escalation:
    """Where an overdue problem goes: the level above the one that registered it, its region code and roles."""

    level: RegionLevel
    region_code: str
    roles: tuple[Role, ...]


def escalation_of(region_code: str, raised_level: RegionLevel) -> Escalation:
    """The next level up from the level that registered the problem (a rule's problem, registered for the county,
    goes to the city), as the region of that level that contains the problem."""
    level = NEXT_LEVEL[raised_level]
    prefix = region_prefix(region_code, level)
    code = prefix if level in (RegionLevel.TOWNSHIP, RegionLevel.COUNTY) else prefix.ljust(6, "0")
    return Escalation(level, code, ESCALATION_ROLES[level])
