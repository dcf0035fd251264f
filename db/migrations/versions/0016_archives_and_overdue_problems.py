"""three-colour archives (registration and distribution colours, archives with an overdue problem) and the overdue
steps of problems (reminded, escalated and to where; the archive a problem concerns)

The backfill gives every project the colours its facts give today without the time limits (the first daily problem
check after the upgrade applies those, auditing each change): registration blue while registering or while an
operating or public-welfare asset has no platform card, green once all have; distribution blue while a round of its
assets runs or an approved rule has no round yet, green once every round closed; the archives of its open problems
past their deadline; the day a red construction archive turned red (its last audited change to red). Problems get
their archive: a rule's by its rule, a person's by the project's stage.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("registration_colour", sa.String(8), nullable=False, server_default=""))
    op.add_column("projects", sa.Column("distribution_colour", sa.String(8), nullable=False, server_default=""))
    op.add_column("projects", sa.Column("problem_archives", JSONB(), nullable=False, server_default="[]"))
    op.add_column("projects", sa.Column("construction_red_since", sa.Date(), nullable=True))
    op.add_column("problems", sa.Column("archive", sa.String(16), nullable=True))
    op.add_column("problems", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("problems", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("problems", sa.Column("escalated_to", sa.String(12), nullable=True))
    op.create_index("ix_problems_archive", "problems", ["archive"])
    op.create_index("ix_problems_escalated_at", "problems", ["escalated_at"])

    op.execute(
        "UPDATE problems SET archive = 'operation' "
        "WHERE source = 'rule' AND split_part(key, ':', 1) IN ('arrears', 'idle', 'inspection')"
    )
    op.execute(
        "UPDATE problems p SET archive = CASE pr.stage "
        "WHEN 'construction' THEN 'construction' WHEN 'acceptance' THEN 'construction' "
        "WHEN 'asset_registration' THEN 'registration' WHEN 'operation' THEN 'operation' "
        "WHEN 'disposal' THEN 'operation' END "
        "FROM projects pr WHERE pr.code = p.project_code AND p.archive IS NULL AND p.source <> 'rule'"
    )
    op.execute(
        "UPDATE projects pr SET registration_colour = CASE "
        "WHEN pr.stage = 'asset_registration' THEN 'blue' "
        "WHEN EXISTS (SELECT 1 FROM assets a WHERE a.project_code = pr.code AND a.status <> 'disposed' "
        "  AND a.asset_class <> 'household' AND a.platform_card_no IS NULL) THEN 'blue' "
        "ELSE 'green' END "
        "WHERE pr.stage IN ('asset_registration', 'operation', 'disposal') "
        "OR EXISTS (SELECT 1 FROM assets a WHERE a.project_code = pr.code)"
    )
    op.execute(
        "UPDATE projects pr SET distribution_colour = CASE "
        "WHEN EXISTS (SELECT 1 FROM dividend_pools dp JOIN dividend_rounds r ON r.id = dp.round_id "
        "  WHERE dp.project_code = pr.code AND r.status <> 'closed') THEN 'blue' "
        "WHEN EXISTS (SELECT 1 FROM distribution_rules d JOIN assets a ON a.id = d.asset_id "
        "  WHERE a.project_code = pr.code AND d.status = 'approved' AND NOT EXISTS ("
        "    SELECT 1 FROM dividend_pools dp JOIN dividend_rounds r ON r.id = dp.round_id "
        "    WHERE dp.asset_id = d.asset_id AND r.fiscal_year = d.fiscal_year)) THEN 'blue' "
        "ELSE 'green' END "
        "WHERE EXISTS (SELECT 1 FROM dividend_pools dp WHERE dp.project_code = pr.code) "
        "OR EXISTS (SELECT 1 FROM distribution_rules d JOIN assets a ON a.id = d.asset_id "
        "  WHERE a.project_code = pr.code AND d.status = 'approved')"
    )
    op.execute(
        "UPDATE projects pr SET problem_archives = o.archives FROM ("
        "  SELECT project_code, jsonb_agg(DISTINCT archive ORDER BY archive) AS archives FROM problems "
        "  WHERE archive IS NOT NULL AND status <> 'closed' AND project_code IS NOT NULL "
        "  AND deadline < (now() AT TIME ZONE 'Asia/Shanghai')::date "
        "  GROUP BY project_code) o WHERE o.project_code = pr.code"
    )
    op.execute(
        "UPDATE projects pr SET construction_red_since = COALESCE(("
        "  SELECT max(at AT TIME ZONE 'Asia/Shanghai')::date FROM audit_log "
        "  WHERE chain = 'project:' || pr.code AND action = 'colour_changed' AND payload->>'to' = 'red'), "
        "(now() AT TIME ZONE 'Asia/Shanghai')::date) WHERE pr.construction_colour = 'red'"
    )
    op.execute(
        "UPDATE projects SET colour = CASE "
        "WHEN overdue OR problem_archives <> '[]'::jsonb "
        "  OR 'red' IN (construction_colour, operation_colour, registration_colour, distribution_colour) THEN 'red' "
        "WHEN 'yellow' IN (construction_colour, operation_colour, registration_colour, distribution_colour) "
        "  THEN 'yellow' "
        "WHEN 'blue' IN (construction_colour, operation_colour, registration_colour, distribution_colour) THEN 'blue' "
        "WHEN 'green' IN (construction_colour, operation_colour, registration_colour, distribution_colour) "
        "  THEN 'green' "
        "ELSE 'blue' END"
    )


def downgrade() -> None:
    op.drop_index("ix_problems_escalated_at", table_name="problems")
    op.drop_index("ix_problems_archive", table_name="problems")
    for col in ("escalated_to", "escalated_at", "reminded_at", "archive"):
        op.drop_column("problems", col)
    for col in ("construction_red_since", "problem_archives", "distribution_colour", "registration_colour"):
        op.drop_column("projects", col)
    op.execute(
        "UPDATE projects SET colour = CASE "
        "WHEN overdue OR 'red' IN (construction_colour, operation_colour) THEN 'red' "
        "WHEN 'yellow' IN (construction_colour, operation_colour) THEN 'yellow' "
        "WHEN 'blue' IN (construction_colour, operation_colour) THEN 'blue' "
        "WHEN 'green' IN (construction_colour, operation_colour) THEN 'green' ELSE 'blue' END"
    )
