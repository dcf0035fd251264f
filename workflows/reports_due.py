"""ReportsDueWorkflow, started by the report schedules (Monday 08:00, the 1st 08:00, and a daily check): finds the
reports of ended periods that are not stored and starts one report workflow for each, with ids derived from the
period, so a run that finds a report made or under way starts nothing for it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.reports import (
    WORKFLOW,
    DueInput,
    DueReport,
    DueResult,
    ReportInput,
    ReportKind,
    ReportsDue,
    report_workflow_id,
)
from workflows.report_steps import DB_TIMEOUT, HEARTBEAT, RETRY

with workflow.unsafe.imports_passed_through():
    from activities.reports import ReportActivities

# set by Temporal on every workflow a schedule starts: the time the run was due (a late run still reports its period)
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class ReportsDueWorkflow:
    """One run of a report schedule: start the missing reports' workflows and end."""

    @workflow.run
    async def run(self, inp: ReportsDue) -> DueResult:
        """List what is missing, start a report workflow for each."""
        at: datetime = workflow.info().typed_search_attributes.get(SCHEDULED_AT) or workflow.now()
        due: list[DueReport] = await workflow.execute_activity_method(
            ReportActivities.list_due_reports,
            DueInput(weeks=inp.weeks, months=inp.months, scope=inp.scope, at=at),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        outcomes = await asyncio.gather(*(self._start(d) for d in due))
        started = [wid for wid, new in outcomes if new]
        existing = [wid for wid, new in outcomes if not new]
        return DueResult(started=started, existing=existing)

    async def _start(self, d: DueReport) -> tuple[str, bool]:
        kind = ReportKind(d.kind)
        wid = report_workflow_id(kind, d.region_code, d.period)
        try:
            await workflow.start_child_workflow(
                WORKFLOW[kind],
                ReportInput(kind=d.kind, region_code=d.region_code, period=d.period),
                id=wid,
                # the report outlives this run; a period whose report failed may be tried again, a made one not
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                execution_timeout=timedelta(days=1),
            )
        except WorkflowAlreadyStartedError:
            return wid, False
        return wid, True
