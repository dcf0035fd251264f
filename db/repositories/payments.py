"""The embedded bank's ledger (bank_payments) and the accounts it fails (bank_failing_accounts)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import BankFailingAccount, BankPayment
from domain.payments import FailureReason, PaymentLine, PaymentStatus


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
    # executemany ("insertmanyvalues"): a cached statement sent in pages, not one statement of 30,000 parameters
    inserted = await session.scalars(
        insert(BankPayment)
        .on_conflict_do_nothing(index_elements=[BankPayment.reference])
        .returning(BankPayment.reference),
        rows,
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
