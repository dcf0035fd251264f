"""ProblemWatchWorkflow, id `problem-watch`: once a day (09:00, Asia/Shanghai) the problem ledger's check.

Each check is one activity (`check_problems`): overdue problems reminded, then escalated to the next level; the
rules that depend on the passing of time raise their problems (construction red for weeks, a dividend failure left
uncorrected); the archives whose colour time can change are recoloured. The check is idempotent by the problems'
own columns (a step is taken once per deadline), so a retried activity or a restarted worker reminds nobody twice.
The run continues as new every CHECKS_PER_RUN checks, carrying nothing but its input.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain.monitoring import ProblemCheckInput, ProblemCheckResult, ProblemWatchInput, next_check_at

with workflow.unsafe.imports_passed_through():
    from activities.problems import ProblemActivities

CHECKS_PER_RUN = 30  # about eleven events a check: a month's run stays under 350 events
CHECK_TIMEOUT = timedelta(minutes=10)
# a database outage must not lose a day's check: retry until it is back, backing off to five minutes
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))


@workflow.defn
class ProblemWatchWorkflow:
    """Runs the daily problem check, forever."""

    @workflow.run
    async def run(self, inp: ProblemWatchInput) -> None:
        """Sleep until the next check hour, check, repeat; continue as new every CHECKS_PER_RUN checks."""
        checks = 0
        while checks < CHECKS_PER_RUN and not workflow.info().is_continue_as_new_suggested():
            now = workflow.now()
            await workflow.sleep((next_check_at(now, inp.check_hour) - now).total_seconds())
            result: ProblemCheckResult = await workflow.execute_activity_method(
                ProblemActivities.check_problems,
                ProblemCheckInput(at=workflow.now(), scope=inp.scope),
                start_to_close_timeout=CHECK_TIMEOUT,
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=CHECK_RETRY,
            )
            workflow.logger.info(
                "problems checked: %s reminded, %s escalated, %s raised, %s archives recoloured",
                result.reminded,
                result.escalated,
                result.raised,
                result.recoloured,
            )
            checks += 1
        workflow.continue_as_new(inp)
