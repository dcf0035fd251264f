"""attachment uploads: file name, type and time per upload, no longer on the shared content row

The same bytes uploaded by two users are stored once; the first uploader's name and metadata lived on that shared
row and were shown to the second. Existing rows: the first uploader keeps their name and time; a later uploader of
the same bytes gets the neutral name `attachment` (their own name was never stored, and the first one's is not theirs).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attachment_uploads", sa.Column("filename", sa.String(length=255), nullable=True))
    op.add_column("attachment_uploads", sa.Column("content_type", sa.String(length=100), nullable=True))
    op.add_column(
        "attachment_uploads",
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
    )
    # every stored file has its first uploader's upload row (rows written before that table existed included)
    op.execute(
        "INSERT INTO attachment_uploads (sha256, user_id) SELECT sha256, uploaded_by FROM attachments "
        "ON CONFLICT DO NOTHING"
    )
    op.execute(
        "UPDATE attachment_uploads u SET "
        "filename = CASE WHEN u.user_id = a.uploaded_by THEN a.filename ELSE 'attachment' END, "
        "content_type = a.content_type, "
        "uploaded_at = CASE WHEN u.user_id = a.uploaded_by THEN a.uploaded_at ELSE now() END "
        "FROM attachments a WHERE a.sha256 = u.sha256"
    )
    op.alter_column("attachment_uploads", "filename", nullable=False)
    op.alter_column("attachment_uploads", "content_type", nullable=False)
    op.alter_column("attachment_uploads", "uploaded_at", nullable=False)
    op.drop_column("attachments", "filename")
    op.drop_column("attachments", "content_type")
    op.drop_column("attachments", "uploaded_by")
    op.drop_column("attachments", "uploaded_at")


def downgrade() -> None:
    op.add_column("attachments", sa.Column("filename", sa.String(length=255), nullable=True))
    op.add_column("attachments", sa.Column("content_type", sa.String(length=100), nullable=True))
    op.add_column("attachments", sa.Column("uploaded_by", sa.Integer(), nullable=True))
    op.add_column(
        "attachments",
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
    )
    op.execute(
        "UPDATE attachments a SET filename = u.filename, content_type = u.content_type, "
        "uploaded_by = u.user_id, uploaded_at = u.uploaded_at FROM ("
        "  SELECT DISTINCT ON (sha256) * FROM attachment_uploads ORDER BY sha256, uploaded_at, user_id"
        ") u WHERE u.sha256 = a.sha256"
    )
    for column in ("filename", "content_type", "uploaded_by", "uploaded_at"):
        op.alter_column("attachments", column, nullable=False)
    op.create_foreign_key("attachments_uploaded_by_fkey", "attachments", "users", ["uploaded_by"], ["id"])
    op.drop_column("attachment_uploads", "uploaded_at")
    op.drop_column("attachment_uploads", "content_type")
    op.drop_column("attachment_uploads", "filename")
