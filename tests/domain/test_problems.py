"""The problem ledger's status machine: every allowed and every refused transition, and who may make it."""

from __future__ import annotations

from datetime import date

import pytest

from domain.enums import RegionLevel, Role
from domain.problems import (
    TRANSITIONS,
    Action,
    Actor,
    ProblemFacts,
    ProblemStatus,
    Refusal,
    RuleKind,
    may_register,
    next_status,
    overdue,
    problem_chain,
    refusal,
    rule_key,
    rule_of,
    submission_refusal,
)

VILLAGE = "370115100201"
RESPONSIBLE, MANAGER, SUBMITTER = 10, 11, 12
SUPERVISOR = Actor(20, Role.SUPERVISOR, "370115", RegionLevel.COUNTY)
COUNTY = Actor(21, Role.COUNTY_REVIEWER, "370115", RegionLevel.COUNTY)
TOWNSHIP = Actor(22, Role.TOWNSHIP_REVIEWER, "370115100", RegionLevel.TOWNSHIP)
OTHER_COUNTY = Actor(23, Role.SUPERVISOR, "370116", RegionLevel.COUNTY)
RESPONSIBLE_PM = Actor(RESPONSIBLE, Role.PROJECT_MANAGER, "370115100", RegionLevel.TOWNSHIP)
MANAGER_PM = Actor(MANAGER, Role.PROJECT_MANAGER, "370115100", RegionLevel.TOWNSHIP)
STRANGER_PM = Actor(30, Role.PROJECT_MANAGER, "370115100", RegionLevel.TOWNSHIP)


def facts(status: ProblemStatus, **kw: object) -> ProblemFacts:
    values: dict[str, object] = {
        "status": status,
        "region_code": VILLAGE,
        "responsible_user_id": RESPONSIBLE,
        "manager_id": MANAGER,
        "raised_level": RegionLevel.COUNTY,
        "submitted_by": SUBMITTER if status is ProblemStatus.SUBMITTED else None,
        "evidence": 1 if status is ProblemStatus.SUBMITTED else 0,
    }
    values.update(kw)
    return ProblemFacts(**values)  # type: ignore[arg-type]


def doer(action: Action) -> Actor:
    """Someone the rules let do `action` (besides the status)."""
    if action is Action.UPDATE:
        return COUNTY
    if action in (Action.START, Action.SUBMIT):
        return RESPONSIBLE_PM
    return SUPERVISOR


ALLOWED = {
    (Action.UPDATE, ProblemStatus.REGISTERED): ProblemStatus.REGISTERED,
    (Action.UPDATE, ProblemStatus.RECTIFYING): ProblemStatus.RECTIFYING,
    (Action.UPDATE, ProblemStatus.REOPENED): ProblemStatus.REOPENED,
    (Action.START, ProblemStatus.REGISTERED): ProblemStatus.RECTIFYING,
    (Action.START, ProblemStatus.REOPENED): ProblemStatus.RECTIFYING,
    (Action.SUBMIT, ProblemStatus.RECTIFYING): ProblemStatus.SUBMITTED,
    (Action.CLOSE, ProblemStatus.SUBMITTED): ProblemStatus.CLOSED,
    (Action.SEND_BACK, ProblemStatus.SUBMITTED): ProblemStatus.RECTIFYING,
    (Action.REOPEN, ProblemStatus.CLOSED): ProblemStatus.REOPENED,
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", list(ProblemStatus))
def test_every_transition_is_allowed_or_refused_as_a_conflict(action: Action, status: ProblemStatus) -> None:
    found = refusal(action, doer(action), facts(status))
    if (action, status) in ALLOWED:
        assert found is None
        assert next_status(action, status) is ALLOWED[(action, status)]
    else:
        assert found is not None
        assert (found.kind, found.code) == (Refusal.CONFLICT, "wrong_status")
        assert status.value in found.message


def test_the_table_is_the_machine() -> None:
    assert {(a, s) for a, (froms, _) in TRANSITIONS.items() for s in froms} == set(ALLOWED)


def test_the_responsible_person_or_the_project_manager_rectifies_and_submits() -> None:
    for action, status in ((Action.START, ProblemStatus.REGISTERED), (Action.SUBMIT, ProblemStatus.RECTIFYING)):
        assert refusal(action, RESPONSIBLE_PM, facts(status)) is None
        assert refusal(action, MANAGER_PM, facts(status)) is None
        for other in (STRANGER_PM, SUPERVISOR, COUNTY):
            found = refusal(action, other, facts(status))
            assert found is not None
            assert (found.kind, found.code) == (Refusal.FORBIDDEN, "not_responsible")
    # only a unit named: the project's manager answers for it
    unit_only = facts(ProblemStatus.REGISTERED, responsible_user_id=None)
    assert refusal(Action.START, MANAGER_PM, unit_only) is None
    assert refusal(Action.START, RESPONSIBLE_PM, unit_only) is not None
    # a region's problem naming only a unit: nobody acts until a registrar names the responsible user
    alone = facts(ProblemStatus.REGISTERED, responsible_user_id=None, manager_id=None)
    assert all(refusal(Action.START, a, alone) is not None for a in (RESPONSIBLE_PM, MANAGER_PM, SUPERVISOR))


def test_close_out_by_the_responsible_person_or_submitter_is_separation_of_duties() -> None:
    submitted = facts(ProblemStatus.SUBMITTED)
    as_verifier_role = Actor(RESPONSIBLE, Role.COUNTY_REVIEWER, "370115", RegionLevel.COUNTY)
    submitter_verifier = Actor(SUBMITTER, Role.SUPERVISOR, "370115", RegionLevel.COUNTY)
    for action in (Action.CLOSE, Action.SEND_BACK):
        for who in (as_verifier_role, submitter_verifier):
            found = refusal(action, who, submitted)
            assert found is not None
            assert (found.kind, found.code) == (Refusal.FORBIDDEN, "separation_of_duties")
        assert refusal(action, SUPERVISOR, submitted) is None
        assert refusal(action, COUNTY, submitted) is None
    # the responsible project manager is not a verifier at all
    found = refusal(Action.CLOSE, RESPONSIBLE_PM, submitted)
    assert found is not None
    assert found.code == "role_forbidden"


def test_verifiers_are_the_supervising_level_covering_the_problem() -> None:
    submitted = facts(ProblemStatus.SUBMITTED)
    found = refusal(Action.CLOSE, TOWNSHIP, submitted)
    assert found is not None
    assert found.code == "role_forbidden"
    found = refusal(Action.CLOSE, OTHER_COUNTY, submitted)
    assert found is not None
    assert found.code == "region_forbidden"
    admin = Actor(40, Role.ADMIN, "370100", RegionLevel.CITY)
    assert refusal(Action.CLOSE, admin, submitted) is None


def test_close_out_without_evidence_is_refused() -> None:
    found = refusal(Action.CLOSE, SUPERVISOR, facts(ProblemStatus.SUBMITTED, evidence=0))
    assert found is not None
    assert (found.kind, found.code) == (Refusal.CONFLICT, "evidence_required")


def test_submission_needs_evidence_the_submitter_uploaded() -> None:
    found = submission_refusal(0, [])
    assert found is not None
    assert (found.kind, found.code, found.field) == (
        Refusal.INVALID,
        "evidence_required",
        "attachments",
    )
    found = submission_refusal(2, [True, False])
    assert found is not None
    assert (found.code, found.field) == ("uploaded_by_you", "attachments[1]")
    assert submission_refusal(1, [True]) is None


def test_changes_need_the_registering_level_or_above() -> None:
    county_raised = facts(ProblemStatus.REGISTERED)
    found = refusal(Action.UPDATE, TOWNSHIP, county_raised)
    assert found is not None
    assert found.code == "level_forbidden"
    assert refusal(Action.UPDATE, TOWNSHIP, facts(ProblemStatus.REGISTERED, raised_level=RegionLevel.TOWNSHIP)) is None
    assert refusal(Action.UPDATE, SUPERVISOR, county_raised) is None
    found = refusal(Action.UPDATE, RESPONSIBLE_PM, county_raised)
    assert found is not None
    assert found.code == "role_forbidden"
    found = refusal(Action.UPDATE, OTHER_COUNTY, county_raised)
    assert found is not None
    assert found.code == "role_forbidden"


def test_who_registers() -> None:
    assert may_register(TOWNSHIP, VILLAGE) is None
    assert may_register(SUPERVISOR, "370115") is None
    found = may_register(TOWNSHIP, "370115101201")
    assert found is not None
    assert found.code == "region_forbidden"
    found = may_register(RESPONSIBLE_PM, VILLAGE)
    assert found is not None
    assert found.code == "role_forbidden"
    found = may_register(Actor(50, Role.FINANCE, "370115", RegionLevel.COUNTY), VILLAGE)
    assert found is not None
    assert found.code == "role_forbidden"


def test_overdue_is_past_the_deadline_and_not_closed() -> None:
    today = date(2026, 5, 10)
    assert overdue(date(2026, 5, 9), "rectifying", today)
    assert not overdue(date(2026, 5, 10), "rectifying", today)
    assert not overdue(date(2026, 5, 9), "closed", today)
    assert not overdue(None, "registered", today)


def test_rule_keys_and_chains() -> None:
    assert rule_key(RuleKind.IDLE, "A1", "2026-01-01") == "idle:A1:2026-01-01"
    assert rule_of("arrears:17") is RuleKind.ARREARS
    assert rule_of("inspection:A1:2026-03-01") is RuleKind.INSPECTION
    assert rule_of(None) is None
    assert rule_of("other:1") is None
    assert problem_chain("XM1", "370115") == "project:XM1"
    assert problem_chain(None, "370115") == "problems:370115"
