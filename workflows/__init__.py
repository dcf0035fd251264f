"""Orchestration only: one workflow class per module; the task, step and notice mechanisms they compose.

`WORKFLOWS` (every workflow type the worker registers) is computed on first use: the sandbox imports this
package each time it creates a workflow instance, and an `__init__` that imported every workflow module
would re-execute all of them for every new execution (measured: a sixth of the worker's CPU under load).
"""

from __future__ import annotations

from typing import Any


def _registered() -> list[type]:
    from workflows.approval import ApprovalWorkflow
    from workflows.construction import ConstructionWorkflow
    from workflows.dividend_round import DividendRoundWorkflow
    from workflows.monthly_bulletin import MonthlyBulletinWorkflow
    from workflows.notifications import NotificationDispatchWorkflow
    from workflows.operation import OperationWorkflow
    from workflows.problem_watch import ProblemWatchWorkflow
    from workflows.project import ProjectWorkflow
    from workflows.project_lifecycle import ProjectLifecycleWorkflow
    from workflows.registration import RegistrationWorkflow
    from workflows.reports_due import ReportsDueWorkflow
    from workflows.weekly_report import WeeklyReportWorkflow

    return [
        ProjectWorkflow,
        ApprovalWorkflow,
        ConstructionWorkflow,
        RegistrationWorkflow,
        OperationWorkflow,
        DividendRoundWorkflow,
        ProblemWatchWorkflow,
        WeeklyReportWorkflow,
        MonthlyBulletinWorkflow,
        ReportsDueWorkflow,
        ProjectLifecycleWorkflow,
        NotificationDispatchWorkflow,
    ]


def __getattr__(name: str) -> Any:
    if name == "WORKFLOWS":
        return _registered()
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")


__all__ = ["WORKFLOWS"]
