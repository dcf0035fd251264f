"""Appending to an audit chain from a head the transaction holds locked (an activity's first attempt locks its
project's head with the project): one statement, the chain verifies, a batch stored already appends nothing, and a
batch stored in part is refused whole (nothing half-written), after which the ordinary path appends the rest."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from db.engine import Sessions
from db.models import AuditEntry, AuditHead
from db.repositories.audit import (
    AuditKeysPartlyStored,
    NewEntry,
    append_audit_entries,
    remember_locked_head,
    verify_audit_chains,
)


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
