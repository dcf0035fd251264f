"""Temporal client, workflow ids and the activity logging interceptor."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.settings import Settings


def project_workflow_id(code: str) -> str:
    """The one workflow of a project lives at this id."""
    return f"project-{code}"


def make_runtime(metrics_bind: str | None) -> Runtime | None:
    """A runtime exporting the SDK's metrics in Prometheus format on `metrics_bind` (host:port)."""
    if not metrics_bind:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind)))


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect to the configured Temporal frontend and namespace."""
    kwargs: dict[str, Any] = {"namespace": settings.temporal_namespace}
    if runtime is not None:
        kwargs["runtime"] = runtime
    return await Client.connect(settings.temporal_address, **kwargs)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            activity=info.activity_type,
            attempt=info.attempt,
            project_code=info.workflow_id.removeprefix("project-") if info.workflow_id else None,
        ):
            return await self.next.execute_activity(input)


class LoggingInterceptor(Interceptor):
    """Binds workflow_id, project_code and activity to every log line an activity writes."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)
