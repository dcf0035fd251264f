"""Activities of DividendRoundWorkflow, each one transaction and idempotent: the plan (each asset's pool split by its
pinned rule, one line per household), the round's steps and acts (audited on the round's own chain), payment
attempts written before they are submitted, batches paid through the payment gateway, corrections, reconciliation.
Names and accounts are read here from the database and never returned to the workflow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.archives import recolour_round
from core.calendar import is_china_workday
from core.payments import PaymentError, PaymentGateway, PaymentRejected
from db.engine import Sessions
from db.models import (
    DistributionRule,
    DividendCorrection,
    DividendObjection,
    DividendPayment,
    DividendPool,
    DividendRound,
)
from db.repositories.audit import NewEntry, append_audit_entries
from db.repositories.notifications import list_users_covering, note_event
from db.repositories.rounds import (
    AssetMoney,
    ClaimRaced,
    approved_rules,
    batch_payments,
    batch_totals,
    claim_assets,
    count_unresolved,
    create_lines,
    group_of,
    list_beneficiaries,
    list_scope_assets,
    payment_totals,
    period_money,
    prepare_payments,
    round_batches,
    round_outcomes,
    settle_payments,
)
from db.repositories.rounds import Beneficiary as Member
from domain.allocation import Allocation, AssetPart, HouseholdTotal, combine_lines
from domain.distribution import (
    Beneficiary,
    distribute,
    explain_line,
    income_pool,
    pooled_households,
    rule_from_json,
)
from domain.enums import Role
from domain.notifications import EventKind
from domain.payloads import Actor
from domain.payments import PaymentBatch, PaymentLine, reference
from domain.rounds import (
    BatchInput,
    BatchOutcome,
    NoticeInput,
    ObjectionRecord,
    PaymentsInput,
    PlanInput,
    PlanResult,
    Reconciliation,
    RoundAct,
    RoundStatus,
    RoundStep,
    period_of,
)
from domain.workdays import due_at

log = structlog.get_logger(__name__)
BANK = "惠民惠农一卡通"  # per-household money goes to the head's subsidy card (DOMAIN.md §7)


def round_chain(round_id: str) -> str:
    """The round's own audit chain."""
    return f"round:{round_id}"


@asynccontextmanager
async def _round(sessions: Sessions, round_id: str) -> AsyncIterator[tuple[AsyncSession, DividendRound]]:
    """One transaction with the round's row locked (one writer per round at a time)."""
    async with sessions.begin() as session:
        rnd = await session.get(DividendRound, round_id, with_for_update=True)
        if rnd is None:
            raise ApplicationError(f"round {round_id} not found", type="NotFound", non_retryable=True)
        yield session, rnd


async def _audit(
    session: AsyncSession,
    round_id: str,
    action: str,
    key: str,
    payload: dict[str, Any],
    at: datetime,
    actor: Actor | None = None,
) -> None:
    entry = NewEntry(
        action=action,
        event_key=key,
        payload=payload,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "system",
        at=at,
    )
    await append_audit_entries(session, chain=round_chain(round_id), entries=[entry])


# the statuses whose reaching the county's finance users (and its webhooks and robots) hear of
ROUND_EVENTS = {
    RoundStatus.NOTICED.value: EventKind.ROUND_NOTICED,
    RoundStatus.PAYING.value: EventKind.ROUND_CONFIRMED,
    RoundStatus.CORRECTING.value: EventKind.ROUND_FAILED_LINES,
    RoundStatus.RESULT_NOTICED.value: EventKind.ROUND_PAID,
}


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


async def _notify_round(
    session: AsyncSession,
    rnd: DividendRound,
    kind: EventKind,
    key: str,
    at: datetime,
    extra: dict[str, str | int] | None = None,
) -> None:
    """The county's finance users and the round's opener hear of it: figures only, never a household's name,
    ID number or account."""
    finance = await list_users_covering(session, role=Role.FINANCE.value, code=rnd.county_code)
    ends = rnd.notice_ends_at
    params: dict[str, str | int] = {
        "round_id": rnd.id,
        "households": rnd.lines,
        "amount": _yuan(rnd.households_fen),
        "paid": _yuan(rnd.paid_fen),
        "ends": f"{ends.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}" if ends else "",
    }
    params.update(extra or {})
    await note_event(
        session,
        kind=kind,
        key=key,
        params=params,
        user_ids=[rnd.opened_by, *(u.id for u in finance)],
        region_code=rnd.county_code,
        at=at,
    )


def _plan(
    ids: list[str],
    rules: dict[str, DistributionRule],
    groups: dict[str, list[str]],
    money: dict[str, AssetMoney],
    people: Sequence[Member],
    round_id: str,
    version: int,
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, int, str]]]:
    """A plan's pools and each household's line as COPY writes it (pure: no session, no I/O)."""
    heads = {b.code: b for b in people}
    by_asset: dict[str, Allocation] = {}
    explained: dict[tuple[str, str], str] = {}
    pools: list[dict[str, Any]] = []
    for asset_id in ids:
        stored = rules[asset_id]
        group = set(groups[asset_id])
        rule = rule_from_json(stored.rule)
        income = sum(money[a].income_fen for a in group)
        upkeep = sum(money[a].upkeep_fen for a in group)
        pool = income_pool(income, upkeep, rule)
        excluded = dict(stored.excluded)
        members = [
            Beneficiary(b.code, b.shares, b.members, b.categories, excluded.get(b.code))
            for b in people
            if b.asset_id in group
        ]
        split = distribute(pool, rule, members if len(group) == 1 else pooled_households(members))
        by_asset[asset_id] = split.households
        pooled = f"资产组（{len(group)} 项资产合并分配）：" if len(group) > 1 else ""
        for line in split.households.lines:
            explained[(asset_id, line.key)] = pooled + explain_line(line, rule)
        pools.append(
            {
                "round_id": round_id,
                "plan_version": version,
                "asset_id": asset_id,
                "project_code": stored.project_code,
                "rule_id": stored.id,
                "income_fen": income,
                "upkeep_fen": upkeep,
                "pool_fen": pool,
                "final": {str(k): v for k, v in split.final.items()},
                "households_fen": sum(line.amount_fen for line in split.households.lines),
                "members": groups[asset_id][1:],
            }
        )
    # one asset: its lines are the households' totals (combining is for rounds over several assets)
    totals = combine_lines(by_asset) if len(by_asset) > 1 else _single(by_asset)
    # each line as COPY writes it: code, village, head, amount, its parts (each asset's fen and why) as JSON
    lines = [
        (
            t.key,
            heads[t.key].village_code,
            heads[t.key].head_name,
            t.amount_fen,
            json.dumps(
                [
                    {"asset_id": p.asset_id, "amount_fen": p.amount_fen, "why": explained[(p.asset_id, t.key)]}
                    for p in t.parts
                ],
                ensure_ascii=False,
            ),
        )
        for t in totals
    ]
    return pools, lines


class RoundActivities:
    """Writes a dividend round's read model and pays it through the payment gateway."""

    def __init__(self, sessions: Sessions, gateway: PaymentGateway) -> None:
        self._sessions = sessions
        self._gateway = gateway

    @activity.defn
    async def plan_round(self, inp: PlanInput) -> PlanResult:
        """Version `inp.version` of the plan: each asset's income of the period (minus upkeep if its rule says so)
        split by the rule version approved for the year (pinned in the pool row), the households' parts summed into
        one line each, explained. A version is written once."""
        async with _round(self._sessions, inp.round_id) as (session, rnd):
            if rnd.plan_version >= inp.version:
                return PlanResult(rnd.plan_version, rnd.pool_fen, rnd.households_fen, rnd.lines)
            assets = await list_scope_assets(session, kind=rnd.scope_kind, code=rnd.scope_code)
            in_force = await approved_rules(session, asset_ids=[a.id for a in assets], fiscal_year=rnd.fiscal_year)
            # one pool per rule: an asset alone, or a group of one village's assets pooled whole (even when the
            # round's scope names only one of them)
            rules = {r.asset_id: r for r in in_force.values()}
            groups = {lead: group_of(r) for lead, r in sorted(rules.items())}
            try:
                kept, elsewhere = await claim_assets(
                    session, round_id=rnd.id, fiscal_year=rnd.fiscal_year, groups=list(groups.values())
                )
            except ClaimRaced as err:
                raise ApplicationError(f"assets {err} claimed by another round at the same moment") from err
            ids = [lead for i, lead in enumerate(groups) if i in kept]
            if not ids:
                raise ApplicationError(
                    f"no asset of {rnd.scope_code} has an approved distribution rule for {rnd.fiscal_year} "
                    f"that another round has not distributed ({sorted(set(elsewhere.values()))})",
                    type="NoRule",
                    non_retryable=True,
                )
            start, end = period_of(rnd.fiscal_year)
            every = [a for lead in ids for a in groups[lead]]
            money = await period_money(session, asset_ids=every, start=start, end=end, fiscal_year=rnd.fiscal_year)
            people = await list_beneficiaries(session, asset_ids=every)
            # the allocation and its Chinese explanations are seconds of CPU for a county: off the event loop, so
            # the heartbeats (and other activities) go on meanwhile
            pools, lines = await asyncio.to_thread(_plan, ids, rules, groups, money, people, rnd.id, inp.version)
            for row in pools:
                session.add(DividendPool(**row))
            await session.flush()
            await create_lines(session, round_id=rnd.id, version=inp.version, rows=lines)
            result = PlanResult(
                inp.version, sum(p["pool_fen"] for p in pools), sum(amount for _, _, _, amount, _ in lines), len(lines)
            )
            rnd.plan_version, rnd.pool_fen, rnd.households_fen, rnd.lines = (
                result.version,
                result.pool_fen,
                result.households_fen,
                result.lines,
            )
            await _audit(
                session,
                rnd.id,
                "dividend_plan",
                f"plan:{rnd.id}:{inp.version}",
                {
                    "version": inp.version,
                    "pool_fen": result.pool_fen,
                    "households_fen": result.households_fen,
                    "lines": result.lines,
                    "pools": [
                        {k: p[k] for k in ("asset_id", "members", "rule_id", "pool_fen", "final")} for p in pools
                    ],
                    "without_rule": sorted(a.id for a in assets if a.id not in in_force),
                    "distributed_elsewhere": dict(sorted(elsewhere.items())),
                },
                inp.at,
            )
            if inp.version == 1:
                await _notify_round(session, rnd, EventKind.ROUND_OPENED, f"round_opened:{rnd.id}", inp.at)
        log.info("round planned", round_id=inp.round_id, version=inp.version, lines=result.lines)
        return result

    @activity.defn
    async def notice_end(self, inp: NoticeInput) -> datetime:
        """The end of a notice counted in working days on China's calendar (holidays and 调休 Saturdays known)."""
        return due_at(inp.at, inp.days, is_china_workday, ZoneInfo(inp.time_zone))

    @activity.defn
    async def set_round_status(self, inp: RoundStep) -> None:
        """Move the round to a status (audited once per status and moment)."""
        async with _round(self._sessions, inp.round_id) as (session, rnd):
            rnd.status = inp.status
            rnd.waiting_for = inp.waiting_for
            if inp.notice_ends_at is not None:
                rnd.notice_ends_at = inp.notice_ends_at
            if inp.status == "closed":
                rnd.closed_at = inp.at
            if (event := ROUND_EVENTS.get(inp.status)) is not None:
                params: dict[str, str | int] = {}
                if event is EventKind.ROUND_FAILED_LINES:
                    params["failed"] = await count_unresolved(session, round_id=rnd.id)
                key = f"round:{rnd.id}:{inp.status}:{inp.at.isoformat()}"
                await _notify_round(session, rnd, event, key, inp.at, params)
            await _audit(
                session,
                rnd.id,
                f"round_{inp.status}",
                f"status:{rnd.id}:{inp.status}:{inp.at.isoformat()}",
                {
                    "status": inp.status,
                    "version": inp.version,
                    "notice_ends_at": inp.notice_ends_at.isoformat() if inp.notice_ends_at else None,
                },
                inp.at,
            )
            await recolour_round(session, rnd.id, inp.at)  # the distribution archives of the projects it pays

    @activity.defn
    async def record_round_objection(self, inp: ObjectionRecord) -> None:
        """Store an objection to the noticed plan, or its resolution (upheld or dismissed), audited."""
        async with _round(self._sessions, inp.round_id) as (session, rnd):
            objection = await session.get(DividendObjection, inp.objection_id, with_for_update=True)
            if inp.uphold is None:
                if objection is None:
                    session.add(
                        DividendObjection(
                            id=inp.objection_id,
                            round_id=rnd.id,
                            plan_version=inp.version,
                            text=inp.text,
                            filed_by=inp.actor.user_id,
                            filed_at=inp.at,
                            status="open",
                        )
                    )
                action, payload = "round_objection_filed", {"objection_id": inp.objection_id, "text": inp.text}
            else:
                if objection is None:
                    raise ApplicationError("objection not found", type="NotFound", non_retryable=True)
                objection.status = "upheld" if inp.uphold else "dismissed"
                objection.resolution = inp.opinion
                objection.resolved_by = inp.actor.user_id
                objection.resolved_at = inp.at
                action = "round_objection_upheld" if inp.uphold else "round_objection_dismissed"
                payload = {"objection_id": inp.objection_id, "opinion": inp.opinion}
            await _audit(session, rnd.id, action, f"{action}:{inp.objection_id}", payload, inp.at, inp.actor)

    @activity.defn
    async def record_round_confirmation(self, inp: RoundAct) -> None:
        """The second finance user's confirmation of the noticed plan, audited."""
        async with _round(self._sessions, inp.round_id) as (session, rnd):
            if rnd.confirmed_by is None:
                rnd.confirmed_by = inp.actor.user_id
                rnd.confirmed_at = inp.at
            await _audit(
                session,
                rnd.id,
                "round_confirmed",
                f"confirmed:{rnd.id}",
                {"version": rnd.plan_version},
                inp.at,
                inp.actor,
            )

    @activity.defn
    async def prepare_payments(self, inp: PaymentsInput) -> list[str]:
        """Every household's first payment attempt, written before any is submitted; the batch numbers."""
        async with _round(self._sessions, inp.round_id) as (session, rnd):
            batches = await prepare_payments(
                session, round_id=rnd.id, version=inp.version, size=inp.batch_size, bank=BANK, at=inp.at
            )
            await _audit(session, rnd.id, "payments_prepared", f"prepared:{rnd.id}", {"batches": len(batches)}, inp.at)
        return batches

    @activity.defn
    async def pay_batch(self, inp: BatchInput) -> BatchOutcome:
        """Submit a batch's attempts (the gateway takes each reference once: a retry pays nobody twice) and record
        what the bank answered so far."""
        async with self._sessions() as session:
            rows = list(await batch_payments(session, batch_no=inp.batch_no))
        if not rows:
            raise ApplicationError(f"batch {inp.batch_no} has no lines", type="NotFound", non_retryable=True)
        purpose = f"{inp.round_id} 收益分红"
        unsent = [r for r in rows if r.status == "submitted"]
        if unsent:
            batch = PaymentBatch(
                inp.batch_no,
                tuple(
                    PaymentLine(r.reference, r.household_code, r.name, r.account, r.bank, r.amount_fen, purpose)
                    for r in rows
                ),
            )
            try:
                await self._gateway.submit(batch)
                results = await self._gateway.results(inp.batch_no)
            except PaymentRejected as err:
                raise ApplicationError(str(err), type="PaymentRejected", non_retryable=True) from err
            except PaymentError as err:
                raise ApplicationError(str(err), type="PaymentUnavailable") from err
            waiting = {r.reference for r in unsent}
            answered = [
                (res.reference, res.status.value, res.reason.value if res.reason else "")
                for res in results
                if res.reference in waiting
            ]
            async with self._sessions.begin() as session:
                await settle_payments(session, results=answered, at=inp.at)
                totals = await batch_totals(session, batch_no=inp.batch_no)
                settled = sum(n for status, (n, _) in totals.items() if status != "submitted")
                await _audit(
                    session,
                    inp.round_id,
                    "batch_paid",
                    f"batch:{inp.batch_no}:{settled}",
                    {
                        "batch_no": inp.batch_no,
                        "lines": len(rows),
                        "paid_fen": totals.get("paid", (0, 0))[1],
                        "failed_fen": totals.get("failed", (0, 0))[1],
                    },
                    inp.at,
                )
                if totals.get("failed", (0, 0))[0]:
                    await recolour_round(session, inp.round_id, inp.at)  # a failure owed a correction
        else:
            async with self._sessions() as session:
                totals = await batch_totals(session, batch_no=inp.batch_no)
        return BatchOutcome(
            inp.batch_no,
            len(rows),
            paid=totals.get("paid", (0, 0))[0],
            failed=totals.get("failed", (0, 0))[0],
            pending=totals.get("submitted", (0, 0))[0],
        )

    @activity.defn
    async def count_failures(self, round_id: str) -> int:
        """Households whose latest attempt failed."""
        async with self._sessions() as session:
            return await count_unresolved(session, round_id=round_id)

    @activity.defn
    async def check_correction(self, inp: RoundAct) -> str:
        """A correction checked by a second finance user: approved, a new attempt (`attempt + 1`, linked to the
        failed one, to the corrected account) is written in its own batch, whose number is answered; rejected, "".
        Nothing is edited in place."""
        async with _round(self._sessions, inp.round_id) as (session, rnd):
            c = await session.get(DividendCorrection, inp.correction_id, with_for_update=True)
            if c is None or c.round_id != rnd.id:
                raise ApplicationError("correction not found", type="NotFound", non_retryable=True)
            batch_no = f"{rnd.id}-c{c.id}"
            if c.status != "proposed":
                return batch_no if c.status == "checked" else ""
            c.checked_by, c.checked_at = inp.actor.user_id, inp.at
            if not inp.approve:
                c.status = "rejected"
                await _audit(
                    session,
                    rnd.id,
                    "correction_rejected",
                    f"correction:{c.id}",
                    {"correction_id": c.id, "opinion": inp.opinion},
                    inp.at,
                    inp.actor,
                )
                return ""
            c.status = "checked"
            failed = await session.scalar(
                select(DividendPayment).where(DividendPayment.reference == c.failed_reference)
            )
            assert failed is not None  # a foreign key
            attempt = failed.attempt + 1
            session.add(
                DividendPayment(
                    reference=reference(rnd.id, failed.household_code, attempt),
                    round_id=rnd.id,
                    household_code=failed.household_code,
                    attempt=attempt,
                    amount_fen=failed.amount_fen,
                    name=failed.name,
                    account=c.account,
                    bank=c.bank,
                    batch_no=batch_no,
                    status="submitted",
                    replaces=failed.reference,
                    created_at=inp.at,
                )
            )
            await _audit(
                session,
                rnd.id,
                "correction_checked",
                f"correction:{c.id}",
                {
                    "correction_id": c.id,
                    "household_code": c.household_code,
                    "replaces": c.failed_reference,
                    "attempt": attempt,
                },
                inp.at,
                inp.actor,
            )
            await recolour_round(session, rnd.id, inp.at)  # the failure is being corrected
        return batch_no

    @activity.defn
    async def reconcile_round(self, round_id: str) -> Reconciliation:
        """Σ paid + Σ failed against what was submitted, and every attempt against the bank's own answer (reference,
        status, amount); what does not match is an exception. The round's totals follow."""
        async with self._sessions() as session:
            batches = await round_batches(session, round_id=round_id)
            rows = await round_outcomes(session, round_id=round_id)
        exceptions: list[str] = []
        seen: set[str] = set()
        for b in batches:
            for res in await self._gateway.results(b):
                seen.add(res.reference)
                ours = rows.get(res.reference)
                if ours is None:
                    exceptions.append(f"{res.reference}: answered by the bank, not ours")
                elif ours != (res.amount_fen, res.status.value):
                    exceptions.append(
                        f"{res.reference}: ours {ours[1]} {ours[0]}, bank {res.status.value} {res.amount_fen}"
                    )
        exceptions += [f"{ref}: no answer from the bank" for ref in rows if ref not in seen]
        async with _round(self._sessions, round_id) as (session, rnd):
            totals = await payment_totals(session, round_id=round_id)
            unresolved = await count_unresolved(session, round_id=round_id)
            result = Reconciliation(
                submitted_fen=sum(totals.values()),
                paid_fen=totals.get("paid", 0),
                failed_fen=totals.get("failed", 0),
                unresolved=unresolved,
                exceptions=exceptions,
            )
            rnd.paid_fen, rnd.failed_fen = result.paid_fen, result.failed_fen
            await _audit(
                session,
                round_id,
                "round_reconciled" if result.balanced else "round_reconciliation_failed",
                f"reconcile_round:{round_id}:{datetime.now(UTC).isoformat()}",
                {
                    "submitted_fen": result.submitted_fen,
                    "paid_fen": result.paid_fen,
                    "failed_fen": result.failed_fen,
                    "exceptions": exceptions[:100],
                },
                datetime.now(UTC),
            )
        return result


def _single(by_asset: dict[str, Allocation]) -> list[HouseholdTotal]:
    """`combine_lines` of one asset's allocation, without the merging."""
    ((asset_id, allocation),) = by_asset.items()
    return [
        HouseholdTotal(line.key, line.amount_fen, (AssetPart(asset_id, line.amount_fen),)) for line in allocation.lines
    ]
