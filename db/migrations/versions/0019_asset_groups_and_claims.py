"""asset groups in distribution rules, and one distribution per asset and fiscal year

A distribution rule may cover a group of assets of one village (`members`: the group's other assets; the pool is
their income together). `dividend_claims` holds which round distributes an asset's income of a fiscal year: a
year's income is paid out once, whichever scope (asset, village, county) a round has.

Revision ID: 0019
Revises: 0017
Create Date: 2026-11-29 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("distribution_rules", sa.Column("members", JSONB(), nullable=False, server_default="[]"))
    op.add_column("dividend_pools", sa.Column("members", JSONB(), nullable=False, server_default="[]"))
    op.create_table(
        "dividend_claims",
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), primary_key=True),
        sa.Column("fiscal_year", sa.Integer(), primary_key=True),
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), nullable=False, index=True),
    )
    # rounds planned before this revision: the earliest round that pooled an asset's year holds its claim
    op.execute(
        """
        INSERT INTO dividend_claims (asset_id, fiscal_year, round_id)
        SELECT DISTINCT ON (p.asset_id, r.fiscal_year) p.asset_id, r.fiscal_year, r.id
        FROM dividend_pools p JOIN dividend_rounds r ON r.id = p.round_id
        ORDER BY p.asset_id, r.fiscal_year, r.opened_at
        """
    )


def downgrade() -> None:
    op.drop_table("dividend_claims")
    op.drop_column("dividend_pools", "members")
    op.drop_column("distribution_rules", "members")
