"""A project's audit chain as a timeline for a given reader (experts' scores stay hidden until the panel is done)."""

from __future__ import annotations

from collections.abc import Sequence

from api.schemas import TimelineEntry
from db.models import AuditEntry

HIDDEN_UNTIL_PANEL = ("scores", "veto", "veto_other", "opinion", "panel")


def project_timeline(rows: Sequence[AuditEntry], viewer_id: int) -> list[TimelineEntry]:
    """The audit entries as a timeline; an expert's scores stay hidden until the panel of that round is complete."""
    complete = {r.payload.get("round") for r in rows if r.action == "panel_verdict"}
    out = []
    for r in rows:
        payload = r.payload
        hidden = (
            r.action == "decision"
            and payload.get("kind") == "expert_review"
            and payload.get("round") not in complete
            and r.actor_id != viewer_id
        )
        if hidden:
            payload = {k: v for k, v in payload.items() if k not in HIDDEN_UNTIL_PANEL} | {
                "hidden": "until the panel is complete"
            }
        out.append(TimelineEntry(seq=r.seq, at=r.at, actor=r.actor_name, action=r.action, payload=payload, hash=r.hash))
    return out
