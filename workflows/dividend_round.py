"""DividendRoundWorkflow, id `dividend-{scope}-{fiscal year}-{n}`: one dividend round from plan to result notice.

plan (each asset's pool split by its pinned rule, a line per household) → notice with objections (an upheld one
makes an amended plan, a new version, noticed again) → confirmation by a second finance user → payment in batches
(attempts written before they are submitted; the gateway takes each reference once) → failed rows corrected
(maker-checker) and paid again → reconciliation → result notice → closed. Batches, never an activity per household;
names and accounts never enter this history.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain.enums import SignalName, UpdateName
from domain.rounds import (
    BatchInput,
    CheckInput,
    ConfirmInput,
    NoticeInput,
    ObjectionInput,
    ObjectionRecord,
    PaymentsInput,
    PlanInput,
    ResolveInput,
    RoundAct,
    RoundInput,
    RoundStatus,
    RoundStep,
    RoundView,
    check_refusal,
    confirm_refusal,
    objection_refusal,
    resolve_refusal,
)
from workflows.steps import HEARTBEAT, refuse

with workflow.unsafe.imports_passed_through():
    from activities.rounds import RoundActivities

# every activity heartbeats (the worker's interceptor): a killed worker's attempt is retried within HEARTBEAT seconds
DB_TIMEOUT = timedelta(seconds=60)
# batches submitted at once: the bank's round trips overlap (each batch is its own idempotent activity)
PARALLEL_BATCHES = 4
PAY_TIMEOUT = timedelta(minutes=5)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# a bank that is down is waited for (hours), a refusal is answered at once (non-retryable errors)
PAY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))


@workflow.defn
class DividendRoundWorkflow:
    """Carries one dividend round from its plan to its closed, reconciled result."""

    @workflow.init
    def __init__(self, inp: RoundInput) -> None:
        self._inp = inp
        self._status = RoundStatus.PLANNING.value
        self._version = 0
        self._open: set[str] = set()
        self._upheld = False
        self._confirmed_by: int | None = None
        self._corrections: dict[int, int] = {}  # correction id → maker, awaiting a check
        self._checked: list[str] = []  # batches of checked corrections, to pay
        self._unresolved = 0

    async def _status_to(self, status: RoundStatus, waiting_for: str = "", ends: datetime | None = None) -> None:
        self._status = status.value
        await workflow.execute_activity_method(
            RoundActivities.set_round_status,
            RoundStep(
                round_id=self._inp.round_id,
                status=status.value,
                at=workflow.now(),
                waiting_for=waiting_for,
                notice_ends_at=ends,
                version=self._version,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )

    @workflow.run
    async def run(self, inp: RoundInput) -> str:
        """Plan, notice, confirm, pay, correct, reconcile_round, notice the result."""
        while True:
            self._version += 1
            self._upheld = False
            await workflow.execute_activity_method(
                RoundActivities.plan_round,
                PlanInput(inp.round_id, self._version, workflow.now()),
                start_to_close_timeout=PAY_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RETRY,
            )
            ends = await self._notice_end(inp.notice_days)
            await self._status_to(RoundStatus.NOTICED, "the plan's public notice (公示) to end", ends)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: False, timeout=(ends - workflow.now()).total_seconds())
            if self._open:
                await self._status_to(RoundStatus.OBJECTIONS, "the county's resolution of the objections")
                await workflow.wait_condition(lambda: not self._open)
            if not self._upheld:
                break
        await self._status_to(RoundStatus.AWAITING_CONFIRMATION, "confirmation by a finance user other than the opener")
        await workflow.wait_condition(lambda: self._confirmed_by is not None and workflow.all_handlers_finished())
        await self._status_to(RoundStatus.PAYING, "the bank's answers")
        batches: list[str] = await workflow.execute_activity_method(
            RoundActivities.prepare_payments,
            PaymentsInput(inp.round_id, self._version, inp.batch_size, workflow.now()),
            start_to_close_timeout=PAY_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        if workflow.patched("pay-window-v1"):
            # a sliding window: a batch starts as soon as one of the PARALLEL_BATCHES in flight ends (in order)
            window = asyncio.Semaphore(PARALLEL_BATCHES)

            async def in_window(batch_no: str) -> None:
                async with window:
                    await self._pay(batch_no)

            await asyncio.gather(*(in_window(b) for b in batches))
        else:  # runs that paid before the window: groups of PARALLEL_BATCHES, each waiting for its slowest
            for i in range(0, len(batches), PARALLEL_BATCHES):
                await asyncio.gather(*(self._pay(b) for b in batches[i : i + PARALLEL_BATCHES]))
        while True:
            self._unresolved = await workflow.execute_activity_method(
                RoundActivities.count_failures,
                inp.round_id,
                start_to_close_timeout=DB_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RETRY,
            )
            if not self._unresolved and not self._checked:
                break
            if not self._checked:
                await self._status_to(RoundStatus.CORRECTING, "corrected accounts, made and checked (核实 → 更正)")
                await workflow.wait_condition(lambda: bool(self._checked))
            while self._checked:
                await self._pay(self._checked.pop(0))
        await self._status_to(RoundStatus.RECONCILING, "reconciliation with the bank")
        reconciled = await workflow.execute_activity_method(
            RoundActivities.reconcile_round,
            inp.round_id,
            start_to_close_timeout=PAY_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        if not reconciled.balanced:
            # an operator looks at the exceptions; the round stays open, visibly, until they are explained
            await self._status_to(RoundStatus.RECONCILING, f"{len(reconciled.exceptions)} reconciliation exception(s)")
            await workflow.wait_condition(lambda: False)
        ends = await self._notice_end(inp.result_notice_days)
        await self._status_to(RoundStatus.RESULT_NOTICED, "the result's public notice to end", ends)
        await workflow.sleep((ends - workflow.now()).total_seconds())
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._status_to(RoundStatus.CLOSED)
        return RoundStatus.CLOSED.value

    async def _notice_end(self, days: float) -> datetime:
        """A notice's end: `days` calendar days from now, or working days on China's calendar (an activity: the
        holiday calendar is I/O to a workflow) when the county counts so."""
        if not self._inp.notice_working_days:
            return workflow.now() + timedelta(days=days)
        ends: datetime = await workflow.execute_activity_method(
            RoundActivities.notice_end,
            NoticeInput(workflow.now(), max(1, round(days))),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        return ends

    async def _pay(self, batch_no: str) -> None:
        """Submit a batch and wait (polling the bank) until every line has its answer."""
        while True:
            outcome = await workflow.execute_activity_method(
                RoundActivities.pay_batch,
                BatchInput(self._inp.round_id, batch_no, workflow.now()),
                start_to_close_timeout=PAY_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=PAY_RETRY,
            )
            if not outcome.pending:
                return
            await workflow.sleep(self._inp.poll_seconds)

    # ---------------------------------------------------------------- people's acts (Updates)

    @workflow.update(name=UpdateName.FILE_ROUND_OBJECTION)
    async def file_objection(self, inp: ObjectionInput) -> str:
        """Anyone of the county objects to the noticed plan."""
        refuse(objection_refusal(inp.actor, self._inp, self._status, inp.text))
        objection_id = str(workflow.uuid4())
        self._open.add(objection_id)
        await workflow.execute_activity_method(
            RoundActivities.record_round_objection,
            ObjectionRecord(self._inp.round_id, objection_id, self._version, inp.actor, workflow.now(), text=inp.text),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        return objection_id

    @file_objection.validator
    def _validate_objection(self, inp: ObjectionInput) -> None:
        refuse(objection_refusal(inp.actor, self._inp, self._status, inp.text))

    @workflow.update(name=UpdateName.RESOLVE_ROUND_OBJECTION)
    async def resolve_objection(self, inp: ResolveInput) -> str:
        """The county upholds (an amended plan follows) or dismisses an objection."""
        refuse(resolve_refusal(inp.actor, self._inp, self._open, inp.objection_id))
        self._open.discard(inp.objection_id)
        self._upheld = self._upheld or inp.uphold
        await workflow.execute_activity_method(
            RoundActivities.record_round_objection,
            ObjectionRecord(
                self._inp.round_id,
                inp.objection_id,
                self._version,
                inp.actor,
                workflow.now(),
                uphold=inp.uphold,
                opinion=inp.opinion,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        return "upheld" if inp.uphold else "dismissed"

    @resolve_objection.validator
    def _validate_resolve(self, inp: ResolveInput) -> None:
        refuse(resolve_refusal(inp.actor, self._inp, self._open, inp.objection_id))

    @workflow.update(name=UpdateName.CONFIRM_ROUND)
    async def confirm(self, inp: ConfirmInput) -> str:
        """A second finance user confirms the noticed plan."""
        refuse(confirm_refusal(inp.actor, self._inp, self._status, self._confirmed_by))
        self._confirmed_by = inp.actor.user_id
        await workflow.execute_activity_method(
            RoundActivities.record_round_confirmation,
            RoundAct(self._inp.round_id, inp.actor, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        return RoundStatus.PAYING.value

    @confirm.validator
    def _validate_confirm(self, inp: ConfirmInput) -> None:
        refuse(confirm_refusal(inp.actor, self._inp, self._status, self._confirmed_by))

    @workflow.signal(name=SignalName.CORRECTION_MADE)
    def correction_made(self, correction_id: int, maker: int) -> None:
        """The API stored a corrected account (the maker's); it awaits a second finance user's check."""
        self._corrections[correction_id] = maker

    @workflow.update(name=UpdateName.CHECK_CORRECTION)
    async def check(self, inp: CheckInput) -> str:
        """A second finance user checks a correction: approved, the household is paid again."""
        refuse(check_refusal(inp.actor, self._inp, self._corrections.get(inp.correction_id), self._status))
        self._corrections.pop(inp.correction_id, None)
        batch_no: str = await workflow.execute_activity_method(
            RoundActivities.check_correction,
            RoundAct(self._inp.round_id, inp.actor, workflow.now(), inp.correction_id, inp.approve, inp.opinion),
            start_to_close_timeout=DB_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        if batch_no:
            self._checked.append(batch_no)
        return "checked" if batch_no else "rejected"

    @check.validator
    def _validate_check(self, inp: CheckInput) -> None:
        refuse(check_refusal(inp.actor, self._inp, self._corrections.get(inp.correction_id), self._status))

    @workflow.query
    def get_status(self) -> RoundView:
        """The round's status, plan version, open objections and failures awaiting correction."""
        return RoundView(
            self._inp.round_id,
            self._status,
            self._version,
            self._confirmed_by,
            sorted(self._open),
            self._unresolved,
        )
