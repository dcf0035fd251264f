"""Fixtures of the migration tests: a database of their own, and the rows every seed needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url


@pytest.fixture
def fresh_url(database_url: str) -> Iterator[str]:
    """An empty database of its own on the test server (a migration test migrates down and up)."""
    name = f"assetflow_m_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_regions_and_applicant(conn: Connection) -> None:
    """A county, a township and a village, and the project manager (user 1) who applies for projects there."""
    conn.execute(
        text(
            "INSERT INTO regions (code, name, level, parent_code) VALUES "
            "('370115', '济阳区', 'county', NULL), ('370115100', '济阳街道', 'township', '370115'), "
            "('370115100201', '东关村', 'village', '370115100')"
        )
    )
    conn.execute(
        text(
            "INSERT INTO users (id, username, full_name, password_hash, role, region_code, organisation, "
            "active, is_demo) VALUES (1, 'pm', 'pm', 'x', 'project_manager', '370115100', '', true, false)"
        )
    )
