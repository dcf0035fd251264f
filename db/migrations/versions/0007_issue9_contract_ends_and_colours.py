"""contract ends and list colours recomputed (issue 9)

A contract of N years from a start ends the day before the start's anniversary (2026-12-01 for 10 years ends
2036-11-30); ends were stored one day late. From 29 February the anniversary in a common year is 1 March, so
that end is 28 February (what domain.assets.contract_end computes). The colour lists show is now computed from
the overdue flag and the construction archive's colour (domain.colours.project_colour); rows written before kept
"blue" while the archive said green, yellow or red. The SQL below is that rule as it stands at this revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 17:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL clamps 29 Feb + N years to 28 Feb in a common year: that day is the end itself (the anniversary
    # would be 1 March); every other anniversary exists, and the end is the day before it. Only the ends the old
    # code computed (the anniversary, clamped) change; an end set otherwise stays.
    op.execute(
        "UPDATE assets a SET contract_end = CASE "
        "WHEN to_char(a.contract_start, 'MM-DD') = '02-29' AND to_char(x.anniversary, 'MM-DD') = '02-28' "
        "THEN x.anniversary ELSE x.anniversary - 1 END "
        "FROM (SELECT id, (contract_start + make_interval(years => contract_term_years))::date AS anniversary "
        "FROM assets WHERE contract_start IS NOT NULL AND contract_term_years IS NOT NULL) x "
        "WHERE x.id = a.id AND a.contract_end = x.anniversary"
    )
    op.execute(
        "UPDATE projects SET colour = CASE WHEN overdue THEN 'red' "
        "WHEN construction_colour IN ('green', 'blue', 'yellow', 'red') THEN construction_colour ELSE 'blue' END"
    )


def downgrade() -> None:
    # the old end (the anniversary, clamped) and the old colour (red when overdue, else blue)
    op.execute(
        "UPDATE assets a SET contract_end = x.anniversary "
        "FROM (SELECT id, (contract_start + make_interval(years => contract_term_years))::date AS anniversary "
        "FROM assets WHERE contract_start IS NOT NULL AND contract_term_years IS NOT NULL) x "
        "WHERE x.id = a.id"
    )
    op.execute("UPDATE projects SET colour = CASE WHEN overdue THEN 'red' ELSE 'blue' END")
