"""How every phase workflow runs its read-model activities: bounded, visible when blocked, never stuck.

`Steps` is composed by each workflow (not a workflow itself): `step()` for the run loop (a transient outage
is ridden out; a step failing permanently or for STEP_BUDGET blocks the project visibly until an operator
retries it), `store()` inside an Update (bounded by the store budget and answered, so no handler holds a
workflow's lock for ever).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as StepTimeout

from domain.failures import STORE_FAILED, UNSTORABLE, DecisionRefused
from domain.payloads import BlockedStep, ProjectStart, RetryInput
from domain.task_rules import Refusal, intervention_refusal

with workflow.unsafe.imports_passed_through():
    from activities.projects import ProjectActivities

# One transaction. Every activity heartbeats while it runs (the worker's HeartbeatInterceptor, a quarter of its
# heartbeat timeout apart), so a killed worker's attempt is retried by another once its heartbeat timeout passes,
# while a slow one under load is not duplicated: the start-to-close is for a hung one.
DB_TIMEOUT = timedelta(seconds=60)
# The activities of Steps (store, step, mark) are one short transaction each, run as a local activity first
# (LOCAL_STEPS): this heartbeat timeout is for the step that goes on as an activity task (an outage, an older
# execution). A worker killed during one holds the step for this long after its last heartbeat. 2 s and 3 s were
# tried: in `make test`'s sixty concurrent projects (API, worker and its workflow task threads in one process, so
# the event loop that sends the beats gets a share of the GIL) live attempts were timed out by the dozen.
STORE_HEARTBEAT = timedelta(seconds=5)
# Longer activities (payment batches, the platform's registration, notification batches) keep 5 s: they may hold
# the event loop longer, and a false timeout repeats a whole batch.
HEARTBEAT = timedelta(seconds=5)
# A database outage must not lose a step: retry until it is back, backing off to a minute. The first retry comes
# after 0.5 s (it was 1 s): it is also the pause between a killed worker's attempt timing out and its retry.
DB_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(minutes=1))
STEP_BUDGET = timedelta(minutes=5)
LOCAL_STEPS = "local-steps-v1"
"""From this patch on an Update's store (and the mark of a blocked step) runs first as a local activity: in the
worker that runs the workflow task, its result a marker in that task's completion. An Update is then one workflow
task (accept, store, answer) instead of two and an activity round trip, and a kill costs it the workflow task
timeout (or the sticky schedule-to-start) and nothing else: no heartbeat timeout, no retry pause, no second sticky
wait. A killed worker's attempt is run again by the worker that takes the task over (each store is one idempotent
transaction, as a retried activity was). The run loop's steps stay activity tasks: a workflow task stays open
while its local activities run, so steps run locally after a decision (the panel drawn, three tasks opened) held
the decision's answer until all were done (township decisions 655 ms at p50 instead of 243 in `make bench`).
Executions whose history has the stores as activity tasks replay them so."""
LOCAL_BUDGET = timedelta(seconds=1)
"""A store's one attempt as a local activity (LOCAL_STEPS): if it fails (an outage, a lock held past this) and the
error is not permanent, it goes on as an activity task with the retries and budget it had before. One
attempt, not local retries: a local activity backing off inside an Update's workflow task left the Update without
an answer (temporalio 1.35, server 1.32: the task's completions were refused, `Task not found`, the Updates it held
aborted and sent again for good), and a task held open past 80 % of its timeout would need a heartbeat too."""
LOCAL_ONCE = RetryPolicy(maximum_attempts=1)
BLOCKED_RETRY = timedelta(minutes=15)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=4))
MARK_BUDGET = timedelta(seconds=20)
A = TypeVar("A")
R = TypeVar("R")


StepError = (ActivityError, ApplicationError, StepTimeout)
"""How a step's failure reaches the workflow: an activity's as ActivityError (the cause inside); a local activity's
error as the ApplicationError itself, its timeout as ActivityError when it happens and as the TimeoutError alone
when its marker is replayed."""


def cause_of(err: BaseException) -> BaseException | None:
    """What made a step fail: the activity's own error (see StepError)."""
    return err.cause if isinstance(err, ActivityError) else err


def refuse(refusal: Refusal | None) -> None:
    """Raise a refusal as the ApplicationError the API maps to an HTTP status."""
    if refusal is not None:
        raise ApplicationError(refusal.message, type=refusal.type)


class Steps:
    """The activities of one workflow execution, and the step it is blocked on (if any)."""

    def __init__(self, project: ProjectStart) -> None:
        self._project = project
        self.blocked: BlockedStep | None = None
        self._retry_asked = False

    async def _run(
        self, activity_method: Callable[[Any, A], Awaitable[R]], arg: A, budget: timedelta, retry: RetryPolicy
    ) -> R:
        """An Update's store (or a mark): first one attempt as a local activity (LOCAL_STEPS), then, unless that
        succeeded or failed for good, as an activity task; in an execution from before that patch, as the activity
        task its history has."""
        if workflow.patched(LOCAL_STEPS):
            try:
                return await workflow.execute_local_activity_method(
                    activity_method,
                    arg,
                    start_to_close_timeout=LOCAL_BUDGET,
                    retry_policy=LOCAL_ONCE,
                )
            except StepError as err:
                cause = cause_of(err)
                if isinstance(cause, ApplicationError) and cause.non_retryable:
                    raise
        return await self._activity(activity_method, arg, budget, retry)

    async def _activity(
        self, activity_method: Callable[[Any, A], Awaitable[R]], arg: A, budget: timedelta, retry: RetryPolicy
    ) -> R:
        """One transaction as an activity task, retried by `retry` within `budget`."""
        return await workflow.execute_activity_method(
            activity_method,
            arg,
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=STORE_HEARTBEAT,
            schedule_to_close_timeout=budget,
            retry_policy=retry,
        )

    async def store(self, activity_method: Callable[[Any, A], Awaitable[R]], arg: A, what: str) -> R:
        """Run the read-model activity of an Update, bounded: a failure is answered as StoreFailed (or
        Unstorable, when the database refuses the data itself) and the caller changes nothing."""
        try:
            return await self._run(
                activity_method, arg, timedelta(seconds=self._project.config.store_budget_seconds), STORE_RETRY
            )
        except StepError as err:
            cause = cause_of(err)
            at = workflow.now().isoformat()
            if isinstance(cause, ApplicationError) and cause.type == UNSTORABLE:
                raise ApplicationError(f"{what} could not be stored: {cause.message}", at, type=UNSTORABLE) from err
            reason = cause.message if isinstance(cause, FailureError) else str(cause or err)
            raise ApplicationError(f"{what} could not be stored ({reason})", at, type=STORE_FAILED) from err

    async def step(self, activity_method: Callable[[Any, A], Awaitable[R]], arg: A) -> R:
        """Run a read-model activity of the run loop until it is done, blocking visibly when it cannot be."""
        while True:
            try:
                result = await self._activity(activity_method, arg, STEP_BUDGET, DB_RETRY)
            except ActivityError as err:
                await self._blocked_on(getattr(activity_method, "__name__", "step"), err)
                continue
            await self.cleared()
            return result

    async def _blocked_on(self, step: str, err: BaseException) -> None:
        cause = cause_of(err)
        permanent = isinstance(cause, ApplicationError) and cause.non_retryable
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        await self.hold(step, reason, permanent)

    async def hold(self, step: str, reason: str, permanent: bool) -> None:
        """Say what the project waits for, then wait for an operator's retry (or, if transient, a while)."""
        self.blocked = BlockedStep(
            project_code=self._project.code,
            step=step,
            error=reason.replace("\x00", "")[:300],
            since=workflow.now(),
            permanent=permanent,
        )
        await self._mark(self.blocked)
        self._retry_asked = False
        timeout = None if permanent else BLOCKED_RETRY.total_seconds()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._retry_asked, timeout=timeout)
        self._retry_asked = False

    async def _mark(self, blocked: BlockedStep) -> None:
        # best effort: when the database itself is down the workflow's status query still tells
        with contextlib.suppress(*StepError):
            await self._run(ProjectActivities.mark_blocked, blocked, MARK_BUDGET, STORE_RETRY)

    async def cleared(self) -> None:
        """The blocked step was done after all: the project no longer shows it."""
        if self.blocked is not None:
            await self._mark(replace(self.blocked, cleared=True))
            self.blocked = None

    def retry(self) -> str:
        """An operator's retry of the blocked step (validated by `retry_refusal` first)."""
        self._retry_asked = True
        return self.blocked.step if self.blocked else ""

    def retry_refusal(self, inp: RetryInput) -> Refusal | None:
        """Only a county supervisor or an admin of the region, and only when a step is blocked."""
        if refusal := intervention_refusal(inp.actor, self._project, "retry a step"):
            return refusal
        if self.blocked is None:
            return Refusal(DecisionRefused.WRONG_STAGE, "the project is not blocked; there is nothing to retry")
        return None
