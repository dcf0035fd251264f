"""Three-colour archives (红绿蓝三色档案, DOMAIN.md §9): each project keeps four archives — construction, asset
registration, operation, income distribution — each green (complete and on track), blue (in progress) or red (a
problem: overdue, a missing record, revenue far below the estimate, an open overdue problem). Construction and
operation colour themselves from their own checks (domain.construction, domain.operation); this module colours
registration and distribution from their facts, and lays an open overdue problem of an archive over its colour.
Pure: the caller reads the facts (db.repositories.archives)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from domain.enums import Stage

GREEN, BLUE, RED = "green", "blue", "red"


class Archive(StrEnum):
    """The four archives of a project."""

    CONSTRUCTION = "construction"
    REGISTRATION = "registration"
    OPERATION = "operation"
    DISTRIBUTION = "distribution"


# the archive a person's problem on a project concerns, by the project's stage when it is registered
ARCHIVE_OF_STAGE: dict[str, Archive] = {
    Stage.CONSTRUCTION.value: Archive.CONSTRUCTION,
    Stage.ACCEPTANCE.value: Archive.CONSTRUCTION,
    Stage.ASSET_REGISTRATION.value: Archive.REGISTRATION,
    Stage.OPERATION.value: Archive.OPERATION,
    Stage.DISPOSAL.value: Archive.OPERATION,
}
# stages from which the registration archive exists (before them it is empty)
REGISTRATION_STAGES = frozenset({Stage.ASSET_REGISTRATION.value, Stage.OPERATION.value, Stage.DISPOSAL.value})


def stage_recolours(from_stage: str, to_stage: str) -> bool:
    """A stage change that can change an archive's colour: into or out of registration and operation (the
    approval stages colour no archive, so the many moves among them cost nothing)."""
    return from_stage in REGISTRATION_STAGES or to_stage in REGISTRATION_STAGES


@dataclass(frozen=True)
class ArchiveRules:
    """The archives' thresholds (settings `ARCHIVES__…`); county practice, not law."""

    registration_days: int = 30  # days registration may take (from entering it, or from an asset's creation)
    distribution_failure_days: int = 30  # days a failed payment may wait for its correction
    distribution_due_days: int = 180  # days after a fiscal year's end by which its approved rule is paid out


@dataclass(frozen=True)
class RegistrationFacts:
    """What the registration archive is coloured from."""

    stage: str
    stage_since: date | None = None  # the day the project entered asset_registration (when it is there)
    assets: int = 0
    # the day each operating or public-welfare asset without a platform card was created
    uncarded_since: tuple[date, ...] = ()
    platform_rejected: bool = False  # an open platform_rejected task: the platform refused a record


@dataclass(frozen=True)
class DistributionFacts:
    """What the income-distribution archive is coloured from: the rounds that paid the project's assets, the
    uncorrected failures in them, and the fiscal years with an approved rule for an asset but no round for it."""

    rules: int = 0  # approved distribution rules of the project's assets (any year)
    rounds: int = 0  # rounds with a pool of the project's assets (any status)
    open_rounds: int = 0  # of them, not closed
    failed_since: tuple[date, ...] = ()  # the day each household's latest attempt failed (no correction paid yet)
    unpaid_years: tuple[int, ...] = field(default=())  # fiscal years with an approved rule and no round


@dataclass(frozen=True)
class Coloured:
    """An archive's colour and why (the reason is audited with a change)."""

    colour: str
    reason: str


def registration_colour(f: RegistrationFacts, today: date, rules: ArchiveRules) -> Coloured:
    """Empty before registration; red when the platform refused a record, registration has run past its days, or an
    asset has waited past them for its card (a missing record); blue while registering or a card is awaited; green
    once every operating and public-welfare asset holds its card and the project is past registration."""
    if f.stage not in REGISTRATION_STAGES and f.assets == 0:
        return Coloured("", "registration not begun")
    limit = timedelta(days=rules.registration_days)
    if f.platform_rejected:
        return Coloured(RED, "the three-assets platform refused a record")
    if f.stage == Stage.ASSET_REGISTRATION and f.stage_since is not None and today - f.stage_since > limit:
        return Coloured(RED, f"registration open more than {rules.registration_days} days")
    if any(today - since > limit for since in f.uncarded_since):
        return Coloured(RED, f"an asset without its platform card more than {rules.registration_days} days")
    if f.stage == Stage.ASSET_REGISTRATION:
        return Coloured(BLUE, "registration in progress")
    if f.uncarded_since:
        return Coloured(BLUE, "waiting for platform cards")
    return Coloured(GREEN, "every asset registered")


def distribution_colour(f: DistributionFacts, today: date, rules: ArchiveRules) -> Coloured:
    """Empty before any rule or round; red when a failed payment has waited more than its days for a correction,
    or a fiscal year's approved rule went unpaid past its days (a missing round); blue while a round runs, a failure
    awaits its correction or a year's round is still to come; green when every round closed with nothing owed."""
    if f.rules == 0 and f.rounds == 0:
        return Coloured("", "no distribution yet")
    if any((today - since).days > rules.distribution_failure_days for since in f.failed_since):
        return Coloured(RED, f"a failed payment uncorrected more than {rules.distribution_failure_days} days")
    late = [y for y in f.unpaid_years if (today - date(y + 1, 1, 1)).days > rules.distribution_due_days]
    if late:
        return Coloured(RED, f"no dividend round for fiscal year {min(late)}")
    if f.open_rounds or f.failed_since:
        return Coloured(BLUE, "a dividend round in progress")
    if f.unpaid_years:
        return Coloured(BLUE, f"the round for fiscal year {min(f.unpaid_years)} is still to come")
    return Coloured(GREEN, "every round paid and closed")


def shown(own: dict[Archive, str], overdue_problems: Iterable[str]) -> dict[Archive, str]:
    """Each archive's shown colour: red while an open problem of it is past its deadline (even an archive not begun:
    the problem is the record that something is wrong there), else its own."""
    flagged = set(overdue_problems)
    return {a: RED if a.value in flagged else own.get(a, "") for a in Archive}
