"""Loopback receivers of notifications for the tests: an SMTP server (aiosmtpd, from cli.sinks), a webhook receiver
that verifies each signature and answers a script of statuses, and DingTalk/WeCom robots that check the message
format and DingTalk's signature the way those services do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cli.sinks import Mailbox, start_smtp
from core.devstack import free_port
from core.settings import NotifySettings, SmtpSecurity
from db.engine import Sessions
from db.models import NotificationEndpoint, User
from domain.notifications import verify_webhook
from tests.loopback import LoopbackServer


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 keeping every mail it accepts."""
    box = Mailbox()
    port = free_port()
    server = await start_smtp(box, "127.0.0.1", port)
    try:
        yield box, port
    finally:
        server.close()
        await server.wait_closed()


def notify_settings(smtp_port: int, **overrides: Any) -> NotifySettings:
    """Settings of a test's dispatcher: the loopback sink, quick retries."""
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": SmtpSecurity.NONE,
        "sender": "assetflow <noreply@assetflow.test>",
        "backoff_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        "http_timeout_seconds": 60,  # a loaded machine is slow, not down: no attempt may time out here
        "smtp_timeout_seconds": 60,
        "poll_seconds": 0.2,
    }
    values.update(overrides)
    return NotifySettings(**values)


@dataclass
class Request:
    """One request a receiver took."""

    path: str
    headers: dict[str, str]
    body: bytes
    valid: bool

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class ScriptedWebhook(LoopbackServer):
    """Verifies the signature of every delivery and answers the next status of `script` (then 200)."""

    def __init__(self, port: int, secret: str, script: list[int] | None = None) -> None:
        super().__init__(port)
        self.secret = secret
        self.script = list(script or [])
        self.requests: list[Request] = []

    def respond(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """Check the signature (401 when wrong), then answer the script."""
        ts = headers.get("x-assetflow-timestamp", "")
        valid = ts.isdigit() and verify_webhook(self.secret, int(ts), body, headers.get("x-assetflow-signature", ""))
        self.requests.append(Request(request_line.split(" ")[1], headers, body, valid))
        if not valid:
            return 401, {"error": "bad signature"}
        return (self.script.pop(0) if self.script else 200), {"ok": True}


@dataclass
class Robot(LoopbackServer):
    """A DingTalk or WeCom group robot: checks the markdown message (and DingTalk's timestamp and sign)."""

    port: int
    kind: str
    secret: str = ""
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.port)

    def respond(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """errcode 0 for a well-formed, well-signed message; DingTalk's own codes otherwise."""
        target = request_line.split(" ")[1]
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
        message = json.loads(body)
        valid = message.get("msgtype") == "markdown"
        if self.kind == "dingtalk":
            md = message.get("markdown", {})
            valid = valid and bool(md.get("title")) and bool(md.get("text")) and query.get("access_token") == "tok"
            ts = query.get("timestamp", "")
            if self.secret:
                expected = base64.b64encode(
                    hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
                ).decode()
                fresh = ts.isdigit() and abs(int(ts) - time.time() * 1000) < 3600_000
                valid = valid and fresh and hmac.compare_digest(query.get("sign", ""), expected)
        else:
            valid = valid and bool(message.get("markdown", {}).get("content")) and query.get("key") == "tok"
        self.requests.append(Request(target, headers, body, valid))
        return 200, ({"errcode": 0, "errmsg": "ok"} if valid else {"errcode": 310000, "errmsg": "sign not match"})


async def add_endpoint(
    sessions: Sessions, *, kind: str, region: str, url: str, secret: str, by: int, events: list[str] | None = None
) -> int:
    """A webhook or robot registered straight in the database (the API's own tests register through it)."""
    async with sessions.begin() as s:
        e = NotificationEndpoint(
            kind=kind,
            region_code=region,
            name=f"{kind} test",
            url=url,
            secret=secret,
            events=events or [],
            active=True,
            created_by=by,
            created_at=datetime.now(UTC),
        )
        s.add(e)
        await s.flush()
        return e.id


async def give_email(sessions: Sessions, user: User, address: str) -> None:
    """Give a test user an e-mail address."""
    async with sessions.begin() as s:
        row = await s.get(User, user.id)
        assert row is not None
        row.email = address
