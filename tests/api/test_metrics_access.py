"""/metrics is not public in production: with METRICS_TOKEN only its bearer reads it; without one production does
not serve it, while dev and test keep it open for `make run` and Prometheus on a laptop."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr, ValidationError

from api.main import create_app
from core.settings import Environment, Settings

TOKEN = "m" * 40


async def _get_metrics(settings: Settings, headers: dict[str, str] | None = None) -> httpx.Response:
    # no SDK exporter: each call starts an app, and a Temporal runtime keeps its exporter's port for good
    quiet = settings.model_copy(update={"api_sdk_metrics_bind": ""})
    async with (
        LifespanManager(create_app(quiet)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client,
    ):
        await client.get("/healthz")
        return await client.get("/metrics", headers=headers or {})


@pytest.fixture
def production(settings: Settings) -> Settings:
    """Production settings on the test database and Temporal (no metrics token yet)."""
    return settings.model_copy(update={"environment": Environment.PRODUCTION, "jwt_secret": "p" * 40})


async def test_production_without_a_token_does_not_serve_metrics(production: Settings) -> None:
    r = await _get_metrics(production)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert "assetflow_http_requests_total" not in r.text
    # nor does a guessed token open it
    r = await _get_metrics(production, {"Authorization": "Bearer anything"})
    assert r.status_code == 404


@pytest.mark.parametrize("environment", [Environment.PRODUCTION, Environment.TEST])
async def test_with_a_token_only_its_bearer_reads_metrics(settings: Settings, environment: Environment) -> None:
    configured = settings.model_copy(
        update={"environment": environment, "jwt_secret": "p" * 40, "metrics_token": SecretStr(TOKEN)}
    )
    for headers in (
        None,
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Metrics-Token": TOKEN},
    ):
        r = await _get_metrics(configured, headers)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), headers
        assert "assetflow_http" not in r.text
    r = await _get_metrics(configured, {"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert "assetflow_http_requests_total" in r.text


async def test_dev_and_test_without_a_token_stay_open(settings: Settings) -> None:
    r = await _get_metrics(settings)
    assert r.status_code == 200
    assert "assetflow_http_requests_total" in r.text


def test_production_refuses_a_short_metrics_token() -> None:
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        Settings(environment=Environment.PRODUCTION, jwt_secret="x" * 40, metrics_token=SecretStr("short"))
    assert Settings(environment=Environment.PRODUCTION, jwt_secret="x" * 40, metrics_token=SecretStr("t" * 24))
