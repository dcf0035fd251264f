"""Health, readiness, metrics and the production guards."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError
from sqlalchemy import select

from api.main import DemoUsersInProduction, create_app
from api.security import hash_password
from core.settings import DEV_JWT_SECRET, Environment, Settings
from db.engine import Sessions
from db.models import User
from tests.conftest import Login, World


async def test_health_ready_and_metrics(api: httpx.AsyncClient, world: World, login: Login) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["details"] == {"database": "ok", "temporal": "ok"}
    headers = await login(world.users["pm"])
    await api.get("/api/v1/me", headers=headers)
    await api.get("/api/v1/tasks/some-task-id", headers=headers)
    metrics = (await api.get("/metrics")).text
    assert 'assetflow_http_requests_total{method="GET",route="/api/v1/me",status="200"}' in metrics
    assert 'assetflow_http_requests_total{method="GET",route="/api/v1/tasks/{task_id}",status="404"}' in metrics
    assert "temporal_request" in metrics  # the SDK's client metrics of this process


async def test_readyz_names_the_failing_part(settings: Settings) -> None:
    broken = settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@/nope?host=/nonexistent"})
    app = create_app(broken)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client,
    ):
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["code"] == "not_ready"
    assert r.json()["details"]["database"].startswith("unreachable")
    assert r.json()["details"]["temporal"] == "ok"
    assert "database" in r.json()["message"]


def test_production_refuses_the_dev_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment=Environment.PRODUCTION, jwt_secret=DEV_JWT_SECRET)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment=Environment.PRODUCTION, jwt_secret="short")
    prod = Settings(environment=Environment.PRODUCTION, jwt_secret="x" * 40)
    assert prod.log_format == "json"


async def test_production_refuses_to_start_with_active_demo_users(
    settings: Settings, sessions: Sessions, world: World
) -> None:
    async with sessions.begin() as s:
        s.add(
            User(
                username=f"demo_{world.county}",
                full_name="demo",
                password_hash=hash_password("x" * 10),
                role="admin",
                region_code=world.county,
                is_demo=True,
            )
        )
    prod = settings.model_copy(update={"environment": Environment.PRODUCTION, "jwt_secret": "p" * 40})
    try:
        with pytest.raises(DemoUsersInProduction):
            async with LifespanManager(create_app(prod)):
                pass
    finally:
        async with sessions.begin() as s:
            user = await s.scalar(select(User).where(User.username == f"demo_{world.county}"))
            assert user is not None
            user.active = False
