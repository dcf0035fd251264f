"""upkeep costs recorded through the API carry their Idempotency-Key (`{user id}:{key}`, unique): a retried or
repeated request is one cost, never deducted twice from a year's income pool

Revision ID: 0020
Revises: 0018
Create Date: 2026-11-30 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("upkeep_costs", sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.create_unique_constraint("upkeep_costs_idempotency_key_key", "upkeep_costs", ["idempotency_key"])


def downgrade() -> None:
    op.drop_constraint("upkeep_costs_idempotency_key_key", "upkeep_costs", type_="unique")
    op.drop_column("upkeep_costs", "idempotency_key")
