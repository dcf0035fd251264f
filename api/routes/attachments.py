"""Attachments (附件): content stored once by its SHA-256; file name and metadata per upload, read by who may."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from api.access import may_see
from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, SettingsDep
from api.edge import EdgeRoute
from api.errors import ApiError, forbidden, invalid, not_found
from api.openapi import multipart_file_body
from api.schemas import AttachmentMeta, AttachmentPublic
from api.task_facts import holds_seat
from db.models import Project, Task
from db.repositories.attachments import (
    UploadView,
    create_attachment,
    create_attachment_upload,
    get_attachment,
    get_attachment_data,
    get_attachment_upload,
    list_linked_tasks,
)
from db.repositories.problems import list_problems_with_attachment
from db.repositories.tasks import list_project_tasks
from domain.attachments import HEAD_BYTES, content_disposition, content_problem, normalise_content_type, safe_filename
from domain.enums import Role, TaskKind

router = APIRouter(prefix="/attachments", tags=["attachments"], route_class=EdgeRoute)
# Room for the multipart envelope (boundaries, part headers, a long file name) around the file itself.
ENVELOPE_BYTES = 64 * 1024
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$", description="附件 SHA-256 / the attachment's SHA-256")]
UPLOAD_BODY = multipart_file_body("文件（PDF、PNG、JPEG、Office）/ the file: PDF, PNG, JPEG or Office")


class _BodyTooLarge(Exception):
    """The request body grew past the upload limit while it was being read."""


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "file_too_large",
        f"the file exceeds the upload limit of {limit} bytes",
        {"field": "file", "rule": "max_size", "max_bytes": limit},
    )


def _limited(request: Request, limit: int) -> Request:
    """The same request, whose body stops being read (and fails) once it passes `limit` bytes."""
    receive = request.receive
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _BodyTooLarge
        return message

    return Request(request.scope, limited_receive)


async def _read_upload(request: Request, max_bytes: int) -> tuple[UploadFile, bytes]:
    """The `file` part and at most max_bytes + 1 of its content; 413 beyond the limit, 422 when absent."""
    upload, data, _ = await read_upload(request, max_bytes)
    return upload, data


async def read_upload(request: Request, max_bytes: int) -> tuple[UploadFile, bytes, dict[str, str]]:
    """The `file` part, its content and the form's other (text) fields; 413 beyond the limit (the body stops being
    read there), 422 when the body is not multipart or has no `file`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + ENVELOPE_BYTES:
        raise _too_large(max_bytes)
    try:
        form = await _limited(request, max_bytes + ENVELOPE_BYTES).form(max_files=1, max_fields=8)
    except _BodyTooLarge as err:
        raise _too_large(max_bytes) from err
    except StarletteHTTPException as err:  # malformed multipart: what the client sent, not our bug
        raise invalid([{"field": "file", "rule": "multipart", "message": str(err.detail)}]) from err
    except (ValueError, KeyError, AssertionError) as err:  # not a multipart body at all
        raise invalid(
            [{"field": "file", "rule": "multipart", "message": "send the file as multipart/form-data field `file`"}]
        ) from err
    upload = form.get("file")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not isinstance(upload, UploadFile):
        await form.close()
        raise invalid([{"field": "file", "rule": "required", "message": "send the file as multipart field `file`"}])
    try:
        data = await upload.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return upload, data, fields


def _public(a: UploadView) -> AttachmentPublic:
    return AttachmentPublic(sha256=a.sha256, size=a.size, content_type=a.content_type, filename=a.filename)


async def _seat_reads(session: AsyncSession, user: Principal, task: Task) -> bool:
    """An expert seated on the project reads the files of the township's review (the application they score)."""
    if user.role is not Role.EXPERT or task.kind != TaskKind.TOWNSHIP_REVIEW:
        return False
    return holds_seat(user, await list_project_tasks(session, project_code=task.project_code, status="open"))


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


async def _readable(session: AsyncSession, user: Principal, sha256: str) -> UploadView:
    """The upload this user may read: their own, else the one attached to a task they may see by whoever decided
    it; 404 for unknown content, 403 otherwise. Never another uploader's record of the same bytes."""
    sha = sha256.lower()
    if (own := await get_attachment_upload(session, sha256=sha, user_id=user.id)) is not None:
        return own
    if await get_attachment(session, sha256=sha) is None:
        raise not_found(f"attachment {sha256}")
    linked: Sequence[tuple[Task, Project, int | None]] = await list_linked_tasks(session, sha256=sha)
    for task, project, decider in linked:
        # who attached it: the decider, or for a task that shows a submission (a proposal) its submitter
        attachers = [a for a in (decider, _int_or_none(task.details.get("attached_by"))) if a is not None]
        if attachers and (may_see(user, task, project) or await _seat_reads(session, user, task)):
            for attacher in attachers:
                attached = await get_attachment_upload(session, sha256=sha, user_id=attacher)
                if attached is not None:
                    return attached
    for problem in await list_problems_with_attachment(session, sha256=sha):
        # a problem's attachments are read by who may read the problem (its verifiers read the evidence)
        reads = user.covers(problem.region_code) or problem.responsible_user_id == user.id
        if user.role is Role.EXPERT or not reads:
            continue
        uploaders = [a["uploaded_by"] for a in problem.attachments if a.get("sha256") == sha]
        for uploader in uploaders:
            if (added := await get_attachment_upload(session, sha256=sha, user_id=int(uploader))) is not None:
                return added
    raise forbidden(
        "only the uploader or someone who may see a task or problem it belongs to may read this attachment",
        "attachment_forbidden",
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentPublic,
    openapi_extra=UPLOAD_BODY,
    responses={200: {"model": AttachmentPublic, "description": "you uploaded the same content already"}},
)
async def upload(
    request: Request, response: Response, user: CurrentUser, sessions: SessionsDep, settings: SettingsDep
) -> AttachmentPublic:
    """Upload a file (multipart field `file`); uploading the same content again is the same upload (上传附件)."""
    limits = settings.attachments
    part, data = await _read_upload(request, limits.max_bytes)
    content_type = normalise_content_type(part.content_type)
    if problem := content_problem(content_type, data[:HEAD_BYTES], limits.allowed_types):
        rule, message = problem
        raise invalid([{"field": "file", "rule": rule, "message": message}])
    sha256 = hashlib.sha256(data).hexdigest()
    async with sessions.begin() as tx:
        await create_attachment(tx, sha256=sha256, size=len(data), data=data)
        # 201 or 200 says whether *this user* uploaded it before, never whether anyone else holds the same bytes
        stored, created = await create_attachment_upload(
            tx, sha256=sha256, user_id=user.id, filename=safe_filename(part.filename), content_type=content_type
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _public(stored)


@router.get(
    "/{sha256}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
)
async def download(sha256: Sha256, user: CurrentUser, session: SessionDep) -> Response:
    """Download an attachment you uploaded or that belongs to a task you may see (下载附件)."""
    attachment = await _readable(session, user, sha256)
    data = await get_attachment_data(session, sha256=attachment.sha256)
    if data is None:
        raise not_found(f"attachment {sha256}")
    return Response(
        content=data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "ETag": f'"{attachment.sha256}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/{sha256}/meta", response_model=AttachmentMeta)
async def meta(sha256: Sha256, user: CurrentUser, session: SessionDep) -> AttachmentMeta:
    """An attachment's size, type, name and uploader, for who may download it (附件信息)."""
    a = await _readable(session, user, sha256)
    return AttachmentMeta(
        sha256=a.sha256,
        size=a.size,
        content_type=a.content_type,
        filename=a.filename,
        uploaded_by=a.uploaded_by,
        uploaded_at=a.uploaded_at,
    )
