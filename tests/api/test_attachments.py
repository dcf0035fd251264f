"""Attachments through the API: types checked by declaration and content, size limits, idempotent storage,
and downloads for the uploader or whoever may see a task the file is linked to."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from temporalio.worker import Worker

from api.main import create_app
from core.settings import AttachmentSettings, Settings
from db.engine import Sessions
from db.models import Attachment, AttachmentUpload, User
from db.repositories.attachments import attachments_exist, create_attachment_links
from tests.conftest import PASSWORD, Login, World, application, eventually

PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAGIC = {
    "pdf": b"%PDF-1.7\n",
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff\xe0",
    "ole2": OLE2,
    "zip": b"PK\x03\x04",
}


def _content(kind: str, size: int = 200) -> bytes:
    """Content of a kind, unique to this call (the store is shared by every test)."""
    head = MAGIC[kind] + uuid.uuid4().bytes
    return head + b"x" * max(0, size - len(head))


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, content_type: str, name: str = "证明材料.pdf"
) -> httpx.Response:
    return await client.post("/api/v1/attachments", files={"file": (name, data, content_type)}, headers=headers)


async def _stored(sessions: Sessions, sha: str) -> list[Attachment]:
    async with sessions() as s:
        return list((await s.scalars(select(Attachment).where(Attachment.sha256 == sha))).all())


async def _uploads(sessions: Sessions, sha: str) -> list[AttachmentUpload]:
    async with sessions() as s:
        stmt = select(AttachmentUpload).where(AttachmentUpload.sha256 == sha).order_by(AttachmentUpload.uploaded_at)
        return list((await s.scalars(stmt)).all())


def _problem(r: httpx.Response) -> tuple[int, str, str]:
    detail = r.json()["details"][0]
    return r.status_code, detail["field"], detail["rule"]


@pytest.fixture
async def small_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a 1 KiB upload limit and only PDF and PNG allowed."""
    limited = settings.model_copy(
        update={"attachments": AttachmentSettings(max_bytes=1024, allowed_types=[PDF_TYPE, "image/png"])}
    )
    app = create_app(limited)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _token(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.parametrize(
    ("kind", "content_type", "name"),
    [
        ("pdf", PDF_TYPE, "验收报告.pdf"),
        ("pdf", "Application/PDF; charset=binary", "report.pdf"),
        ("png", "image/png", "现场照片.png"),
        ("jpeg", "image/jpeg", "photo.jpg"),
        ("ole2", "application/msword", "旧版.doc"),
        ("ole2", "application/vnd.ms-excel", "台账.xls"),
        ("ole2", "application/vnd.ms-powerpoint", "汇报.ppt"),
        ("zip", DOCX_TYPE, "意见.docx"),
        ("zip", XLSX_TYPE, "明细.xlsx"),
        ("zip", PPTX_TYPE, "汇报.pptx"),
    ],
)
async def test_each_allowed_type_is_stored_and_downloads_as_uploaded(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions, kind: str, content_type: str, name: str
) -> None:
    pm = await login(world.users["pm"])
    data = _content(kind)
    r = await _upload(api, pm, data, content_type, name)
    assert r.status_code == 201, r.text
    sha = hashlib.sha256(data).hexdigest()
    stored_type = content_type.split(";")[0].lower()
    assert r.json() == {"sha256": sha, "size": len(data), "content_type": stored_type, "filename": name}
    [row] = await _stored(sessions, sha)
    assert row.data == data
    assert [(u.user_id, u.filename, u.content_type) for u in await _uploads(sessions, sha)] == [
        (world.users["pm"].id, name, stored_type)
    ]

    r = await api.get(f"/api/v1/attachments/{sha}", headers=pm)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == stored_type
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    r = await api.get(f"/api/v1/attachments/{sha.upper()}/meta", headers=pm)
    assert r.status_code == 200
    meta = r.json()
    assert (meta["sha256"], meta["size"], meta["uploaded_by"]) == (sha, len(data), world.users["pm"].id)


async def test_chinese_name_is_rfc5987_encoded_with_an_ascii_fallback(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    # a client that sends the full path and a quoted quote (RFC 7578 permits both): the name is cleaned
    body = (
        b"--XyZ\r\n"
        + 'Content-Disposition: form-data; name="file"; filename="C:\\\\材料\\\\验收 \\"报告\\".pdf"\r\n'.encode()
        + b"Content-Type: application/pdf\r\n\r\n"
        + _content("pdf")
        + b"\r\n--XyZ--\r\n"
    )
    r = await api.post(
        "/api/v1/attachments", content=body, headers=pm | {"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "验收 _报告_.pdf"  # no directories, no quotes
    r = await api.get(f"/api/v1/attachments/{r.json()['sha256']}", headers=pm)
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"__ ____.pdf\"; filename*=UTF-8''%E9%AA%8C%E6%94%B6%20_%E6%8A%A5%E5%91%8A_.pdf"
    )


async def test_same_content_twice_is_one_row(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    data = _content("pdf")
    first = await _upload(api, pm, data, PDF_TYPE, "a.pdf")
    again = await _upload(api, pm, data, PDF_TYPE, "a.pdf")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    # another user with the same bytes: the content is stored once, but the upload is theirs (201, their name)
    other = await _upload(api, await login(world.users["township"]), data, PDF_TYPE, "renamed.pdf")
    assert (other.status_code, other.json()) == (201, first.json() | {"filename": "renamed.pdf"})
    assert len(await _stored(sessions, first.json()["sha256"])) == 1
    uploads = await _uploads(sessions, first.json()["sha256"])
    assert sorted((u.user_id, u.filename) for u in uploads) == sorted(
        [(world.users["pm"].id, "a.pdf"), (world.users["township"].id, "renamed.pdf")]
    )


async def test_identical_bytes_of_another_user_reveal_nothing_of_theirs(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm, township = await login(world.users["pm"]), await login(world.users["township"])
    data = _content("zip")
    assert (await _upload(api, pm, data, DOCX_TYPE, "机密-合同.docx")).status_code == 201
    # the same bytes as another type and name: a new upload (201: nothing says someone else holds them)
    r = await _upload(api, township, data, XLSX_TYPE, "mine.xlsx")
    assert r.status_code == 201, r.text
    assert (r.json()["filename"], r.json()["content_type"]) == ("mine.xlsx", XLSX_TYPE)
    sha = r.json()["sha256"]

    meta = (await api.get(f"/api/v1/attachments/{sha}/meta", headers=township)).json()
    assert (meta["filename"], meta["content_type"], meta["uploaded_by"]) == (
        "mine.xlsx",
        XLSX_TYPE,
        world.users["township"].id,
    )
    r = await api.get(f"/api/v1/attachments/{sha}", headers=township)
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, data, XLSX_TYPE)
    assert "mine.xlsx" in r.headers["content-disposition"]
    assert quote("机密", safe="") not in r.headers["content-disposition"]
    # the first uploader still sees exactly their own upload
    meta = (await api.get(f"/api/v1/attachments/{sha}/meta", headers=pm)).json()
    assert (meta["filename"], meta["content_type"], meta["uploaded_by"]) == (
        "机密-合同.docx",
        DOCX_TYPE,
        world.users["pm"].id,
    )
    # someone who uploaded neither still reads nothing
    r = await api.get(f"/api/v1/attachments/{sha}/meta", headers=await login(world.users["pm2"]))
    assert (r.status_code, r.json()["code"]) == (403, "attachment_forbidden")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override: would display as invoiceexe.pdf
        ("\u2066报告\u2069\u200f.pdf", "报告.pdf"),  # isolates and a direction mark
        ("a\u200bb\ufeff.pdf", "ab.pdf"),  # zero-width space and BOM
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("../../etc/passwd", "passwd"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
        ("\u202e", "attachment"),
    ],
)
async def test_file_names_are_cleaned_of_control_and_bidi_characters(
    api: httpx.AsyncClient, world: World, login: Login, sent: str, stored: str
) -> None:
    pm = await login(world.users["pm"])
    r = await _upload(api, pm, _content("pdf"), PDF_TYPE, sent)
    assert (r.status_code, r.json()["filename"]) == (201, stored), r.text
    r = await api.get(f"/api/v1/attachments/{r.json()['sha256']}/meta", headers=pm)
    assert r.json()["filename"] == stored


async def test_nul_and_control_characters_in_the_file_name_are_removed(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    # sent raw: httpx would percent-encode control characters in a file name, a hostile client does not
    body = (
        b"--XyZ\r\n"
        + 'Content-Disposition: form-data; name="file"; filename="inv\x00oi\tce\x7f\u202efdp.exe"\r\n'.encode()
        + b"Content-Type: application/pdf\r\n\r\n"
        + _content("pdf")
        + b"\r\n--XyZ--\r\n"
    )
    r = await api.post(
        "/api/v1/attachments", content=body, headers=pm | {"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert (r.status_code, r.json()["filename"]) == (201, "invoicefdp.exe"), r.text


@pytest.mark.parametrize(
    ("case", "kind", "content_type", "rule"),
    [
        ("png declared, pdf content", "pdf", "image/png", "content_matches_type"),
        ("pdf declared, png content", "png", PDF_TYPE, "content_matches_type"),
        ("jpeg declared, zip content", "zip", "image/jpeg", "content_matches_type"),
        ("docx declared, old office content", "ole2", DOCX_TYPE, "content_matches_type"),
        ("doc declared, zip content", "zip", "application/msword", "content_matches_type"),
        ("xls declared, pdf content", "pdf", "application/vnd.ms-excel", "content_matches_type"),
        ("plain text", "pdf", "text/plain", "allowed_type"),
        ("html", "pdf", "text/html", "allowed_type"),
        ("zip archive", "zip", "application/zip", "allowed_type"),
        ("no declared type", "pdf", "", "allowed_type"),
    ],
)
async def test_disallowed_types_and_mismatched_content_are_422_naming_file(
    api: httpx.AsyncClient,
    world: World,
    login: Login,
    sessions: Sessions,
    case: str,
    kind: str,
    content_type: str,
    rule: str,
) -> None:
    data = _content(kind)
    r = await _upload(api, await login(world.users["pm"]), data, content_type)
    assert _problem(r) == (422, "file", rule), (case, r.text)
    assert r.json()["code"] == "validation_error"
    assert await _stored(sessions, hashlib.sha256(data).hexdigest()) == []


async def test_unrecognised_content_empty_file_and_missing_field_are_422(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    r = await _upload(api, pm, b"<html>" + uuid.uuid4().bytes, PDF_TYPE)
    assert _problem(r) == (422, "file", "content_matches_type")
    assert "unrecognised" in r.json()["details"][0]["message"]
    assert _problem(await _upload(api, pm, b"", PDF_TYPE)) == (422, "file", "not_empty")
    r = await api.post("/api/v1/attachments", files={"document": ("a.pdf", _content("pdf"), PDF_TYPE)}, headers=pm)
    assert _problem(r) == (422, "file", "required")
    r = await api.post("/api/v1/attachments", data={"file": "not a file"}, headers=pm)
    assert _problem(r) == (422, "file", "required")
    r = await api.post("/api/v1/attachments", json={"file": "x"}, headers=pm)
    assert _problem(r) == (422, "file", "required")
    r = await api.post(
        "/api/v1/attachments",
        content=b"--b\r\nnot really multipart",
        headers=pm | {"Content-Type": "multipart/form-data"},  # no boundary
    )
    assert _problem(r) == (422, "file", "multipart")
    r = await api.post("/api/v1/attachments", files={"file": ("a.pdf", _content("pdf"), PDF_TYPE)})
    assert r.status_code == 401


async def test_default_limit_is_ten_mebibytes(api: httpx.AsyncClient, world: World, login: Login) -> None:
    pm = await login(world.users["pm"])
    limit = 10 * 1024 * 1024
    r = await _upload(api, pm, _content("pdf", limit + 1), PDF_TYPE)
    assert r.status_code == 413
    assert r.json()["code"] == "file_too_large"
    assert r.json()["details"] == {"field": "file", "rule": "max_size", "max_bytes": limit}
    r = await _upload(api, pm, _content("pdf", limit), PDF_TYPE)
    assert (r.status_code, r.json()["size"]) == (201, limit)


async def test_configured_limits_apply(small_api: httpx.AsyncClient, world: World, sessions: Sessions) -> None:
    pm = await _token(small_api, world.users["pm"])
    exact = _content("pdf", 1024)
    r = await _upload(small_api, pm, exact, PDF_TYPE)
    assert (r.status_code, r.json()["size"]) == (201, 1024)
    over = _content("pdf", 1025)
    r = await _upload(small_api, pm, over, PDF_TYPE)
    assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
    assert await _stored(sessions, hashlib.sha256(over).hexdigest()) == []
    # a body far beyond the limit is refused from its Content-Length, before it is read
    r = await _upload(small_api, pm, _content("pdf", 200_000), PDF_TYPE)
    assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
    # a type the configuration leaves out is refused even though it is known
    r = await _upload(small_api, pm, _content("jpeg"), "image/jpeg")
    assert _problem(r) == (422, "file", "allowed_type")
    assert "application/pdf, image/png" in r.json()["details"][0]["message"]


async def test_a_streamed_body_without_length_stops_at_the_limit(
    small_api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    pm = await _token(small_api, world.users["pm"])
    data = _content("pdf", 200_000)
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + data + b"\r\n--XyZ--\r\n"
    )
    read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal read
        for i in range(0, len(body), 8192):
            read += 1
            yield body[i : i + 8192]

    r = await small_api.post(
        "/api/v1/attachments", content=chunks(), headers=pm | {"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert "content-length" not in r.request.headers
    assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
    assert await _stored(sessions, hashlib.sha256(data).hexdigest()) == []


async def test_settings_refuse_a_type_without_a_known_signature() -> None:
    with pytest.raises(ValueError, match="no file signature is known for text/plain"):
        AttachmentSettings(allowed_types=["application/pdf", "text/plain"])
    assert AttachmentSettings().max_bytes == 10 * 1024 * 1024
    assert len(AttachmentSettings().allowed_types) == 9


async def test_only_the_uploader_reads_an_unlinked_attachment(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    pm = await login(world.users["pm"])
    sha = (await _upload(api, pm, _content("pdf"), PDF_TYPE)).json()["sha256"]
    for key in ("pm2", "township", "county", "supervisor", "admin"):
        headers = await login(world.users[key])
        for path in (f"/api/v1/attachments/{sha}", f"/api/v1/attachments/{sha}/meta"):
            r = await api.get(path, headers=headers)
            assert (r.status_code, r.json()["code"]) == (403, "attachment_forbidden"), (key, path)
            assert set(r.json()) == {"code", "message", "details"}
    unknown = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    for path in (f"/api/v1/attachments/{unknown}", f"/api/v1/attachments/{unknown}/meta"):
        r = await api.get(path, headers=pm)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await api.get("/api/v1/attachments/not-a-hash", headers=pm)
    assert _problem(r) == (422, "sha256", "string_pattern_mismatch")
    assert (await api.get(f"/api/v1/attachments/{sha}")).status_code == 401


async def test_whoever_may_see_a_linked_task_may_download(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201
    township = await login(world.users["township"])

    async def open_task() -> dict[str, Any] | None:
        items = (await api.get("/api/v1/tasks", headers=township)).json()["items"]
        return items[0] if items else None

    task: dict[str, Any] = await eventually(open_task)
    assert (task["candidate_role"], task["region_code"]) == ("township_reviewer", world.townships[0])

    # the applicant happens to hold the same bytes under a name of their own
    data = _content("pdf")
    assert (await _upload(api, pm, data, PDF_TYPE, "私人备份.pdf")).status_code == 201
    # the township reviewer uploads them as evidence; before a decision links it only uploaders may read it
    sha = (await _upload(api, township, data, PDF_TYPE, "初审意见.pdf")).json()["sha256"]
    assert (
        await api.get(f"/api/v1/attachments/{sha}", headers=await login(world.users["supervisor"]))
    ).status_code == 403
    r = await api.post(
        f"/api/v1/tasks/{task['id']}/decision",
        json={"decision": "approve", "opinion": "同意，见附件", "attachments": [sha]},
        headers=township,
    )
    assert r.status_code == 200, r.text
    async with sessions.begin() as s:
        assert await create_attachment_links(s, task_id=task["id"], shas=[sha, sha]) == 0  # a retry adds nothing

    may = {
        "township": "the reviewer of the task's role and region",
        "township2": "another reviewer of the same role and township",
        "pm": "the project's applicant",
        "supervisor": "a supervisor of the county",
        "admin": "an admin of the city",
    }
    for key, who in may.items():
        headers = await login(world.users[key])
        r = await api.get(f"/api/v1/attachments/{sha}", headers=headers)
        assert (r.status_code, r.content) == (200, data), who
        meta = (await api.get(f"/api/v1/attachments/{sha}/meta", headers=headers)).json()
        # each reader sees the decider's upload, except an uploader, who sees their own
        own = key == "pm"
        expected = ("私人备份.pdf", "pm") if own else ("初审意见.pdf", "township")
        assert (meta["filename"], meta["uploaded_by"]) == (expected[0], world.users[expected[1]].id), who
    may_not = {
        "township_other": "a township reviewer of the other township",
        "pm2": "a project manager of the other township",
        "county": "a county reviewer (not the task's role)",
        "city": "a city reviewer (not the task's role)",
        "expert": "an expert",
        "finance": "finance staff",
    }
    for key, who in may_not.items():
        r = await api.get(f"/api/v1/attachments/{sha}", headers=await login(world.users[key]))
        assert (r.status_code, r.json()["code"]) == (403, "attachment_forbidden"), who


async def test_attachments_exist_names_the_missing_ones(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    sha = (await _upload(api, await login(world.users["pm"]), _content("png"), "image/png")).json()["sha256"]
    missing = [hashlib.sha256(uuid.uuid4().bytes).hexdigest() for _ in range(2)]
    async with sessions() as s:
        assert await attachments_exist(s, []) == []
        assert await attachments_exist(s, [sha]) == []
        assert await attachments_exist(s, [missing[0], sha, missing[1], missing[0]]) == missing


async def test_uploads_count_one_row_per_content(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    contents = [_content("pdf") for _ in range(3)]
    for data in contents + contents:
        assert (await _upload(api, pm, data, PDF_TYPE)).status_code in (200, 201)
    shas = [hashlib.sha256(d).hexdigest() for d in contents]
    async with sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Attachment).where(Attachment.sha256.in_(shas)))
    assert count == 3
