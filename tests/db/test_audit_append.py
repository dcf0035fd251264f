"""Appending to an audit chain from a head the transaction holds locked (an activity's first attempt locks its
project's head with the project): one statement, the chain verifies, a batch stored already appends nothing, and a
batch stored in part is refused whole (nothing half-written), after which the ordinary path appends the rest. A
transaction's notification events are written in its append's statement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.projects import transaction
from db.engine import Sessions
from db.models import AuditEntry, AuditHead, Notification, NotificationEvent
from db.repositories.audit import (
    AuditKeysPartlyStored,
    NewEntry,
    append_audit_entries,
    append_or_batch,
    remember_locked_head,
    verify_audit_chains,
)
from db.repositories.notifications import note_event
from domain.notifications import EventKind
from tests.conftest import World


def _entries(tag: str, *names: str) -> list[NewEntry]:
    return [NewEntry(action="test", event_key=f"{tag}:{n}", payload={"n": n}) for n in names]


async def _append_locked(sessions: Sessions, chain: str, entries: list[NewEntry]) -> int:
    async with sessions.begin() as s:
        head = await s.get(AuditHead, chain, with_for_update=True)
        assert head is not None
        remember_locked_head(s, chain, head.seq, head.hash)
        return await append_audit_entries(s, chain=chain, entries=entries)


async def test_appending_from_a_locked_head(sessions: Sessions) -> None:
    tag = uuid.uuid4().hex[:8]
    chain = f"test:{tag}"
    async with sessions.begin() as s:  # the ordinary path creates the head
        assert await append_audit_entries(s, chain=chain, entries=_entries(tag, "a")) == 1

    assert await _append_locked(sessions, chain, _entries(tag, "b", "c")) == 2
    # the same batch again (a retried activity whose first run committed): nothing new, the head unmoved
    assert await _append_locked(sessions, chain, _entries(tag, "b", "c")) == 0
    # a batch stored in part is refused whole
    with pytest.raises(AuditKeysPartlyStored):
        await _append_locked(sessions, chain, _entries(tag, "c", "d"))
    async with sessions() as s:
        assert await s.scalar(select(func.count()).where(AuditEntry.chain == chain)) == 3
    # the ordinary path looks the stored keys up and appends the rest
    async with sessions.begin() as s:
        assert await append_audit_entries(s, chain=chain, entries=_entries(tag, "c", "d")) == 1
    # two appends in one transaction, the second from the head the first left
    async with sessions.begin() as s:
        head = await s.get(AuditHead, chain, with_for_update=True)
        assert head is not None
        remember_locked_head(s, chain, head.seq, head.hash)
        assert await append_audit_entries(s, chain=chain, entries=_entries(tag, "e")) == 1
        assert await append_audit_entries(s, chain=chain, entries=_entries(tag, "f", "g")) == 2
    async with sessions() as s:
        (report,) = await verify_audit_chains(s, chain=chain)
        head = await s.get(AuditHead, chain)
    assert (report.entries, report.problems) == (7, [])
    assert head is not None
    assert head.seq == 7


async def test_a_transactions_events_ride_on_its_audit_append(
    sessions: Sessions, engine: AsyncEngine, world: World
) -> None:
    """activities.projects.transaction writes its audit entries and its notification events in one statement; the
    same work again writes neither; events without an entry are written alone."""
    tag = uuid.uuid4().hex[:8]
    chain = f"test:{tag}"
    pm = world.users["pm"]
    async with sessions.begin() as s:  # the chain's head exists (a project's is made with the project)
        await append_audit_entries(s, chain=chain, entries=_entries(tag, "a"))
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    async def work(entry: str | None, event: str) -> None:
        async with transaction(sessions) as s:
            if entry is not None:
                await append_or_batch(s, chain=chain, entry=_entries(tag, entry)[0])
            await note_event(
                s,
                kind=EventKind.STAGE_CHANGED,
                key=f"{tag}:{event}",
                params={"code": tag, "name": "测试", "from_stage": "draft", "to_stage": "township_review"},
                user_ids=[pm.id, None],
                region_code=world.villages[0],
                at=datetime.now(UTC),
            )

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await work("b", "e1")
        statements = len(seen)
        await work("b", "e1")  # a retry of committed work
        await work(None, "e2")  # events only
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert statements == 2  # the head looked up and locked; the entry and the event with their rows: one statement
    async with sessions() as s:
        (report,) = await verify_audit_chains(s, chain=chain)
        keys = (
            await s.scalars(select(NotificationEvent.event_key).where(NotificationEvent.event_key.like(f"{tag}:%")))
        ).all()
        items = (
            await s.scalars(
                select(Notification.event_key).where(
                    Notification.user_id == pm.id, Notification.event_key.like(f"{tag}:%")
                )
            )
        ).all()
    assert (report.entries, report.problems) == (2, [])
    assert sorted(keys) == [f"{tag}:e1", f"{tag}:e2"]
    assert sorted(items) == [f"{tag}:e1", f"{tag}:e2"]  # once each, also after the retry
