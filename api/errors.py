"""One error shape for every failure: {"code", "message", "details"}; a 500 is a bug and is logged."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger("api.errors")


class ApiError(Exception):
    """An error a client caused or must know about, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def unauthorized(message: str = "missing or invalid bearer token") -> ApiError:
    """401."""
    return ApiError(401, "unauthorized", message)


def forbidden(message: str, code: str = "forbidden") -> ApiError:
    """403."""
    return ApiError(403, code, message)


def not_found(what: str) -> ApiError:
    """404."""
    return ApiError(404, "not_found", f"{what} not found")


def conflict(code: str, message: str, details: Any = None) -> ApiError:
    """409."""
    return ApiError(409, code, message, details)


def invalid(errors: list[dict[str, str]]) -> ApiError:
    """422 naming each field and the rule it breaks."""
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ApiError(422, "validation_error", f"invalid input — {summary}", errors)


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _field(loc: tuple[Any, ...]) -> str:
    # a field name can be a client's map key: an unpaired surrogate in it must not break the JSON answer
    loc = tuple(p.encode("utf-8", "backslashreplace").decode() if isinstance(p, str) else p for p in loc)
    # nor is a control character (a NUL in a key) echoed back raw: it is shown escaped, e.g. \u0000
    loc = tuple(_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", p) if isinstance(p, str) else p for p in loc)
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or ".".join(str(p) for p in loc)


def _problem(error: Any) -> dict[str, str]:
    """One pydantic/FastAPI error as {field, rule, message}; malformed JSON is the body's, at a position."""
    if error.get("type") == "json_invalid":
        # FastAPI puts the character offset where a field name belongs: name the body and say where instead.
        position = next((p for p in error.get("loc", ()) if isinstance(p, int)), None)
        reason = (error.get("ctx") or {}).get("error", error.get("msg", "invalid JSON"))
        where = f" at character {position}" if position is not None else ""
        return {"field": "body", "rule": "json_invalid", "message": f"malformed JSON{where}: {reason}"}
    return {"field": _field(tuple(error["loc"])), "rule": str(error["type"]), "message": str(error["msg"])}


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one JSON error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems: dict[tuple[str, str], dict[str, str]] = {}
        for e in exc.errors():
            # the edge's generic bound and a field's own stricter one name the same field and rule: keep the latter
            problem = _problem(e)
            problems[(problem["field"], problem["rule"])] = problem
        err = invalid(list(problems.values()))
        return JSONResponse(_body(err.code, err.message, err.details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (a form or JSON it cannot read): the client's input, a 422.
            err = invalid([{"field": "body", "rule": "body_invalid", "message": str(exc.detail)}])
            return JSONResponse(_body(err.code, err.message, err.details), status_code=422)
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RPCError)
    async def _engine_unreachable(request: Request, exc: RPCError) -> JSONResponse:
        # the workflow engine is down or restarting: the request changed nothing that a retry would repeat
        log.warning("workflow engine unavailable", path=request.url.path, status=exc.status.name)
        timed_out = exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
        code, status = ("update_timeout", 504) if timed_out else ("temporal_unavailable", 503)
        message = "the workflow engine is unavailable; retry the request shortly"
        return JSONResponse(_body(code, message), status_code=status, headers={"Retry-After": "5"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        # the database restarts or every pooled connection is busy: not ready, and safe to retry
        log.warning("database unavailable", path=request.url.path, error=type(exc).__name__)
        message = "the database is unavailable or busy; retry the request shortly"
        return JSONResponse(_body("not_ready", message), status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            return await _database_unreachable(request, exc)
        return await _bug(request, exc)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(_body("internal_error", "internal error; it has been logged"), status_code=500)


def too_many_attempts(message: str, retry_after: int, details: Any = None) -> JSONResponse:
    """429 `too_many_attempts` with `Retry-After` (seconds), in the one error shape."""
    return JSONResponse(
        _body("too_many_attempts", message, details),
        status_code=429,
        headers={"Retry-After": str(max(1, retry_after))},
    )
