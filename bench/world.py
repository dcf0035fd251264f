"""Reference data for the bench, written directly with SQLAlchemy as the tests' `world` fixture does.

Each concurrent client gets a desk of its own: a city (so the city's expert library holds exactly its three
experts, and the draw always seats them), one county, township and village, and one user per role of the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from temporalio.client import Client

from api.security import hash_password
from core.devstack import free_port
from core.settings import Environment, Settings
from db.engine import Sessions
from db.models import Expert, Household, Region, User
from domain.enums import RegionLevel, Role
from domain.households import with_check_digit

PASSWORD = "bench-Pass-1234"
PANEL = 3  # the default panel size (config.panel_size): every eligible expert of a desk is drawn
CITIES_PER_PROVINCE = 99
IMPLEMENTING_ENTITY = "基准村股份经济合作社"


@dataclass(frozen=True)
class Person:
    """A user the bench acts as."""

    id: int
    username: str
    role: str
    region_code: str


@dataclass(frozen=True)
class Desk:
    """One client's corner of the world: its village and the people who file and decide its projects."""

    number: int
    village: str
    households: list[str]
    applicant: Person
    township: Person
    experts: list[Person]
    county: Person
    city: Person


def _codes(n: int) -> tuple[str, str, str, str, str]:
    province = f"{11 + n // CITIES_PER_PROVINCE:02d}0000"
    city = f"{province[:2]}{n % CITIES_PER_PROVINCE + 1:02d}00"
    county = city[:4] + "01"
    township = county + "100"
    return province, city, county, township, township + "201"


def bench_settings(database_url: str, client: Client, task_queue: str, *, sdk_metrics: bool = True) -> Settings:
    """The settings a bench section's app and worker run with: test mode on this database and dev server, quiet
    logs, the SDK's metrics on a free port (or none)."""
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        temporal_address=client.service_client.config.target_host,
        task_queue=task_queue,
        api_sdk_metrics_bind=f"127.0.0.1:{free_port()}" if sdk_metrics else "",
        log_format="console",
        log_level="WARNING",
    )


async def create_world(sessions: Sessions, desks: int) -> list[Desk]:
    """Regions, households and users of `desks` desks (one argon2 hash, shared by every user)."""
    if desks > (99 - 11) * CITIES_PER_PROVINCE:
        raise ValueError(f"at most {(99 - 11) * CITIES_PER_PROVINCE} desks")
    pw = hash_password(PASSWORD)
    out: list[Desk] = []
    async with sessions.begin() as s:
        provinces: set[str] = set()
        for n in range(desks):
            province, city, county, township, village = _codes(n)
            levels: list[tuple[str, RegionLevel, str | None]] = [
                (city, RegionLevel.CITY, province),
                (county, RegionLevel.COUNTY, city),
                (township, RegionLevel.TOWNSHIP, county),
                (village, RegionLevel.VILLAGE, township),
            ]
            if province not in provinces:
                provinces.add(province)
                levels.insert(0, (province, RegionLevel.PROVINCE, None))
            for code, level, parent in levels:
                s.add(Region(code=code, name=f"基准{level.value}{code}", level=level.value, parent_code=parent))
                await s.flush()  # parents first: regions reference their parent
            households = [f"H{village}{i:03d}" for i in range(1, 5)]
            for i, code in enumerate(households, start=1):
                s.add(
                    Household(
                        code=code,
                        village_code=village,
                        head_name=f"户主{i}",
                        members=i,
                        categories=[],
                        id_number=with_check_digit(f"650102198001{i:02d}{i:03d}"),
                        bank_account=f"622848{village}{i:02d}",
                    )
                )

            def user(key: str, role: Role, region: str, organisation: str = "", n: int = n) -> User:
                row = User(
                    username=f"bench{n}_{key}",
                    full_name=f"基准{key}{n}",
                    password_hash=pw,
                    role=role.value,
                    region_code=region,
                    organisation=organisation,
                )
                s.add(row)
                return row

            rows = {
                "pm": user("pm", Role.PROJECT_MANAGER, township),
                "township": user("township", Role.TOWNSHIP_REVIEWER, township),
                "county": user("county", Role.COUNTY_REVIEWER, county),
                "city": user("city", Role.CITY_REVIEWER, city),
            }
            experts = [user(f"expert{i}", Role.EXPERT, city, f"基准农科院{n}-{i}") for i in range(PANEL)]
            await s.flush()
            for row in experts:
                s.add(
                    Expert(
                        user_id=row.id,
                        name=row.full_name,
                        specialties=["greenhouse"],
                        region_code=city,
                        affiliation=row.organisation,
                        conflicts={"townships": [], "organisations": []},
                        active=True,
                    )
                )

            def person(row: User) -> Person:
                return Person(id=row.id, username=row.username, role=row.role, region_code=row.region_code)

            out.append(
                Desk(
                    number=n,
                    village=village,
                    households=households,
                    applicant=person(rows["pm"]),
                    township=person(rows["township"]),
                    experts=[person(e) for e in experts],
                    county=person(rows["county"]),
                    city=person(rows["city"]),
                )
            )
    return out


def application(desk: Desk, label: str) -> dict[str, Any]:
    """A valid application (the body of POST /api/v1/projects) of the desk's village, named after `label`."""
    start = date.today() + timedelta(days=30)
    return {
        "name": f"基准测试冬暖式大棚项目 {label}",
        "project_type": "greenhouse",
        "village_code": desk.village,
        "content": "新建冬暖式大棚 10 个",
        "scale": "占地 40 亩",
        "budget": {
            "total_fen": 100_000_000,
            "sources": [
                {"source": "linkage_central", "amount_fen": 60_000_000},
                {"source": "county_match", "amount_fen": 40_000_000},
            ],
        },
        "implementing_entity": {"name": IMPLEMENTING_ENTITY, "person_in_charge": "王建国", "phone": "0531-84212345"},
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(days=200)).isoformat(),
        "operating_model": "lease",
        "revenue": {"expected_annual_revenue_fen": 7_000_000, "expected_yield_percent": 7.0},
        "benefit": {"household_codes": desk.households[:3], "people": 6, "mechanism": "租金按股分红"},
        "performance_targets": [{"indicator": "带动增收", "target": "3 户"}],
    }
