"""The "three assets" platform: the embedded registry, the HTTP adapter against a real loopback server, and the
register_asset activity — alone, and retried by a real Temporal workflow until the platform comes up."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.platform import PlatformActivities
from core.devstack import free_port
from core.platform import EmbeddedPlatform, HttpPlatform, PlatformRejected, PlatformUnavailable, make_platform
from core.settings import Environment, PlatformKind, PlatformSettings, Settings
from db.engine import Sessions
from db.models import Asset, AssetIncomeShare, AssetOwnership, AuditEntry, Household, PlatformCard, Project
from db.repositories.audit import project_chain, verify_audit_chains
from domain.platform_payloads import PLATFORM_WAITING, RegisterAssetInput, RegisterAssetResult
from tests.conftest import World, eventually, seed_project
from tests.loopback import LoopbackServer

TOKEN = "platform-test-token"


class PlatformServer(LoopbackServer):
    """The three-assets platform on loopback: one card per Idempotency-Key."""

    def __init__(self, port: int, *, token: str = TOKEN) -> None:
        super().__init__(port)
        self.token = token
        self.registrations: dict[str, str] = {}
        self.payloads: dict[str, dict[str, Any]] = {}
        self.posts = 0
        self.headers: list[dict[str, str]] = []
        self.reject: set[str] = set()
        self.answer: tuple[int, dict[str, Any]] | None = None  # a fixed answer, for the error paths

    @property
    def url(self) -> str:
        """The base URL the adapter is configured with."""
        return f"http://127.0.0.1:{self.port}/platform/"

    def respond(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """One card per Idempotency-Key; 409 with the card for a repeat."""
        method, path, _ = request_line.split(" ", 2)
        if method != "POST" or path != "/platform/assets":
            return 404, {"message": f"no route {method} {path}"}
        self.posts += 1
        self.headers.append(headers)
        if self.answer is not None:
            return self.answer
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "bad token"}
        key = headers.get("idempotency-key")
        payload = json.loads(body)
        if not key or key != payload.get("asset_id"):
            return 400, {"message": "Idempotency-Key must be the asset id"}
        if key in self.reject:
            return 400, {"message": "value_fen does not match the accounting records"}
        if key in self.registrations:
            return 409, {"card_no": self.registrations[key], "message": "already registered"}
        self.registrations[key] = f"P{self.port}-{len(self.registrations) + 1:06d}"
        self.payloads[key] = payload
        return 201, {"card_no": self.registrations[key]}


@pytest.fixture
async def server() -> Any:
    """A platform server on a free port, not yet listening."""
    s = PlatformServer(free_port())
    yield s
    await s.stop()


async def _project(sessions: Sessions, world: World) -> str:
    return await seed_project(sessions, world, stage="asset_registration")


async def _asset(sessions: Sessions, world: World, project: str, *, asset_class: str = "operating") -> str:
    asset_id = f"ZC-{uuid.uuid4().hex[:12]}"
    v0, v1 = world.villages[0], world.villages[1]
    household = asset_class == "household"
    async with sessions.begin() as s:
        s.add(
            Asset(
                id=asset_id,
                project_code=project,
                name="光伏电站 100kW",
                asset_class=asset_class,
                quantity="1",
                unit="座",
                value_fen=100_000_000,
                location="东关村南",
                village_code=v0,
                township_code=world.townships[0],
                county_code=world.county,
                household_code=world.households[v0][3] if household else None,
                status="leased",
                operator_name="" if household else "东关村股份经济合作社",
                operator_type="" if household else "cooperative",
                contract_mode="" if household else "lease",
                contract_start=None if household else date(2025, 10, 1),
                contract_end=None if household else date(2035, 9, 30),
                contract_term_years=None if household else 10,
                annual_rent_fen=None if household else 7_000_000,
                supervision={} if household else {"township": "镇农经站", "county": "县农业农村局"},
            )
        )
        await s.flush()
        if not household:
            s.add_all([AssetOwnership(asset_id=asset_id, village_code=v0, share_bp=6000)])
            s.add_all([AssetOwnership(asset_id=asset_id, village_code=v1, share_bp=4000)])
            for i, code in enumerate(world.households[v0][:3]):
                s.add(AssetIncomeShare(asset_id=asset_id, household_code=code, shares=i + 1))
    return asset_id


async def _state(sessions: Sessions, asset_id: str) -> tuple[Asset, Project]:
    async with sessions() as s:
        asset = await s.get(Asset, asset_id)
        assert asset is not None
        project = await s.get(Project, asset.project_code)
        assert project is not None
        return asset, project


async def _audits(sessions: Sessions, project: str) -> list[AuditEntry]:
    async with sessions() as s:
        rows = await s.scalars(
            select(AuditEntry).where(
                AuditEntry.chain == project_chain(project), AuditEntry.action == "platform_registered"
            )
        )
        return list(rows.all())


# --- the embedded registry ---------------------------------------------------------------------------------------


async def test_embedded_same_asset_twice_is_one_card_and_one_row(sessions: Sessions, world: World) -> None:
    platform = EmbeddedPlatform(sessions)
    asset_id = f"ZC-{uuid.uuid4().hex[:12]}"
    first = await platform.register(asset_id, {"county_code": world.county, "name": "冷库"})
    again = await platform.register(asset_id, {"county_code": world.county, "name": "冷库 (retry)"})
    assert first == again
    assert re.fullmatch(rf"SZ{world.county}\d{{8}}\d{{5}}", first)
    async with sessions() as s:
        rows = (await s.scalars(select(PlatformCard).where(PlatformCard.asset_id == asset_id))).all()
    assert [r.card_no for r in rows] == [first]
    assert rows[0].payload["name"] == "冷库"  # the first registration stands


async def test_embedded_different_assets_get_different_cards_even_concurrently(
    sessions: Sessions, world: World
) -> None:
    platform = EmbeddedPlatform(sessions)
    ids = [f"ZC-{uuid.uuid4().hex[:12]}" for _ in range(6)]
    cards = await asyncio.gather(*(platform.register(i, {"county_code": world.county}) for i in ids))
    assert len(set(cards)) == len(ids)
    # six concurrent registrations of one asset: one card
    one = f"ZC-{uuid.uuid4().hex[:12]}"
    same = await asyncio.gather(*(platform.register(one, {"county_code": world.county}) for _ in range(6)))
    assert len(set(same)) == 1
    async with sessions() as s:
        n = await s.scalar(select(func.count()).select_from(PlatformCard).where(PlatformCard.asset_id == one))
    assert n == 1


async def test_embedded_refuses_a_payload_without_a_county(sessions: Sessions) -> None:
    with pytest.raises(PlatformRejected, match="county_code"):
        await EmbeddedPlatform(sessions).register(f"ZC-{uuid.uuid4().hex[:12]}", {"name": "x"})


def test_make_platform_follows_the_settings(sessions: Sessions) -> None:
    assert isinstance(make_platform(Settings(environment=Environment.TEST), sessions), EmbeddedPlatform)
    http = Settings(
        environment=Environment.TEST,
        platform=PlatformSettings(kind=PlatformKind.HTTP, url="https://sanzi.example.gov.cn/api"),
    )
    assert isinstance(make_platform(http, sessions), HttpPlatform)
    with pytest.raises(ValueError, match="PLATFORM__URL"):
        PlatformSettings(kind=PlatformKind.HTTP, url="")


def test_platform_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM__KIND", "http")
    monkeypatch.setenv("PLATFORM__URL", "https://sanzi.example.gov.cn/api")
    monkeypatch.setenv("PLATFORM__TOKEN", "s3cret")
    monkeypatch.setenv("PLATFORM__TIMEOUT_SECONDS", "2.5")
    p = Settings(environment=Environment.TEST).platform
    assert (p.kind, p.url, p.token.get_secret_value(), p.timeout_seconds) == (
        PlatformKind.HTTP,
        "https://sanzi.example.gov.cn/api",
        "s3cret",
        2.5,
    )
    assert "s3cret" not in repr(p)
    monkeypatch.delenv("PLATFORM__URL")
    with pytest.raises(ValueError, match="PLATFORM__URL"):
        Settings(environment=Environment.PRODUCTION, jwt_secret="x" * 40)


# --- the HTTP adapter against a real server ------------------------------------------------------------------------


async def test_http_platform_is_idempotent_by_asset_id(server: PlatformServer) -> None:
    await server.start()
    platform = HttpPlatform(server.url, token=TOKEN, timeout=5)
    first = await platform.register("ZC-1", {"asset_id": "ZC-1", "county_code": "370115"})
    again = await platform.register("ZC-1", {"asset_id": "ZC-1", "county_code": "370115"})  # server answers 409
    other = await platform.register("ZC-2", {"asset_id": "ZC-2", "county_code": "370115"})
    assert first == again != other
    assert server.posts == 3
    assert server.registrations == {"ZC-1": first, "ZC-2": other}
    assert all(h["idempotency-key"] in ("ZC-1", "ZC-2") for h in server.headers)
    assert all(h["authorization"] == f"Bearer {TOKEN}" for h in server.headers)
    assert server.headers[0]["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ((400, {"message": "bad value"}), PlatformRejected, 400),
        ((422, {"error": "missing field"}), PlatformRejected, 422),
        ((409, {"message": "conflict without a card"}), PlatformRejected, 409),
        ((429, {"message": "slow down"}), PlatformUnavailable, 429),
        ((500, {"message": "boom"}), PlatformUnavailable, 500),
        ((503, {"message": "maintenance"}), PlatformUnavailable, 503),
        ((200, {"ok": True}), PlatformUnavailable, 200),
    ],
)
async def test_http_platform_maps_answers_to_permanent_or_transient_errors(
    server: PlatformServer, answer: tuple[int, dict[str, Any]], error: type[Exception], status: int
) -> None:
    server.answer = answer
    await server.start()
    with pytest.raises(error) as caught:
        await HttpPlatform(server.url, token=TOKEN, timeout=5).register("ZC-1", {"asset_id": "ZC-1"})
    assert isinstance(caught.value, PlatformRejected | PlatformUnavailable)
    assert caught.value.status == status
    assert server.posts == 1


async def test_http_platform_wrong_token_is_rejected(server: PlatformServer) -> None:
    await server.start()
    with pytest.raises(PlatformRejected, match="401: bad token"):
        await HttpPlatform(server.url, token="wrong", timeout=5).register("ZC-1", {"asset_id": "ZC-1"})


async def test_http_platform_down_or_slow_is_unavailable(server: PlatformServer) -> None:
    with pytest.raises(PlatformUnavailable, match="unreachable: ConnectError"):
        await HttpPlatform(server.url, token=TOKEN, timeout=5).register("ZC-1", {"asset_id": "ZC-1"})
    server.stall = True
    await server.start()
    with pytest.raises(PlatformUnavailable, match="Timeout"):
        await HttpPlatform(server.url, token=TOKEN, timeout=0.3).register("ZC-1", {"asset_id": "ZC-1"})


# --- the activity ---------------------------------------------------------------------------------------------------


async def test_activity_registers_once_stores_the_card_and_audits(sessions: Sessions, world: World) -> None:
    project = await _project(sessions, world)
    asset_id = await _asset(sessions, world, project)
    acts = PlatformActivities(sessions, EmbeddedPlatform(sessions))
    inp = RegisterAssetInput(asset_id=asset_id, project_code=project, at=datetime.now(UTC))
    result = await ActivityEnvironment().run(acts.register_asset, inp)
    assert result == RegisterAssetResult(asset_id=asset_id, card_no=result.card_no)
    assert result.card_no.startswith(f"SZ{world.county}")
    asset, proj = await _state(sessions, asset_id)
    assert (asset.platform_card_no, asset.registration_status) == (result.card_no, "registered")
    assert asset.platform_registered_at is not None
    assert proj.waiting_for == ""
    [audit] = await _audits(sessions, project)
    assert audit.event_key == f"platform:{asset_id}"
    assert audit.payload["card_no"] == result.card_no
    [report] = await verify_audit_chains_for(sessions, project)
    assert report == []
    # what reached the platform: the asset and its rights, counts instead of people
    async with sessions() as s:
        card = await s.scalar(select(PlatformCard).where(PlatformCard.asset_id == asset_id))
        assert card is not None
        people = (await s.execute(select(Household.id_number, Household.bank_account))).all()
    sent = json.dumps(card.payload, ensure_ascii=False)
    assert card.payload["ownership"] == [
        {"village_code": world.villages[0], "share_bp": 6000},
        {"village_code": world.villages[1], "share_bp": 4000},
    ]
    assert card.payload["income"] == {"households": 3, "shares": 6}
    assert card.payload["operating"]["annual_rent_fen"] == 7_000_000
    assert card.payload["county_code"] == world.county
    assert not any(id_number in sent or account in sent for id_number, account in people)
    assert "H" + world.villages[0] not in sent  # not even household codes
    # a repeat (Temporal retry after a lost completion) returns the stored card without a second card or audit
    again = await ActivityEnvironment().run(acts.register_asset, inp)
    assert again == result
    assert len(await _audits(sessions, project)) == 1


async def verify_audit_chains_for(sessions: Sessions, project: str) -> list[list[Any]]:
    """The problems of the project's audit chain (empty = it verifies)."""
    async with sessions() as s:
        return [r.problems for r in await verify_audit_chains(s, chain=project_chain(project))]


async def test_activity_waits_while_the_platform_is_down_then_registers_exactly_once(
    sessions: Sessions, world: World, server: PlatformServer
) -> None:
    project = await _project(sessions, world)
    asset_id = await _asset(sessions, world, project)
    acts = PlatformActivities(sessions, HttpPlatform(server.url, token=TOKEN, timeout=2))
    inp = RegisterAssetInput(asset_id=asset_id, project_code=project, at=datetime.now(UTC))
    env = ActivityEnvironment()
    for _ in range(2):
        with pytest.raises(ApplicationError) as caught:
            await env.run(acts.register_asset, inp)
        assert caught.value.type == "PlatformUnavailable"
        assert caught.value.non_retryable is False
    asset, proj = await _state(sessions, asset_id)
    assert (asset.registration_status, asset.platform_card_no) == ("waiting_for_platform", None)
    assert proj.waiting_for == PLATFORM_WAITING == "three-assets platform"

    await server.start()
    result = await env.run(acts.register_asset, inp)
    for _ in range(3):
        assert await env.run(acts.register_asset, inp) == result
    assert server.registrations == {asset_id: result.card_no}
    assert server.posts == 1  # the repeats found the card on the asset and did not call
    assert server.headers[0]["idempotency-key"] == asset_id
    asset, proj = await _state(sessions, asset_id)
    assert (asset.registration_status, asset.platform_card_no) == ("registered", result.card_no)
    assert proj.waiting_for == ""
    assert len(await _audits(sessions, project)) == 1
    sent = server.payloads[asset_id]
    assert sent["asset_id"] == asset_id
    assert sent["income"] == {"households": 3, "shares": 6}


async def test_activity_platform_rejection_is_not_retryable(
    sessions: Sessions, world: World, server: PlatformServer
) -> None:
    project = await _project(sessions, world)
    asset_id = await _asset(sessions, world, project)
    server.reject.add(asset_id)
    await server.start()
    acts = PlatformActivities(sessions, HttpPlatform(server.url, token=TOKEN, timeout=2))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            acts.register_asset, RegisterAssetInput(asset_id=asset_id, project_code=project, at=datetime.now(UTC))
        )
    assert caught.value.type == "PlatformRejected"
    assert caught.value.non_retryable is True
    assert "accounting records" in caught.value.message
    assert caught.value.details == ({"status": 400},)
    asset, _ = await _state(sessions, asset_id)
    assert (asset.registration_status, asset.platform_card_no) == ("draft", None)
    assert await _audits(sessions, project) == []


async def test_activity_refuses_household_and_unknown_assets_without_calling(
    sessions: Sessions, world: World, server: PlatformServer
) -> None:
    project = await _project(sessions, world)
    household_asset = await _asset(sessions, world, project, asset_class="household")
    await server.start()
    acts = PlatformActivities(sessions, HttpPlatform(server.url, token=TOKEN, timeout=2))
    env = ActivityEnvironment()
    cases = [
        (household_asset, project, "HouseholdAsset"),
        ("ZC-no-such-asset", project, "NotFound"),
        (household_asset, "XM-other-project", "NotFound"),
    ]
    for asset_id, code, kind in cases:
        with pytest.raises(ApplicationError) as caught:
            await env.run(
                acts.register_asset, RegisterAssetInput(asset_id=asset_id, project_code=code, at=datetime.now(UTC))
            )
        assert (caught.value.type, caught.value.non_retryable) == (kind, True)
    assert server.posts == 0
    asset, _ = await _state(sessions, household_asset)
    assert (asset.registration_status, asset.platform_card_no) == ("draft", None)


# --- through a real Temporal workflow: retried until the platform comes up ------------------------------------------


@workflow.defn(name="TestRegisterOneAsset")
class RegisterOneAssetWorkflow:
    """Registers one asset the way a lifecycle workflow would: retry every 100 ms while the platform is down."""

    @workflow.run
    async def run(self, inp: RegisterAssetInput) -> RegisterAssetResult:
        """Run register_asset until it succeeds or fails permanently."""
        return await workflow.execute_activity(
            "register_asset",
            inp,
            result_type=RegisterAssetResult,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0),
        )


async def test_workflow_retries_until_the_platform_is_up(
    sessions: Sessions, world: World, server: PlatformServer, temporal_client: Client, task_queue: str
) -> None:
    project = await _project(sessions, world)
    asset_id = await _asset(sessions, world, project)
    acts = PlatformActivities(sessions, HttpPlatform(server.url, token=TOKEN, timeout=2))
    # The test workflow lives in a module that imports I/O libraries; it runs unsandboxed (it is deterministic).
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[RegisterOneAssetWorkflow],
        activities=[acts.register_asset],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await temporal_client.start_workflow(
            RegisterOneAssetWorkflow.run,
            RegisterAssetInput(asset_id=asset_id, project_code=project, at=datetime.now(UTC)),
            id=f"test-register-{asset_id}",
            task_queue=task_queue,
        )

        async def waiting() -> bool:
            asset, proj = await _state(sessions, asset_id)
            return asset.registration_status == "waiting_for_platform" and proj.waiting_for == PLATFORM_WAITING

        await eventually(waiting, timeout=10)

        async def retried() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].attempt >= 3

        await eventually(retried, timeout=10)  # the platform stays down for further retries
        await server.start()
        result: RegisterAssetResult = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.asset_id == asset_id
    assert server.registrations == {asset_id: result.card_no}
    assert server.posts == 1
    asset, proj = await _state(sessions, asset_id)
    assert (asset.platform_card_no, asset.registration_status, proj.waiting_for) == (result.card_no, "registered", "")
    history = await handle.fetch_history()
    [started] = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert started.activity_task_started_event_attributes.attempt >= 2  # it failed while the platform was down
