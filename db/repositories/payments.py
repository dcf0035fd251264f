"""The embedded bank's ledger (bank_payments) and the accounts it fails (bank_failing_accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import BankFailingAccount, BankPayment
from domain.payments import FailureReason, PaymentLine, PaymentStatus

_RECORD = text(
    """
    INSERT INTO bank_payments (reference, batch_no, account, amount_fen, status, reason)
    SELECT v.reference, :batch_no, v.account, v.amount_fen, v.status, v.reason
    FROM unnest(CAST(:references AS text[]), CAST(:accounts AS text[]), CAST(:amounts AS bigint[]),
                CAST(:statuses AS text[]), CAST(:reasons AS text[]))
         AS v(reference, account, amount_fen, status, reason)
    ON CONFLICT (reference) DO NOTHING
    RETURNING reference
    """
)


async def create_bank_payments(session: AsyncSession, *, batch_no: str, lines: Sequence[PaymentLine]) -> set[str]:
    """Record the lines (one multi-row insert … ON CONFLICT (reference) DO NOTHING), a line to a failing account as
    failed with that account's reason; the references recorded by this call are returned (the others were before).

    A concurrent insert of the same reference waits on the unique index for the other transaction and then does
    nothing: each reference is recorded, hence paid, once."""
    failing = await list_failing_accounts(session, accounts=[line.account for line in lines])
    rows = [
        {
            "reference": line.reference,
            "batch_no": batch_no,
            "account": line.account,
            "amount_fen": line.amount_fen,
            "status": PaymentStatus.FAILED if line.account in failing else PaymentStatus.PAID,
            "reason": failing.get(line.account),
        }
        for line in lines
    ]
    # one statement with one array per column (unnest): 5,000 lines are six parameters, not 30,000
    inserted = await session.scalars(
        _RECORD,
        {
            "references": [r["reference"] for r in rows],
            "batch_no": batch_no,
            "accounts": [r["account"] for r in rows],
            "amounts": [r["amount_fen"] for r in rows],
            "statuses": [str(r["status"]) for r in rows],
            "reasons": [None if r["reason"] is None else str(r["reason"]) for r in rows],
        },
    )
    return set(inserted.all())


async def list_bank_payments(
    session: AsyncSession, *, batch_no: str | None = None, references: Sequence[str] | None = None
) -> list[BankPayment]:
    """The ledger rows of a batch, or of the given references, in the order they were recorded."""
    stmt = select(BankPayment).order_by(BankPayment.id)
    if batch_no is not None:
        stmt = stmt.where(BankPayment.batch_no == batch_no)
    if references is not None:
        stmt = stmt.where(BankPayment.reference.in_(references))
    return list((await session.scalars(stmt)).all())


async def bank_results(session: AsyncSession, *, batch_no: str) -> Sequence[Any]:
    """A batch's ledger rows as plain rows (reference, status, amount, reason), in the order recorded."""
    rows = await session.execute(
        select(BankPayment.reference, BankPayment.status, BankPayment.amount_fen, BankPayment.reason)
        .where(BankPayment.batch_no == batch_no)
        .order_by(BankPayment.id)
    )
    return rows.all()


async def list_failing_accounts(session: AsyncSession, *, accounts: Sequence[str]) -> dict[str, FailureReason]:
    """The reasons the embedded bank fails those of `accounts` it has been told to fail (the few accounts a test or
    the demo told it to fail are read whole: no parameter per line)."""
    wanted = set(accounts)
    rows = await session.execute(select(BankFailingAccount.account, BankFailingAccount.reason))
    return {account: FailureReason(reason) for account, reason in rows.all() if account in wanted}


async def create_failing_account(session: AsyncSession, *, account: str, reason: FailureReason) -> None:
    """Make the embedded bank fail `account` with `reason` from now on (a repeat changes the reason)."""
    stmt = insert(BankFailingAccount).values(account=account, reason=reason.value)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[BankFailingAccount.account], set_={"reason": reason.value})
    )


async def delete_failing_account(session: AsyncSession, *, account: str) -> None:
    """Let the embedded bank pay `account` again (the card was reopened or corrected)."""
    await session.execute(delete(BankFailingAccount).where(BankFailingAccount.account == account))
