"""The baseline: bare Temporal doing the steps of a township review with no business code.

One no-op activity opens the "task"; an Update whose handler runs one no-op activity decides it. The module
imports nothing but temporalio, so the sandbox re-imports it cheaply for every run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def open_task(project: str) -> str:
    """No-op stand-in for ProjectActivities.open_task: names the task."""
    return f"{project}/township_review"


@activity.defn
async def record_decision(decision: str) -> str:
    """No-op stand-in for ProjectActivities.record_decision: echoes the decision."""
    return decision


@workflow.defn
class BareReviewWorkflow:
    """Opens one task, waits for the decision Update, then waits (like the lifecycle does after a review)."""

    @workflow.init
    def __init__(self, project: str) -> None:
        self._task: str | None = None
        self._decision: str | None = None

    @workflow.run
    async def run(self, project: str) -> str:
        """Open the task, wait for its decision, then wait for a close signal that the bench never sends."""
        self._task = await workflow.execute_activity(open_task, project, start_to_close_timeout=TIMEOUT)
        await workflow.wait_condition(lambda: self._decision is not None)
        await workflow.wait_condition(lambda: self._task is None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._decision or ""

    @workflow.update
    async def submit_decision(self, decision: str) -> str:
        """Decide the open task: one no-op activity, then answer."""
        self._decision = await workflow.execute_activity(record_decision, decision, start_to_close_timeout=TIMEOUT)
        return self._decision

    @workflow.signal
    def close(self) -> None:
        """End the workflow (not used by the bench: its workflows stay open, as projects do)."""
        self._task = None

    @workflow.query
    def task_open(self) -> bool:
        """True once the task is open and undecided."""
        return self._task is not None and self._decision is None


WORKFLOWS: list[type] = [BareReviewWorkflow]
ACTIVITIES = [open_task, record_decision]
