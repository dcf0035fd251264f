"""WeeklyReportWorkflow, id `report-weekly-{county}-{ISO week}`: the county's weekly scheduling report (周调度)."""

from __future__ import annotations

from temporalio import workflow

from domain.reports import ReportInput, ReportMade
from workflows.report_steps import make_and_notify


@workflow.defn
class WeeklyReportWorkflow:
    """Makes one county's report of one ISO week and tells its supervisors and leadership office."""

    @workflow.run
    async def run(self, inp: ReportInput) -> ReportMade:
        """Make, store once, notify."""
        return await make_and_notify(inp)
