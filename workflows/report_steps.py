"""The one body of both report workflows: make the report (stored once under its period's id), then tell its readers.
Composed by WeeklyReportWorkflow and MonthlyBulletinWorkflow, not a workflow itself."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain.reports import ReportInput, ReportMade

with workflow.unsafe.imports_passed_through():
    from activities.reports import ReportActivities

# a city's bulletin is a handful of grouped statements (seconds on 10,000 projects and 1,000,000 payments)
MAKE_TIMEOUT = timedelta(minutes=10)
HEARTBEAT = timedelta(seconds=30)
DB_TIMEOUT = timedelta(seconds=60)
# a database outage must not lose a period's report: retry until it is back, backing off to ten minutes
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=10))


async def make_and_notify(inp: ReportInput) -> ReportMade:
    """Make the report (a no-op when it is stored already) and notify the region's readers (once per report)."""
    made = await workflow.execute_activity_method(
        ReportActivities.make_report,
        inp,
        start_to_close_timeout=MAKE_TIMEOUT,
        heartbeat_timeout=HEARTBEAT,
        retry_policy=RETRY,
    )
    await workflow.execute_activity_method(
        ReportActivities.notify_report,
        inp,
        start_to_close_timeout=DB_TIMEOUT,
        heartbeat_timeout=HEARTBEAT,
        retry_policy=RETRY,
    )
    return made
