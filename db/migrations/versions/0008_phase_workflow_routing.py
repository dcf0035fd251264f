"""tasks.workflow_id and projects.phase_workflow_id: which workflow execution an Update goes to

A project's life is being split into phase workflows (DESIGN.md, Processes). A task's decision goes to the workflow
that opened (or adopted) it, `tasks.workflow_id`; a project-level Update (revision, objection, progress, completion,
asset registration, retry) goes to the phase workflow that runs now, `projects.phase_workflow_id`. Rows written
before this revision belong to the one lifecycle workflow `projects.workflow_id` (`project-{code}`), so both are
backfilled from it and those projects keep routing where they did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("workflow_id", sa.Text(), nullable=True))
    op.add_column("projects", sa.Column("phase_workflow_id", sa.Text(), nullable=True))
    op.execute("UPDATE tasks t SET workflow_id = p.workflow_id FROM projects p WHERE p.code = t.project_code")
    op.execute("UPDATE projects SET phase_workflow_id = workflow_id")


def downgrade() -> None:
    op.drop_column("projects", "phase_workflow_id")
    op.drop_column("tasks", "workflow_id")
