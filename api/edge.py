"""What a client may send, checked at the HTTP edge: text PostgreSQL can store, integers that fit their
columns, bounded sizes, and only the query parameters an operation declares — all problems reported at once."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

# Column ranges (db/models.py): ids, counts and offsets are INTEGER, money is BIGINT fen.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Money never exceeds 10^13 fen (100 billion yuan): inside BIGINT with room for sums of many amounts.
MAX_FEN = 10**13
# PostgreSQL text cannot hold NUL, and an unpaired UTF-16 surrogate has no UTF-8 form; the other C0 control
# characters (all but tab, line feed and carriage return) have no business in an official's text.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F]*$"
TEXT_RULE = "storable_text"
# Query, path and header values are ids, codes and filters: a longer one is refused with the other problems.
MAX_PARAMETER_LENGTH = 200


def refused_character(value: str) -> str | None:
    """The first character of `value` that may not be stored, written as its code point (e.g. U+0000), or None."""
    found = _REFUSED.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def _storable(value: str) -> str:
    if (character := refused_character(value)) is not None:
        raise PydanticCustomError(
            TEXT_RULE,
            "text may not contain the control character or unpaired surrogate {character}",
            {"character": character},
        )
    return value


STORABLE = AfterValidator(_storable)
TEXT_SCHEMA = Field(json_schema_extra={"pattern": TEXT_PATTERN})
# Every client string goes through this type: a field adds its length bound with Field(max_length=…); an alias
# puts its Field(...) bound before STORABLE (Annotated[str, Field(max_length=…), STORABLE, TEXT_SCHEMA]).
Text = Annotated[str, STORABLE, TEXT_SCHEMA]
# Path parameters: project codes, task and asset ids (VARCHAR(32)/(64) columns), and INTEGER row ids.
CodePath = Annotated[str, Path(min_length=1, max_length=64, description="编号 / code or id")]
IdPath = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="编号 / id (32-bit integer)")]
# Paging: OFFSET beyond a 32-bit integer finds nothing anyway and would not fit the bound parameter.
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="跳过条数 / rows to skip")]

_problems: ContextVar[list[dict[str, Any]] | None] = ContextVar("edge_problems", default=None)


class _EdgeInvalid(RequestValidationError):
    """Only the edge's own problems: FastAPI found nothing else wrong with the request."""


def _problem(where: str, name: str, rule: str, message: str) -> dict[str, Any]:
    """A problem in the shape of pydantic's errors, so one handler renders all of them."""
    return {"type": rule, "loc": (where, name), "msg": message}


@dataclass(frozen=True)
class _Declared:
    """The query parameters, headers and form fields an operation declares, its dependencies' included."""

    query: frozenset[str]
    headers: tuple[str, ...]
    body: frozenset[str]


def _declared(dependant: Dependant) -> _Declared:
    query: set[str] = set()
    headers: list[str] = []
    body: set[str] = set()
    pending = [dependant]
    while pending:
        d = pending.pop()
        query |= {f.alias for f in d.query_params}
        headers += [f.alias.replace("_", "-") for f in d.header_params]
        body |= {f.alias for f in d.body_params}
        pending += d.dependencies
    return _Declared(frozenset(query), tuple(headers), frozenset(body))


async def edge_problems(request: Request, declared_params: _Declared) -> list[dict[str, Any]]:
    """Unknown query parameters and unstorable text in the path, query, declared headers and form fields."""
    declared = declared_params.query
    out: list[dict[str, Any]] = []
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in declared:
            allowed = ", ".join(sorted(declared)) or "none"
            out.append(_problem("query", name, "unknown_parameter", f"unknown query parameter (allowed: {allowed})"))
    values: list[tuple[str, str, str]] = [("path", k, str(v)) for k, v in request.path_params.items()]
    values += [("query", k, v) for k, v in request.query_params.multi_items() if k in declared]
    values += [("header", h, v) for h in declared_params.headers if (v := request.headers.get(h)) is not None]
    if declared_params.body and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            # Starlette caches the parsed form on the request, so FastAPI reads the same one afterwards.
            form = await request.form()
        except (MultiPartException, HTTPException, ValueError):
            form = None  # unreadable: FastAPI reports the body itself
        if form is not None:
            values += [
                ("body", k, v) for k, v in form.multi_items() if k in declared_params.body and isinstance(v, str)
            ]
    for where, name, value in values:
        if (character := refused_character(value)) is not None:
            message = f"text may not contain the control character or unpaired surrogate {character}"
            out.append(_problem(where, name, TEXT_RULE, message))
        elif where != "body" and len(value) > MAX_PARAMETER_LENGTH:
            message = f"at most {MAX_PARAMETER_LENGTH} characters"
            out.append(_problem(where, name, "string_too_long", message))
    return out


def _guarded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, refusing to run while the edge has found a problem in the request."""

    @functools.wraps(endpoint)
    async def guarded(**values: Any) -> Any:
        if problems := _problems.get():
            raise _EdgeInvalid(problems)
        return await endpoint(**values)

    # FastAPI reads the signature (evaluated in the endpoint's module) rather than following __wrapped__.
    guarded.__signature__ = inspect.signature(endpoint, eval_str=True)  # type: ignore[attr-defined]
    del guarded.__wrapped__
    return guarded


class EdgeRoute(APIRoute):
    """A route whose requests pass the edge checks; their problems join FastAPI's own in one 422."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _guarded(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, run with this request's edge problems in context."""
        handler: Callable[[Request], Awaitable[Response]] = super().get_route_handler()
        declared = _declared(self.dependant)

        async def edge_handler(request: Request) -> Response:
            problems = await edge_problems(request, declared)
            token = _problems.set(problems)
            try:
                return await handler(request)
            except _EdgeInvalid:
                raise
            except RequestValidationError as exc:
                if not problems:
                    raise
                raise RequestValidationError([*problems, *exc.errors()], body=exc.body) from exc
            finally:
                _problems.reset(token)

        return edge_handler
