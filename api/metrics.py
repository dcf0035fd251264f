"""HTTP metrics with prometheus_client, labelled by route template (not raw path) to bound cardinality."""

from __future__ import annotations

from fastapi import Request
from prometheus_client import Counter, Histogram

REQUESTS = Counter("assetflow_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "assetflow_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNMEASURED = frozenset({"/metrics", "/healthz", "/readyz"})


def _template(request: Request) -> str:
    """The path with each path parameter put back as `{name}` (unmatched paths share one label)."""
    if request.scope.get("route") is None:
        return "unmatched"
    segments = request.url.path.split("/")
    params = {str(v): k for k, v in request.path_params.items()}
    return "/".join("{" + params[s] + "}" if s in params else s for s in segments)


def observe(request: Request, status: int, seconds: float) -> None:
    """Count and time one answered request under its route template (the router has filled in its scope)."""
    route = _template(request)
    if route not in UNMEASURED:
        REQUESTS.labels(request.method, route, str(status)).inc()
        LATENCY.labels(request.method, route).observe(seconds)
