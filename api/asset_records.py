"""What the operation record routes share: who may read or write an asset's records, the day where the projects
are, the evidence a record may carry, its audit entry, and the signal that tells the project's workflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import Header
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from api.deps import Principal, WorkflowEngine
from api.errors import conflict, forbidden, invalid, not_found
from api.schemas import _d
from db.engine import Sessions
from db.models import Asset, Project
from db.repositories.assets import get_asset, list_asset_owners
from db.repositories.attachments import attachments_exist, list_uploaded_by
from db.repositories.audit import create_audit_entry, project_chain
from domain.assets import AssetStatus
from domain.enums import Role, SignalName

log = structlog.get_logger("api.operation")
READERS = tuple(r for r in Role if r is not Role.EXPERT)
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=160,
        description=_d(
            "幂等键（必填；同键同内容重试得同一条记录）",
            "required: a retry with the same key and body is one record (one payment, one cost)",
        ),
    ),
]
"""A money record's key (a payment received, an upkeep cost): stored with the record as `{user id}:{key}`, unique."""


def key_reused() -> Exception:
    """409: an Idempotency-Key of this user came again with another request body."""
    return conflict("idempotency_key_reused", "this Idempotency-Key was used with a different request body")


Problems = list[dict[str, str]]


def local_today(time_zone: str) -> date:
    """Today where the projects are (dates are judged in the app's time zone)."""
    return datetime.now(UTC).astimezone(ZoneInfo(time_zone)).date()


def problem(field: str, rule: str, message: str) -> dict[str, str]:
    """One 422 problem: the field, the rule it breaks and a message."""
    return {"field": field, "rule": rule, "message": message}


def not_after_today(field: str, day: date, today: date) -> Problems:
    """A record's date may not lie in the future."""
    if day > today:
        return [problem(field, "not_in_future", f"{day.isoformat()} is after today ({today.isoformat()})")]
    return []


async def _visible(session: AsyncSession, user: Principal, asset_id: str, *, lock: bool) -> Asset:
    """The asset, when it lies in the caller's region (its village, or a co-owning village); 403 region_forbidden
    otherwise, as the asset register's detail answers (404 only for an asset that does not exist)."""
    asset = await get_asset(session, asset_id=asset_id, for_update=lock)
    if asset is None:
        raise not_found(f"asset {asset_id}")
    if not user.covers(asset.village_code):
        owners = await list_asset_owners(session, asset_id=asset.id)
        if not any(user.covers(o.village_code) for o in owners):
            raise forbidden(f"asset {asset_id} lies outside your region", "region_forbidden")
    return asset


async def readable_asset(session: AsyncSession, user: Principal, asset_id: str) -> Asset:
    """An asset whose records the caller may read: every role but expert, inside their region."""
    user.require_role(*READERS)
    return await _visible(session, user, asset_id, lock=False)


async def writable_asset(session: AsyncSession, user: Principal, asset_id: str) -> tuple[Asset, Project]:
    """An asset (row-locked: one writer per asset at a time) and its project, when the caller is a project manager
    whose region covers the asset's village (operators never log in; managers record for them)."""
    asset = await _visible(session, user, asset_id, lock=True)
    user.require_role(Role.PROJECT_MANAGER)
    if not user.covers(asset.village_code):
        raise forbidden(f"asset {asset_id} lies in a village outside your region", "region_forbidden")
    project = await session.get(Project, asset.project_code)
    assert project is not None  # assets.project_code is a foreign key
    return asset, project


async def evidence_problems(session: AsyncSession, user: Principal, field: str, shas: list[str]) -> Problems:
    """Attachments a record may carry: stored ones the caller uploaded (as progress reports require)."""
    missing = set(await attachments_exist(session, shas))
    mine = await list_uploaded_by(session, user_id=user.id, shas=[s for s in shas if s not in missing])
    out: Problems = []
    for i, sha in enumerate(shas):
        if sha in missing:
            out.append(problem(f"{field}[{i}]", "exists", "no such attachment: upload it first"))
        elif sha not in mine:
            out.append(problem(f"{field}[{i}]", "uploaded_by_you", "attach only files you uploaded"))
    return out


def not_disposed(asset: Asset) -> None:
    """409 for a disposed asset: it takes no more operation records."""
    if asset.status == AssetStatus.DISPOSED.value:
        raise conflict("disposed", f"asset {asset.id} is disposed of: it takes no more operation records")


def refuse(problems: Problems) -> None:
    """422 with every problem at once, when there is any."""
    if problems:
        raise invalid(problems)


async def audit(
    session: AsyncSession, user: Principal, project_code: str, action: str, event_key: str, payload: dict[str, Any]
) -> None:
    """Append to the project's chain in the caller's transaction, once per business event key. Payloads carry
    ids, dates and amounts only: never a person's name or personal data."""
    await create_audit_entry(
        session,
        chain=project_chain(project_code),
        action=action,
        event_key=event_key,
        payload=payload,
        actor_id=user.id,
        actor_name=user.username,
        at=datetime.now(UTC),
    )


async def signal_changed(engine: WorkflowEngine, project_code: str, workflow_id: str) -> None:
    """Tell the project's workflow that its operation records changed. The record is stored already and the
    workflow re-reads at its next wake, so a workflow not found, an engine down or slow is logged and ignored."""
    try:
        async with asyncio.timeout(engine.wait_seconds):
            handle = engine.client.get_workflow_handle(workflow_id)
            await handle.signal(
                SignalName.OPERATION_RECORDS_CHANGED.value, rpc_timeout=timedelta(seconds=engine.wait_seconds)
            )
    except (RPCError, TimeoutError) as err:
        log.warning(
            "operation signal not delivered",
            project_code=project_code,
            workflow_id=workflow_id,
            error=str(err) or type(err).__name__,
        )


@dataclass
class AssetWrite:
    """One write to an asset's records: its transaction, the locked asset and its project."""

    tx: AsyncSession
    asset: Asset
    project: Project
    changed: bool = True

    def unchanged(self) -> None:
        """Nothing was written (a replay or a repeat of the same request): the workflow is not told."""
        self.changed = False


@asynccontextmanager
async def asset_write(
    sessions: Sessions, engine: WorkflowEngine, user: Principal, asset_id: str
) -> AsyncIterator[AssetWrite]:
    """A transaction writing an asset's records as a manager may (see `writable_asset`); once it has committed,
    the project's phase workflow (else its lifecycle workflow) is signalled."""
    async with sessions.begin() as tx:
        asset, project = await writable_asset(tx, user, asset_id)
        code, workflow_id = project.code, project.phase_workflow_id or project.workflow_id
        write = AssetWrite(tx, asset, project)
        yield write
    if write.changed:
        await signal_changed(engine, code, workflow_id)
