"""SQLAlchemy 2 models. Money is integer fen (BIGINT); times are timestamptz in UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base with a JSONB default for dict/list columns."""

    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}


def table_of(model: type[Base]) -> Table:
    """A model's Core table: statements on it skip the ORM's handling (hot paths that need no ORM objects)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Region(Base):
    """An administrative region: city → county → township → village, keyed by national code."""

    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)


class User(Base):
    """A person who logs in; acts only inside `region_code`."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    organisation: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # set when an administrator set or reset the password: every endpoint but the password change refuses until then
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # where notifications are e-mailed (none: in-app only); resolved when a mail is sent, never in a workflow history
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Expert(Base):
    """A member of the expert library (专家库)."""

    __tablename__ = "experts"
    __table_args__ = (UniqueConstraint("name", "region_code", "affiliation", name="uq_expert_identity"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    specialties: Mapped[list[Any]] = mapped_column(default=list)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    conflicts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Household(Base):
    """A beneficiary household (一户一码). ID number and bank account are never shown unmasked."""

    __tablename__ = "households"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    head_name: Mapped[str] = mapped_column(String(100))
    members: Mapped[int] = mapped_column(Integer)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    id_number: Mapped[str] = mapped_column(String(32))
    bank_account: Mapped[str] = mapped_column(String(40))


class Project(Base):
    """The project library (项目库): indexed columns plus the full application as JSON."""

    __tablename__ = "projects"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    project_type: Mapped[str] = mapped_column(String(32), index=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    township_code: Mapped[str] = mapped_column(String(12), index=True)
    county_code: Mapped[str] = mapped_column(String(12), index=True)
    city_code: Mapped[str] = mapped_column(String(12), index=True)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="active")
    total_budget_fen: Mapped[int] = mapped_column(BigInteger)
    planned_start: Mapped[date] = mapped_column(Date)
    planned_end: Mapped[date] = mapped_column(Date)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    application: Mapped[dict[str, Any]] = mapped_column()
    workflow_id: Mapped[str] = mapped_column(String(64), unique=True)
    # the phase workflow that takes the project's Updates now; None (rows of the lifecycle workflow) → workflow_id
    phase_workflow_id: Mapped[str | None] = mapped_column(Text)
    implementing_entity: Mapped[str] = mapped_column(String(200), default="", server_default="")
    revision_round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    overdue: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false", index=True)
    colour: Mapped[str] = mapped_column(String(8), default="blue", server_default="blue", index=True)
    waiting_for: Mapped[str] = mapped_column(String(200), default="", server_default="")
    construction_colour: Mapped[str] = mapped_column(String(8), default="", server_default="")
    progress_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    funds_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    final_cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    completion_date: Mapped[date | None] = mapped_column(Date)
    operation_colour: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # the other two archives of the three-colour archive (domain.archives), and the archives with an open problem
    # past its deadline (each shown red while it lasts); the day the construction archive last turned red
    registration_colour: Mapped[str] = mapped_column(String(8), default="", server_default="")
    distribution_colour: Mapped[str] = mapped_column(String(8), default="", server_default="")
    problem_archives: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    construction_red_since: Mapped[date | None] = mapped_column(Date)
    # set when the project was brought in by `assetflow import projects` (存量资产纳管): the file's SHA-256
    imported_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ProjectCodeCounter(Base):
    """Sequence of project codes per county and year (XM{county}-{year}-{n})."""

    __tablename__ = "project_code_counters"
    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    """A create request's `Idempotency-Key`: same key and body → same project; other body → 409."""

    __tablename__ = "idempotency_keys"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Task(Base):
    """A human step as the inbox shows it; written only by workflow activities."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_inbox", "status", "candidate_role", "region_code"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(Integer, default=1)
    candidate_role: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(String(12))
    allowed_decisions: Mapped[list[Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # the workflow that opened (or adopted) the task and takes its decision; None → the project's workflow_id
    workflow_id: Mapped[str | None] = mapped_column(Text)


class DecisionRecord(Base):
    """A decision on a task; at most one per task."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), unique=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    opinion: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_stage: Mapped[str] = mapped_column(String(32))
    to_stage: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")


class AuditEntry(Base):
    """Append-only, hash-chained per chain (`project:{code}` or `system`); a trigger refuses edits."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chain: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """How far a chain was verified by the history endpoint: the last entry found intact (seq and hash)."""

    __tablename__ = "audit_checkpoints"
    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditHead(Base):
    """The last seq and hash of each chain: deleting the newest entries breaks the match."""

    __tablename__ = "audit_heads"
    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ApplicationRevision(Base):
    """A revised application after a return (退回修改), with its diff against the previous version."""

    __tablename__ = "application_revisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), unique=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    diff: Mapped[list[Any]] = mapped_column()
    application: Mapped[dict[str, Any]] = mapped_column()
    revised_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExpertDraw(Base):
    """One draw of an expert panel: the pool, the exclusions with reasons, and who was chosen."""

    __tablename__ = "expert_draws"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_key: Mapped[str] = mapped_column(String(100), unique=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    pool: Mapped[list[Any]] = mapped_column()
    exclusions: Mapped[list[Any]] = mapped_column()
    chosen: Mapped[list[Any]] = mapped_column()
    widened: Mapped[bool] = mapped_column(Boolean, default=False)
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Notice(Base):
    """A public notice (公示) at village, township and county level."""

    __tablename__ = "notices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    levels: Mapped[list[Any]] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))


class Objection(Base):
    """An objection (异议) filed during a notice; the county upholds or dismisses it."""

    __tablename__ = "objections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    text: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    task_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str] = mapped_column(Text, default="")
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """An in-app notification; idempotent by (event_key, user); an item about a task is resolved when it closes."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("event_key", "user_id", name="uq_notification_event_user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    project_code: Mapped[str | None] = mapped_column(String(32), index=True)
    task_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationEvent(Base):
    """Something that notifies (domain.notifications.EventKind), once per event key; params hold no personal data."""

    __tablename__ = "notification_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    project_code: Mapped[str | None] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationEndpoint(Base):
    """A region's webhook or work-group robot (DingTalk, WeCom), registered by an admin."""

    __tablename__ = "notification_endpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # webhook, dingtalk, wecom
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text, default="", server_default="")
    events: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")  # [] = every kind
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationDelivery(Base):
    """The outbox: one row per event, channel and target (a user's mailbox or an endpoint), written in the event's
    transaction; the dispatcher claims due rows, sends them and records each attempt. Unique by idempotency key."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notification_events.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("notification_endpoints.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(300))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationAttempt(Base):
    """One attempt at a delivery: when, whether it arrived, the answer's status and the error (the delivery log)."""

    __tablename__ = "notification_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "n", name="uq_notification_attempt"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class NotificationPreference(Base):
    """A user's choice for one event kind: immediate, digest or off (kinds without a row take their default)."""

    __tablename__ = "notification_preferences"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Attachment(Base):
    """An uploaded file's content, stored once by SHA-256; who uploaded it under which name is per upload."""

    __tablename__ = "attachments"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AttachmentLink(Base):
    """Which task (decision) an attachment belongs to: whoever may see the task may download the file."""

    __tablename__ = "attachment_links"
    sha256: Mapped[str] = mapped_column(ForeignKey("attachments.sha256"), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True, index=True)


class AttachmentUpload(Base):
    """One user's upload of some content, with their file name and type: the same bytes uploaded by two users are
    stored once, yet each sees only their own upload's name and metadata."""

    __tablename__ = "attachment_uploads"
    sha256: Mapped[str] = mapped_column(ForeignKey("attachments.sha256"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProgressReport(Base):
    """A weekly construction progress report (施工进度): percent complete and funds paid to date."""

    __tablename__ = "progress_reports"
    __table_args__ = (UniqueConstraint("project_code", "week_start", name="uq_progress_week"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    week_start: Mapped[date] = mapped_column(Date)
    percent: Mapped[int] = mapped_column(Integer)
    funds_paid_fen: Mapped[int] = mapped_column(BigInteger)
    over_budget_reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    expected_percent: Mapped[int] = mapped_column(Integer)
    colour: Mapped[str] = mapped_column(String(8))
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Completion(Base):
    """A completion report (竣工) and the county's acceptance (竣工验收) of it."""

    __tablename__ = "completions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    final_cost_fen: Mapped[int] = mapped_column(BigInteger)
    completion_date: Mapped[date] = mapped_column(Date)
    documents: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    rectify_items: Mapped[list[Any]] = mapped_column(default=list)
    task_id: Mapped[str | None] = mapped_column(String(64))
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Asset(Base):
    """A registered asset (确权登记) with its four rights (四权分置); money in fen."""

    __tablename__ = "assets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    asset_class: Mapped[str] = mapped_column(String(16), index=True)
    quantity: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    value_fen: Mapped[int] = mapped_column(BigInteger)
    location: Mapped[str] = mapped_column(String(300))
    village_code: Mapped[str] = mapped_column(String(12), index=True)
    township_code: Mapped[str] = mapped_column(String(12), index=True)
    county_code: Mapped[str] = mapped_column(String(12), index=True)
    household_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    operator_name: Mapped[str] = mapped_column(String(200), default="", index=True)
    operator_type: Mapped[str] = mapped_column(String(32), default="")
    contract_mode: Mapped[str] = mapped_column(String(32), default="")
    contract_start: Mapped[date | None] = mapped_column(Date)
    contract_end: Mapped[date | None] = mapped_column(Date, index=True)
    contract_term_years: Mapped[int | None] = mapped_column(Integer)
    annual_rent_fen: Mapped[int | None] = mapped_column(BigInteger)
    supervision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    platform_card_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    platform_registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registration_status: Mapped[str] = mapped_column(String(24), default="draft")
    # upkeep (管护): the named body, person and fund source; the operation archive's colour and idle facts
    upkeep_body: Mapped[str] = mapped_column(String(200), default="", server_default="")
    upkeep_person: Mapped[str] = mapped_column(String(100), default="", server_default="")
    upkeep_fund_source: Mapped[str] = mapped_column(String(100), default="", server_default="")
    operation_colour: Mapped[str] = mapped_column(String(8), default="", server_default="", index=True)
    idle_since: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AssetOwnership(Base):
    """Ownership (所有权) by share: each village collective's part in basis points (10000 = 100 %)."""

    __tablename__ = "asset_ownerships"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)
    share_bp: Mapped[int] = mapped_column(Integer)


class AssetIncomeShare(Base):
    """Income rights (收益权): a beneficiary household's quantified shares (折股量化)."""

    __tablename__ = "asset_income_shares"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    household_code: Mapped[str] = mapped_column(ForeignKey("households.code"), primary_key=True)
    shares: Mapped[int] = mapped_column(Integer)


class PlatformCard(Base):
    """The embedded "three assets" platform: one card per asset, keyed by the asset id (idempotency)."""

    __tablename__ = "platform_cards"
    card_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginThrottle(Base):
    """Failed logins of one username or one client address in its current window, shared by every API replica."""

    __tablename__ = "login_throttles"
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    # attempts whose password is being verified right now: with the failures they may not pass the limit
    pending: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# ---------------------------------------------------------------- operation (运营管护), DOMAIN.md §6


class Contract(Base):
    """An operating-rights contract (经营权) of an asset. One `active` per asset at most; a renewal, change or
    new operator is `proposed`, reviewed by the township and approved by the county, and only then replaces the
    active one (which becomes `superseded` and stays in the history). Money in fen."""

    __tablename__ = "contracts"
    __table_args__ = (
        Index("uq_contracts_one_active", "asset_id", unique=True, postgresql_where="status = 'active'"),
        Index("uq_contracts_one_proposed", "asset_id", unique=True, postgresql_where="status = 'proposed'"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # initial, renewal, change, new_operator, imported
    status: Mapped[str] = mapped_column(String(16), index=True)
    operator_name: Mapped[str] = mapped_column(String(200))
    operator_type: Mapped[str] = mapped_column(String(32))
    operator_credit_code: Mapped[str] = mapped_column(String(18), default="", server_default="")
    mode: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date, index=True)
    rent_fen: Mapped[int] = mapped_column(BigInteger)  # per period of the schedule
    schedule: Mapped[str] = mapped_column(String(16))  # annual, half_yearly, quarterly, monthly
    deposit_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    escalation_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # per contract year
    attachments: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaces_id: Mapped[str | None] = mapped_column(String(64))


class Receivable(Base):
    """One scheduled period's rent or guaranteed return of a contract (应收): due date and amount in fen."""

    __tablename__ = "receivables"
    __table_args__ = (UniqueConstraint("contract_id", "period_no", name="uq_receivables_contract_period"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    period_no: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    received_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open", index=True)
    paid_on: Mapped[date | None] = mapped_column(Date)


class ReceivedPayment(Base):
    """Money received against a receivable (实收), recorded by the manager with evidence; idempotent by key."""

    __tablename__ = "received_payments"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    evidence: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)


class RevenueReport(Base):
    """Revenue, cost and profit of a period for a self-operated or share-cooperation asset, with evidence."""

    __tablename__ = "revenue_reports"
    __table_args__ = (UniqueConstraint("asset_id", "period_start", "period_end", name="uq_revenue_reports_period"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date, index=True)
    revenue_fen: Mapped[int] = mapped_column(BigInteger)
    cost_fen: Mapped[int] = mapped_column(BigInteger)
    profit_fen: Mapped[int] = mapped_column(BigInteger)
    evidence: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Inspection(Base):
    """An upkeep inspection (管护巡查): due by the asset class's interval, done with photos and a condition."""

    __tablename__ = "inspections"
    __table_args__ = (UniqueConstraint("asset_id", "due_date", name="uq_inspections_asset_due"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="due", server_default="due", index=True)
    inspected_on: Mapped[date | None] = mapped_column(Date)
    condition: Mapped[str] = mapped_column(String(16), default="", server_default="")  # good, fair, damaged
    photos: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    inspected_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    task_id: Mapped[str | None] = mapped_column(String(64))


class Repair(Base):
    """A repair record opened for damage; its cost (fen) is the year's upkeep cost when it is closed."""

    __tablename__ = "repairs"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspections.id"))
    description: Mapped[str] = mapped_column(Text)
    opened_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open", index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    cost_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    evidence: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    opened_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class UpkeepCost(Base):
    """An upkeep cost of a fiscal year (管护费用): a closed repair's cost or another expense; deducted from the
    income pool by the year's distribution rule."""

    __tablename__ = "upkeep_costs"
    __table_args__ = (Index("ix_upkeep_costs_asset_year", "asset_id", "fiscal_year"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"))
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    spent_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # repair, routine, other
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    repair_id: Mapped[int | None] = mapped_column(ForeignKey("repairs.id"), unique=True)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # `{user id}:{Idempotency-Key}` of a cost recorded through the API (a closed repair's is keyed by the repair)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class OperationWarning(Base):
    """A warning of the operation archive (expiring contract, arrears, idle, inspection overdue, low yield), raised
    once per business key and cleared when its cause is gone; each change audited."""

    __tablename__ = "operation_warnings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    level: Mapped[str] = mapped_column(String(8))  # blue (attention) or red (a problem)
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    task_id: Mapped[str | None] = mapped_column(String(64))
    deadline: Mapped[date | None] = mapped_column(Date)


class Problem(Base):
    """The problem ledger (问题台账): registered → rectifying → submitted → closed (销号) with evidence and who verified
    it, or sent back, or reopened (domain.problems). `key` is set for a rule-raised problem: one per fact."""

    __tablename__ = "problems"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)  # business key of a raised problem
    project_code: Mapped[str | None] = mapped_column(String(32), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(64), index=True)
    county_code: Mapped[str] = mapped_column(String(12), index=True)
    township_code: Mapped[str] = mapped_column(String(12), index=True)
    source: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text)
    responsible_unit: Mapped[str] = mapped_column(String(200), default="", server_default="")
    responsible_person: Mapped[str] = mapped_column(String(100), default="", server_default="")
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    measures: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="registered", server_default="registered", index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the current submission's evidence (SHA-256 of attachments its submitter uploaded); emptied when sent back
    evidence: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # the problem's region: its project's village, or the region it was registered for (a region-only problem)
    region_code: Mapped[str] = mapped_column(String(12), default="", server_default="", index=True)
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # every attachment ever added: [{"sha256", "uploaded_by", "at", "purpose": registration|evidence}]
    attachments: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    raised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: a rule raised it
    raised_level: Mapped[str] = mapped_column(String(16), default="county", server_default="county")
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verifier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who last closed or sent it back
    reopened_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the archive it concerns (domain.archives: construction, registration, operation, distribution), if any
    archive: Mapped[str | None] = mapped_column(String(16), index=True)
    # the overdue steps of its current deadline (a new deadline starts them again): reminded, escalated and where to
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    escalated_to: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class DistributionRule(Base):
    """A version of an asset's distribution rule for a fiscal year (收益分配方案): proposed with the village meeting's
    resolution, reviewed by the township, approved by the county; the approved version of a year is the one its
    dividend rounds pin (a later approval supersedes it for later rounds only). `rule` is domain.distribution's
    DistributionRule as JSON (basis points, fen, coefficients)."""

    __tablename__ = "distribution_rules"
    __table_args__ = (
        UniqueConstraint("asset_id", "fiscal_year", "version", name="uq_distribution_rules_version"),
        Index(
            "uq_distribution_rules_one_proposed",
            "asset_id",
            "fiscal_year",
            unique=True,
            postgresql_where="status = 'proposed'",
        ),
        Index(
            "uq_distribution_rules_one_approved",
            "asset_id",
            "fiscal_year",
            unique=True,
            postgresql_where="status = 'approved'",
        ),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    project_code: Mapped[str] = mapped_column(ForeignKey("projects.code"), index=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    rule: Mapped[dict[str, Any]] = mapped_column()
    excluded: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")  # household code → reason
    attachments: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # a group of assets of one village pooled under this rule: the group's other assets (`asset_id` leads it)
    members: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- the embedded bank (代发), DESIGN.md "Adapters"


class BankPayment(Base):
    """The embedded bank's ledger: one row per line reference, ever — the unique key is what makes a repeated
    submission pay nothing twice. Nothing here is real money; production refuses this bank unless allowed."""

    __tablename__ = "bank_payments"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    batch_no: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str] = mapped_column(String(40))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BankFailingAccount(Base):
    """Accounts the embedded bank refuses, with the reason it gives (a closed card …): set by tests and the demo."""

    __tablename__ = "bank_failing_accounts"
    account: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))


# ---------------------------------------------------------------- dividend rounds (收益分配), DOMAIN.md §7


class DividendRound(Base):
    """A dividend round (`dividend-{scope}-{fiscal year}-{n}`): its plan versions, notice, confirmation, payment and
    reconciliation. Figures in fen are the current plan's."""

    __tablename__ = "dividend_rounds"
    __table_args__ = (UniqueConstraint("scope_kind", "scope_code", "fiscal_year", "n", name="uq_dividend_rounds_n"),)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(8))  # asset, village, county
    scope_code: Mapped[str] = mapped_column(String(64))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    county_code: Mapped[str] = mapped_column(String(12), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24), index=True)
    waiting_for: Mapped[str] = mapped_column(Text, default="", server_default="")
    plan_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pool_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    households_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    lines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failed_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    notice_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DividendPool(Base):
    """One asset's pool in a plan version: income and upkeep of the period, the pinned rule version, the split."""

    __tablename__ = "dividend_pools"
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), primary_key=True)
    plan_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    project_code: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(ForeignKey("distribution_rules.id"))
    income_fen: Mapped[int] = mapped_column(BigInteger)
    upkeep_fen: Mapped[int] = mapped_column(BigInteger)
    pool_fen: Mapped[int] = mapped_column(BigInteger)
    final: Mapped[dict[str, Any]] = mapped_column()  # bucket → fen after the households' residue
    households_fen: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")  # a group's other assets


class DividendClaim(Base):
    """Which round distributes an asset's income of a fiscal year: once, whatever the scope of the round (an asset,
    a village, a county). Written with the round's first plan; a later round of an overlapping scope leaves the
    asset out (and is refused if nothing is left)."""

    __tablename__ = "dividend_claims"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), index=True)


class DividendLine(Base):
    """A household's dividend in a plan version: the sum over the round's assets, with each asset's part explained."""

    __tablename__ = "dividend_lines"
    __table_args__ = (
        UniqueConstraint("round_id", "plan_version", "household_code", name="uq_dividend_lines_household"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), index=True)
    plan_version: Mapped[int] = mapped_column(Integer)
    household_code: Mapped[str] = mapped_column(String(32), index=True)
    village_code: Mapped[str] = mapped_column(String(12))
    head_name: Mapped[str] = mapped_column(String(100))  # as of the plan (notices name the household's head)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    parts: Mapped[list[Any]] = mapped_column()


class DividendPayment(Base):
    """A payment attempt of one household's dividend, written before it is submitted (`round:household:attempt`);
    never edited but for its result. One paid attempt per household and round, one in flight at a time."""

    __tablename__ = "dividend_payments"
    __table_args__ = (
        Index(
            "uq_dividend_payments_paid_once",
            "round_id",
            "household_code",
            unique=True,
            postgresql_where="status = 'paid'",
        ),
        Index(
            "uq_dividend_payments_one_in_flight",
            "round_id",
            "household_code",
            unique=True,
            postgresql_where="status = 'submitted'",
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), index=True)
    household_code: Mapped[str] = mapped_column(String(32), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100))
    account: Mapped[str] = mapped_column(String(40))
    bank: Mapped[str] = mapped_column(String(100))
    batch_no: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # submitted, paid, failed
    reason: Mapped[str] = mapped_column(String(32), default="", server_default="")
    replaces: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the reports count payouts made and failed in a period (migration 0017)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class DividendCorrection(Base):
    """A failed payment's corrected account: made by one finance user, checked by another (maker-checker)."""

    __tablename__ = "dividend_corrections"
    __table_args__ = (
        # one correction at a time per failed attempt; a rejected one may be followed by another
        Index(
            "uq_dividend_corrections_one_open",
            "failed_reference",
            unique=True,
            postgresql_where="status != 'rejected'",
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), index=True)
    failed_reference: Mapped[str] = mapped_column(ForeignKey("dividend_payments.reference"))
    household_code: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(40))
    bank: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # proposed, checked, rejected
    made_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DividendObjection(Base):
    """An objection (异议) to a round's noticed plan; the county upholds it (an amended plan, noticed again) or
    dismisses it."""

    __tablename__ = "dividend_objections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), index=True)
    plan_version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # open, upheld, dismissed
    resolution: Mapped[str] = mapped_column(Text, default="", server_default="")
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DividendRecovery(Base):
    """Money paid wrongly and recovered (追回): a reversing entry against a paid attempt, made by one finance user and
    checked by another; the paid attempt itself is never edited."""

    __tablename__ = "dividend_recoveries"
    __table_args__ = (
        Index(
            "uq_dividend_recoveries_one_open",
            "reference",
            unique=True,
            postgresql_where="status != 'rejected'",
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("dividend_rounds.id"), index=True)
    reference: Mapped[str] = mapped_column(ForeignKey("dividend_payments.reference"))
    household_code: Mapped[str] = mapped_column(String(32), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # proposed, recovered, rejected
    made_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- reports (周调度, 月通报), DOMAIN.md §8


class Report(Base):
    """A weekly scheduling report (per county and ISO week) or a monthly bulletin (per city and month), stored as JSON.
    The id is derived from kind, region and period (`weekly-370115-2026-W48`): a re-run writes nothing."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("kind", "region_code", "period", name="uq_reports_period"),
        Index("ix_reports_region_period", "region_code", "period"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    region_code: Mapped[str] = mapped_column(String(12))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    figures: Mapped[dict[str, Any]] = mapped_column()
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: made by the schedule
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
