"""Attachments, stored content-addressed by SHA-256, and the tasks they are linked to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from db.models import Attachment, AttachmentLink, AttachmentUpload, DecisionRecord, Project, Task


@dataclass(frozen=True)
class UploadView:
    """One upload as its uploader sees it: the shared content's hash and size, with this upload's name and type."""

    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_by: int
    uploaded_at: datetime


async def create_attachment(session: AsyncSession, *, sha256: str, size: int, data: bytes) -> bool:
    """Store content unless the same content is stored already; whether it is new."""
    inserted = (
        await session.execute(
            insert(Attachment)
            .values(sha256=sha256, size=size, data=data)
            .on_conflict_do_nothing(index_elements=[Attachment.sha256])
            .returning(Attachment.sha256)
        )
    ).scalar_one_or_none()
    return inserted is not None


async def get_attachment(session: AsyncSession, *, sha256: str) -> Attachment | None:
    """Stored content by hash, without loading the bytes."""
    stmt = select(Attachment).where(Attachment.sha256 == sha256).options(defer(Attachment.data))
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()


async def get_attachment_data(session: AsyncSession, *, sha256: str) -> bytes | None:
    """An attachment's content by hash."""
    return await session.scalar(select(Attachment.data).where(Attachment.sha256 == sha256))


async def attachments_exist(session: AsyncSession, shas: list[str]) -> list[str]:
    """The hashes among `shas` that name no stored attachment, in the order given (empty: all exist)."""
    if not shas:
        return []
    found = set((await session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(set(shas))))).all())
    return [s for s in dict.fromkeys(shas) if s not in found]


async def create_attachment_links(session: AsyncSession, *, task_id: str, shas: Sequence[str]) -> int:
    """Link attachments to a task (a decision's evidence) in one statement; links that exist are kept (retries
    add nothing)."""
    rows = [{"sha256": sha, "task_id": task_id} for sha in dict.fromkeys(shas)]
    if not rows:
        return 0
    stmt = insert(AttachmentLink).values(rows).on_conflict_do_nothing().returning(AttachmentLink.sha256)
    return len((await session.execute(stmt)).all())


async def list_linked_tasks(session: AsyncSession, *, sha256: str) -> Sequence[tuple[Task, Project, int | None]]:
    """The tasks an attachment is linked to, each with its project and who decided it (and so attached it)."""
    stmt = (
        select(Task, Project, DecisionRecord.decided_by)
        .join(AttachmentLink, AttachmentLink.task_id == Task.id)
        .join(Project, Project.code == Task.project_code)
        .outerjoin(DecisionRecord, DecisionRecord.task_id == Task.id)
        .where(AttachmentLink.sha256 == sha256)
        .order_by(Task.id)
    )
    return [(task, project, decider) for task, project, decider in (await session.execute(stmt)).all()]


async def create_attachment_upload(
    session: AsyncSession, *, sha256: str, user_id: int, filename: str, content_type: str
) -> tuple[UploadView, bool]:
    """Record this user's upload of this content under their file name; uploading it again changes nothing.
    The upload as stored and whether it is new."""
    inserted = (
        await session.execute(
            insert(AttachmentUpload)
            .values(sha256=sha256, user_id=user_id, filename=filename, content_type=content_type)
            .on_conflict_do_nothing()
            .returning(AttachmentUpload.sha256)
        )
    ).scalar_one_or_none()
    stored = await get_attachment_upload(session, sha256=sha256, user_id=user_id)
    assert stored is not None
    return stored, inserted is not None


async def get_attachment_upload(session: AsyncSession, *, sha256: str, user_id: int) -> UploadView | None:
    """One user's upload of some content, or None when they never uploaded it."""
    stmt = (
        select(AttachmentUpload, Attachment.size)
        .join(Attachment, Attachment.sha256 == AttachmentUpload.sha256)
        .where(AttachmentUpload.sha256 == sha256, AttachmentUpload.user_id == user_id)
    )
    row = (await session.execute(stmt.execution_options(populate_existing=True))).one_or_none()
    if row is None:
        return None
    upload, size = row
    return UploadView(upload.sha256, size, upload.content_type, upload.filename, upload.user_id, upload.uploaded_at)


async def list_uploaded_by(session: AsyncSession, *, user_id: int, shas: Sequence[str]) -> set[str]:
    """Which of `shas` this user uploaded."""
    if not shas:
        return set()
    stmt = select(AttachmentUpload.sha256).where(
        AttachmentUpload.user_id == user_id, AttachmentUpload.sha256.in_(set(shas))
    )
    return set((await session.scalars(stmt)).all())
