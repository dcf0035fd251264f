"""the problem ledger (问题台账, 销号管理)

Who is responsible (a user, besides the unit and the person's name), attachments, the submission for close-out and
its verifier, reopenings, the problem's region (a problem may concern a region only), who registered it and at which
level. A problem registered by the operation check is `source = 'rule'` (its key says which rule: `arrears:…`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("problems", sa.Column("region_code", sa.String(12), nullable=False, server_default=""))
    op.add_column("problems", sa.Column("responsible_user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True))
    op.add_column("problems", sa.Column("attachments", JSONB(), nullable=False, server_default="[]"))
    op.add_column("problems", sa.Column("raised_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True))
    op.add_column("problems", sa.Column("raised_level", sa.String(16), nullable=False, server_default="county"))
    op.add_column("problems", sa.Column("submitted_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True))
    op.add_column("problems", sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("problems", sa.Column("verifier_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True))
    op.add_column("problems", sa.Column("reopened_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "problems", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    )
    # a project's problem concerns its village; any other, the township or county it names
    op.execute(
        "UPDATE problems p SET region_code = COALESCE("
        "(SELECT pr.village_code FROM projects pr WHERE pr.code = p.project_code), "
        "NULLIF(p.township_code, ''), p.county_code)"
    )
    op.execute("UPDATE problems SET source = 'rule' WHERE source = 'arrears' AND key LIKE 'arrears:%'")
    for col in ("region_code", "responsible_user_id", "deadline", "source"):
        op.create_index(f"ix_problems_{col}", "problems", [col])


def downgrade() -> None:
    for col in ("source", "deadline", "responsible_user_id", "region_code"):
        op.drop_index(f"ix_problems_{col}", table_name="problems")
    op.execute("UPDATE problems SET source = 'arrears' WHERE source = 'rule' AND key LIKE 'arrears:%'")
    for col in (
        "updated_at",
        "reopened_count",
        "verifier_id",
        "submitted_at",
        "submitted_by",
        "raised_level",
        "raised_by",
        "attachments",
        "responsible_user_id",
        "region_code",
    ):
        op.drop_column("problems", col)
