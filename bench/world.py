"""Reference data for the bench, written directly with SQLAlchemy as the tests' `world` fixture does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from api.security import hash_password
from db.engine import Sessions
from db.models import Household, Region, User
from domain.enums import RegionLevel, Role
from domain.households import with_check_digit

PASSWORD = "bench-Pass-1234"
PROVINCE, CITY, COUNTY = "650000", "650100", "650102"
TOWNSHIP = COUNTY + "100"
VILLAGE = TOWNSHIP + "201"


@dataclass(frozen=True)
class World:
    """One county, township and village, its households, an applicant and a township reviewer."""

    village: str
    households: list[str]
    project_manager: str
    reviewer: str


async def create_world(sessions: Sessions) -> World:
    """Regions, four households and the two users the bench logs in as (one argon2 hash, shared)."""
    households = [f"H{VILLAGE}{i:03d}" for i in range(1, 5)]
    async with sessions.begin() as s:
        for code, name, level, parent in [
            (PROVINCE, "基准省", RegionLevel.PROVINCE, None),
            (CITY, "基准市", RegionLevel.CITY, PROVINCE),
            (COUNTY, "基准县", RegionLevel.COUNTY, CITY),
            (TOWNSHIP, "基准镇", RegionLevel.TOWNSHIP, COUNTY),
            (VILLAGE, "基准村", RegionLevel.VILLAGE, TOWNSHIP),
        ]:
            s.add(Region(code=code, name=name, level=level.value, parent_code=parent))
            await s.flush()  # parents first: regions reference their parent
        for i, code in enumerate(households, start=1):
            s.add(
                Household(
                    code=code,
                    village_code=VILLAGE,
                    head_name=f"户主{i}",
                    members=i,
                    categories=[],
                    id_number=with_check_digit(f"650102198001{i:02d}{i:03d}"),
                    bank_account=f"622848{VILLAGE}{i:02d}",
                )
            )
        pw = hash_password(PASSWORD)
        for username, role in [("bench_pm", Role.PROJECT_MANAGER), ("bench_township", Role.TOWNSHIP_REVIEWER)]:
            s.add(User(username=username, full_name=username, password_hash=pw, role=role.value, region_code=TOWNSHIP))
    return World(village=VILLAGE, households=households, project_manager="bench_pm", reviewer="bench_township")


def application(world: World, label: str) -> dict[str, Any]:
    """A valid application (the body of POST /api/v1/projects), named after `label`."""
    start = date.today() + timedelta(days=30)
    return {
        "name": f"基准测试冬暖式大棚项目 {label}",
        "project_type": "greenhouse",
        "village_code": world.village,
        "content": "新建冬暖式大棚 10 个",
        "scale": "占地 40 亩",
        "budget": {
            "total_fen": 100_000_000,
            "sources": [
                {"source": "linkage_central", "amount_fen": 60_000_000},
                {"source": "county_match", "amount_fen": 40_000_000},
            ],
        },
        "implementing_entity": {"name": "基准村股份经济合作社", "person_in_charge": "王建国", "phone": "0531-84212345"},
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(days=200)).isoformat(),
        "operating_model": "lease",
        "revenue": {"expected_annual_revenue_fen": 7_000_000, "expected_yield_percent": 7.0},
        "benefit": {"household_codes": world.households[:3], "people": 6, "mechanism": "租金按股分红"},
        "performance_targets": [{"indicator": "带动增收", "target": "3 户"}],
    }
