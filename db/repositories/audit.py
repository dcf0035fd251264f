"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditEntry, AuditHead
from domain.audit import GENESIS, ChainEntry, ChainProblem, canonical_json, entry_hash, verify_chain

SYSTEM_CHAIN = "system"


def project_chain(code: str) -> str:
    """The chain that holds one project's history."""
    return f"project:{code}"


def library_chain(name: str) -> str:
    """The chain that holds the changes to one library (`library:experts`)."""
    return f"library:{name}"


def _content(
    *,
    chain: str,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    event_key: str,
    payload: dict[str, Any],
) -> dict[str, Any]:
    return {
        "chain": chain,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "event_key": event_key,
        "payload": payload,
    }


async def create_audit_entry(
    session: AsyncSession,
    *,
    chain: str,
    action: str,
    event_key: str,
    payload: dict[str, Any],
    actor_id: int | None = None,
    actor_name: str = "system",
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry, idempotent by `event_key`; chains are serialised by an advisory lock."""
    existing = await session.scalar(select(AuditEntry).where(AuditEntry.event_key == event_key))
    if existing is not None:
        return existing
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": chain})
    existing = await session.scalar(select(AuditEntry).where(AuditEntry.event_key == event_key))
    if existing is not None:
        return existing
    head = await session.get(AuditHead, chain, with_for_update=True)
    seq = (head.seq if head else 0) + 1
    prev = head.hash if head else GENESIS
    when = (at or datetime.now(UTC)).astimezone(UTC)
    normalised: dict[str, Any] = json.loads(canonical_json(payload))
    content = _content(
        chain=chain,
        seq=seq,
        at=when,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        event_key=event_key,
        payload=normalised,
    )
    digest = entry_hash(prev, content)
    entry = AuditEntry(
        chain=chain,
        seq=seq,
        at=when,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        event_key=event_key,
        payload=normalised,
        prev_hash=prev,
        hash=digest,
    )
    session.add(entry)
    if head is None:
        session.add(AuditHead(chain=chain, seq=seq, hash=digest))
    else:
        head.seq, head.hash = seq, digest
    await session.flush()
    return entry


async def list_audit_entries(session: AsyncSession, *, chain: str) -> Sequence[AuditEntry]:
    """One chain's entries in order."""
    return (await session.scalars(select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq))).all()


@dataclass(frozen=True)
class ChainReport:
    """The verification result of one chain."""

    chain: str
    entries: int
    problems: list[ChainProblem]


async def verify_audit_chains(session: AsyncSession, *, chain: str | None = None) -> list[ChainReport]:
    """Recompute every chain (or one) and report each break: altered, inserted or deleted entries."""
    if chain is None:
        names = set((await session.scalars(select(AuditHead.chain))).all())
        names |= set((await session.scalars(select(AuditEntry.chain).distinct())).all())
        chains = sorted(names)
    else:
        chains = [chain]
    reports = []
    for name in chains:
        rows = await list_audit_entries(session, chain=name)
        head = await session.get(AuditHead, name)
        entries = [
            ChainEntry(
                id=r.id,
                seq=r.seq,
                prev_hash=r.prev_hash,
                hash=r.hash,
                content=_content(
                    chain=r.chain,
                    seq=r.seq,
                    at=r.at,
                    actor_id=r.actor_id,
                    actor_name=r.actor_name,
                    action=r.action,
                    event_key=r.event_key,
                    payload=r.payload,
                ),
            )
            for r in rows
        ]
        problems = verify_chain(entries, head.seq if head else None, head.hash if head else None)
        if head is None and rows:
            problems.append(ChainProblem(rows[-1].seq, None, "chain head is missing"))
        reports.append(ChainReport(chain=name, entries=len(rows), problems=problems))
    return reports


async def count_audit_entries(session: AsyncSession, *, chain: str) -> int:
    """How many entries a chain holds."""
    return int(await session.scalar(select(func.count()).where(AuditEntry.chain == chain)) or 0)
