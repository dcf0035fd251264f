"""Liveness and readiness (no authentication), and Prometheus metrics (a bearer token, or dev and test only)."""

from __future__ import annotations

import asyncio
import hmac

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import SessionsDep, SettingsDep, TemporalDep
from api.edge import EdgeRoute
from api.errors import unauthorized
from core.settings import Environment, Settings

router = APIRouter(tags=["health"], route_class=EdgeRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(sessions: SessionsDep, temporal: TemporalDep) -> JSONResponse:
    """Ready when the database and Temporal both answer; 503 names the part that does not."""
    parts: dict[str, str] = {}
    try:
        async with asyncio.timeout(3), sessions() as session:
            await session.execute(text("SELECT 1"))
        parts["database"] = "ok"
    except Exception as err:  # readiness reports any failure as "not ready"
        parts["database"] = f"unreachable: {type(err).__name__}"
    try:
        async with asyncio.timeout(3):
            await temporal.client.service_client.check_health()
        parts["temporal"] = "ok"
    except Exception as err:  # readiness reports any failure as "not ready"
        parts["temporal"] = f"unreachable: {type(err).__name__}"
    failing = [k for k, v in parts.items() if v != "ok"]
    if failing:
        return JSONResponse(
            {
                "code": "not_ready",
                "message": f"not ready: {', '.join(failing)} unreachable",
                "details": parts,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "details": parts})


def _require_metrics_access(request: Request, settings: Settings) -> None:
    """With METRICS_TOKEN set, only `Authorization: Bearer <token>` reads the metrics; without it, production does
    not serve them at all (404, as if there were no such route), while dev and test keep them open."""
    token = settings.metrics_token.get_secret_value()
    if not token:
        if settings.environment is Environment.PRODUCTION:
            raise StarletteHTTPException(status_code=404, detail="Not Found")
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken says nothing about how much of a guess was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise unauthorized("metrics need the bearer token configured as METRICS_TOKEN")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        401: {"description": "缺少或错误的指标令牌 / missing or wrong METRICS_TOKEN bearer token"},
        404: {"description": "生产环境未配置令牌时不提供 / not served in production without METRICS_TOKEN"},
    },
)
async def metrics(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Prometheus metrics: HTTP metrics of this process and the Temporal SDK's client metrics (监控指标)."""
    _require_metrics_access(request, settings)
    body = generate_latest(REGISTRY).decode()
    if settings.api_sdk_metrics_bind:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                sdk = await client.get(f"http://{settings.api_sdk_metrics_bind}/metrics")
            body += sdk.text
        except httpx.HTTPError:
            body += "# temporal sdk metrics unavailable\n"
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
