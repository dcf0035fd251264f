"""Issue 8: no request can freeze a project, take the API down, be told a false "final", or earn a 500.

Each test drives the real app, the real worker, real Temporal and real PostgreSQL; faults are real too: a
task row visible before the workflow hears of it, data the database refuses, a store that keeps failing (a
trigger), a Temporal server that goes away and comes back, a PostgreSQL that stops and starts again."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, text
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from api.main import create_app
from api.security import hash_password
from core.devstack import free_port, start_postgres, temporal_binary
from core.settings import Settings
from db.engine import Sessions
from db.migrate import upgrade
from db.models import AuditEntry, DecisionRecord, Project, Region, User
from domain.payloads import Actor, SubmitDecisionInput
from tests.api.chain_helpers import GOOD_SCORES, add_expert
from tests.conftest import PASSWORD, Login, World, application, eventually
from tests.replay.test_replay import _replayer, record_history
from worker import build_worker
from workflows.approval import ApprovalWorkflow
from workflows.steps import LOCAL_BUDGET

pytestmark = pytest.mark.timeout(420)


class _SlowToHear(Interceptor):
    """The window of the old bug, made wide: `open_task` has committed its row (the inbox shows the task) but
    the workflow hears of it only `delay` seconds later."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        delay = self.delay

        class _Slow(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                result = await super().execute_activity(input)
                if input.fn.__name__ == "open_task":
                    await asyncio.sleep(delay)
                return result

        return _Slow(next)


class _SlowLocalStore(Interceptor):
    """`record_decision` run as a local activity commits, then outlasts its one local attempt (LOCAL_BUDGET): the
    workflow goes on with the store as an activity task, which finds the decision stored already."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        class _Slow(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                result = await super().execute_activity(input)
                if input.fn.__name__ == "record_decision" and activity.info().is_local:
                    await asyncio.sleep(LOCAL_BUDGET.total_seconds() + 1)
                return result

        return _Slow(next)


async def _file(api: httpx.AsyncClient, pm: dict[str, str], world: World, **headers: str) -> str:
    r = await api.post("/api/v1/projects", json=application(world), headers={**pm, **headers})
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def _task(
    api: httpx.AsyncClient, who: dict[str, str], code: str, kind: str, *, interval: float = 0.02, wait: float = 45
) -> dict[str, Any]:
    async def visible() -> dict[str, Any] | None:
        r = await api.get("/api/v1/tasks", params={"project": code, "kind": kind}, headers=who)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items[0] if items else None

    found: dict[str, Any] = await eventually(visible, interval=interval, timeout=wait)
    return found


async def _replays(client: Client, code: str, name: str) -> None:
    """The project's histories replay against today's code (the approval workflow's is recorded with
    RECORD_HISTORIES=1; the single-class workflow's histories of the same name stay as they were recorded)."""
    for workflow_id in (f"project-{code}", f"project-{code}-approval-1"):
        handle = client.get_workflow_handle(workflow_id)
        replayed = await _replayer().replay_workflow(await handle.fetch_history(), raise_on_replay_failure=True)
        assert replayed.replay_failure is None
    if os.environ.get("RECORD_HISTORIES") == "1":
        await record_history(client, f"project-{code}-approval-1", f"{name}_approval")


def _actor(user: User, level: str) -> Actor:
    return Actor(
        user_id=user.id, username=user.username, role=user.role, region_code=user.region_code, region_level=level
    )


async def test_a_decision_sent_the_moment_the_inbox_shows_the_task_is_decided(
    temporal_client: Client, sessions: Sessions, task_queue: str, api: httpx.AsyncClient, world: World, login: Login
) -> None:
    """The inbox never lies: a task it shows is decidable, even before the workflow has heard of it."""
    worker = build_worker(temporal_client, sessions, task_queue=task_queue, interceptors=[_SlowToHear(2.0)])
    async with worker:
        pm, township = await login(world.users["pm"]), await login(world.users["township"])
        code = await _file(api, pm, world)
        task = await _task(api, township, code, "township_review")
        r = await api.post(
            f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve", "opinion": "同意"}, headers=township
        )
        assert (r.status_code, r.json().get("stage")) == (200, "expert_review"), r.text
        detail = (await api.get(f"/api/v1/tasks/{task['id']}", headers=township)).json()
        assert (detail["status"], detail["decision"]) == ("decided", "approve")
        await _replays(temporal_client, code, "early_decision_waits_for_its_task")


async def test_a_store_slower_than_its_local_attempt_is_answered_once(
    temporal_client: Client, sessions: Sessions, task_queue: str, api: httpx.AsyncClient, world: World, login: Login
) -> None:
    """A decision's store committed by a local attempt that then timed out is carried on as an activity task: the
    decision is answered once, stored once, audited once, and the history (a timed-out local activity's marker)
    replays."""
    async with build_worker(temporal_client, sessions, task_queue=task_queue, interceptors=[_SlowLocalStore()]):
        pm, township = await login(world.users["pm"]), await login(world.users["township"])
        code = await _file(api, pm, world)
        task = await _task(api, township, code, "township_review")
        body = {"decision": "approve", "opinion": "同意"}
        r = await api.post(f"/api/v1/tasks/{task['id']}/decision", json=body, headers=township)
        assert (r.status_code, r.json().get("stage")) == (200, "expert_review"), r.text
        again = await api.post(f"/api/v1/tasks/{task['id']}/decision", json=body, headers=township)
        assert (again.status_code, again.json()) == (200, r.json())
        await _replays(temporal_client, code, "store_slower_than_its_local_attempt")
    async with sessions() as s:
        decisions = await s.scalar(
            select(func.count()).select_from(DecisionRecord).where(DecisionRecord.task_id == task["id"])
        )
        audited = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.chain == f"project:{code}", AuditEntry.action == "decision")
        )
    assert (decisions, audited) == (1, 1)
    events = [e async for e in temporal_client.get_workflow_handle(f"project-{code}-approval-1").fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled.count("record_decision") == 1  # the local attempt timed out; the activity task stored nothing


async def test_data_the_database_refuses_is_answered_at_once_and_the_project_goes_on(
    temporal_client: Client, worker: object, api: httpx.AsyncClient, world: World, login: Login
) -> None:
    """A NUL that slipped past the edge: the Update fails as Unstorable (no endless retry holding the lock)."""
    pm, township = await login(world.users["pm"]), await login(world.users["township"])
    code = await _file(api, pm, world)
    task = await _task(api, township, code, "township_review")
    handle = temporal_client.get_workflow_handle_for(ApprovalWorkflow.run, f"project-{code}-approval-1")
    bad = SubmitDecisionInput(
        task_id=task["id"], decision="approve", opinion="可行\x00", actor=_actor(world.users["township"], "township")
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        async with asyncio.timeout(60):
            await handle.execute_update(ApprovalWorkflow.submit_decision, bad, id=f"nul-{uuid.uuid4()}")
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "Unstorable"
    assert "NUL" in cause.message
    # nothing was half-done: the task is still open and a good decision goes through
    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve", "opinion": "可行"}, headers=township
    )
    assert (r.status_code, r.json().get("stage")) == (200, "expert_review"), r.text


@pytest.fixture
def fast_store_settings(settings: Settings) -> Settings:
    """Stores inside Updates give up after 2 s, so the test of a failing store is quick."""
    return settings.model_copy(update={"store_budget_seconds": 2.0})


@pytest.fixture
async def fast_api(fast_store_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a short store budget."""
    app = create_app(fast_store_settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_a_store_that_keeps_failing_is_answered_and_nothing_else_waits_on_it(
    worker: object, fast_api: httpx.AsyncClient, world: World, sessions: Sessions, temporal_client: Client
) -> None:
    """While one project's decisions cannot be stored, 100 concurrent claims, decisions and reads are all
    answered (no 500, no hang), login and readiness keep answering, and the failed decision retried after the
    outage is stored once."""
    api = fast_api

    async def login(user: User) -> dict[str, str]:
        r = await api.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    pm, township, township2 = [await login(world.users[k]) for k in ("pm", "township", "township2")]
    code = await _file(api, pm, world)
    task = await _task(api, township, code, "township_review")
    trigger = f"fail_{uuid.uuid4().hex[:8]}"
    async with sessions.begin() as s:
        # serialization_failure: a transient error, retried by the activity until the store budget is spent
        await s.execute(
            text(
                f"CREATE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.project_code = '{code}' THEN RAISE EXCEPTION 'simulated outage' USING ERRCODE = '40001'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await s.execute(
            text(f"CREATE TRIGGER {trigger} BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION {trigger}()")
        )
    first = {"decision": "approve", "opinion": "同意"}
    # the decider holds the task: the other reviewer's claims are refused, the decider's are harmless repeats
    claimed = await api.post(f"/api/v1/tasks/{task['id']}/claim", headers=township)
    assert claimed.status_code == 200, claimed.text
    try:
        calls: list[Any] = []
        for i in range(100):
            kind = i % 4
            if kind == 0 and i < 12:
                body = first if i == 0 else {"decision": "approve", "opinion": f"同意 {i}"}
                calls.append(api.post(f"/api/v1/tasks/{task['id']}/decision", json=body, headers=township))
            elif kind in (0, 1):
                who = township if i % 8 < 4 else township2
                calls.append(api.post(f"/api/v1/tasks/{task['id']}/claim", headers=who))
            elif kind == 2:
                calls.append(api.get(f"/api/v1/tasks/{task['id']}", headers=township))
            else:
                calls.append(api.get(f"/api/v1/projects/{code}", headers=pm))
        async with asyncio.timeout(240):
            gathered = asyncio.gather(*calls)
            await asyncio.sleep(1)
            # while all that waits: readiness and login answer
            ready = await api.get("/readyz")
            token = await api.post(
                "/api/v1/auth/token", data={"username": world.users["county"].username, "password": PASSWORD}
            )
            responses = await gathered
        assert ready.status_code == 200, ready.text
        assert token.status_code == 200, token.text
        statuses = Counter((r.status_code, r.json().get("code")) for r in responses)
        allowed = {200, 403, 409, 503, 504}
        assert all(status in allowed for status, _ in statuses), statuses
        assert all(code_ in ("store_failed", "update_timeout") for status, code_ in statuses if status >= 500), statuses
        assert statuses[(503, "store_failed")] >= 1, statuses
        assert responses[0].status_code in (503, 504), responses[0].text
    finally:
        async with sessions.begin() as s:
            await s.execute(text(f"DROP TRIGGER {trigger} ON decisions"))
            await s.execute(text(f"DROP FUNCTION {trigger}()"))
    # the outage is over: the same request again is stored (not answered with the earlier failure), once
    r = await api.post(f"/api/v1/tasks/{task['id']}/decision", json=first, headers=township)
    assert (r.status_code, r.json().get("stage")) == (200, "expert_review"), r.text
    again = await api.post(f"/api/v1/tasks/{task['id']}/decision", json=first, headers=township)
    assert (again.status_code, again.json()) == (200, r.json())
    await _replays(temporal_client, code, "store_failed_then_stored")


async def test_temporal_outage_answers_503_and_a_keyed_create_files_exactly_once(
    settings: Settings, sessions: Sessions, world: World
) -> None:
    """Temporal unreachable → 503 temporal_unavailable (never a 500); a create retried with its Idempotency-Key
    after the outage files one project with one `application_filed`; an unkeyed one is withdrawn, audited."""
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        port=port, dev_server_existing_path=temporal_binary(), dev_server_log_level="error"
    )
    mine = replace_settings(settings, temporal_address=f"127.0.0.1:{port}", temporal_wait_seconds=15.0)
    app = create_app(mine)
    restarted: WorkflowEnvironment | None = None
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
                pm = await _login(api, world.users["pm"])
                township = await _login(api, world.users["township"])
                async with build_worker(env.client, sessions, task_queue=mine.task_queue):
                    code = await _file(api, pm, world)
                    task = await _task(api, township, code, "township_review")
                await env.shutdown()

                r = await api.post(
                    f"/api/v1/tasks/{task['id']}/decision",
                    json={"decision": "approve", "opinion": "同意"},
                    headers=township,
                )
                assert (r.status_code, r.json()["code"]) == (503, "temporal_unavailable"), r.text
                ready = await api.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["details"]["temporal"].startswith("unreachable")

                body = application(world, name="断网时申报的项目")
                key = {"Idempotency-Key": f"outage-{uuid.uuid4()}"}
                r = await api.post("/api/v1/projects", json=body, headers={**pm, **key})
                assert (r.status_code, r.json()["code"]) == (503, "temporal_unavailable"), r.text
                keyed_code = r.json()["details"]["project_code"]
                unkeyed = await api.post("/api/v1/projects", json=application(world, name="无键申报"), headers=pm)
                assert (unkeyed.status_code, unkeyed.json()["details"]["withdrawn"]) == (503, True), unkeyed.text

                restarted = await WorkflowEnvironment.start_local(
                    port=port, dev_server_existing_path=temporal_binary(), dev_server_log_level="error"
                )

                async def refiled() -> httpx.Response | None:
                    again = await api.post("/api/v1/projects", json=body, headers={**pm, **key})
                    return again if again.status_code == 201 else None

                again = await eventually(refiled, interval=0.5)
                assert again.json()["code"] == keyed_code
                assert again.headers.get("Idempotent-Replayed") == "true"
    finally:
        if restarted is not None:
            await restarted.shutdown()
    async with sessions() as s:
        named = await s.scalar(select(func.count()).select_from(Project).where(Project.name == "断网时申报的项目"))
        filed = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.chain == f"project:{keyed_code}", AuditEntry.action == "application_filed")
        )
        withdrawn = await s.scalar(select(Project).where(Project.name == "无键申报"))
        assert withdrawn is not None
        actions = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.chain == f"project:{withdrawn.code}")
                .order_by(AuditEntry.seq)
            )
        ).all()
    assert (named, filed) == (1, 1)
    assert withdrawn.status == "withdrawn"
    assert list(actions) == ["application_filed", "application_withdrawn"]


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with `changes`."""
    return settings.model_copy(update=changes)


async def _login(api: httpx.AsyncClient, user: User) -> dict[str, str]:
    r = await api.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_database_restart_answers_503_not_ready_and_recovers(settings: Settings) -> None:
    """PostgreSQL stopped under a running API: 503 not_ready (never a 500 or a dropped request), then 200 again."""
    tmp = Path(tempfile.mkdtemp(prefix="assetflow-pg-restart-"))
    pg = start_postgres(tmp / "pg", delete_on_exit=True)
    try:
        pg.ensure_database("restart")
        url = pg.url("restart")
        await asyncio.to_thread(upgrade, url)
        # no cache of the authenticated user: every request below reads the database it finds stopped
        mine = replace_settings(settings, database_url=url, auth_cache_seconds=0)
        app = create_app(mine)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
                sessions: Sessions = app.state.sessions
                async with sessions.begin() as s:
                    s.add(Region(code="110000", name="省", level="province"))
                    user = User(
                        username="restart_pm",
                        full_name="重启",
                        password_hash=hash_password(PASSWORD),
                        role="project_manager",
                        region_code="110000",
                    )
                    s.add(user)
                headers = await _login(api, user)
                assert (await api.get("/api/v1/me", headers=headers)).status_code == 200
                await asyncio.to_thread(pg.stop)
                for path in ("/api/v1/me", "/api/v1/projects"):
                    r = await asyncio.wait_for(api.get(path, headers=headers), timeout=30)
                    assert (r.status_code, r.json()["code"]) == (503, "not_ready"), r.text
                    assert r.headers.get("Retry-After")
                token = await api.post("/api/v1/auth/token", data={"username": "restart_pm", "password": PASSWORD})
                assert (token.status_code, token.json()["code"]) == (503, "not_ready")
                await asyncio.to_thread(pg.server.ensure_postgres_running)

                async def back() -> bool:
                    return (await api.get("/api/v1/me", headers=headers)).status_code == 200

                assert await eventually(back, interval=0.5)
    finally:
        pg.server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


async def test_sixty_projects_driven_at_once_have_no_decision_refused(
    worker: object, api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login
) -> None:
    """60 projects through township, panel, county and city at once: every decision is taken the moment its
    task shows in the inbox, and none is refused."""
    experts = [(await add_expert(sessions, world))[0] for _ in range(3)]
    heads = {
        "pm": await login(world.users["pm"]),
        "township": await login(world.users["township"]),
        "county": await login(world.users["county"]),
        "city": await login(world.users["city"]),
        **{f"expert{i}": await login(e) for i, e in enumerate(experts)},
    }
    refusals: list[str] = []

    async def decide(who: str, code: str, kind: str, body: dict[str, Any]) -> str:
        task = await _task(api, heads[who], code, kind, interval=0.5, wait=240)
        r = await api.post(f"/api/v1/tasks/{task['id']}/decision", json=body, headers=heads[who])
        if r.status_code != 200:
            refusals.append(f"{code} {kind}: {r.status_code} {r.text[:200]}")
            return ""
        return str(r.json()["stage"])

    async def chain(n: int) -> str:
        r = await api.post("/api/v1/projects", json=application(world, name=f"并发项目{n}"), headers=heads["pm"])
        assert r.status_code == 201, r.text
        code = str(r.json()["code"])
        await decide("township", code, "township_review", {"decision": "approve", "opinion": "同意"})
        score = {"decision": "score", "scores": GOOD_SCORES, "opinion": "可行"}
        for i in range(3):  # one poller per project at a time: 60 clients, as in the field
            await decide(f"expert{i}", code, "expert_review", score)
        await decide("county", code, "county_approval", {"decision": "approve", "opinion": "同意"})
        return await decide("city", code, "city_filing", {"decision": "approve", "opinion": "备案"})

    async with asyncio.timeout(360):
        stages = await asyncio.gather(*(chain(n) for n in range(60)))
    assert refusals == []
    assert Counter(stages) == {"approval_notice": 60}


async def test_a_step_that_fails_for_good_blocks_the_project_visibly_until_an_operator_retries_it(
    worker: object, api: httpx.AsyncClient, world: World, sessions: Sessions, login: Login, temporal_client: Client
) -> None:
    """The database refuses the township task's row: the workflow is not failed and does not retry for ever;
    the project says what it waits for, the step is audited, and a county supervisor retries it once fixed."""
    trigger = f"refuse_{uuid.uuid4().hex[:8]}"
    async with sessions.begin() as s:
        await s.execute(
            text(
                f"CREATE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.region_code = '{world.townships[0]}' THEN "
                "RAISE EXCEPTION 'bad task data' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await s.execute(
            text(f"CREATE TRIGGER {trigger} BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION {trigger}()")
        )
    pm, supervisor = await login(world.users["pm"]), await login(world.users["supervisor"])
    try:
        code = await _file(api, pm, world)

        async def blocked() -> dict[str, Any] | None:
            detail: dict[str, Any] = (await api.get(f"/api/v1/projects/{code}", headers=pm)).json()
            return detail if detail["waiting_for"].startswith("operator: open_task failed") else None

        detail = await eventually(blocked)
        assert "bad task data" in detail["waiting_for"]
        assert any(e["action"] == "step_blocked" for e in detail["timeline"])
        refused = await api.post(f"/api/v1/projects/{code}/retry", headers=pm)
        assert (refused.status_code, refused.json()["code"]) == (403, "role_forbidden")
    finally:
        async with sessions.begin() as s:
            await s.execute(text(f"DROP TRIGGER {trigger} ON tasks"))
            await s.execute(text(f"DROP FUNCTION {trigger}()"))
    r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()) == (200, {"project_code": code, "step": "open_task"}), r.text
    township = await login(world.users["township"])
    await _task(api, township, code, "township_review")

    async def cleared() -> dict[str, Any] | None:
        detail: dict[str, Any] = (await api.get(f"/api/v1/projects/{code}", headers=pm)).json()
        return detail if detail["waiting_for"] == "" else None

    detail = await eventually(cleared)
    assert any(e["action"] == "step_unblocked" for e in detail["timeline"])
    again = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (again.status_code, again.json()["code"]) == (409, "wrong_stage")
    await _replays(temporal_client, code, "blocked_step_retried")
