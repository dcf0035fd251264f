"""The baseline: bare Temporal taking the steps of assetflow's approval chain, with no business code.

assetflow's chain, up to the answer of the city's decision, is 14 activities and 6 Updates, then one more activity
(the notice) that the client does not wait for:

    open township task · [Update: record] · draw panel · open 3 seats · [3 Updates: record] · record verdict ·
    open county task · [Update: record] · open city task · [Update: record] · open notice

Every activity here is a no-op, every Update runs one no-op activity and answers the next stage; a query lists the
open tasks (assetflow's clients read their inbox instead). The module imports nothing but temporalio, so the
sandbox re-imports it cheaply for every run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

TIMEOUT = timedelta(seconds=30)
SEATS = 3
REVIEWS = ("township_review", "county_approval", "city_filing")
AFTER = {"township_review": "expert_review", "county_approval": "city_filing", "city_filing": "approval_notice"}
ACTIVITIES_PER_CHAIN = 15  # in both systems; 6 of them inside the Updates
UPDATES_PER_CHAIN = 6


@activity.defn
async def open_task(task_id: str) -> str:
    """No-op stand-in for ProjectActivities.open_task."""
    return task_id


@activity.defn
async def record_decision(task_id: str) -> str:
    """No-op stand-in for ProjectActivities.record_decision."""
    return task_id


@activity.defn
async def step(name: str) -> str:
    """No-op stand-in for draw_panel, record_panel_verdict and open_notice."""
    return name


@workflow.defn
class BareChainWorkflow:
    """Township review → three expert seats → county → city → notice, each task decided by an Update."""

    @workflow.init
    def __init__(self, project: str) -> None:
        self._open: list[str] = []
        self._decided: set[str] = set()
        self._stage = "township_review"

    @workflow.run
    async def run(self, project: str) -> str:
        """Walk the chain, then wait for a close signal the bench never sends (projects stay open, too)."""
        await self._task("township_review")
        self._stage = "expert_review"
        await workflow.execute_activity(step, "draw_panel", start_to_close_timeout=TIMEOUT)
        seats = [f"expert_review-{i}" for i in range(SEATS)]
        for seat in seats:
            await self._open_task(seat)
        await workflow.wait_condition(lambda: self._decided.issuperset(seats))
        await workflow.execute_activity(step, "record_panel_verdict", start_to_close_timeout=TIMEOUT)
        await self._task("county_approval")
        await self._task("city_filing")
        await workflow.execute_activity(step, "open_notice", start_to_close_timeout=TIMEOUT)
        await workflow.wait_condition(lambda: self._stage == "closed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._stage

    async def _open_task(self, task_id: str) -> None:
        self._open.append(await workflow.execute_activity(open_task, task_id, start_to_close_timeout=TIMEOUT))

    async def _task(self, task_id: str) -> None:
        self._stage = task_id
        await self._open_task(task_id)
        await workflow.wait_condition(lambda: task_id in self._decided)

    @workflow.update
    async def decide(self, task_id: str) -> str:
        """Decide an open task: one no-op activity, then the stage the project is in."""
        if task_id not in self._open:
            raise ApplicationError(f"task {task_id} is not open", type="TaskNotOpen")
        self._open.remove(task_id)
        await workflow.execute_activity(record_decision, task_id, start_to_close_timeout=TIMEOUT)
        self._decided.add(task_id)
        if task_id in AFTER:
            self._stage = AFTER[task_id]
        elif sum(t.startswith("expert_review") for t in self._decided) == SEATS:
            self._stage = "county_approval"
        return self._stage

    @workflow.signal
    def close(self) -> None:
        """End the workflow (not used by the bench)."""
        self._stage = "closed"

    @workflow.query
    def open_tasks(self) -> list[str]:
        """The tasks open for a decision."""
        return list(self._open)


WORKFLOWS: list[type] = [BareChainWorkflow]
ACTIVITIES = [open_task, record_decision, step]
