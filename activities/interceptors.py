"""Activity interceptors: which failures are permanent (the database refusing the data itself is not retried),
and a heartbeat from every running activity (a killed worker's work is retried elsewhere within seconds, a slow
but living one is left to finish)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from domain.failures import UNSTORABLE

# A data error (a NUL in text, a value out of range), a broken constraint or a malformed statement fails the
# same way on every attempt; connection loss, deadlocks and serialization failures (OperationalError) do not.
PERMANENT = (DataError, IntegrityError, ProgrammingError)


def refusal_message(err: Exception) -> str:
    """The database's own first line (never the statement or its parameters, which may hold personal data)."""
    orig = getattr(err, "orig", None) or err
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return first.replace("\x00", "")[:200]


class _PermanentFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except PERMANENT as err:
            raise ApplicationError(
                f"the database refused the data: {refusal_message(err)}", type=UNSTORABLE, non_retryable=True
            ) from None  # the chained DBAPI error would carry the statement's parameters into the history


class PermanentFailuresInterceptor(Interceptor):
    """Turns the database's refusals of data into non-retryable ApplicationErrors (type Unstorable)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _PermanentFailures(next)


BEATS_PER_TIMEOUT = 4
"""A running activity heartbeats every quarter of its heartbeat timeout: its first beat comes a quarter in (time
for a loaded worker to have started it), and the worker sends each beat (worker.HEARTBEAT_SEND_EVERY, 0.5 s, lifts
the SDK's default of one send per 0.8 × timeout), so the server hears from a live attempt three quarters of its
timeout before it would time out (3 s timeout: a beat every 0.75 s; 5 s: every 1.25 s)."""
WITHOUT_TIMEOUT = 1.0
"""Seconds between beats of an activity scheduled without a heartbeat timeout (then nothing waits for them)."""


def beat_interval(heartbeat_timeout: timedelta | None) -> float:
    """Seconds between the heartbeats of an activity with this heartbeat timeout."""
    if not heartbeat_timeout:
        return WITHOUT_TIMEOUT
    return heartbeat_timeout.total_seconds() / BEATS_PER_TIMEOUT


class _Heartbeat(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().is_local:  # a local activity has no heartbeat: its workflow task's timeout stands for it
            return await super().execute_activity(input)
        beating = asyncio.create_task(_beat(beat_interval(activity.info().heartbeat_timeout)))
        try:
            return await super().execute_activity(input)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating


async def _beat(every: float) -> None:
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


class HeartbeatInterceptor(Interceptor):
    """Every activity heartbeats while it runs, a quarter of its heartbeat timeout apart (quick ones finish before
    the first beat and send none)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Heartbeat(next)
