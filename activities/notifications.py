"""The outbox's dispatcher: claims due deliveries (FOR UPDATE SKIP LOCKED), sends them by their channel, records
each attempt with its outcome (delivered, due again after a backoff, or failed after the limit), and sends the
daily digests. Addresses and secrets are read here, never carried in a workflow's history."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import structlog
from temporalio import activity

from core.channels import Mail, Outcome, post_robot, post_webhook, send_mail
from core.settings import NotifySettings
from db.engine import Sessions
from db.repositories.notifications import (
    Claimed,
    claim_deliveries,
    claim_digest,
    next_due_at,
    update_delivery_outcome,
    update_digest_outcome,
)
from domain.notifications import (
    Channel,
    DispatchInput,
    DispatchResult,
    EventKind,
    digest_body,
    render,
    retry_delay,
)

log = structlog.get_logger(__name__)
ZONE = ZoneInfo("Asia/Shanghai")


def _claim_token() -> str:
    """The claim of this activity: a retried attempt of the same activity (its worker died) has the same one and
    takes up at once the rows its predecessor claimed but did not finish."""
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


class NotificationActivities:
    """Delivers the outbox; one instance per worker, with the HTTP client and the notification settings."""

    def __init__(self, sessions: Sessions, settings: NotifySettings | None = None) -> None:
        self._sessions = sessions
        self._settings = settings or NotifySettings()

    def _retry_at(self, attempts: int, outcome: Outcome, at: datetime) -> datetime | None:
        s = self._settings
        if outcome.ok or outcome.permanent or attempts >= s.max_attempts:
            return None
        return at + retry_delay(attempts, s.backoff_seconds, s.backoff_max_seconds)

    async def _send(self, http: httpx.AsyncClient, c: Claimed) -> Outcome:
        kind = EventKind(c.kind)
        message = render(kind, c.params, link=self._settings.public_url)
        if c.channel == Channel.EMAIL:
            if not c.email:
                return Outcome(False, error="the user has no e-mail address (any more)", permanent=True)
            mail = Mail(c.email, message.title, message.text, message.html, c.idempotency_key)
            return await send_mail(self._settings, mail)
        if c.url is None:
            return Outcome(False, error="the endpoint is gone", permanent=True)
        if not c.endpoint_active:
            return Outcome(False, error="the webhook or robot was deactivated", permanent=True)
        if c.channel == Channel.WEBHOOK:
            payload: dict[str, object] = {
                "id": c.idempotency_key,
                "event": c.kind,
                "event_key": c.event_key,
                "occurred_at": c.occurred_at.isoformat(),
                "region_code": c.region_code,
                "project_code": c.project_code,
                "task_id": c.task_id,
                "title": message.title,
                "text": message.text,
                "params": c.params,
            }
            return await post_webhook(
                http, url=c.url, secret=c.secret, event=c.kind, delivery=c.idempotency_key, payload=payload
            )
        return await post_robot(
            http, kind=c.channel, url=c.url, secret=c.secret, title=message.title, markdown=message.markdown
        )

    async def _deliver(self, http: httpx.AsyncClient, c: Claimed, claim: str, gate: asyncio.Semaphore) -> str | None:
        # a slot is held until the outcome is committed: killed at any moment, only the deliveries in flight at that
        # moment (at most `parallel`) can have reached their receiver unrecorded and be sent again (at least once)
        async with gate:
            started = time.monotonic()
            outcome = await self._send(http, c)
            took = int((time.monotonic() - started) * 1000)
            at = datetime.now(UTC)
            attempts = c.attempts + 1
            retry_at = self._retry_at(attempts, outcome, at)
            async with self._sessions.begin() as session:
                status = await update_delivery_outcome(
                    session,
                    delivery_id=c.id,
                    claim=claim,
                    ok=outcome.ok,
                    at=at,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=took,
                    retry_at=retry_at,
                )
        log.info(
            "notification delivery",
            delivery_id=c.id,
            channel=c.channel,
            kind=c.kind,
            attempt=attempts,
            status=status,
            code=outcome.status_code,
            error=outcome.error or None,
        )
        return status

    async def _digests(self, now: datetime, limit: int) -> int:
        sent = 0
        for _ in range(limit):
            # one user's digest a transaction, the rows locked while the mail is sent: killed meanwhile, the lock
            # goes with the connection and the next dispatcher sends the whole digest
            async with self._sessions.begin() as session:
                uid, email, items = await claim_digest(session, now=now)
                if not items:
                    break
                lines = [(i.occurred_at, render(EventKind(i.kind), i.params).title) for i in items]
                text, body = digest_body(lines, ZONE)
                subject = f"每日通知摘要 / Daily digest: {len(items)}"
                if email:
                    key = f"digest|user:{uid}|{min(i.delivery_id for i in items)}"
                    outcome = await send_mail(self._settings, Mail(email, subject, text, body, key))
                else:
                    outcome = Outcome(False, error="the user has no e-mail address (any more)", permanent=True)
                at = datetime.now(UTC)
                attempts = 1 + max(i.attempts for i in items)
                await update_digest_outcome(
                    session,
                    delivery_ids=[i.delivery_id for i in items],
                    ok=outcome.ok,
                    at=at,
                    error=outcome.error,
                    retry_at=self._retry_at(attempts, outcome, at),
                )
            log.info("notification digest", user_id=uid, items=len(items), ok=outcome.ok, error=outcome.error or None)
            sent += outcome.ok
        return sent

    @activity.defn
    async def dispatch_notifications(self, inp: DispatchInput) -> DispatchResult:
        """Send the due deliveries (a batch) and the due digests; say when the next one falls due."""
        now = inp.now or datetime.now(UTC)
        claim = _claim_token()
        lease = timedelta(seconds=self._settings.lease_seconds)
        async with self._sessions.begin() as session:
            claimed = await claim_deliveries(session, now=now, claim=claim, lease=lease, limit=inp.limit)
        gate = asyncio.Semaphore(self._settings.parallel)
        async with httpx.AsyncClient(timeout=self._settings.http_timeout_seconds) as http:
            statuses = await asyncio.gather(*(self._deliver(http, c, claim, gate) for c in claimed))
        digests = await self._digests(now, inp.limit)
        async with self._sessions.begin() as session:
            due = await next_due_at(session)
        wall = datetime.now(UTC) if inp.now is None else now
        return DispatchResult(
            claimed=len(claimed),
            delivered=statuses.count("delivered"),
            retried=statuses.count("pending"),
            failed=statuses.count("failed"),
            digests=digests,
            next_due_in=None if due is None else max(0.0, (due - wall).total_seconds()),
        )
