"""Orchestration only: one workflow class per module."""

from workflows.project_lifecycle import ProjectLifecycleWorkflow

WORKFLOWS: list[type] = [ProjectLifecycleWorkflow]

__all__ = ["WORKFLOWS", "ProjectLifecycleWorkflow"]
