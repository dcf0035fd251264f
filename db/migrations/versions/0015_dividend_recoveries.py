"""dividend_recoveries: money paid wrongly and recovered, a reversing entry against a paid attempt (maker-checker)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 22:12:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dividend_recoveries",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), nullable=False),
        sa.Column("reference", sa.String(200), sa.ForeignKey("dividend_payments.reference"), nullable=False),
        sa.Column("household_code", sa.String(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("made_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dividend_recoveries_round_id", "dividend_recoveries", ["round_id"])
    op.create_index("ix_dividend_recoveries_household_code", "dividend_recoveries", ["household_code"])
    op.create_index(
        "uq_dividend_recoveries_one_open",
        "dividend_recoveries",
        ["reference"],
        unique=True,
        postgresql_where="status != 'rejected'",
    )


def downgrade() -> None:
    op.drop_table("dividend_recoveries")
