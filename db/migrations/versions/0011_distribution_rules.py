"""distribution_rules: versions of an asset's distribution rule per fiscal year (收益分配方案)

Proposed by the village (its meeting's resolution attached), reviewed by the township, approved by the county;
one proposal and one approved version per asset and year at a time, every version kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "distribution_rules",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), sa.ForeignKey("projects.code"), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule", JSONB(), nullable=False),
        sa.Column("excluded", JSONB(), nullable=False, server_default="{}"),
        sa.Column("attachments", JSONB(), nullable=False, server_default="[]"),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("proposed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("asset_id", "fiscal_year", "version", name="uq_distribution_rules_version"),
    )
    op.create_index("ix_distribution_rules_asset_id", "distribution_rules", ["asset_id"])
    op.create_index("ix_distribution_rules_project_code", "distribution_rules", ["project_code"])
    op.create_index("ix_distribution_rules_status", "distribution_rules", ["status"])
    for status in ("proposed", "approved"):
        op.create_index(
            f"uq_distribution_rules_one_{status}",
            "distribution_rules",
            ["asset_id", "fiscal_year"],
            unique=True,
            postgresql_where=f"status = '{status}'",
        )


def downgrade() -> None:
    op.drop_table("distribution_rules")
