"""notifications: events, the outbox (deliveries) and its attempts, regions' webhooks and robots, preferences,
users' e-mail addresses, and in-app items resolved when their task closes

Revision ID: 0018
Revises: 0019
Create Date: 2026-11-29 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0018"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(254), nullable=True))
    op.add_column("notifications", sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_notifications_task_id", "notifications", ["task_id"])
    op.create_table(
        "notification_events",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("event_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("params", JSONB(), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=True),
        sa.Column("project_code", sa.String(32), nullable=True),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notification_events_kind", "notification_events", ["kind"])
    op.create_index("ix_notification_events_region_code", "notification_events", ["region_code"])
    op.create_table(
        "notification_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("region_code", sa.String(12), sa.ForeignKey("regions.code"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False, server_default=""),
        sa.Column("events", JSONB(), nullable=False, server_default="[]"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notification_endpoints_region_code", "notification_endpoints", ["region_code"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("event_id", sa.BigInteger(), sa.ForeignKey("notification_events.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("endpoint_id", sa.Integer(), sa.ForeignKey("notification_endpoints.id"), nullable=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(300), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notification_deliveries_event_id", "notification_deliveries", ["event_id"])
    op.create_index("ix_notification_deliveries_user_id", "notification_deliveries", ["user_id"])
    op.create_index("ix_notification_deliveries_endpoint_id", "notification_deliveries", ["endpoint_id"])
    op.create_index("ix_notification_deliveries_due", "notification_deliveries", ["status", "due_at"])
    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("delivery_id", sa.BigInteger(), sa.ForeignKey("notification_deliveries.id"), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("delivery_id", "n", name="uq_notification_attempt"),
    )
    op.create_index("ix_notification_attempts_delivery_id", "notification_attempts", ["delivery_id"])
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
    op.drop_table("notification_attempts")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_endpoints")
    op.drop_table("notification_events")
    op.drop_index("ix_notifications_task_id", table_name="notifications")
    op.drop_column("notifications", "resolved_at")
    op.drop_column("users", "email")
