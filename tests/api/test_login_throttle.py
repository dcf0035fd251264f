"""Login rate limiting: failures per username and per client address are counted in PostgreSQL (shared by every
replica); past the limit a 429 with Retry-After, audited once per lock; a correct password works again after the
window, and other users and addresses are unaffected."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update
from starlette.requests import Request

from api.main import create_app
from api.throttle import client_address
from core.settings import LoginThrottleSettings, Settings
from db.engine import Sessions
from db.models import AuditEntry, LoginThrottle
from db.repositories.audit import verify_audit_chains
from tests.conftest import PASSWORD, World

TOKEN = "/api/v1/auth/token"
Throttled = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def throttled(settings: Settings) -> Throttled:
    """The real app with the given login limits; 127.0.0.1 (the test transport) is a trusted proxy, so each test
    names its own client addresses in X-Forwarded-For and shares no counter with other tests."""

    @asynccontextmanager
    async def _app(**limits: int) -> AsyncIterator[httpx.AsyncClient]:
        throttle = LoginThrottleSettings(trusted_proxies=["127.0.0.1"], **limits)
        app = create_app(settings.model_copy(update={"login_throttle": throttle}))
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client

    return _app


def _address() -> str:
    """An address of this test alone (from the documentation range, as our proxy would write it)."""
    n = uuid.uuid4().int
    return f"2001:db8::{n % 65536:x}:{(n >> 16) % 65536:x}:{(n >> 32) % 65536:x}"


async def _login(client: httpx.AsyncClient, username: str, password: str, address: str) -> httpx.Response:
    # the left hop is the client's own forgery; the proxy (127.0.0.1) appended the address it saw
    return await client.post(
        TOKEN,
        data={"username": username, "password": password},
        headers={"X-Forwarded-For": f"198.51.100.99, {address}"},
    )


def _is_429(r: httpx.Response, limit: str) -> bool:
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == "too_many_attempts"
    assert 1 <= int(r.headers["Retry-After"]) <= 900
    assert body["details"]["retry_after_seconds"] == int(r.headers["Retry-After"])
    return limit in body["details"]["limits"]


async def _lock_entries(sessions: Sessions, scope: str, **payload: str) -> list[AuditEntry]:
    async with sessions() as s:
        stmt = select(AuditEntry).where(
            AuditEntry.chain == "security:login",
            AuditEntry.action == "login_locked",
            AuditEntry.payload["scope"].astext == scope,
        )
        for k, v in payload.items():
            stmt = stmt.where(AuditEntry.payload[k].astext == v)
        return list((await s.scalars(stmt)).all())


async def test_a_burst_of_wrong_passwords_locks_the_username(
    throttled: Throttled, world: World, sessions: Sessions
) -> None:
    pm, other = world.users["pm"].username, world.users["pm2"].username
    attacker = _address()
    async with throttled(max_failures_per_username=5, max_failures_per_address=10_000) as api:
        burst = await asyncio.gather(*(_login(api, pm, f"guess-{i}", attacker) for i in range(200)))
        statuses = Counter(r.status_code for r in burst)
        # counted before the password is checked: however concurrent, only the first five are verified
        assert statuses == {401: 5, 429: 195}
        assert all(_is_429(r, "username") for r in burst if r.status_code == 429)
        # locked is locked: the right password answers the same 429, from this address or any other
        for address in (attacker, _address()):
            r = await _login(api, pm, PASSWORD, address)
            assert r.status_code == 429
            assert _is_429(r, "username")
        # another user from another address logs in as usual
        assert (await _login(api, other, PASSWORD, _address())).status_code == 200

    [entry] = await _lock_entries(sessions, "username", username=pm)
    assert (entry.actor_id, entry.actor_name, entry.payload["failures"]) == (world.users["pm"].id, pm, 5)
    assert "guess-" not in json.dumps(entry.payload)
    assert PASSWORD not in json.dumps(entry.payload)
    async with sessions() as s:
        [report] = await verify_audit_chains(s, chain="security:login")
    assert report.problems == []


async def test_many_usernames_from_one_address_lock_the_address(
    throttled: Throttled, world: World, sessions: Sessions
) -> None:
    attacker = _address()
    township = world.users["township"].username
    async with throttled(max_failures_per_username=5, max_failures_per_address=20) as api:
        names = [f"spray-{uuid.uuid4().hex[:8]}" for _ in range(60)] + [world.users["pm"].username]
        burst = await asyncio.gather(*(_login(api, name, "wrong-password", attacker) for name in names))
        assert Counter(r.status_code for r in burst) == {401: 20, 429: 41}
        assert all(_is_429(r, "address") for r in burst if r.status_code == 429)
        # a real user with the right password, from the locked address: 429; from their own address: 200
        r = await _login(api, township, PASSWORD, attacker)
        assert (r.status_code, _is_429(r, "address")) == (429, True)
        assert (await _login(api, township, PASSWORD, _address())).status_code == 200
    [entry] = await _lock_entries(sessions, "address", address=attacker)
    assert entry.payload["failures"] == 20


async def test_correct_logins_at_once_are_never_counted_as_failures(
    throttled: Throttled, world: World, sessions: Sessions
) -> None:
    """A town office behind one address, everyone logging in at nine: attempts still being checked may ask a
    few to wait a second (Retry-After: 1), but nothing is counted as a failure, locked or audited."""
    office = _address()
    users = [world.users[k].username for k in ("pm", "pm2", "township", "township2", "county", "city", "finance")]
    async with throttled(max_failures_per_username=5, max_failures_per_address=6) as api:
        burst = await asyncio.gather(*(_login(api, u, PASSWORD, office) for u in users for _ in range(4)))
        statuses = Counter(r.status_code for r in burst)
        assert set(statuses) <= {200, 429}
        assert statuses[200] >= 6
        waits = [r for r in burst if r.status_code == 429]
        assert all(r.headers["Retry-After"] == "1" for r in waits)
        # once the crowd has passed, everyone logs in from the office
        again = await asyncio.gather(*(_login(api, u, PASSWORD, office) for u in users[:5]))
        assert [r.status_code for r in again] == [200] * 5
    async with sessions() as s:
        rows = (await s.scalars(select(LoginThrottle).where(LoginThrottle.key.in_([office, *users])))).all()
    assert {(r.key, r.failures, r.pending) for r in rows} == {(r.key, 0, 0) for r in rows}
    assert await _lock_entries(sessions, "address", address=office) == []
    assert await _lock_entries(sessions, "username", username=world.users["pm"].username) == []


async def _age_counters(sessions: Sessions, keys: list[str], *, seconds: int) -> None:
    """Move the counters' windows into the past (the limit reads the database's clock)."""
    async with sessions.begin() as s:
        await s.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key.in_(keys))
            .values(window_started_at=LoginThrottle.window_started_at - timedelta(seconds=seconds))
        )


async def test_a_correct_password_after_the_window_works(
    throttled: Throttled, world: World, sessions: Sessions
) -> None:
    user = world.users["county"].username
    address = _address()
    async with throttled(max_failures_per_username=3, max_failures_per_address=100, window_seconds=900) as api:
        assert [(await _login(api, user, "nope", address)).status_code for _ in range(2)] == [401, 401]
        await _age_counters(sessions, [user, address], seconds=800)  # late in the window ...
        assert [(await _login(api, user, "nope", address)).status_code for _ in range(2)] == [401, 429]
        r = await _login(api, user, PASSWORD, address)
        assert r.status_code == 429
        # ... yet the lock lasts a whole window from when it began, not the window's last 100 seconds
        assert int(r.headers["Retry-After"]) > 800
        # the window passes: moved through the database, whose clock is the one the limit reads
        await _age_counters(sessions, [user, address], seconds=901)
        assert (await _login(api, user, PASSWORD, address)).status_code == 200
        # a new window: the limit counts afresh
        assert [(await _login(api, user, "nope", address)).status_code for _ in range(4)] == [401, 401, 401, 429]


async def test_only_failures_count_and_a_success_resets_the_username(throttled: Throttled, world: World) -> None:
    user = world.users["finance"].username
    address = _address()
    async with throttled(max_failures_per_username=3, max_failures_per_address=7) as api:
        # were successes counted, or not handed back, the second round would already be refused
        for _ in range(3):
            assert [(await _login(api, user, "nope", address)).status_code for _ in range(2)] == [401, 401]
            assert (await _login(api, user, PASSWORD, address)).status_code == 200
        # the address has counted its six failures only: one more is a 401, then it is locked
        assert (await _login(api, f"nobody-{uuid.uuid4().hex}", "nope", address)).status_code == 401
        r = await _login(api, user, PASSWORD, address)
        assert (r.status_code, _is_429(r, "address")) == (429, True)


async def test_a_username_no_database_can_store_is_refused_at_the_edge(throttled: Throttled) -> None:
    async with throttled() as api:
        r = await _login(api, "nul\x00name", "whatever", _address())
        assert (r.status_code, r.json()["code"]) == (422, "validation_error")
        assert r.json()["details"][0]["field"] == "username"
        for name in ("x" * 5000, "bidi\u202ename"):  # storable (hashed into the counter's key): a plain 401
            r = await _login(api, name, "whatever", _address())
            assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), name[:20]


def _request(peer: str, forwarded: list[str]) -> Request:
    headers = [(b"x-forwarded-for", v.encode()) for v in forwarded]
    return Request({"type": "http", "client": (peer, 50000), "headers": headers, "method": "POST", "path": "/"})


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.7", ["198.51.100.1"], [], "203.0.113.7"),  # no trusted proxy: the header is ignored
        ("203.0.113.7", ["198.51.100.1"], ["10.0.0.0/8"], "203.0.113.7"),  # the peer is not our proxy
        ("10.0.0.2", ["198.51.100.1"], ["10.0.0.0/8"], "198.51.100.1"),
        # a client forging hops on the left cannot choose its address: the nearest untrusted hop counts
        ("10.0.0.2", ["1.2.3.4, 198.51.100.1, 10.0.0.3"], ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.2", ["1.2.3.4", "198.51.100.1"], ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.2", [], ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.9"], ["10.0.0.0/8"], "10.0.0.9"),
        ("::1", ["2001:db8::1"], ["::1"], "2001:db8::1"),
    ],
)
def test_client_address_honours_forwarded_for_only_from_trusted_proxies(
    peer: str, forwarded: list[str], trusted: list[str], expected: str
) -> None:
    assert client_address(_request(peer, forwarded), trusted) == expected


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        LoginThrottleSettings(trusted_proxies=["proxy.internal"])


async def test_openapi_documents_the_429(throttled: Throttled) -> None:
    async with throttled() as api:
        operation = (await api.get("/openapi.json")).json()["paths"]["/api/v1/auth/token"]["post"]
    answer = operation["responses"]["429"]
    assert "Retry-After" in answer["headers"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorPublic"}
