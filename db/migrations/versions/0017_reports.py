"""reports: the weekly scheduling report (周调度) and the monthly bulletin (月通报), stored as JSON per kind, region and
period; an index on dividend_payments.settled_at for the payouts of a period

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "region_code", "period", name="uq_reports_period"),
    )
    op.create_index("ix_reports_region_period", "reports", ["region_code", "period"])
    op.create_index("ix_dividend_payments_settled_at", "dividend_payments", ["settled_at"])


def downgrade() -> None:
    op.drop_index("ix_dividend_payments_settled_at", table_name="dividend_payments")
    op.drop_table("reports")
