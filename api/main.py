"""create_app and its lifespan: engine and Temporal client on app.state; one router per resource."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Principals, WorkflowEngine
from api.errors import install_error_handlers
from api.metrics import observe
from api.openapi import install_openapi
from api.routes import (
    asset_use,
    assets,
    attachments,
    auth,
    construction,
    contracts,
    distribution_rules,
    dividends,
    experts,
    health,
    households,
    imports,
    notifications,
    operation,
    problems,
    projects,
    regions,
    reports,
    tasks,
    upkeep,
    users,
    webhooks,
)
from core.logging import configure_logging
from core.settings import Environment, Settings, get_settings
from core.temporal import connect, make_runtime
from db.engine import make_engine, make_sessions
from db.repositories.users import count_active_demo_users

log = structlog.get_logger("api")


class DemoUsersInProduction(RuntimeError):
    """Production refuses to serve while demo users with documented passwords can log in."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The assetflow API, wired to `settings` (or the environment's)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        sessions = make_sessions(engine)
        if settings.environment is Environment.PRODUCTION:
            async with sessions() as session:
                if await count_active_demo_users(session):
                    await engine.dispose()
                    raise DemoUsersInProduction(
                        "demo users are active; deactivate them (assetflow user disable) before running in production"
                    )
        runtime = make_runtime(settings.api_sdk_metrics_bind or None)
        app.state.settings = settings
        app.state.sessions = sessions
        # reads (GET, HEAD) run each statement in its own implicit transaction: no BEGIN and ROLLBACK round trips
        # around the one or two statements a read makes, on the same pool (psycopg switches autocommit client-side)
        app.state.read_sessions = make_sessions(engine.execution_options(isolation_level="AUTOCOMMIT"))
        app.state.principals = Principals(settings.auth_cache_seconds)
        app.state.temporal = WorkflowEngine(await connect(settings, runtime=runtime), settings.temporal_wait_seconds)
        log.info("api ready", temporal=settings.temporal_address, environment=settings.environment.value)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="assetflow",
        version="0.1.0",
        summary="帮扶产业项目资产全生命周期 / Rural industry-project assets, application to dividends",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    app.add_middleware(RequestContext)

    api = APIRouter(prefix="/api/v1")
    for module in (
        auth,
        users,
        regions,
        projects,
        construction,
        tasks,
        experts,
        households,
        attachments,
        notifications,
        assets,
        contracts,
        distribution_rules,
        dividends,
        operation,
        upkeep,
        asset_use,
        imports,
        problems,
        reports,
        webhooks,
    ):
        api.include_router(module.router)
    api.include_router(dividends.households_router)
    app.include_router(api)
    app.include_router(health.router)
    install_openapi(app)
    return app


class RequestContext:
    """Every request: a request id (the caller's X-Request-ID or a new one) bound to its log records and echoed
    in the answer, and its count and latency under the route's template. Plain ASGI: no task or stream per
    request, as Starlette's BaseHTTPMiddleware would add."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            observe(request, status, time.perf_counter() - started)


def main() -> None:
    """Entry point: serve the API with uvicorn on the configured host and port."""
    import uvicorn

    settings = get_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)


if __name__ == "__main__":
    main()
