"""Failure types shared by activities, workflows and the API (ApplicationError.type values)."""

from __future__ import annotations

UNSTORABLE = "Unstorable"
"""The database refused the data itself (a data or integrity error): retrying cannot help."""

STORE_FAILED = "StoreFailed"
"""A store inside an Update did not finish within its budget (the database is down or slow): retry later."""


class DecisionRefused:
    """ApplicationError types an Update can be refused with (the API maps them to 403/409/422)."""

    TASK_NOT_OPEN = "TaskNotOpen"
    NOT_ELIGIBLE = "NotEligible"
    SEPARATION_OF_DUTIES = "SeparationOfDuties"
    INVALID_DECISION = "InvalidDecision"
    OPINION_REQUIRED = "OpinionRequired"
    INVALID_SCORES = "InvalidScores"
    TASK_CLAIMED = "TaskClaimed"
    WRONG_STAGE = "WrongStage"
    NOTICE_CLOSED = "NoticeClosed"
    ITEMS_REQUIRED = "ItemsRequired"
    NOT_CLAIMED = "NotClaimed"
