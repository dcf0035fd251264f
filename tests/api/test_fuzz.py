"""Property-based fuzzing of every operation in the OpenAPI (schemathesis), as three roles, against the real app.

Schemathesis generates the requests (valid ones and deliberately invalid ones) from the published OpenAPI and
checks each answer: never a 5xx, a status the operation documents, and a body that matches its schema. The
app runs over ASGI on the test's event loop (with the real worker, PostgreSQL and Temporal); schemathesis and
Hypothesis are synchronous, so they run in a thread and hand each request to the loop through a requests
adapter. Bounded: a few examples per operation, role and mode, no shrinking, no example database.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from requests.adapters import BaseAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.worker import Worker
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from tests.conftest import Login, World, application, eventually

BASE_URL = "http://test"
ROLES = ("pm", "county", "expert")
EXAMPLES = 6  # per operation, role and generation mode: ~2,000 requests in all
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


class _AsgiAdapter(BaseAdapter):
    """A requests adapter that sends each request to the app's httpx ASGI client on the test's event loop."""

    def __init__(self, api: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.api, self.loop = api, loop

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        """Forward one prepared request and wrap the answer as a requests.Response."""
        body = request.body.encode() if isinstance(request.body, str) else request.body
        call = self.api.request(
            request.method or "GET", request.url or "/", headers=dict(request.headers), content=body or b""
        )
        try:
            answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=60)
        except Exception as err:  # the ASGI transport re-raises what the app answered with a 500
            answer = httpx.Response(500, json={"code": "internal_error", "message": repr(err)[:300], "details": None})
        raw = HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=HTTPHeaderDict(list(answer.headers.multi_items())),
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,
        )
        response = requests.adapters.HTTPAdapter().build_response(request, raw)
        return response

    def close(self) -> None:
        """Nothing to release: the httpx client belongs to the fixture."""


@dataclass
class _Tally:
    """What the fuzz sent and what came back."""

    statuses: Counter[int] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    role: str,
    headers: dict[str, str],
    session: requests.Session,
    tally: _Tally,
    real: dict[str, str],
) -> None:
    """EXAMPLES generated requests to one operation as one role; failures are collected, not raised at once."""
    strategy = operation.as_strategy(generation_mode=mode)
    known = {name: value for name, value in real.items() if "{" + name + "}" in operation.path}
    if known and mode is GenerationMode.POSITIVE:
        # half of the requests name the real project or task, so they reach the rules behind the 404
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, path_parameters=known))

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(session=session, base_url=BASE_URL, headers=headers)
        tally.statuses[response.status_code] += 1
        tally.operations.add(operation.label)
        if response.status_code >= 500:
            tally.server_errors.append(
                f"{role}: {response.request.method} {response.request.url} → {response.status_code}"
            )
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as err:  # every check failure is reported; the fuzz goes on
            found = err.exceptions if isinstance(err, BaseExceptionGroup) else (err,)
            for failure in found:
                title = getattr(failure, "title", type(failure).__name__)
                tally.kinds[f"{operation.label}: {title} ({response.status_code})"] += 1
            tally.failures.append(f"[{role} {mode.value}] {operation.label}: {str(err)[:1500]}")

    try:
        run()
    except Unsatisfiable:
        # an operation without parameters or body has no invalid request to generate
        assert mode is GenerationMode.NEGATIVE


def _fuzz(
    schema: schemathesis.BaseSchema,
    session: requests.Session,
    tokens: dict[str, dict[str, str]],
    tally: _Tally,
    real: dict[str, str],
) -> None:
    """Every operation, as every role, in both generation modes."""
    for result in schema.get_all_operations():
        operation = result.ok()
        for role, headers in tokens.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(operation, mode, role, headers, session, tally, real)


@pytest.mark.timeout(600)
async def test_every_operation_survives_fuzzing_as_three_roles(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login
) -> None:
    """No 5xx, only documented statuses, and schema-conformant bodies for generated requests to every operation."""
    # A real project with a running workflow, so some reads and writes meet real rows, not only 404s.
    pm = await login(world.users["pm"])
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    township = await login(world.users["township"])

    async def open_task() -> str | None:
        items = (await api.get("/api/v1/tasks", headers=township, params={"project": code})).json()["items"]
        return str(items[0]["id"]) if items else None

    real = {"code": code, "task_id": await eventually(open_task)}
    tokens = {role: await login(world.users[role]) for role in ROLES}
    openapi = (await api.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(openapi)
    session = requests.Session()
    session.mount(BASE_URL, _AsgiAdapter(api, asyncio.get_running_loop()))
    tally = _Tally()
    await asyncio.to_thread(_fuzz, schema, session, tokens, tally, real)
    operations = sum(len(methods) for methods in openapi["paths"].values())
    summary = f"{len(tally.operations)} of {operations} operations, {sum(tally.statuses.values())} requests, " + (
        f"statuses {dict(sorted(tally.statuses.items()))}"
    )
    print(summary)
    kinds = "\n".join(f"{n:4d} × {kind}" for kind, n in tally.kinds.most_common())
    server_errors = "\n".join(tally.server_errors[:30])
    report = f"{summary}\n\n5xx:\n{server_errors}\n\nfailures by operation:\n{kinds}\n\n"
    assert not tally.failures, report + "\n\n".join(tally.failures[:10])
    assert len(tally.operations) == operations, summary
