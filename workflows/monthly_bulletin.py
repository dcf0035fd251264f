"""MonthlyBulletinWorkflow, id `report-monthly-{city}-{YYYY-MM}`: the city's monthly bulletin (月通报) ranking its
counties."""

from __future__ import annotations

from temporalio import workflow

from domain.reports import ReportInput, ReportMade
from workflows.report_steps import make_and_notify


@workflow.defn
class MonthlyBulletinWorkflow:
    """Makes one city's bulletin of one month and tells the city's and its counties' supervisors and leadership."""

    @workflow.run
    async def run(self, inp: ReportInput) -> ReportMade:
        """Make, store once, notify."""
        return await make_and_notify(inp)
