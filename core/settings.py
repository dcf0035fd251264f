"""The one settings class: every knob comes from the environment (or `.env`)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.archives import ArchiveRules
from domain.attachments import SIGNATURES
from domain.operation import LEVELS as OPERATION_LEVELS
from domain.reports import DEFAULT_WEIGHTS, weights_problem

DEV_JWT_SECRET = "dev-only-secret-change-me-in-production-0123456789"  # noqa: S105 - refused in production


class Environment(StrEnum):
    """Where the process runs; production refuses every dev default."""

    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class ReviewSettings(BaseModel):
    """Review rules (DOMAIN.md §2); the numbers are county practice, not law."""

    working_days: int = Field(5, ge=1, le=60, description="Working days a reviewer has for a task")
    revision_limit: int = Field(3, ge=1, le=20, description="Revision rounds before rejection")
    panel_size: int = Field(3, ge=1, le=15, description="Experts drawn for a project's panel")
    pass_mark: int = Field(60, ge=0, le=100, description="Average panel score (of 100) a project needs to pass")
    notice_days: float = Field(
        10, gt=0, le=90, description="Days a public notice (公示) runs; `make run` shortens it to minutes for the demo"
    )


class ConstructionSettings(BaseModel):
    """Construction colour thresholds and the completion rule (DOMAIN.md §4); county practice, not law."""

    yellow_behind_points: int = Field(10, ge=1, le=100, description="Points behind schedule that turn yellow")
    red_behind_points: int = Field(30, ge=1, le=100, description="Points behind schedule beyond which it is red")
    not_started_yellow_months: int = Field(
        1, ge=1, le=24, description="Months after the planned start, not started: yellow"
    )
    not_started_red_months: int = Field(3, ge=1, le=36, description="Months after the planned start, not started: red")
    completion_min_paid_percent: int = Field(
        60,
        ge=0,
        le=100,
        description="Completion is refused while funds paid to date are below this percent of the final cost; "
        "60 is the floor of progress payments (工程进度款 60–90 % of the work done, 财建〔2004〕369号 §13), "
        "so less means the payments were not reported; 0 turns the check off",
    )


class OperationSettings(BaseModel):
    """Operation (运营管护) warnings and upkeep (DOMAIN.md §6); county practice, not law."""

    expiry_warning_days: list[int] = Field(
        [90, 30, 7], min_length=1, max_length=6, description="Days before a contract ends at which it is warned"
    )
    arrears_reminder_days: int = Field(
        15, ge=0, le=365, description="Days past due, unpaid: an arrears warning and a reminder task for the manager"
    )
    arrears_problem_days: int = Field(
        60, ge=1, le=730, description="Days past due, still unpaid: a problem for the county (red)"
    )
    no_income_months: int = Field(
        6, ge=1, le=60, description="Months without income on an operating asset under contract: an idle warning"
    )
    put_back_days: int = Field(
        90, ge=1, le=730, description="Days an idle asset has to be put back to use before it turns red"
    )
    inspection_months: dict[str, int] = Field(
        {"operating": 3, "public_welfare": 6, "household": 12},
        description="Months between upkeep inspections, per asset class",
    )
    inspection_grace_days: int = Field(
        15, ge=0, le=180, description="Days an inspection may be late before the operation archive turns red"
    )
    levels: dict[str, str] = Field(
        default_factory=lambda: dict(OPERATION_LEVELS),
        description="The colour (blue or red) each operation warning gives the operation archive, by warning kind",
    )
    low_yield_percent: int = Field(
        50,
        ge=0,
        le=100,
        description="A year's yield below this percent of the application's estimate is 'far below' (red); 0 = off",
    )
    arrears_problems: bool = Field(True, description="Rent unpaid past arrears_problem_days registers a problem")
    idle_problems: bool = Field(True, description="An idle asset past its put-back deadline registers a problem")
    inspection_problems: bool = Field(True, description="An inspection overdue past its grace registers a problem")

    @model_validator(mode="after")
    def _ordered(self) -> OperationSettings:
        if self.arrears_problem_days <= self.arrears_reminder_days:
            raise ValueError("arrears_problem_days must be above arrears_reminder_days")
        if any(d < 1 for d in self.expiry_warning_days):
            raise ValueError("expiry_warning_days are whole days above zero")
        if any(m < 1 for m in self.inspection_months.values()):
            raise ValueError("inspection_months are whole months above zero")
        unknown = set(self.levels) - set(OPERATION_LEVELS)
        if unknown or any(v not in ("blue", "red") for v in self.levels.values()):
            raise ValueError(f"levels map warning kinds ({', '.join(OPERATION_LEVELS)}) to blue or red")
        return self


class ProblemSettings(BaseModel):
    """The problem ledger's daily check (问题台账): overdue problems reminded, then escalated to the next level, and
    the rules that raise problems by themselves besides the operation check's (DOMAIN.md §8); county practice."""

    watch: bool = Field(True, description="The worker starts the daily problem check (problem-watch) when it starts")
    check_hour: int = Field(9, ge=0, le=23, description="Local hour of the daily check (Asia/Shanghai)")
    escalate_after_working_days: int = Field(
        5, ge=1, le=60, description="Working days past the deadline, once reminded, at which the next level is told"
    )
    rule_deadline_working_days: int = Field(
        10, ge=1, le=120, description="Working days a rule-raised problem gets for its rectification"
    )
    construction_red_problems: bool = Field(True, description="A construction archive red for weeks raises a problem")
    construction_red_weeks: int = Field(
        4, ge=1, le=52, description="Weeks a construction archive stays red before it raises a problem"
    )
    dividend_failure_problems: bool = Field(True, description="A failed dividend payment left uncorrected raises one")
    dividend_failure_days: int = Field(
        30, ge=1, le=365, description="Days a failed dividend payment may wait for its correction before a problem"
    )


class ArchiveSettings(BaseModel):
    """Three-colour archives (红绿蓝三色档案, DOMAIN.md §9): the limits past which an archive is red."""

    registration_days: int = Field(
        30, ge=1, le=365, description="Days registration may take, and an asset may wait for its platform card"
    )
    distribution_failure_days: int = Field(
        30, ge=1, le=365, description="Days a failed dividend payment may wait for its correction before red"
    )
    distribution_due_days: int = Field(
        180, ge=1, le=730, description="Days after a fiscal year's end by which its approved rule is paid out"
    )

    def rules(self) -> ArchiveRules:
        """As the pure rules take them."""
        return ArchiveRules(
            registration_days=self.registration_days,
            distribution_failure_days=self.distribution_failure_days,
            distribution_due_days=self.distribution_due_days,
        )


class CountyNotice(BaseModel):
    """How one county notices its rounds' plans and results."""

    notice_days: float = Field(10, ge=0.0001, le=60, description="Days a plan and a result are noticed")
    working_days: bool = Field(False, description="Count the days as working days on China's calendar")

    @model_validator(mode="after")
    def _whole_working_days(self) -> CountyNotice:
        if self.working_days and self.notice_days != int(self.notice_days):
            raise ValueError("working days are whole days")
        return self


class DividendSettings(BaseModel):
    """Dividend rounds (DOMAIN.md §7); county practice, not law."""

    notice_days: float = Field(
        10,
        ge=0.0001,
        le=60,
        description="Days the plan is noticed (公示) before it may be confirmed (10 by law)",
    )
    result_notice_days: float = Field(10, ge=0.0001, le=60, description="Days the result is noticed before it closes")
    poll_seconds: float = Field(
        3600, ge=1, le=86400, description="How often a batch's missing bank answers are asked for again"
    )
    notice_working_days: bool = Field(False, description="Count notice days as working days (China's calendar)")
    counties: dict[str, CountyNotice] = Field(
        default_factory=dict,
        description="Per county (6-digit code): its own notice days and whether they are working days",
    )

    def notice_for(self, county: str) -> tuple[float, float, bool]:
        """A county's (plan notice days, result notice days, working days?)."""
        own = self.counties.get(county)
        if own is not None:
            return own.notice_days, own.notice_days, own.working_days
        return self.notice_days, self.result_notice_days, self.notice_working_days


class ReportSettings(BaseModel):
    """The weekly scheduling report (周调度) and the monthly bulletin (月通报), DOMAIN.md §8; practice, not law."""

    schedules: bool = Field(True, description="Create (or bring up to date) the report schedules when a worker starts")
    scope: str = Field(
        "",
        pattern=r"^([0-9]{2}|[0-9]{4}|[0-9]{6})?$",
        description="Region code prefix the schedules report on (a province's 2 digits, a city's 4, a county's 6); "
        "empty = every county and city in the region table",
    )
    weekly_hour: int = Field(8, ge=0, le=23, description="Hour (local time) of the Monday run of the weekly reports")
    monthly_hour: int = Field(8, ge=0, le=23, description="Hour (local time) of the 1st's run of the monthly bulletins")
    backfill_hour: int = Field(9, ge=0, le=23, description="Hour (local time) of the daily check for missing reports")
    backfill_weeks: int = Field(
        4, ge=1, le=104, description="Ended weeks the daily check looks back over for a missing weekly report"
    )
    backfill_months: int = Field(
        3, ge=1, le=36, description="Ended months the daily check looks back over for a missing monthly bulletin"
    )
    weights: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="Weights of the monthly ranking's components (on_schedule, registration, revenue, dividends, "
        "problems, idle); a county's score is the weighted mean of its rates",
    )
    list_rows: int = Field(500, ge=10, le=10_000, description="Most rows of each list in a report (red list, arrears…)")

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: dict[str, int]) -> dict[str, int]:
        if (problem := weights_problem(value)) is not None:
            raise ValueError(problem)
        return value


class AttachmentSettings(BaseModel):
    """Upload limits; every allowed type must be one whose file signature is known (domain.attachments)."""

    max_bytes: int = Field(10 * 1024 * 1024, ge=1, le=1024 * 1024 * 1024, description="Largest upload in bytes")
    allowed_types: list[str] = Field(
        default_factory=lambda: list(SIGNATURES),
        min_length=1,
        description="Content types accepted: PDF, PNG, JPEG and Office files (doc/docx/xls/xlsx/ppt/pptx)",
    )

    @field_validator("allowed_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in SIGNATURES]
        if unknown:
            raise ValueError(f"no file signature is known for {', '.join(unknown)}; known: {', '.join(SIGNATURES)}")
        return value


class PlatformKind(StrEnum):
    """Which "three assets" platform (三资平台) assets are registered into."""

    EMBEDDED = "embedded"
    HTTP = "http"


class PlatformSettings(BaseModel):
    """The "three assets" platform adapter: the embedded registry, or the real platform over HTTP."""

    kind: PlatformKind = Field(PlatformKind.EMBEDDED, description="embedded (a registry in our database) or http")
    url: str = Field("", description="Base URL of the real platform (kind http); assets are POSTed to {url}/assets")
    token: SecretStr = Field(SecretStr(""), description="Bearer token sent to the real platform; empty = none")
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="Timeout of one request to the real platform")

    @model_validator(mode="after")
    def _http_needs_url(self) -> PlatformSettings:
        if self.kind is PlatformKind.HTTP and not self.url.startswith(("http://", "https://")):
            raise ValueError("PLATFORM__URL must be an http(s) URL when PLATFORM__KIND is http")
        return self


class PaymentKind(StrEnum):
    """Which paying bank adapter dividends are paid through (代发)."""

    EMBEDDED = "embedded"
    FILE = "file"
    HTTP = "http"


class PaymentSettings(BaseModel):
    """The payment adapter: the embedded bank (a ledger in our database), the bank's batch file, or a bank over HTTP.

    Production never pays through the embedded bank by accident: without PAYMENTS__KIND it uses the batch file,
    and an explicit `embedded` is refused unless PAYMENTS__ALLOW_EMBEDDED is true (a demo or training system)."""

    kind: PaymentKind = Field(
        PaymentKind.EMBEDDED,
        description="embedded (a simulated bank in our database; dev and test default), file (the 代发 batch file "
        "a bank takes; production default) or http (a bank's API)",
    )
    url: str = Field("", description="Base URL of the bank's API (kind http); batches are POSTed to {url}/batches")
    token: SecretStr = Field(SecretStr(""), description="Bearer token sent to the bank's API; empty = none")
    batch_size: int = Field(500, ge=1, le=50_000, description="Most lines in one batch (one file, one request)")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="Timeout of one request to the bank's API")
    file_dir: str = Field(
        "",
        description="Directory of the batch files (kind file): outbox/ for the bank, results/ from it; "
        "empty = {DATA_DIR}/payments",
    )
    file_format: str = Field("csv", pattern="^(csv|xlsx)$", description="Format of the exported batch file")
    allow_embedded: bool = Field(
        False, description="Allow the embedded (simulated) bank in production, e.g. for a demo system"
    )

    @model_validator(mode="after")
    def _http_needs_url(self) -> PaymentSettings:
        if self.kind is PaymentKind.HTTP and not self.url.startswith(("http://", "https://")):
            raise ValueError("PAYMENTS__URL must be an http(s) URL when PAYMENTS__KIND is http")
        return self


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class NotifySettings(BaseModel):
    """Notifications leaving the system: e-mail over SMTP, regions' webhooks and robots, retries, digests."""

    smtp_host: str = Field("", description="SMTP server; empty = e-mail is off (e-mail deliveries fail, visibly)")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 TLS, 25 none)")
    smtp_security: SmtpSecurity = Field(SmtpSecurity.STARTTLS, description="none, starttls or tls (implicit TLS)")
    smtp_username: str = Field("", description="SMTP user; empty = no login")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password")
    smtp_timeout_seconds: float = Field(15.0, gt=0, le=300, description="Timeout of one SMTP conversation")
    sender: str = Field("assetflow <noreply@assetflow.local>", description="From: of every mail")
    public_url: str = Field("", description="The web address users open; mails link to it when set")
    http_timeout_seconds: float = Field(10.0, gt=0, le=120, description="Timeout of one webhook or robot request")
    max_attempts: int = Field(8, ge=1, le=50, description="Attempts before a delivery is given up (failed)")
    backoff_seconds: float = Field(30.0, gt=0, le=3600, description="Wait after the first failed attempt; doubles")
    backoff_max_seconds: float = Field(6 * 3600, gt=0, le=86400, description="Longest wait between attempts")
    batch_size: int = Field(50, ge=1, le=1000, description="Deliveries one dispatcher activity claims at a time")
    parallel: int = Field(8, ge=1, le=100, description="Deliveries of a batch sent at once")
    poll_seconds: float = Field(5.0, gt=0, le=3600, description="How often the dispatcher looks for due deliveries")
    lease_seconds: float = Field(
        300, ge=5, le=86400, description="A claimed delivery whose dispatcher died is taken up after this"
    )
    digest_hour: int = Field(8, ge=0, le=23, description="Hour (Asia/Shanghai) of the daily digest")
    dispatcher: bool = Field(True, description="The worker starts the dispatcher workflow when it starts")

    @model_validator(mode="after")
    def _backoff_order(self) -> NotifySettings:
        if self.backoff_max_seconds < self.backoff_seconds:
            raise ValueError("NOTIFY__BACKOFF_MAX_SECONDS must be at least NOTIFY__BACKOFF_SECONDS")
        return self


class LoginThrottleSettings(BaseModel):
    """Login rate limits, counted in PostgreSQL so every API replica sees the same counts."""

    max_failures_per_username: int = Field(
        5, ge=1, le=10_000, description="Failed logins of one username within the window before it is locked"
    )
    max_failures_per_address: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Failed logins from one client address within the window before it is locked",
    )
    window_seconds: int = Field(
        15 * 60, ge=1, le=7 * 24 * 3600, description="The window failures are counted in, and how long a lock lasts"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of our reverse proxies; only a request from one of them may name "
        "its client in X-Forwarded-For. JSON list, e.g. LOGIN_THROTTLE__TRUSTED_PROXIES='[\"10.0.0.0/8\"]'",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as err:
                raise ValueError(f"trusted proxy {item!r} is not an IP address or network: {err}") from err
        return value


class Settings(BaseSettings):
    """assetflow settings. Nested groups use `__`, e.g. `REVIEW__WORKING_DAYS=7`."""

    model_config = SettingsConfigDict(env_file=".env", env_nested_delimiter="__", extra="ignore")

    environment: Environment = Environment.DEV
    database_url: str = Field(
        "postgresql+psycopg://postgres@/assetflow?host=.data/pg",
        description="SQLAlchemy URL (psycopg 3). `make run` points it at the embedded PostgreSQL.",
    )

    @field_validator("database_url")
    @classmethod
    def _absolute_socket_dir(cls, value: str) -> str:
        """A relative `host=` socket directory (the embedded default) is taken from the working directory:
        libpq reads a host without a leading slash as a host name."""
        parts = urlsplit(value)
        query = parse_qsl(parts.query, keep_blank_values=True)
        changed = [
            (k, str(Path(v).resolve()) if k == "host" and v and not v.startswith("/") and "/" in v else v)
            for k, v in query
        ]
        return urlunsplit(parts._replace(query=urlencode(changed, safe="/"))) if changed != query else value

    db_pool_size: int = Field(10, ge=1, le=200, description="Pooled database connections per process")
    worker_shutdown_grace_seconds: float = Field(
        20, ge=0, le=600, description="On SIGTERM, seconds running activities get to finish before cancellation"
    )
    db_max_overflow: int = Field(10, ge=0, le=200, description="Extra connections beyond the pool under load")
    temporal_address: str = "127.0.0.1:7233"
    store_budget_seconds: float = Field(
        20.0, gt=0, le=120, description="Longest a workflow retries storing a decision before answering 503"
    )
    temporal_wait_seconds: float = Field(
        30.0, gt=0, le=300, description="Longest a request waits on the workflow engine before a retry-safe 504"
    )
    temporal_namespace: str = "default"
    task_queue: str = "assetflow"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl_minutes: int = Field(480, ge=5, le=7 * 24 * 60)
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long an API process keeps an authenticated user: a disabled one is refused after at most this",
    )
    log_format: str = Field("console", pattern="^(console|json)$")
    log_level: str = "INFO"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_ui_port: int = 8233
    data_dir: str = ".data"
    worker_metrics_bind: str = Field("127.0.0.1:9464", description="host:port of the worker's SDK metrics; empty = off")
    api_sdk_metrics_bind: str = Field(
        "127.0.0.1:9465",
        description="loopback host:port where the API's Temporal client exports metrics; empty = off",
    )
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token /metrics requires; empty = open in dev and test, not served at all in production",
    )
    time_zone: str = "Asia/Shanghai"
    review: ReviewSettings = ReviewSettings()
    construction: ConstructionSettings = ConstructionSettings()
    operation: OperationSettings = OperationSettings()
    dividends: DividendSettings = DividendSettings()
    problems: ProblemSettings = ProblemSettings()
    archives: ArchiveSettings = ArchiveSettings()
    reports: ReportSettings = ReportSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    platform: PlatformSettings = PlatformSettings()
    payments: PaymentSettings = PaymentSettings()
    login_throttle: LoginThrottleSettings = LoginThrottleSettings()
    notify: NotifySettings = NotifySettings()

    @model_validator(mode="after")
    def _production_refuses_dev_defaults(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET must be set to a private value of at least 32 characters in production")
            token = self.metrics_token.get_secret_value()
            if token and len(token) < 24:
                raise ValueError("METRICS_TOKEN must be at least 24 characters in production (or empty: no /metrics)")
            if self.log_format != "json":
                self.log_format = "json"
            if self.payments.kind is PaymentKind.EMBEDDED and not self.payments.allow_embedded:
                if "kind" in self.payments.model_fields_set:
                    raise ValueError(
                        "PAYMENTS__KIND=embedded is a simulated bank that pays nobody: set file or http in production, "
                        "or PAYMENTS__ALLOW_EMBEDDED=true for a demo system"
                    )
                # not chosen: production's default is the bank's batch file, never the simulated bank
                self.payments = self.payments.model_copy(update={"kind": PaymentKind.FILE})
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once on first use (never at import time)."""
    return Settings()
