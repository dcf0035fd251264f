"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from db.models import AuditCheckpoint, AuditEntry, AuditHead
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


@dataclass(frozen=True)
class NewEntry:
    """An entry to append; its seq and hashes are computed when its batch is written."""

    action: str
    event_key: str
    payload: dict[str, Any]
    actor_id: int | None = None
    actor_name: str = "system"
    at: datetime | None = None


# The chain's head, locked, and which of the batch's event keys are stored already: one round trip.
_HEAD = text(
    "SELECT h.seq, h.hash, ARRAY(SELECT a.event_key FROM audit_log a WHERE a.event_key = ANY(:keys)) AS stored "
    "FROM audit_heads h WHERE h.chain = :chain FOR UPDATE OF h"
)


def _chain_rows(
    chain: str, seq: int, prev: str, entries: Sequence[NewEntry], stored: set[str], now: datetime
) -> tuple[list[dict[str, Any]], int, str]:
    """The audit_log rows of a chain's new entries (those whose key is not in `stored`, which learns them), each
    hashed over the one before, as JSON-ready dicts (the hashed content, `at` in ISO form, plus the two hashes); and
    the chain's new head seq and hash."""
    rows: list[dict[str, Any]] = []
    for e in entries:
        if e.event_key in stored:
            continue
        stored.add(e.event_key)
        seq += 1
        content = _content(
            chain=chain,
            seq=seq,
            at=(e.at or now).astimezone(UTC),
            actor_id=e.actor_id,
            actor_name=e.actor_name,
            action=e.action,
            event_key=e.event_key,
            payload=json.loads(canonical_json(e.payload)),
        )
        digest = entry_hash(prev, content)
        rows.append({**content, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows, seq, prev


# Rows arrive as one JSON array (`_chain_rows`): the statement's text never changes with the number of entries, so
# it is prepared once and cached (SQLAlchemy compiles a multi-row VALUES anew on every call: 5 ms of CPU each).
_ROWS = """
    INSERT INTO audit_log (chain, seq, at, actor_id, actor_name, action, event_key, payload, prev_hash, hash)
    SELECT r.chain, r.seq, r.at, r.actor_id, r.actor_name, r.action, r.event_key, r.payload, r.prev_hash, r.hash
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(chain text, seq int, at timestamptz, actor_id int,
        actor_name text, action text, event_key text, payload jsonb, prev_hash text, hash text)
    ORDER BY r.chain, r.seq
"""
# A chain's entries (an event key stored already is skipped) and its head moved only if every entry went in.
_APPEND_CTES = f"""
    appended AS ({_ROWS} ON CONFLICT (event_key) DO NOTHING RETURNING 1
    ), moved AS (
        UPDATE audit_heads SET seq = :seq, hash = :hash
        WHERE chain = :chain AND (SELECT count(*) FROM appended) = :count RETURNING 1
    )
"""  # noqa: S608 - _ROWS is this module's constant
_APPEND_RESULT = "(SELECT count(*) FROM appended) AS appended, (SELECT count(*) FROM moved) AS moved"
_APPEND = text(f"WITH {_APPEND_CTES} SELECT {_APPEND_RESULT}")
_INSERT_ROWS = text(_ROWS)


@dataclass
class Rider:
    """More work for an append's statement (a transaction's notification events: one round trip for both):
    `ctes`, constant `name AS (…)` clauses; `result`, a constant select list; their parameters. `answer` is the
    statement's row once it ran (None: no entry was new, so nothing ran and the caller runs its work alone)."""

    ctes: str
    result: str
    params: dict[str, Any]
    answer: Any = None


_WITH_RIDER: dict[tuple[str, str], TextClause] = {}


def _statement(rider: Rider | None) -> TextClause:
    if rider is None:
        return _APPEND
    key = (rider.ctes, rider.result)
    if (stmt := _WITH_RIDER.get(key)) is None:  # a rider's text is constant: one statement (prepared once) per rider
        stmt = _WITH_RIDER[key] = text(f"WITH {_APPEND_CTES}, {rider.ctes} SELECT {rider.result}, {_APPEND_RESULT}")
    return stmt


async def _append(
    session: AsyncSession, chain: str, seq: int, hash_: str, rows: list[dict[str, Any]], rider: Rider | None = None
) -> tuple[int, int]:
    """How many of `rows` went in, and whether the head moved (1) or not (0)."""
    params = {"rows": json.dumps(rows, ensure_ascii=False), "seq": seq, "hash": hash_, "chain": chain}
    if rider is not None:
        params |= rider.params
    row = (await session.execute(_statement(rider), params | {"count": len(rows)})).one()
    if rider is not None:
        rider.answer = row
    return int(row.appended), int(row.moved)


LOCKED_HEADS = "assetflow.locked_audit_heads"
"""session.info key: (the transaction, {chain: (seq, hash)}) of heads this transaction locked while taking another
lock (a project's row with its chain's head: `lock_with_head`), so appending needs no statement of its own to lock."""


def remember_locked_head(session: AsyncSession, chain: str, seq: int, hash_: str) -> None:
    """Note a head this transaction holds locked (read `FOR UPDATE` with its project): the next append to the chain
    in this transaction starts from it. Only for a first attempt of the work: a retry may find its entries stored."""
    tx = session.get_transaction()
    held: tuple[Any, dict[str, tuple[int, str]]] | None = session.info.get(LOCKED_HEADS)
    if held is None or held[0] is not tx:
        held = (tx, {})
        session.info[LOCKED_HEADS] = held
    held[1][chain] = (seq, hash_)


def _locked_head(session: AsyncSession, chain: str) -> tuple[int, str] | None:
    held = session.info.get(LOCKED_HEADS)
    if held is None or held[0] is not session.get_transaction():
        return None
    found: tuple[int, str] | None = held[1].get(chain)
    return found


class AuditKeysPartlyStored(Exception):
    """Some, not all, of a batch's event keys were stored already when it was appended from a head held locked:
    the transaction is rolled back and the work retried, whose append then looks the stored keys up first."""


async def append_audit_entries(
    session: AsyncSession, *, chain: str, entries: Sequence[NewEntry], rider: Rider | None = None
) -> int:
    """Append entries to a chain, each once by its event key; how many were new.

    The head row's lock serialises a chain's writers (no advisory lock): one statement locks it and finds the
    keys stored already, the hashes are computed here, and one statement inserts every entry and moves the head.
    A chain's first writer creates its head (`ON CONFLICT DO NOTHING`: a concurrent first writer waits on it).
    When the transaction locked the head already (with its project, `remember_locked_head`), the one statement is
    all: an entry whose key is stored is skipped there, and a batch stored in part (never seen: a batch is one
    transaction's) raises AuditKeysPartlyStored so that nothing is half-written.
    """
    if not entries:
        return 0
    if (held := _locked_head(session, chain)) is not None:
        rows, seq, prev = _chain_rows(chain, held[0], held[1], entries, set(), datetime.now(UTC))
        if not rows:
            return 0
        result = await _append(session, chain, seq, prev, rows, rider)
        if result[0] == 0:
            return 0  # the whole batch was stored by an earlier run of the same work
        if result[0] != len(rows) or result[1] != 1:
            raise AuditKeysPartlyStored(f"chain {chain}: {result[0]} of {len(rows)} entries were new")
        remember_locked_head(session, chain, seq, prev)
        return len(rows)
    params = {"chain": chain, "keys": [e.event_key for e in entries]}
    row = (await session.execute(_HEAD, params)).first()
    if row is None:
        await session.execute(pg_insert(AuditHead).values(chain=chain, seq=0, hash=GENESIS).on_conflict_do_nothing())
        row = (await session.execute(_HEAD, params)).one()
    stored = set(row.stored)
    rows, seq, prev = _chain_rows(chain, int(row.seq), str(row.hash), entries, stored, datetime.now(UTC))
    if rows:  # the head is locked and the stored keys left out: every row goes in and the head moves
        result = await _append(session, chain, seq, prev, rows, rider)
        if result[0] != len(rows) or result[1] != 1:
            raise AuditKeysPartlyStored(f"chain {chain}: {result[0]} of {len(rows)} entries were new")
    return len(rows)


_HEADS = text(
    "SELECT h.chain, h.seq, h.hash FROM audit_heads h WHERE h.chain = ANY(:chains) ORDER BY h.chain FOR UPDATE OF h"
)
_STORED = text("SELECT a.event_key FROM audit_log a WHERE a.event_key = ANY(:keys)")
_MOVE_HEADS = text(
    "UPDATE audit_heads h SET seq = v.seq, hash = v.hash "
    "FROM unnest(CAST(:chains AS text[]), CAST(:seqs AS int[]), CAST(:hashes AS text[])) AS v(chain, seq, hash) "
    "WHERE h.chain = v.chain"
)


async def append_audit_entries_to_chains(session: AsyncSession, *, entries: Mapping[str, Sequence[NewEntry]]) -> int:
    """Append entries to many chains at once (an import's one entry per project), each once by its event key; how
    many were new. A handful of statements whatever the number of chains: the heads are created and locked
    together (in chain order, so two such batches never deadlock), the stored keys found in one read, the entries
    inserted in multi-row statements and the heads moved in one."""
    chains = sorted(c for c, es in entries.items() if es)
    if not chains:
        return 0
    held = session.info.get(LOCKED_HEADS)
    if held is not None:
        for chain in chains:  # their heads move here: a later append reads them again
            held[1].pop(chain, None)
    await session.execute(
        pg_insert(AuditHead).values([{"chain": c, "seq": 0, "hash": GENESIS} for c in chains]).on_conflict_do_nothing()
    )
    heads = {r.chain: (int(r.seq), str(r.hash)) for r in await session.execute(_HEADS, {"chains": chains})}
    keys = [e.event_key for c in chains for e in entries[c]]
    stored = set((await session.scalars(_STORED, {"keys": keys})).all())
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    moved: dict[str, tuple[int, str]] = {}
    for chain in chains:
        added, seq, prev = _chain_rows(chain, *heads[chain], entries[chain], stored, now)
        if added:
            rows += added
            moved[chain] = (seq, prev)
    for i in range(0, len(rows), 5000):
        await session.execute(_INSERT_ROWS, {"rows": json.dumps(rows[i : i + 5000], ensure_ascii=False)})
    if moved:
        await session.execute(
            _MOVE_HEADS,
            {
                "chains": list(moved),
                "seqs": [s for s, _ in moved.values()],
                "hashes": [h for _, h in moved.values()],
            },
        )
    return len(rows)


AUDIT_BATCH = "assetflow.audit_batch"
"""session.info key of the audit entries a transaction writes at its end, in one batch per chain
(activities.projects.transaction sets it)."""


async def append_or_batch(session: AsyncSession, *, chain: str, entry: NewEntry) -> None:
    """Append an entry, or add it to the transaction's batch when one is collected (written when it ends)."""
    batch: list[tuple[str, NewEntry]] | None = session.info.get(AUDIT_BATCH)
    if batch is not None:
        batch.append((chain, entry))
    else:
        await append_audit_entries(session, chain=chain, entries=[entry])


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
) -> None:
    """Append one entry, idempotent by `event_key` (see `append_audit_entries`)."""
    entry = NewEntry(action, event_key, payload, actor_id, actor_name, at)
    await append_audit_entries(session, chain=chain, entries=[entry])


async def list_audit_entries(session: AsyncSession, *, chain: str) -> Sequence[AuditEntry]:
    """One chain's entries in order."""
    return (await session.scalars(select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq))).all()


@dataclass(frozen=True)
class ChainReport:
    """The verification result of one chain."""

    chain: str
    entries: int
    problems: list[ChainProblem]


def _chain_entry(r: AuditEntry) -> ChainEntry:
    return ChainEntry(
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
        entries = [_chain_entry(r) for r in rows]
        problems = verify_chain(entries, head.seq if head else None, head.hash if head else None)
        if head is None and rows:
            problems.append(ChainProblem(rows[-1].seq, None, "chain head is missing"))
        reports.append(ChainReport(chain=name, entries=len(rows), problems=problems))
    return reports


async def verify_since_checkpoint(session: AsyncSession, *, chain: str) -> ChainReport:
    """Verify what was appended to a chain since it was last verified here, and that the entry verified last is
    unchanged; on success move the checkpoint (the caller commits). Entries before the checkpoint are not
    re-read: `verify_audit_chains` (`assetflow audit verify`) re-walks whole chains."""
    checkpoint = await session.get(AuditCheckpoint, chain)
    start = checkpoint.seq if checkpoint else 1
    rows = (
        await session.scalars(
            select(AuditEntry).where(AuditEntry.chain == chain, AuditEntry.seq >= start).order_by(AuditEntry.seq)
        )
    ).all()
    head = await session.get(AuditHead, chain)
    problems: list[ChainProblem] = []
    if checkpoint is not None and (not rows or rows[0].seq != checkpoint.seq or rows[0].hash != checkpoint.hash):
        problems.append(ChainProblem(checkpoint.seq, None, "the entry verified last is missing or was changed"))
    entries = [_chain_entry(r) for r in rows]
    start_prev = rows[0].prev_hash if checkpoint is not None and rows else GENESIS
    problems += verify_chain(
        entries, head.seq if head else None, head.hash if head else None, start_seq=start, start_prev=start_prev
    )
    if head is None and rows:
        problems.append(ChainProblem(rows[-1].seq, None, "chain head is missing"))
    if not problems and rows:
        last = rows[-1]
        await session.execute(
            pg_insert(AuditCheckpoint)
            .values(chain=chain, seq=last.seq, hash=last.hash)
            .on_conflict_do_update(
                index_elements=[AuditCheckpoint.chain],
                set_={"seq": last.seq, "hash": last.hash, "verified_at": func.now()},
            )
        )
    return ChainReport(chain=chain, entries=len(rows), problems=problems)


async def page_audit_entries(
    session: AsyncSession, *, chain: str, limit: int, offset: int
) -> tuple[Sequence[AuditEntry], int]:
    """A page of a chain's entries in order, and how many it holds."""
    rows = (
        await session.scalars(
            select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq).limit(limit).offset(offset)
        )
    ).all()
    return rows, await count_audit_entries(session, chain=chain)


async def completed_panel_rounds(session: AsyncSession, *, chain: str) -> set[object]:
    """The rounds whose expert panel is complete (their scores may be shown), from a chain's verdicts."""
    payloads = await session.scalars(
        select(AuditEntry.payload).where(AuditEntry.chain == chain, AuditEntry.action == "panel_verdict")
    )
    return {p.get("round") for p in payloads}


async def count_audit_entries(session: AsyncSession, *, chain: str) -> int:
    """How many entries a chain holds."""
    return int(await session.scalar(select(func.count()).where(AuditEntry.chain == chain)) or 0)
