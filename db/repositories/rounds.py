"""What dividend rounds read and write: the assets in a round's scope with their pinned rules, the period's income
and upkeep per asset, the beneficiaries, plan lines in bulk, and payment attempts (written before submission)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Executable, Text, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Asset,
    AssetIncomeShare,
    DistributionRule,
    DividendClaim,
    DividendCorrection,
    DividendPayment,
    DividendRound,
    Household,
    ReceivedPayment,
    RevenueReport,
    UpkeepCost,
)
from db.repositories.audit import NewEntry, append_audit_entries
from db.repositories.operation_checks import rules_covering
from domain.assets import AssetClass, AssetStatus
from domain.payloads import Actor
from domain.rounds import ScopeKind


async def list_scope_assets(session: AsyncSession, *, kind: str, code: str) -> Sequence[Asset]:
    """The operating assets a round's scope covers (not disposed), by id."""
    stmt = select(Asset).where(Asset.asset_class == AssetClass.OPERATING.value, Asset.status != AssetStatus.DISPOSED)
    if kind == ScopeKind.ASSET:
        stmt = stmt.where(Asset.id == code)
    elif kind == ScopeKind.VILLAGE:
        stmt = stmt.where(Asset.village_code == code)
    else:
        stmt = stmt.where(Asset.county_code == code)
    return (await session.scalars(stmt.order_by(Asset.id))).all()


async def approved_rules(
    session: AsyncSession, *, asset_ids: Sequence[str], fiscal_year: int
) -> dict[str, DistributionRule]:
    """The approved rule version in force for each asset's year (the one a round pins): the asset's own, or the one
    of the group of assets it belongs to (then several assets map to one rule)."""
    wanted = set(asset_ids)
    rows = await rules_covering(session, asset_ids=list(asset_ids), fiscal_year=fiscal_year, statuses=["approved"])
    return {a: r for r in rows for a in group_of(r) if a in wanted}


def group_of(rule: DistributionRule) -> list[str]:
    """The assets a rule pools: the one it is written for, then its group's other assets."""
    return [rule.asset_id, *(str(m) for m in rule.members)]


async def claim_assets(
    session: AsyncSession, *, round_id: str, fiscal_year: int, groups: Sequence[Sequence[str]]
) -> tuple[list[int], dict[str, str]]:
    """Claim each group's assets for the round's fiscal year, a group whole or not at all: (the indexes of the
    groups this round holds, {asset: round} for the assets another round holds). An asset's year is paid out once.
    A concurrent claim of the same assets makes the insert wait for it and then find it (the caller retries)."""
    held = await asset_claims(session, asset_ids=sorted({a for g in groups for a in g}), fiscal_year=fiscal_year)
    elsewhere = {a: r for a, r in held.items() if r != round_id}
    kept = [i for i, g in enumerate(groups) if not any(a in elsewhere for a in g)]
    new = sorted({a for i in kept for a in groups[i] if a not in held})
    if new:
        stmt = (
            pg_insert(DividendClaim)
            .values([{"asset_id": a, "fiscal_year": fiscal_year, "round_id": round_id} for a in new])
            .on_conflict_do_nothing()
            .returning(DividendClaim.asset_id)
        )
        written = set((await session.scalars(stmt)).all())
        if written != set(new):
            raise ClaimRaced(sorted(set(new) - written))
    return kept, elsewhere


class ClaimRaced(Exception):
    """Another round claimed some of the same assets at the same moment (the plan is computed again)."""


async def asset_claims(session: AsyncSession, *, asset_ids: Sequence[str], fiscal_year: int) -> dict[str, str]:
    """{asset: round} for the assets whose year a round has claimed."""
    return dict(
        (
            await session.execute(
                select(DividendClaim.asset_id, DividendClaim.round_id).where(
                    DividendClaim.fiscal_year == fiscal_year, DividendClaim.asset_id.in_(list(asset_ids))
                )
            )
        ).all()
    )


async def _sums(session: AsyncSession, stmt: Executable) -> dict[str, int]:
    return {key: int(total) for key, total in await session.execute(stmt)}


@dataclass(frozen=True)
class AssetMoney:
    income_fen: int
    upkeep_fen: int


async def period_money(
    session: AsyncSession, *, asset_ids: Sequence[str], start: date, end: date, fiscal_year: int
) -> dict[str, AssetMoney]:
    """Each asset's income of the period (payments received plus reported profit) and upkeep cost of the year."""
    ids = list(asset_ids)
    received = await _sums(
        session,
        select(ReceivedPayment.asset_id, func.sum(ReceivedPayment.amount_fen))
        .where(ReceivedPayment.asset_id.in_(ids), ReceivedPayment.received_on.between(start, end))
        .group_by(ReceivedPayment.asset_id),
    )
    profit = await _sums(
        session,
        select(RevenueReport.asset_id, func.sum(RevenueReport.profit_fen))
        .where(RevenueReport.asset_id.in_(ids), RevenueReport.period_end.between(start, end))
        .group_by(RevenueReport.asset_id),
    )
    upkeep = await _sums(
        session,
        select(UpkeepCost.asset_id, func.sum(UpkeepCost.amount_fen))
        .where(UpkeepCost.asset_id.in_(ids), UpkeepCost.fiscal_year == fiscal_year)
        .group_by(UpkeepCost.asset_id),
    )
    return {a: AssetMoney(max(0, received.get(a, 0) + profit.get(a, 0)), upkeep.get(a, 0)) for a in ids}


@dataclass(frozen=True)
class Beneficiary:
    """A household as a plan weighs and names it (no ID number, no account)."""

    asset_id: str
    code: str
    shares: int
    members: int
    categories: tuple[str, ...]
    village_code: str
    head_name: str


async def list_beneficiaries(session: AsyncSession, *, asset_ids: Sequence[str]) -> list[Beneficiary]:
    rows = await session.execute(
        select(
            AssetIncomeShare.asset_id,
            Household.code,
            AssetIncomeShare.shares,
            Household.members,
            cast(Household.categories, Text),  # parsed below only when not empty: most households have none
            Household.village_code,
            Household.head_name,
        )
        .join(Household, Household.code == AssetIncomeShare.household_code)
        .where(AssetIncomeShare.asset_id.in_(list(asset_ids)))
        .order_by(AssetIncomeShare.asset_id, Household.code)
    )
    return [
        Beneficiary(a, c, s, m, tuple(json.loads(cat)) if cat and cat != "[]" else (), v, n)
        for a, c, s, m, cat, v, n in rows
    ]


LINE_COLUMNS = ("round_id", "plan_version", "household_code", "village_code", "head_name", "amount_fen", "parts")


async def create_lines(
    session: AsyncSession, *, round_id: str, version: int, rows: Sequence[tuple[str, str, str, int, str]]
) -> None:
    """Write a plan's lines with COPY on the session's own connection, inside its transaction (a county's 100,000
    households in one stream: the bench's baseline is the same COPY). A row: household code, village code, head's
    name, amount in fen, parts as JSON text."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    async with driver.cursor() as cur, cur.copy(f"COPY dividend_lines ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
        for code, village, head, amount, parts in rows:
            await copy.write_row((round_id, version, code, village, head, amount, parts))


_PREPARE = text(
    """
    INSERT INTO dividend_payments
        (reference, round_id, household_code, attempt, amount_fen, name, account, bank, batch_no, status, created_at)
    SELECT :round_id || ':' || l.household_code || ':' || '1', l.round_id, l.household_code, 1, l.amount_fen,
           h.head_name, h.bank_account, :bank,
           :round_id || '-b' || lpad(((row_number() OVER (ORDER BY l.household_code) - 1) / :size + 1)::text, 4, '0'),
           'submitted', :at
    FROM dividend_lines l JOIN households h ON h.code = l.household_code
    WHERE l.round_id = :round_id AND l.plan_version = :version AND l.amount_fen > 0
    ON CONFLICT (reference) DO NOTHING
    """
)


async def prepare_payments(
    session: AsyncSession, *, round_id: str, version: int, size: int, bank: str, at: datetime
) -> list[str]:
    """Write every household's first attempt before anything is submitted (unique `round:household:1`: a retry
    writes nothing new), numbered into batches of `size`; the round's first-attempt batch numbers."""
    await session.execute(_PREPARE, {"round_id": round_id, "version": version, "size": size, "bank": bank, "at": at})
    rows = await session.scalars(
        select(DividendPayment.batch_no)
        .where(DividendPayment.round_id == round_id, DividendPayment.attempt == 1)
        .distinct()
        .order_by(DividendPayment.batch_no)
    )
    return list(rows)


async def batch_payments(session: AsyncSession, *, batch_no: str) -> Sequence[Any]:
    """A batch's attempts as plain rows (reference, household, name, account, bank, amount, status): 5,000 of them
    read without building ORM objects."""
    rows = await session.execute(
        select(
            DividendPayment.reference,
            DividendPayment.household_code,
            DividendPayment.name,
            DividendPayment.account,
            DividendPayment.bank,
            DividendPayment.amount_fen,
            DividendPayment.status,
        )
        .where(DividendPayment.batch_no == batch_no)
        .order_by(DividendPayment.reference)
    )
    return rows.all()


async def round_outcomes(session: AsyncSession, *, round_id: str) -> dict[str, tuple[int, str]]:
    """Every attempt of a round that went to the bank: reference → (amount, status), in one read (reconciliation)."""
    rows = await session.execute(
        select(DividendPayment.reference, DividendPayment.amount_fen, DividendPayment.status).where(
            DividendPayment.round_id == round_id
        )
    )
    return {ref: (int(amount), str(status)) for ref, amount, status in rows}


async def batch_totals(session: AsyncSession, *, batch_no: str) -> dict[str, tuple[int, int]]:
    """A batch's attempts by status: (count, Σ fen)."""
    rows = await session.execute(
        select(DividendPayment.status, func.count(), func.sum(DividendPayment.amount_fen))
        .where(DividendPayment.batch_no == batch_no)
        .group_by(DividendPayment.status)
    )
    return {status: (int(n), int(total)) for status, n, total in rows}


_SETTLE = text(
    """
    UPDATE dividend_payments p SET status = v.status, reason = v.reason, settled_at = :at
    FROM unnest(CAST(:refs AS text[]), CAST(:statuses AS text[]), CAST(:reasons AS text[]))
         AS v(reference, status, reason)
    WHERE p.reference = v.reference AND p.status = 'submitted'
    """
)


async def settle_payments(session: AsyncSession, *, results: Sequence[tuple[str, str, str]], at: datetime) -> None:
    """Record the bank's answers (reference, paid|failed, reason) on attempts still submitted, in one statement."""
    if results:
        refs, statuses, reasons = (list(col) for col in zip(*results, strict=True))
        await session.execute(_SETTLE, {"refs": refs, "statuses": statuses, "reasons": reasons, "at": at})


_UNRESOLVED = text(
    """
    SELECT count(*) FROM (
        SELECT DISTINCT ON (household_code) household_code, status
        FROM dividend_payments WHERE round_id = :round_id
        ORDER BY household_code, attempt DESC
    ) latest WHERE status = 'failed'
    """
)


async def count_unresolved(session: AsyncSession, *, round_id: str) -> int:
    """Households whose latest attempt failed (a correction is owed them)."""
    return int((await session.execute(_UNRESOLVED, {"round_id": round_id})).scalar_one())


async def payment_totals(session: AsyncSession, *, round_id: str) -> dict[str, int]:
    """Σ amount per status over every attempt of the round."""
    return await _sums(
        session,
        select(DividendPayment.status, func.sum(DividendPayment.amount_fen))
        .where(DividendPayment.round_id == round_id)
        .group_by(DividendPayment.status),
    )


async def round_batches(session: AsyncSession, *, round_id: str) -> list[str]:
    rows = await session.scalars(
        select(DividendPayment.batch_no).where(DividendPayment.round_id == round_id).distinct()
    )
    return sorted(rows)


async def record_correction(
    session: AsyncSession, *, round_id: str, failed_reference: str, account: str, bank: str, maker: Actor, at: datetime
) -> DividendCorrection:
    """The maker's corrected account for a failed attempt (the API writes it; the workflow is told its id)."""
    c = DividendCorrection(
        round_id=round_id,
        failed_reference=failed_reference,
        household_code=failed_reference.split(":")[-2],
        account=account,
        bank=bank,
        status="proposed",
        made_by=maker.user_id,
        made_at=at,
    )
    session.add(c)
    await session.flush()
    entry = NewEntry(
        action="correction_made",
        event_key=f"correction_made:{c.id}",
        payload={"correction_id": c.id, "failed_reference": failed_reference},
        actor_id=maker.user_id,
        actor_name=maker.username,
        at=at,
    )
    await append_audit_entries(session, chain=f"round:{round_id}", entries=[entry])
    await session.execute(
        update(DividendRound)
        .where(DividendRound.id == round_id)
        .values(waiting_for="a second finance user's check of a correction")
    )
    return c


async def round_audit(
    session: AsyncSession, round_id: str, action: str, key: str, payload: dict[str, Any], actor: Actor
) -> None:
    """A person's act on a round (a recovery, its check), on the round's audit chain."""
    entry = NewEntry(
        action=action,
        event_key=key,
        payload=payload,
        actor_id=actor.user_id,
        actor_name=actor.username,
        at=datetime.now().astimezone(),
    )
    await append_audit_entries(session, chain=f"round:{round_id}", entries=[entry])
