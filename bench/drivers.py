"""What one client does with one project: assetflow over its HTTP API, and bare Temporal over the client, step for step.

A chain is: file the project, then for each task in turn (township review, three expert seats, county approval,
city filing) wait until it is open for its decider and decide it. Each decision's round trip is timed; waiting for
a task to open is not (it is part of the chain's wall time, which the throughput figure covers).

By default any unexpected answer stops the chain (BenchError). Given a `refused` hook (the fault run, bench/faults.py),
the driver instead reports each non-2xx answer to the hook and repeats the same request (the same body, so the same
retry-safe Update id; creates carry an Idempotency-Key) until it is accepted or RETRY_TIMEOUT passes; a decision's
timing is then the wait from its first send to the accepted answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from api.security import create_token
from bench import bare
from bench.sqlcount import polling
from bench.stats import timed
from bench.world import PASSWORD, Desk, Person, application

OPEN_TIMEOUT = 60.0
RETRY_TIMEOUT = 120.0
"""With a `refused` hook: how long one call is repeated before the chain gives up."""
RETRY_PAUSE = 0.5
CREATE = "create"
STEPS = (CREATE, "township_review", "expert_review", "county_approval", "city_filing")
STAGES = ("application", *STEPS[1:], "approval_notice")
SCORES = {"operating_model": 20, "revenue_estimate": 20, "benefit_linkage": 25, "compliance_risk": 15}


class BenchError(RuntimeError):
    """The system under test answered something a correct run never answers."""


@dataclass(frozen=True)
class Timing:
    """One timed call of a chain: its step (create, or the kind of task decided) and its round trip in seconds
    (with a `refused` hook: from the first send to the accepted answer, over `attempts` calls)."""

    step: str
    seconds: float
    project: str = ""
    attempts: int = 1
    opened_after: float = 0.0
    """Seconds from the chain's previous accepted answer until this task was seen open (0 for a create)."""


@dataclass(frozen=True)
class Refusal:
    """A non-2xx answer the driver met (and repeated the call after): which call, its status and error code."""

    step: str
    method: str
    path: str
    status: int
    code: str
    seconds: float
    at: float
    """time.monotonic() when the answer came."""


Refused = Callable[[Refusal], None]


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        request = response.request
        raise BenchError(f"{request.method} {request.url.path} → {response.status_code}: {response.text[:500]}")
    return response.json()


async def _until(what: str, check: Callable[[], Awaitable[bool]], poll: float) -> None:
    deadline = asyncio.get_running_loop().time() + OPEN_TIMEOUT
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise BenchError(f"{what} did not happen within {OPEN_TIMEOUT:.0f} s")
        await asyncio.sleep(poll)


async def login(api: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Bearer headers for a bench user, through POST /api/v1/auth/token."""
    token = _expect(await api.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}), 200)
    return {"Authorization": f"Bearer {token['access_token']}"}


def mint(person: Person, *, secret: str, ttl_minutes: int) -> dict[str, str]:
    """Bearer headers signed as POST /auth/token signs them. Logging in is not what is measured, and its argon2
    verification (about 0.2 s of CPU, on the event loop) for every user of every desk would only delay the start."""
    token = create_token(
        user_id=person.id, role=person.role, region_code=person.region_code, secret=secret, ttl_minutes=ttl_minutes
    )
    return {"Authorization": f"Bearer {token}"}


def _repeatable(status: int) -> bool:
    """A conflict (a task not open yet), a rate limit or a server-side failure may pass; any other 4xx is the
    driver's own mistake, and repeating it would only hide it."""
    return status in (409, 429) or status >= 500


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


class AssetflowDriver:
    """Each client files projects as its desk's project manager and decides them as its desk's reviewers and
    experts, through assetflow's real FastAPI app (in-process ASGI)."""

    def __init__(
        self,
        api: httpx.AsyncClient,
        desks: list[Desk],
        headers: dict[int, dict[str, str]],
        *,
        poll: float,
        refused: Refused | None = None,
        answered: Callable[[Timing], None] | None = None,
    ) -> None:
        self._api = api
        self._desks = desks
        self._headers = headers  # user id → bearer headers
        self._poll = poll
        self._refused = refused
        self._answered = answered
        self._since: dict[str, float] = {}  # project code → when its chain's previous call was accepted

    async def _call(
        self, step: str, send: Callable[[], Awaitable[httpx.Response]], status: int
    ) -> tuple[Any, float, int]:
        """Send until answered `status`: the body, seconds from the first send, calls made. Without a `refused`
        hook the first other answer raises BenchError."""
        if self._refused is None:
            response, seconds = await timed(send())
            return _expect(response, status), seconds, 1
        started = time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            response, seconds = await timed(send())
            if response.status_code == status:
                return response.json(), time.perf_counter() - started, attempts
            request = response.request
            self._refused(
                Refusal(
                    step,
                    request.method,
                    request.url.path,
                    response.status_code,
                    _code(response),
                    seconds,
                    time.monotonic(),
                )
            )
            if not _repeatable(response.status_code) or time.perf_counter() - started > RETRY_TIMEOUT:
                _expect(response, status)
            await asyncio.sleep(RETRY_PAUSE)

    def _accepted(self, timing: Timing) -> Timing:
        self._since[timing.project] = time.perf_counter()
        if self._answered is not None:
            self._answered(timing)
        return timing

    async def chain(self, client: int, label: str) -> list[Timing]:
        """Create → township → three expert scores → county → city; the timed calls, ending at approval_notice."""
        desk = self._desks[client]
        body = application(desk, label)
        headers = self._headers[desk.applicant.id]
        if self._refused is not None:  # a create repeated after a 5xx must file one project, not two
            headers = headers | {"Idempotency-Key": f"bench-{label}"}
        created, seconds, attempts = await self._call(
            CREATE, lambda: self._api.post("/api/v1/projects", json=body, headers=headers), 201
        )
        code = str(created["code"])
        timings = [self._accepted(Timing(CREATE, seconds, code, attempts))]
        timings.append(await self._review(code, desk.township, "township_review", "expert_review"))
        waiting = list(desk.experts)
        while waiting:
            found = False
            for expert in list(waiting):
                task = await self._open_task(code, expert, "expert_review")
                if task is not None:
                    found = True
                    waiting.remove(expert)
                    last = not waiting
                    decision = {"decision": "score", "scores": SCORES, "opinion": "模式可行"}
                    timings.append(
                        await self._decide(task, expert, decision, "county_approval" if last else "expert_review")
                    )
            if waiting and not found:
                await asyncio.sleep(self._poll)
        timings.append(await self._review(code, desk.county, "county_approval", "city_filing"))
        timings.append(await self._review(code, desk.city, "city_filing", "approval_notice"))
        return timings

    async def _review(self, code: str, who: Person, kind: str, then: str) -> Timing:
        task: dict[str, Any] | None = None

        async def is_open() -> bool:
            nonlocal task
            task = await self._open_task(code, who, kind)
            return task is not None

        await _until(f"the {kind} task of {code}", is_open, self._poll)
        assert task is not None
        return await self._decide(task, who, {"decision": "approve", "opinion": "同意"}, then)

    async def _open_task(self, code: str, who: Person, kind: str) -> dict[str, Any] | None:
        params = {"project": code, "kind": kind}
        with polling():
            page, _, _ = await self._call(
                kind, lambda: self._api.get("/api/v1/tasks", params=params, headers=self._headers[who.id]), 200
            )
        items: list[dict[str, Any]] = page["items"]
        return items[0] if items else None

    async def _decide(self, task: dict[str, Any], who: Person, body: dict[str, Any], then: str) -> Timing:
        kind, code = str(task["kind"]), str(task["project_code"])
        opened_after = time.perf_counter() - self._since.get(code, time.perf_counter())
        path = f"/api/v1/tasks/{task['id']}/decision"
        answer, seconds, attempts = await self._call(
            kind, lambda: self._api.post(path, json=body, headers=self._headers[who.id]), 200
        )
        stage = answer.get("stage")
        # a repeated decision that was stored the first time is answered with the project's stage now, which the
        # chain's other deciders (the other experts) may have moved on
        later = (
            self._refused is not None
            and stage in STAGES
            and then in STAGES
            and STAGES.index(stage) > STAGES.index(then)
        )
        if stage != then and not later:
            raise BenchError(f"{kind} of {code} decided; stage {stage!r}, expected {then!r}")
        return self._accepted(Timing(kind, seconds, code, attempts, opened_after))


class BareDriver:
    """The same steps on bare Temporal: start, poll a query until a task is open, decide it by Update."""

    def __init__(self, client: Client, *, task_queue: str, poll: float) -> None:
        self._client = client
        self._task_queue = task_queue
        self._poll = poll

    async def chain(self, client: int, label: str) -> list[Timing]:
        """Start → township → three expert seats → county → city; the timed calls, ending at approval_notice."""
        handle, seconds = await timed(
            self._client.start_workflow(
                bare.BareChainWorkflow.run,
                label,
                id=f"bare-{self._task_queue}-{label}",
                task_queue=self._task_queue,
            )
        )
        timings = [Timing(CREATE, seconds)]
        timings.append(await self._review(handle, "township_review", "expert_review"))
        waiting = [f"expert_review-{i}" for i in range(bare.SEATS)]
        while waiting:
            seen = [t for t in await handle.query(bare.BareChainWorkflow.open_tasks) if t in waiting]
            for task in seen:
                waiting.remove(task)
                timings.append(await self._decide(handle, task, "county_approval" if not waiting else "expert_review"))
            if waiting and not seen:
                await asyncio.sleep(self._poll)
        timings.append(await self._review(handle, "county_approval", "city_filing"))
        timings.append(await self._review(handle, "city_filing", "approval_notice"))
        return timings

    async def _review(self, handle: WorkflowHandle[bare.BareChainWorkflow, str], task: str, then: str) -> Timing:
        async def is_open() -> bool:
            return task in await handle.query(bare.BareChainWorkflow.open_tasks)

        await _until(f"the {task} task of {handle.id}", is_open, self._poll)
        return await self._decide(handle, task, then)

    async def _decide(self, handle: WorkflowHandle[bare.BareChainWorkflow, str], task: str, then: str) -> Timing:
        stage, seconds = await timed(handle.execute_update(bare.BareChainWorkflow.decide, task))
        if stage != then:
            raise BenchError(f"{handle.id}: {task} decided; stage {stage!r}, expected {then!r}")
        return Timing(task.split("-")[0], seconds)
