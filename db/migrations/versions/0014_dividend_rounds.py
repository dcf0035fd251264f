"""dividend rounds: plans by version (pools per asset, a line per household), payment attempts written before they
are submitted (one paid per household and round), maker-checker corrections, objections to the noticed plan

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 21:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fen(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "dividend_rounds",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("scope_kind", sa.String(8), nullable=False),
        sa.Column("scope_code", sa.String(64), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(12), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("waiting_for", sa.Text(), nullable=False, server_default=""),
        sa.Column("plan_version", sa.Integer(), nullable=False, server_default="0"),
        _fen("pool_fen"),
        _fen("households_fen"),
        sa.Column("lines", sa.Integer(), nullable=False, server_default="0"),
        _fen("paid_fen"),
        _fen("failed_fen"),
        sa.Column("notice_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("scope_kind", "scope_code", "fiscal_year", "n", name="uq_dividend_rounds_n"),
    )
    op.create_index("ix_dividend_rounds_county_code", "dividend_rounds", ["county_code"])
    op.create_index("ix_dividend_rounds_status", "dividend_rounds", ["status"])
    op.create_table(
        "dividend_pools",
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), primary_key=True),
        sa.Column("plan_version", sa.Integer(), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), primary_key=True),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("rule_id", sa.String(64), sa.ForeignKey("distribution_rules.id"), nullable=False),
        sa.Column("income_fen", sa.BigInteger(), nullable=False),
        sa.Column("upkeep_fen", sa.BigInteger(), nullable=False),
        sa.Column("pool_fen", sa.BigInteger(), nullable=False),
        sa.Column("final", JSONB(), nullable=False),
        sa.Column("households_fen", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dividend_lines",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("household_code", sa.String(32), nullable=False),
        sa.Column("village_code", sa.String(12), nullable=False),
        sa.Column("head_name", sa.String(100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("parts", JSONB(), nullable=False),
        sa.UniqueConstraint("round_id", "plan_version", "household_code", name="uq_dividend_lines_household"),
    )
    op.create_index("ix_dividend_lines_round_id", "dividend_lines", ["round_id"])
    op.create_index("ix_dividend_lines_household_code", "dividend_lines", ["household_code"])
    op.create_table(
        "dividend_payments",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("reference", sa.String(200), nullable=False, unique=True),
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), nullable=False),
        sa.Column("household_code", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("bank", sa.String(100), nullable=False),
        sa.Column("batch_no", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False, server_default=""),
        sa.Column("replaces", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    )
    for col in ("round_id", "household_code", "batch_no", "status"):
        op.create_index(f"ix_dividend_payments_{col}", "dividend_payments", [col])
    op.create_index(
        "uq_dividend_payments_paid_once",
        "dividend_payments",
        ["round_id", "household_code"],
        unique=True,
        postgresql_where="status = 'paid'",
    )
    op.create_index(
        "uq_dividend_payments_one_in_flight",
        "dividend_payments",
        ["round_id", "household_code"],
        unique=True,
        postgresql_where="status = 'submitted'",
    )
    op.create_table(
        "dividend_corrections",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), nullable=False),
        sa.Column(
            "failed_reference",
            sa.String(200),
            sa.ForeignKey("dividend_payments.reference"),
            nullable=False,
        ),
        sa.Column("household_code", sa.String(32), nullable=False),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("bank", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("made_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dividend_corrections_round_id", "dividend_corrections", ["round_id"])
    op.create_index(
        "uq_dividend_corrections_one_open",
        "dividend_corrections",
        ["failed_reference"],
        unique=True,
        postgresql_where="status != 'rejected'",
    )
    op.create_table(
        "dividend_objections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("round_id", sa.String(100), sa.ForeignKey("dividend_rounds.id"), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False, server_default=""),
        sa.Column("resolved_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dividend_objections_round_id", "dividend_objections", ["round_id"])


def downgrade() -> None:
    for table in (
        "dividend_objections",
        "dividend_corrections",
        "dividend_payments",
        "dividend_lines",
        "dividend_pools",
        "dividend_rounds",
    ):
        op.drop_table(table)
