"""The OpenAPI tells the truth: every operation lists the error statuses it can answer, with ErrorPublic."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import ErrorPublic, _d

ERRORS: dict[str, str] = {
    "401": _d(
        "未登录、令牌无效或用户名密码错误", "missing, invalid or expired bearer token, or wrong username or password"
    ),
    "403": _d("无权操作（角色、辖区、职责分离）", "forbidden: the role, the region or separation of duties refuses it"),
    "404": _d("不存在", "not found"),
    "409": _d(
        "与当前状态冲突（阶段不符、任务已办结、重复）",
        "conflicts with the current state: stage, closed task, duplicate",
    ),
    "413": _d("文件超过上传限制", "the file exceeds the upload limit"),
    "422": _d("输入不合规：逐项列出字段和规则", "invalid input: every field, with the rule it breaks, at once"),
    "429": _d("尝试过于频繁，请按 Retry-After 稍后再试", "too many attempts: retry after Retry-After seconds"),
    "503": _d("工作流引擎或数据库暂不可用，可重试", "the workflow engine or the database is unavailable: retry"),
    "504": _d(
        "等待工作流超时，原样重试是安全的", "the workflow did not answer in time: the same request may be retried"
    ),
}
WRITES = {"post", "put", "patch", "delete"}
# statuses whose answer says when to try again
RETRY_AFTER = {"429", "503"}
RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": _d("多少秒后重试", "seconds to wait before retrying"),
    "schema": {"type": "integer"},
}
LOGIN = "/api/v1/auth/token"


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    """The error statuses one operation can answer."""
    statuses = {"422"}  # unknown query parameters are refused on every operation
    if not path.startswith("/api/"):
        # health: liveness never fails; readiness answers 503 when a part is down; /metrics may ask for its token
        if path == "/readyz":
            statuses.add("503")
        if path == "/metrics":
            statuses |= {"401", "403", "404"}  # 404: not served in production without a token
        return statuses
    statuses |= {"503"}  # the database or Temporal unreachable
    if operation.get("security"):
        statuses |= {"401", "403", "504"}
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.add("404")
    if operation.get("security") and method in WRITES:
        statuses.add("409")
    if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
        statuses.add("413")
    if path == LOGIN:
        statuses |= {"401", "429"}
    return statuses


def add_error_responses(schema: dict[str, Any]) -> None:
    """Add ErrorPublic answers for every error status of every operation (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorPublic"] = error_schema
    ref = {"$ref": "#/components/schemas/ErrorPublic"}
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(path, method, operation)):
                # FastAPI documents its 422 as {"detail": [...]}; ours is ErrorPublic like every other error
                answer: dict[str, Any] = {
                    "description": ERRORS[status],
                    "content": {"application/json": {"schema": ref}},
                }
                headers = dict(responses.get(status, {}).get("headers", {}))
                if status in RETRY_AFTER:
                    headers.setdefault("Retry-After", RETRY_AFTER_HEADER)
                if headers:
                    answer["headers"] = headers
                responses[status] = answer
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def install_openapi(app: FastAPI) -> None:
    """Make app.openapi() publish the error answers too (built once, then cached like FastAPI's own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_error_responses(build())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def multipart_file_body(description: str) -> dict[str, Any]:
    """`openapi_extra` of an operation that reads one uploaded file (multipart field `file`) itself."""
    file = {"type": "string", "format": "binary", "description": description}
    schema = {"type": "object", "required": ["file"], "properties": {"file": file}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
