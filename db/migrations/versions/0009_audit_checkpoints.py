"""audit_checkpoints: how far each chain was verified, so a history page verifies only what is new

`GET /projects/{code}/history` used to re-walk a project's whole chain on every call. It now verifies the entries
appended since its last verification and that the entry it verified last is unchanged, then moves the checkpoint;
`assetflow audit verify` still re-walks every chain from its first entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 19:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
