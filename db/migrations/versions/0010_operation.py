"""operation (运营管护) and existing projects brought under management (存量资产纳管)

Contracts with their history, receivables and received payments, revenue reports, inspections, repairs, upkeep
costs, operation warnings and the problem ledger; the upkeep body, person and fund source and the operation
archive's colour on assets; the operation colour and the import's file hash on projects. An asset registered before
this revision gets its `initial` contract from its own columns the first time its OperationWorkflow checks it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json_list(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, JSONB(), nullable=False, server_default="[]")


def _text(name: str, length: int | None = None) -> sa.Column:  # type: ignore[type-arg]
    kind = sa.String(length) if length else sa.Text()
    return sa.Column(name, kind, nullable=False, server_default="")


def upgrade() -> None:
    op.add_column("assets", _text("upkeep_body", 200))
    op.add_column("assets", _text("upkeep_person", 100))
    op.add_column("assets", _text("upkeep_fund_source", 100))
    op.add_column("assets", _text("operation_colour", 8))
    op.add_column("assets", sa.Column("idle_since", sa.Date(), nullable=True))
    op.create_index("ix_assets_operation_colour", "assets", ["operation_colour"])
    op.add_column("projects", _text("operation_colour", 8))
    op.add_column("projects", sa.Column("imported_from", sa.String(64), nullable=True))

    op.create_table(
        "contracts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), sa.ForeignKey("projects.code"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("operator_name", sa.String(200), nullable=False),
        sa.Column("operator_type", sa.String(32), nullable=False),
        _text("operator_credit_code", 18),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("rent_fen", sa.BigInteger(), nullable=False),
        sa.Column("schedule", sa.String(16), nullable=False),
        sa.Column("deposit_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("escalation_bp", sa.Integer(), nullable=False, server_default="0"),
        _json_list("attachments"),
        _text("note"),
        sa.Column("proposed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_contracts_asset_id", "contracts", ["asset_id"])
    op.create_index("ix_contracts_project_code", "contracts", ["project_code"])
    op.create_index("ix_contracts_status", "contracts", ["status"])
    op.create_index("ix_contracts_end_date", "contracts", ["end_date"])
    op.create_index(
        "uq_contracts_one_active", "contracts", ["asset_id"], unique=True, postgresql_where="status = 'active'"
    )
    op.create_index(
        "uq_contracts_one_proposed", "contracts", ["asset_id"], unique=True, postgresql_where="status = 'proposed'"
    )

    op.create_table(
        "receivables",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("contract_id", sa.String(64), sa.ForeignKey("contracts.id"), nullable=False),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("period_no", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.UniqueConstraint("contract_id", "period_no", name="uq_receivables_contract_period"),
    )
    for col in ("contract_id", "asset_id", "project_code", "due_date", "status"):
        op.create_index(f"ix_receivables_{col}", "receivables", [col])

    op.create_table(
        "received_payments",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("receivable_id", sa.BigInteger(), sa.ForeignKey("receivables.id"), nullable=False),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        _json_list("evidence"),
        _text("note"),
        sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    )
    for col in ("receivable_id", "asset_id", "project_code", "received_on"):
        op.create_index(f"ix_received_payments_{col}", "received_payments", [col])

    op.create_table(
        "revenue_reports",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("profit_fen", sa.BigInteger(), nullable=False),
        _json_list("evidence"),
        _text("note"),
        sa.Column("reported_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("asset_id", "period_start", "period_end", name="uq_revenue_reports_period"),
    )
    for col in ("asset_id", "project_code", "period_end"):
        op.create_index(f"ix_revenue_reports_{col}", "revenue_reports", [col])

    op.create_table(
        "inspections",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="due"),
        sa.Column("inspected_on", sa.Date(), nullable=True),
        _text("condition", 16),
        _json_list("photos"),
        _text("note"),
        sa.Column("inspected_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("asset_id", "due_date", name="uq_inspections_asset_due"),
    )
    for col in ("asset_id", "project_code", "due_date", "status"):
        op.create_index(f"ix_inspections_{col}", "inspections", [col])

    op.create_table(
        "repairs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("inspection_id", sa.BigInteger(), sa.ForeignKey("inspections.id"), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False, server_default="0"),
        _json_list("evidence"),
        sa.Column("opened_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
    )
    for col in ("asset_id", "project_code", "status"):
        op.create_index(f"ix_repairs_{col}", "repairs", [col])

    op.create_table(
        "upkeep_costs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _text("description"),
        sa.Column("repair_id", sa.BigInteger(), sa.ForeignKey("repairs.id"), nullable=True, unique=True),
        sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
    )
    op.create_index("ix_upkeep_costs_asset_year", "upkeep_costs", ["asset_id", "fiscal_year"])
    op.create_index("ix_upkeep_costs_project_code", "upkeep_costs", ["project_code"])

    op.create_table(
        "operation_warnings",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("asset_id", sa.String(64), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("project_code", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
    )
    for col in ("asset_id", "project_code", "kind", "cleared_at"):
        op.create_index(f"ix_operation_warnings_{col}", "operation_warnings", [col])

    op.create_table(
        "problems",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=True, unique=True),
        sa.Column("project_code", sa.String(32), nullable=True),
        sa.Column("asset_id", sa.String(64), nullable=True),
        sa.Column("county_code", sa.String(12), nullable=False),
        sa.Column("township_code", sa.String(12), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _text("responsible_unit", 200),
        _text("responsible_person", 100),
        sa.Column("deadline", sa.Date(), nullable=True),
        _text("measures"),
        sa.Column("status", sa.String(16), nullable=False, server_default="registered"),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        _json_list("evidence"),
    )
    for col in ("project_code", "asset_id", "county_code", "township_code", "status"):
        op.create_index(f"ix_problems_{col}", "problems", [col])


def downgrade() -> None:
    for table in (
        "problems",
        "operation_warnings",
        "upkeep_costs",
        "repairs",
        "inspections",
        "revenue_reports",
        "received_payments",
        "receivables",
        "contracts",
    ):
        op.drop_table(table)
    op.drop_column("projects", "imported_from")
    op.drop_column("projects", "operation_colour")
    op.drop_index("ix_assets_operation_colour", table_name="assets")
    for col in ("idle_since", "operation_colour", "upkeep_fund_source", "upkeep_person", "upkeep_body"):
        op.drop_column("assets", col)
