"""NotificationDispatchWorkflow, id `notifications-{task queue}`: delivers the outbox, one batch an activity.

It loops: a dispatch activity claims due deliveries and sends them; when the batch was full it goes again at
once, otherwise it sleeps until the next delivery falls due (at most `poll_seconds`) or a `poke` signal wakes it.
After `rounds_per_run` it continues as new, so its history stays small. A killed worker's dispatch is retried
(heartbeats) and takes up the rows it had claimed; each delivery's outcome was committed as it came.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain.notifications import DispatcherInput, DispatchInput, DispatchResult
from workflows.steps import HEARTBEAT

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities

# a batch of webhooks with their timeouts, or of e-mails; the heartbeat catches a dead worker long before this
DISPATCH_TIMEOUT = timedelta(minutes=10)
# a database or worker outage is ridden out, backing off to a minute
DISPATCH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn
class NotificationDispatchWorkflow:
    """Delivers the notification outbox for ever, in batches."""

    def __init__(self) -> None:
        self._poked = False

    @workflow.run
    async def run(self, inp: DispatcherInput) -> None:
        """Dispatch, sleep until something is due, again; continue as new after `rounds_per_run`."""
        for _ in range(inp.rounds_per_run):
            self._poked = False  # a poke during the dispatch below is seen by the wait after it
            result: DispatchResult = await workflow.execute_activity_method(
                NotificationActivities.dispatch_notifications,
                DispatchInput(limit=inp.batch_size),
                start_to_close_timeout=DISPATCH_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=DISPATCH_RETRY,
            )
            if result.claimed >= inp.batch_size:
                continue
            wait = inp.poll_seconds
            if result.next_due_in is not None:
                wait = max(0.05, min(wait, result.next_due_in))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._poked, timeout=timedelta(seconds=wait))
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(inp)

    @workflow.signal
    def poke(self) -> None:
        """Something was recorded: look now instead of at the next poll."""
        self._poked = True
