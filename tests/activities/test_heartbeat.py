"""The worker's HeartbeatInterceptor keeps a slow but living activity alive under the short heartbeat timeout of the
store and step activities (a killed worker's attempt is retried after it; a living one must never be), and beats
often enough for the SDK, which sends at most one heartbeat per 0.8 × the timeout, to have a fresh one each time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.interceptors import HeartbeatInterceptor, beat_interval
from workflows.report_steps import HEARTBEAT as REPORT_HEARTBEAT
from workflows.steps import HEARTBEAT, STORE_HEARTBEAT

SDK_THROTTLE = 0.8  # the SDK sends a heartbeat at most once per this fraction of the heartbeat timeout


def test_beats_fit_every_heartbeat_timeout_in_use() -> None:
    """At least three beats per SDK send window, and the first a quarter into the timeout (time for a loaded worker
    to have started the attempt): a send never finds nothing new to send."""
    for timeout in (STORE_HEARTBEAT, HEARTBEAT, REPORT_HEARTBEAT):
        every = beat_interval(timeout)
        assert every * 3 <= SDK_THROTTLE * timeout.total_seconds(), timeout
        assert every <= timeout.total_seconds() / 4, timeout
    assert beat_interval(None) > 0


@activity.defn(name="slow_store")
async def slow_store(seconds: float) -> int:
    """A store that takes longer than its heartbeat timeout without heartbeating itself: the interceptor must."""
    await asyncio.sleep(seconds)
    return activity.info().attempt


@workflow.defn(name="TestSlowStore")
class SlowStoreWorkflow:
    """Runs one slow store with the store activities' heartbeat timeout, as Steps would schedule it (a second
    attempt at most: a heartbeat timeout shows as attempt 2, or as the workflow's failure)."""

    @workflow.run
    async def run(self, seconds: float) -> int:
        """The attempt that completed."""
        return await workflow.execute_activity(
            slow_store,
            seconds,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=STORE_HEARTBEAT,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
        )


async def test_a_slow_living_store_outlives_its_heartbeat_timeout(temporal_client: Client) -> None:
    queue = f"heartbeat-{uuid.uuid4().hex[:8]}"
    seconds = 1.5 * STORE_HEARTBEAT.total_seconds()
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[SlowStoreWorkflow],
        activities=[slow_store],
        interceptors=[HeartbeatInterceptor()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        attempt = await temporal_client.execute_workflow(
            SlowStoreWorkflow.run, seconds, id=f"slow-store-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
    assert attempt == 1  # heard from throughout: no heartbeat timeout, no second attempt
