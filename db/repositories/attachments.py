"""Attachments, stored content-addressed by SHA-256, and the tasks they are linked to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from db.models import Attachment, AttachmentLink, AttachmentUpload, Project, Task


async def create_attachment(
    session: AsyncSession,
    *,
    sha256: str,
    size: int,
    content_type: str,
    filename: str,
    data: bytes,
    uploaded_by: int,
) -> tuple[Attachment, bool]:
    """Store a file unless the same content is stored already; the stored row and whether it is new."""
    inserted = (
        await session.execute(
            insert(Attachment)
            .values(
                sha256=sha256,
                size=size,
                content_type=content_type,
                filename=filename,
                data=data,
                uploaded_by=uploaded_by,
            )
            .on_conflict_do_nothing(index_elements=[Attachment.sha256])
            .returning(Attachment.sha256)
        )
    ).scalar_one_or_none()
    stored = await get_attachment(session, sha256=sha256)
    assert stored is not None
    return stored, inserted is not None


async def get_attachment(session: AsyncSession, *, sha256: str) -> Attachment | None:
    """An attachment's metadata by hash (its content is not loaded)."""
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
    """Link attachments to a task (a decision's evidence); links that exist are kept (retries add nothing)."""
    count = 0
    for sha in dict.fromkeys(shas):
        stmt = (
            insert(AttachmentLink)
            .values(sha256=sha, task_id=task_id)
            .on_conflict_do_nothing()
            .returning(AttachmentLink.sha256)
        )
        count += len((await session.execute(stmt)).all())
    return count


async def list_linked_tasks(session: AsyncSession, *, sha256: str) -> Sequence[tuple[Task, Project]]:
    """The tasks an attachment is linked to, each with its project."""
    stmt = (
        select(Task, Project)
        .join(AttachmentLink, AttachmentLink.task_id == Task.id)
        .join(Project, Project.code == Task.project_code)
        .where(AttachmentLink.sha256 == sha256)
        .order_by(Task.id)
    )
    return [(task, project) for task, project in (await session.execute(stmt)).all()]


async def create_attachment_upload(session: AsyncSession, *, sha256: str, user_id: int) -> None:
    """Record that this user uploaded this content (again: nothing changes)."""
    await session.execute(insert(AttachmentUpload).values(sha256=sha256, user_id=user_id).on_conflict_do_nothing())


async def list_uploaded_by(session: AsyncSession, *, user_id: int, shas: Sequence[str]) -> set[str]:
    """Which of `shas` this user uploaded."""
    if not shas:
        return set()
    stmt = select(AttachmentUpload.sha256).where(
        AttachmentUpload.user_id == user_id, AttachmentUpload.sha256.in_(set(shas))
    )
    return set((await session.scalars(stmt)).all())
