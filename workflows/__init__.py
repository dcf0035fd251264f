"""Orchestration only: one workflow class per module; the task, step and notice mechanisms they compose."""

from workflows.approval import ApprovalWorkflow
from workflows.construction import ConstructionWorkflow
from workflows.project import ProjectWorkflow
from workflows.project_lifecycle import ProjectLifecycleWorkflow
from workflows.registration import RegistrationWorkflow

WORKFLOWS: list[type] = [
    ProjectWorkflow,
    ApprovalWorkflow,
    ConstructionWorkflow,
    RegistrationWorkflow,
    ProjectLifecycleWorkflow,
]

__all__ = [
    "WORKFLOWS",
    "ApprovalWorkflow",
    "ConstructionWorkflow",
    "ProjectLifecycleWorkflow",
    "ProjectWorkflow",
    "RegistrationWorkflow",
]
