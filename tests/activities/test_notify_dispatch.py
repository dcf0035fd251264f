"""The outbox and its dispatcher against real receivers on loopback: e-mails in an SMTP server (aiosmtpd), a webhook
that verifies signatures and fails twice, DingTalk and WeCom robots that check format and signature, deliveries
given up after the limit, preferences and the 08:00 digest; no ID number, account or phone in any message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from cli.sinks import Mailbox, start_smtp
from core.devstack import free_port
from core.settings import NotifySettings
from db.engine import Sessions
from db.models import (
    Notification,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
    NotificationPreference,
)
from db.repositories.notifications import Recorded, record_event
from domain.notifications import DispatchInput, DispatchResult, EventKind, has_personal_data, next_digest_at
from tests.conftest import World, eventually
from tests.notify_helpers import Robot, ScriptedWebhook, add_endpoint, give_email, notify_settings, smtp_sink

ID_NUMBER = "650102198001010011"
ACCOUNT = "6228480402564890018"
PHONE = "13812345678"


async def _record(
    sessions: Sessions,
    world: World,
    kind: EventKind,
    users: list[int],
    *,
    key: str | None = None,
    at: datetime | None = None,
) -> tuple[str, Recorded]:
    key = key or f"test:{uuid.uuid4().hex}"
    async with sessions.begin() as s:
        recorded = await record_event(
            s,
            kind=kind,
            key=key,
            params={
                "project_code": f"XM{world.county}-T-1",
                "project_name": "测试大棚",
                "level": "county_approval",
                "opinion": f"户主身份证 {ID_NUMBER}，账号 {ACCOUNT}，电话 {PHONE}",
                "round_id": "dividend-x-2026-1",
                "failed": 2,
            },
            user_ids=users,
            region_code=world.villages[0],
            project_code=f"XM{world.county}-T-1",
            at=at or datetime.now(UTC),
        )
    return key, recorded


async def _dispatch(sessions: Sessions, settings: NotifySettings, now: datetime | None = None) -> DispatchResult:
    acts = NotificationActivities(sessions, settings)
    return await ActivityEnvironment().run(acts.dispatch_notifications, DispatchInput(limit=50, now=now))


async def _rows(sessions: Sessions, key: str) -> list[NotificationDelivery]:
    async with sessions() as s:
        stmt = select(NotificationDelivery).where(NotificationDelivery.idempotency_key.startswith(f"{key}|"))
        return list((await s.scalars(stmt.order_by(NotificationDelivery.id))).all())


async def _attempts(sessions: Sessions, delivery_id: int) -> list[NotificationAttempt]:
    async with sessions() as s:
        stmt = select(NotificationAttempt).where(NotificationAttempt.delivery_id == delivery_id)
        return list((await s.scalars(stmt.order_by(NotificationAttempt.n))).all())


async def test_an_event_is_mailed_to_those_with_an_address_once_and_without_personal_data(
    sessions: Sessions, world: World
) -> None:
    pm, township = world.users["pm"], world.users["township"]
    address = f"pm-{uuid.uuid4().hex[:8]}@county.test"
    await give_email(sessions, pm, address)
    async with smtp_sink() as (box, port):
        key, recorded = await _record(sessions, world, EventKind.DECISION_APPROVED, [pm.id, township.id])
        assert recorded.in_app == 2  # both hear of it in the app; only pm has an address
        assert recorded.outbox == 1
        _, again = await _record(sessions, world, EventKind.DECISION_APPROVED, [pm.id, township.id], key=key)
        assert again == Recorded(0, 0)  # a retried activity writes nothing twice
        result = await _dispatch(sessions, notify_settings(port))
        assert result.delivered >= 1
        mine = [m for m in box.received if address in m.rcpt]
        assert len(mine) == 1
        mail = mine[0]
        assert mail.message["To"] == address
        assert "审核通过" in mail.subject
        assert "Approved" in mail.subject
        assert "测试大棚" in mail.body("plain")
        assert "<p>" in mail.body("html")
        raw = mail.message.as_string() + mail.body("plain") + mail.body("html")
        for secret in (ID_NUMBER, ACCOUNT, PHONE):
            assert secret not in raw
        assert not has_personal_data(mail.body("plain"))
        assert key.replace(":", ".") in str(mail.message["Message-ID"])  # receivers may dedupe by it
    [row] = await _rows(sessions, key)
    assert (row.status, row.attempts) == ("delivered", 1)
    async with sessions() as s:
        notes = (await s.scalars(select(Notification).where(Notification.event_key == key))).all()
    assert {n.user_id for n in notes} == {pm.id, township.id}
    assert all(ID_NUMBER not in n.body and ACCOUNT not in n.body for n in notes)


async def test_a_webhook_failing_twice_is_delivered_once_with_three_attempts_logged(
    sessions: Sessions, world: World
) -> None:
    secret = uuid.uuid4().hex * 2
    hook = ScriptedWebhook(free_port(), secret, [500, 500])
    await hook.start()
    try:
        await add_endpoint(
            sessions,
            kind="webhook",
            region=world.county,
            url=f"http://127.0.0.1:{hook.port}/hook",
            secret=secret,
            by=world.users["admin"].id,
            events=["round_failed_lines"],
        )
        other = await _record(sessions, world, EventKind.DECISION_APPROVED, [])  # not among its events
        key, recorded = await _record(sessions, world, EventKind.ROUND_FAILED_LINES, [])
        assert recorded.outbox == 1
        assert (await _rows(sessions, other[0])) == []
        settings = notify_settings(free_port())

        async def delivered() -> bool:
            await _dispatch(sessions, settings)
            return [r.status for r in await _rows(sessions, key)] == ["delivered"]

        await eventually(delivered, timeout=20, interval=0.05)
    finally:
        await hook.stop()
    mine = [r for r in hook.requests if r.json()["event_key"] == key]
    assert len(mine) == 3
    assert all(r.valid for r in mine)
    assert len({r.headers["x-assetflow-delivery"] for r in mine}) == 1
    body = mine[-1].json()
    assert body["event"] == "round_failed_lines"
    assert body["params"]["failed"] == 2
    assert ID_NUMBER not in mine[-1].body.decode()
    assert ACCOUNT not in mine[-1].body.decode()
    [row] = await _rows(sessions, key)
    assert row.attempts == 3
    log = await _attempts(sessions, row.id)
    assert [(a.n, a.ok, a.status_code) for a in log] == [(1, False, 500), (2, False, 500), (3, True, 200)]


async def test_a_delivery_is_given_up_after_the_limit_and_a_refusal_at_once(sessions: Sessions, world: World) -> None:
    secret = uuid.uuid4().hex * 2
    down = ScriptedWebhook(free_port(), secret, [503] * 10)
    refusing = ScriptedWebhook(free_port(), secret, [404] * 10)
    await down.start()
    await refusing.start()
    try:
        for hook in (down, refusing):
            await add_endpoint(
                sessions,
                kind="webhook",
                region=world.townships[0],
                url=f"http://127.0.0.1:{hook.port}/",
                secret=secret,
                by=world.users["admin"].id,
            )
        key, recorded = await _record(sessions, world, EventKind.WARNING_IDLE, [])
        assert recorded.outbox == 2
        settings = notify_settings(free_port(), max_attempts=3)

        async def settled() -> bool:
            await _dispatch(sessions, settings)
            return all(r.status == "failed" for r in await _rows(sessions, key))

        await eventually(settled, timeout=20, interval=0.05)
    finally:
        await down.stop()
        await refusing.stop()
    by_attempts = sorted((r.attempts, r.last_error[:8]) for r in await _rows(sessions, key))
    assert by_attempts == [(1, "HTTP 404"), (3, "HTTP 503")]


async def test_dingtalk_and_wecom_robots_get_signed_markdown(sessions: Sessions, world: World) -> None:
    ding = Robot(free_port(), "dingtalk", "SEC" + uuid.uuid4().hex)
    wecom = Robot(free_port(), "wecom")
    await ding.start()
    await wecom.start()
    try:
        by = world.users["admin"].id
        await add_endpoint(
            sessions,
            kind="dingtalk",
            region=world.county,
            url=f"http://127.0.0.1:{ding.port}/robot/send?access_token=tok",
            secret=ding.secret,
            by=by,
        )
        await add_endpoint(
            sessions,
            kind="wecom",
            region=world.city,
            url=f"http://127.0.0.1:{wecom.port}/send?key=tok",
            secret="",
            by=by,
        )
        key, recorded = await _record(sessions, world, EventKind.DECISION_RETURNED, [])
        assert recorded.outbox == 2
        await _dispatch(sessions, notify_settings(free_port()))
    finally:
        await ding.stop()
        await wecom.stop()
    assert [r.status for r in await _rows(sessions, key)] == ["delivered", "delivered"]
    [d] = [r for r in ding.requests if "测试大棚" in r.body.decode()]
    [w] = [r for r in wecom.requests if "测试大棚" in r.body.decode()]
    assert d.valid
    assert w.valid
    assert d.json()["markdown"]["title"].startswith("退回修改")
    assert "意见" in w.json()["markdown"]["content"]
    for r in (d, w):
        assert ID_NUMBER not in r.body.decode()
        assert PHONE not in r.body.decode()


async def test_a_robot_with_a_wrong_secret_is_refused_and_not_retried(sessions: Sessions, world: World) -> None:
    ding = Robot(free_port(), "dingtalk", "SEC-right-secret-0123")
    await ding.start()
    try:
        await add_endpoint(
            sessions,
            kind="dingtalk",
            region=world.county,
            url=f"http://127.0.0.1:{ding.port}/robot/send?access_token=tok",
            secret="SEC-wrong-secret-0123",
            by=world.users["admin"].id,
        )
        key, _ = await _record(sessions, world, EventKind.WARNING_ARREARS, [])
        await _dispatch(sessions, notify_settings(free_port()))
    finally:
        await ding.stop()
    [row] = await _rows(sessions, key)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "310000" in row.last_error


async def test_preferences_and_the_daily_digest(sessions: Sessions, world: World) -> None:
    pm = world.users["pm"]
    address = f"digest-{uuid.uuid4().hex[:8]}@county.test"
    await give_email(sessions, pm, address)
    now = datetime.now(UTC)
    async with sessions.begin() as s:
        for kind, delivery in (("decision_approved", "digest"), ("objection_filed", "off"), ("task_escalated", "off")):
            s.add(NotificationPreference(user_id=pm.id, kind=kind, delivery=delivery, updated_at=now))
    async with smtp_sink() as (box, port):
        approved, r1 = await _record(sessions, world, EventKind.DECISION_APPROVED, [pm.id], at=now)
        objection, r2 = await _record(sessions, world, EventKind.OBJECTION_FILED, [pm.id], at=now)
        stage, r3 = await _record(sessions, world, EventKind.STAGE_CHANGED, [pm.id], at=now)  # digest by default
        _, r4 = await _record(sessions, world, EventKind.TASK_ESCALATED, [pm.id], at=now)  # cannot be off
        assert (r1, r2, r3, r4) == (Recorded(1, 1), Recorded(0, 0), Recorded(1, 1), Recorded(1, 1))
        settings = notify_settings(port)
        await _dispatch(sessions, settings, now=now + timedelta(seconds=1))
        mine = [m for m in box.received if address in m.rcpt]
        assert [m.subject for m in mine] == [m.subject for m in mine if "超期上报" in m.subject]  # only the escalation
        assert len(mine) == 1
        assert [r.status for r in await _rows(sessions, approved)] == ["digest"]
        digest_at = next_digest_at(now, ZoneInfo("Asia/Shanghai"))
        assert (await _rows(sessions, approved))[0].due_at == digest_at
        await _dispatch(sessions, settings, now=digest_at + timedelta(minutes=1))
        mine = [m for m in box.received if address in m.rcpt]
        assert len(mine) == 2
        digest = mine[1]
        assert "Daily digest: 2" in digest.subject
        text = digest.body("plain")
        assert "审核通过" in text
        assert "阶段变更" in text
        assert "收到异议" not in text
        assert ID_NUMBER not in text + digest.body("html")
    assert [r.status for r in await _rows(sessions, approved) + await _rows(sessions, stage)] == ["delivered"] * 2
    assert await _rows(sessions, objection) == []


async def test_without_smtp_settings_mails_fail_visibly(sessions: Sessions, world: World) -> None:
    pm = world.users["pm"]
    await give_email(sessions, pm, f"nosmtp-{uuid.uuid4().hex[:8]}@county.test")
    key, _ = await _record(sessions, world, EventKind.TASK_REASSIGNED, [pm.id])
    await _dispatch(sessions, NotifySettings(smtp_host=""))
    [row] = await _rows(sessions, key)
    assert row.status == "failed"
    assert "NOTIFY__SMTP_HOST" in row.last_error


class _Refusing(Mailbox):
    """A mail server that refuses every mail for good, quoting the address."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Refuse."""
        return f"554 5.7.1 <{envelope.rcpt_tos[0]}>: refused by policy"


async def test_a_mail_refused_for_good_fails_at_once_with_the_address_masked(sessions: Sessions, world: World) -> None:
    pm = world.users["pm"]
    address = f"refused-{uuid.uuid4().hex[:8]}@county.test"
    await give_email(sessions, pm, address)
    port = free_port()
    server = await start_smtp(_Refusing(), "127.0.0.1", port)
    try:
        key, _ = await _record(sessions, world, EventKind.PROBLEM_ASSIGNED, [pm.id])
        await _dispatch(sessions, notify_settings(port))
    finally:
        server.close()
        await server.wait_closed()
    [row] = await _rows(sessions, key)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "554" in row.last_error
    assert "***@county.test" in row.last_error
    assert address not in row.last_error


async def test_a_webhook_deactivated_before_sending_gets_nothing(sessions: Sessions, world: World) -> None:
    secret = uuid.uuid4().hex * 2
    hook = ScriptedWebhook(free_port(), secret)
    await hook.start()
    try:
        endpoint = await add_endpoint(
            sessions,
            kind="webhook",
            region=world.county,
            url=f"http://127.0.0.1:{hook.port}/",
            secret=secret,
            by=world.users["admin"].id,
        )
        key, recorded = await _record(sessions, world, EventKind.NOTICE_OPENED, [])
        assert recorded.outbox == 1
        async with sessions.begin() as s:
            row = await s.get(NotificationEndpoint, endpoint)
            assert row is not None
            row.active = False
        await _dispatch(sessions, notify_settings(free_port()))
    finally:
        await hook.stop()
    [row] = await _rows(sessions, key)
    assert (row.status, row.last_error) == ("failed", "the webhook or robot was deactivated")
    assert hook.requests == []
