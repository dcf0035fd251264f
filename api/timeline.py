"""A project's audit chain as a timeline for a given reader (experts' scores stay hidden until the panel is done;
who sits on an open panel stays hidden from everyone outside the reviewing chain)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from api.schemas import TimelineEntry
from db.models import AuditEntry

HIDDEN_UNTIL_PANEL = ("scores", "veto", "veto_other", "opinion", "panel")
SEAT_MOVES = ("from", "to")
HIDDEN_EXPERT = "expert (hidden until the panel is complete)"


def _draw_counts(payload: dict[str, Any]) -> dict[str, Any]:
    """An expert_draw entry without who was in the pool, excluded or chosen."""
    return {
        "draw_key": payload.get("draw_key"),
        "seats": payload.get("seats"),
        "pool_size": len(payload.get("pool", [])),
        "excluded": len(payload.get("exclusions", [])),
        "chosen_count": len(payload.get("chosen", [])),
        "widened": payload.get("widened"),
        "hidden": "names until the panel is complete",
    }


def _open_seat(payload: dict[str, Any], seat_rounds: Mapping[str, int], complete: set[Any]) -> bool:
    """The entry concerns an expert seat of a panel that is still open."""
    task_id = str(payload.get("task_id"))
    return task_id in seat_rounds and seat_rounds[task_id] not in complete


def project_timeline(
    rows: Sequence[AuditEntry],
    viewer_id: int,
    *,
    names: bool = True,
    draw_rounds: Mapping[str, int] | None = None,
    seat_rounds: Mapping[str, int] | None = None,
    personal: bool = True,
    complete_rounds: set[object] | None = None,
) -> list[TimelineEntry]:
    """The audit entries as a timeline; an expert's scores stay hidden until the panel of that round is complete.
    Without `names`, the draws, the experts' decisions and seat reassignments of an open panel name no one
    (`draw_rounds`: draw key → round; `seat_rounds`: expert_review task id → round). Without `personal`, the
    application's revisions name only the fields that changed (a diff may hold household codes)."""
    # the rounds whose panel is complete: given when `rows` is a page of the chain, else found in it
    complete = (
        complete_rounds
        if complete_rounds is not None
        else {r.payload.get("round") for r in rows if r.action == "panel_verdict"}
    )
    draw_rounds, seat_rounds = draw_rounds or {}, seat_rounds or {}
    out = []
    for r in rows:
        payload, actor = r.payload, r.actor_name
        seat = r.action == "decision" and payload.get("kind") == "expert_review"
        hidden = seat and payload.get("round") not in complete and r.actor_id != viewer_id
        if hidden:
            payload = {k: v for k, v in payload.items() if k not in HIDDEN_UNTIL_PANEL} | {
                "hidden": "until the panel is complete"
            }
        if not names:
            if r.action == "expert_draw" and draw_rounds.get(str(payload.get("draw_key"))) not in complete:
                payload = _draw_counts(payload)
            elif hidden:
                payload = {k: v for k, v in payload.items() if k != "expert_id"}
                actor = HIDDEN_EXPERT
            elif r.action == "task_reassigned" and _open_seat(payload, seat_rounds, complete):
                payload = {k: v for k, v in payload.items() if k not in SEAT_MOVES}
        if not personal and r.action == "application_revised":
            payload = payload | {"diff": [{"field": d.get("field")} for d in payload.get("diff", [])]}
        out.append(TimelineEntry(seq=r.seq, at=r.at, actor=actor, action=r.action, payload=payload, hash=r.hash))
    return out
