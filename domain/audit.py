"""The audit log is a hash chain per scope: each entry's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """A stable serialisation: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical content of this entry."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(canonical_json(content).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ChainEntry:
    """What verification needs of one stored entry."""

    id: int
    seq: int
    prev_hash: str
    hash: str
    content: Mapping[str, Any]


@dataclass(frozen=True)
class ChainProblem:
    """Where and how the stored chain differs from what it must be."""

    seq: int
    entry_id: int | None
    problem: str


def verify_chain(
    entries: Iterable[ChainEntry],
    head_seq: int | None,
    head_hash: str | None,
    *,
    start_seq: int = 1,
    start_prev: str = GENESIS,
) -> list[ChainProblem]:
    """Every break in a chain read in seq order; the head (last seq and hash) catches a deleted tail. A part of a
    chain is verified from `start_seq`, whose entry must follow `start_prev`."""
    problems: list[ChainProblem] = []
    prev = start_prev
    expected_seq = start_seq
    for e in entries:
        if e.seq != expected_seq:
            problems.append(ChainProblem(expected_seq, e.id, f"entry seq {expected_seq} is missing (found {e.seq})"))
            expected_seq = e.seq
        if e.prev_hash != prev:
            problems.append(ChainProblem(e.seq, e.id, "prev_hash does not match the previous entry"))
        recomputed = entry_hash(e.prev_hash, e.content)
        if recomputed != e.hash:
            problems.append(ChainProblem(e.seq, e.id, "content was altered: hash does not match"))
        prev = e.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head_seq is not None and (head_seq != last_seq or head_hash != prev):
        problems.append(
            ChainProblem(head_seq, None, f"chain head says seq {head_seq}, stored entries end at seq {last_seq}")
        )
    return problems
