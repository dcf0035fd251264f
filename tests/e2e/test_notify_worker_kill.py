"""`python worker.py` killed with SIGKILL while its dispatcher is sending a batch of e-mails (one mail held open by
the SMTP server at that moment), and a new worker started: every mail arrives exactly once — none lost, none twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from temporalio.client import Client

from cli.sinks import Mailbox, start_smtp
from core.devstack import free_port
from core.settings import Settings
from core.temporal import dispatcher_workflow_id
from db.engine import Sessions
from db.models import NotificationDelivery
from db.repositories.notifications import record_event
from domain.notifications import EventKind
from tests.conftest import World, eventually
from tests.e2e.test_worker_kill import _start_worker as start_worker
from tests.notify_helpers import give_email

MAILS = 60
HOLD_AT = 25  # the mail the server holds open when the worker is killed: in the second batch of 20


class HoldingMailbox(Mailbox):
    """Accepts mails, but holds the HOLD_AT-th open until released, then refuses it (451): its sender died."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept, or hold the one mail."""
        self.count += 1
        if self.count == HOLD_AT:
            self.holding.set()
            await self.release.wait()
            return "451 4.3.0 the sender went away; try again"
        return await super().handle_DATA(server, session, envelope)


def _start_worker(settings: Settings, smtp_port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_worker(
        settings,
        log,
        {
            "NOTIFY__DISPATCHER": "true",
            "NOTIFY__SMTP_HOST": "127.0.0.1",
            "NOTIFY__SMTP_PORT": str(smtp_port),
            "NOTIFY__SMTP_SECURITY": "none",
            "NOTIFY__BATCH_SIZE": "20",
            "NOTIFY__PARALLEL": "1",
            "NOTIFY__POLL_SECONDS": "0.5",
            # a dead dispatcher's rows are not waited out: its retried activity takes them up by its claim
            "NOTIFY__LEASE_SECONDS": "3600",
        },
    )


async def test_a_dispatcher_killed_mid_batch_loses_and_duplicates_no_mail(
    sessions: Sessions, world: World, settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    pm = world.users["pm"]
    address = f"kill-{uuid.uuid4().hex[:8]}@county.test"
    await give_email(sessions, pm, address)
    tag = uuid.uuid4().hex[:8]
    keys = [f"kill:{tag}:{i:03d}" for i in range(MAILS)]
    async with sessions.begin() as s:
        for i, key in enumerate(keys):
            await record_event(
                s,
                kind=EventKind.TASK_REASSIGNED,
                key=key,
                params={"task_kind": "township_review", "project_code": f"XM{i:03d}", "reason": f"第 {i} 件"},
                user_ids=[pm.id],
                region_code=None,
                at=datetime.now(UTC),
            )
    box = HoldingMailbox()
    port = free_port()
    server = await start_smtp(box, "127.0.0.1", port)
    log = tmp_path / "worker.log"
    first = _start_worker(settings, port, log)
    try:
        await asyncio.wait_for(box.holding.wait(), timeout=90)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    box.release.set()
    mine = [m for m in box.received if address in m.rcpt]
    assert len(mine) == HOLD_AT - 1  # killed in the middle: the held mail was never accepted

    async def delivered() -> int:
        async with sessions() as s:
            stmt = select(func.count()).where(
                NotificationDelivery.idempotency_key.startswith(f"kill:{tag}:"),
                NotificationDelivery.status == "delivered",
            )
            return int(await s.scalar(stmt) or 0)

    second = _start_worker(settings, port, log)
    try:
        await eventually(lambda: _all(delivered), timeout=120, interval=0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        server.close()
        await server.wait_closed()
        await temporal_client.get_workflow_handle(dispatcher_workflow_id(settings.task_queue)).terminate("test over")
    mine = [m for m in box.received if address in m.rcpt]
    subjects = sorted(str(m.message["Message-ID"]) for m in mine)
    assert len(mine) == MAILS, len(mine)
    assert len(set(subjects)) == MAILS  # each mail once
    for key in keys:
        assert sum(key.replace(":", ".") in s for s in subjects) == 1, key


async def _all(delivered: object) -> bool:
    assert callable(delivered)
    return bool(await delivered() == MAILS)
