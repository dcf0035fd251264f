"""embedded bank: the ledger of the simulated paying bank (bank_payments) and the accounts it fails

One row per payment line reference (unique: the idempotency key), so a repeated submission pays nothing twice;
bank_failing_accounts tells it which cards to refuse and why (tests, the demo).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_payments",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("reference", sa.String(200), nullable=False, unique=True),
        sa.Column("batch_no", sa.String(64), nullable=False),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_bank_payments_batch_no", "bank_payments", ["batch_no"])
    op.create_table(
        "bank_failing_accounts",
        sa.Column("account", sa.String(40), primary_key=True),
        sa.Column("reason", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bank_failing_accounts")
    op.drop_table("bank_payments")
