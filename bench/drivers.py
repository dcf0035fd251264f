"""What one client does: assetflow over its HTTP API, and bare Temporal over the client, step for step."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from bench.bare import BareReviewWorkflow
from bench.stats import timed
from bench.world import PASSWORD, World, application

INBOX_PAGE = 200  # the largest page GET /api/v1/tasks serves
OPEN_TIMEOUT = 60.0


class BenchError(RuntimeError):
    """The system under test answered something a correct run never answers."""


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        request = response.request
        raise BenchError(f"{request.method} {request.url.path} → {response.status_code}: {response.text[:500]}")
    return response.json()


async def login(api: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Bearer headers for a bench user, through POST /api/v1/auth/token."""
    token = _expect(await api.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}), 200)
    return {"Authorization": f"Bearer {token['access_token']}"}


class AssetflowClient:
    """A project manager files projects; a township reviewer watches the inbox and decides (HTTP, in-process)."""

    def __init__(
        self, api: httpx.AsyncClient, world: World, *, applicant: dict[str, str], reviewer: dict[str, str], poll: float
    ) -> None:
        self._api = api
        self._world = world
        self._applicant = applicant
        self._reviewer = reviewer
        self._poll = poll

    async def create_until_open(self, label: str) -> str:
        """File a project, then poll the reviewer's inbox until its township-review task is open; the task id."""
        body = application(self._world, label)
        code = _expect(await self._api.post("/api/v1/projects", json=body, headers=self._applicant), 201)["code"]
        deadline = asyncio.get_running_loop().time() + OPEN_TIMEOUT
        while (task_id := await self._open_task(code)) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise BenchError(f"the township-review task of {code} did not open within {OPEN_TIMEOUT:.0f} s")
            await asyncio.sleep(self._poll)
        return task_id

    async def _open_task(self, code: str) -> str | None:
        offset = 0
        while True:
            params = {"limit": INBOX_PAGE, "offset": offset}
            page = _expect(await self._api.get("/api/v1/tasks", params=params, headers=self._reviewer), 200)
            for task in page["items"]:
                if task["project_code"] == code and task["kind"] == "township_review":
                    return str(task["id"])
            if len(page["items"]) < INBOX_PAGE:
                return None
            offset += INBOX_PAGE

    async def decide(self, task_id: str) -> float:
        """Approve the task through POST /api/v1/tasks/{id}/decision; the round trip in seconds."""
        call = self._api.post(
            f"/api/v1/tasks/{task_id}/decision", json={"decision": "approve", "opinion": "同意"}, headers=self._reviewer
        )
        response, elapsed = await timed(call)
        answer = _expect(response, 200)
        if answer.get("stage") != "expert_review":
            raise BenchError(f"task {task_id} approved but the project is in stage {answer.get('stage')!r}")
        return elapsed


class BareClient:
    """The same steps on bare Temporal: start, poll a query until the task is open, decide by Update."""

    def __init__(self, client: Client, *, task_queue: str, poll: float) -> None:
        self._client = client
        self._task_queue = task_queue
        self._poll = poll

    async def create_until_open(self, label: str) -> WorkflowHandle[BareReviewWorkflow, str]:
        """Start a workflow, then poll its query until the task is open."""
        handle = await self._client.start_workflow(
            BareReviewWorkflow.run, label, id=f"bare-{self._task_queue}-{label}", task_queue=self._task_queue
        )
        deadline = asyncio.get_running_loop().time() + OPEN_TIMEOUT
        while not await handle.query(BareReviewWorkflow.task_open):
            if asyncio.get_running_loop().time() > deadline:
                raise BenchError(f"the task of {handle.id} did not open within {OPEN_TIMEOUT:.0f} s")
            await asyncio.sleep(self._poll)
        return handle

    async def decide(self, handle: WorkflowHandle[BareReviewWorkflow, str]) -> float:
        """Approve through execute_update; the round trip in seconds."""
        result, elapsed = await timed(handle.execute_update(BareReviewWorkflow.submit_decision, "approve"))
        if result != "approve":
            raise BenchError(f"{handle.id}: the update answered {result!r}")
        return elapsed
