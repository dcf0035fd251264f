"""Liveness, readiness and Prometheus metrics (no authentication)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from api.deps import SessionsDep, SettingsDep, TemporalDep
from api.edge import EdgeRoute

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
            await temporal.service_client.check_health()
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


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Prometheus metrics: HTTP metrics of this process and the Temporal SDK's client metrics."""
    body = generate_latest(REGISTRY).decode()
    if settings.api_sdk_metrics_bind:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                sdk = await client.get(f"http://{settings.api_sdk_metrics_bind}/metrics")
            body += sdk.text
        except httpx.HTTPError:
            body += "# temporal sdk metrics unavailable\n"
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
