"""The vocabulary of the domain (DOMAIN.md): roles, stages, types, decisions."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who a user is (DESIGN.md, roles and rules of access)."""

    PROJECT_MANAGER = "project_manager"
    TOWNSHIP_REVIEWER = "township_reviewer"
    EXPERT = "expert"
    COUNTY_REVIEWER = "county_reviewer"
    CITY_REVIEWER = "city_reviewer"
    FINANCE = "finance"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Stage(StrEnum):
    """Where a project is in its life (DESIGN.md, Processes: ProjectWorkflow and its phases)."""

    APPLICATION = "application"
    TOWNSHIP_REVIEW = "township_review"
    EXPERT_REVIEW = "expert_review"
    COUNTY_APPROVAL = "county_approval"
    CITY_FILING = "city_filing"
    APPROVAL_NOTICE = "approval_notice"
    CONSTRUCTION = "construction"
    ACCEPTANCE = "acceptance"
    ASSET_REGISTRATION = "asset_registration"
    OPERATION = "operation"
    DISPOSAL = "disposal"
    CLOSED = "closed"
    RETURNED = "returned"
    REJECTED = "rejected"


class Phase(StrEnum):
    """A phase of a project's life: one child workflow of ProjectWorkflow each (DESIGN.md, Processes)."""

    APPROVAL = "approval"
    CONSTRUCTION = "construction"
    REGISTRATION = "registration"
    OPERATION = "operation"
    CLOSED = "closed"


class UpdateName(StrEnum):
    """The Updates a project's workflows take; the API sends them by name to the workflow that owns them."""

    SUBMIT_DECISION = "submit_decision"
    CLAIM_TASK = "claim_task"
    REASSIGN_TASK = "reassign_task"
    REVISE_APPLICATION = "revise_application"
    REPORT_PROGRESS = "report_progress"
    REPORT_COMPLETION = "report_completion"
    REGISTER_ASSETS = "register_assets"
    FILE_OBJECTION = "file_objection"
    RETRY_BLOCKED = "retry_blocked"
    PROPOSE_CONTRACT = "propose_contract"
    PROPOSE_RULE = "propose_distribution_rule"
    FILE_ROUND_OBJECTION = "file_round_objection"
    RESOLVE_ROUND_OBJECTION = "resolve_round_objection"
    CONFIRM_ROUND = "confirm_round"
    CHECK_CORRECTION = "check_correction"


class SignalName(StrEnum):
    """Signals a project's workflows take (fire and forget: the workflow re-reads the database)."""

    # an operation record (payment, revenue report, inspection, repair, asset status) was written: check again
    OPERATION_RECORDS_CHANGED = "operation_records_changed"
    # a ProjectWorkflow run that reached operation before OperationWorkflow existed: start it now
    START_OPERATION = "start_operation"
    # a corrected account was stored for a failed dividend payment (correction id, maker): it awaits a check
    CORRECTION_MADE = "correction_made"


class ProjectType(StrEnum):
    """Project types of DOMAIN.md §1."""

    PHOTOVOLTAIC = "photovoltaic"
    GREENHOUSE = "greenhouse"
    WORKSHOP = "workshop"
    RURAL_TOURISM = "rural_tourism"
    LIVESTOCK = "livestock"
    COLD_STORAGE = "cold_storage"
    PROCESSING = "processing"
    SHOPS_FOR_RENT = "shops_for_rent"
    OTHER = "other"


class FundSource(StrEnum):
    """Where a budget's money comes from (DOMAIN.md §1)."""

    LINKAGE_CENTRAL = "linkage_central"
    LINKAGE_PROVINCIAL = "linkage_provincial"
    LINKAGE_CITY = "linkage_city"
    INTEGRATED_AGRICULTURAL = "integrated_agricultural"
    COUNTY_MATCH = "county_match"
    SELF_RAISED = "self_raised"
    EAST_WEST = "east_west"
    DONATION = "donation"


class OperatingModel(StrEnum):
    """How the asset will be run (DOMAIN.md §1)."""

    LEASE = "lease"
    ENTRUSTED = "entrusted"
    SHARE_COOPERATION = "share_cooperation"
    CONTRACTING = "contracting"
    SELF_OPERATION = "self_operation"


class Decision(StrEnum):
    """What a reviewer may decide on a review task."""

    APPROVE = "approve"
    RETURN = "return"
    REJECT = "reject"
    SCORE = "score"
    DECLINE = "decline"
    UPHOLD = "uphold"
    DISMISS = "dismiss"
    DONE = "done"
    RESUBMIT = "resubmit"
    ACCEPT = "accept"
    RECTIFY = "rectify"
    REGISTER = "register"
    CONFIRM = "confirm"
    RETRY = "retry"


class TaskKind(StrEnum):
    """Kinds of human steps (tasks) recorded in the inbox."""

    TOWNSHIP_REVIEW = "township_review"
    EXPERT_REVIEW = "expert_review"
    EXTEND_EXPERT_LIBRARY = "extend_expert_library"
    COUNTY_APPROVAL = "county_approval"
    CITY_FILING = "city_filing"
    REVISION = "revision"
    OBJECTION = "objection"
    PROGRESS_REPORT = "progress_report"
    ACCEPTANCE = "acceptance"
    ASSET_REGISTRATION = "asset_registration"
    CONFIRM_REGISTRATION = "confirm_registration"
    PLATFORM_REJECTED = "platform_rejected"
    CONTRACT_REVIEW = "contract_review"
    CONTRACT_APPROVAL = "contract_approval"
    RENEW_CONTRACT = "renew_contract"
    ARREARS_REMINDER = "arrears_reminder"
    PUT_BACK_TO_USE = "put_back_to_use"
    INSPECTION = "inspection"
    RULE_REVIEW = "rule_review"
    RULE_APPROVAL = "rule_approval"


class TaskStatus(StrEnum):
    """A task is open until decided (or cancelled when its step is abandoned)."""

    OPEN = "open"
    DECIDED = "decided"
    CANCELLED = "cancelled"


class HouseholdCategory(StrEnum):
    """Category flags that weigh a household's dividend (DOMAIN.md §7)."""

    NO_LABOUR = "no_labour"
    SEVERE_DISABILITY = "severe_disability"
    SERIOUS_ILLNESS = "serious_illness"
    ELDERLY = "elderly"
    MONITORED = "monitored"


class RegionLevel(StrEnum):
    """Administrative levels with the significant length of their national code."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"
