"""Notifications (通知): the catalogue of events that notify, their Chinese and English templates, who may turn
them off, the channels, the masking of personal data, the signatures of webhooks and group robots, the backoff of
retries and the daily digest's hour. Pure: the outbox and its dispatcher live in db/ and activities/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import string
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class EventKind(StrEnum):
    """What happened: each kind has a template, a default delivery and a place in a user's preferences."""

    TASK_OPENED = "task_opened"
    TASK_REMINDED = "task_reminded"
    TASK_ESCALATED = "task_escalated"
    TASK_REASSIGNED = "task_reassigned"
    DECISION_APPROVED = "decision_approved"
    DECISION_RETURNED = "decision_returned"
    DECISION_REJECTED = "decision_rejected"
    STAGE_CHANGED = "stage_changed"
    NOTICE_OPENED = "notice_opened"
    NOTICE_CLOSED = "notice_closed"
    OBJECTION_FILED = "objection_filed"
    WARNING_CONSTRUCTION = "warning_construction"
    WARNING_ARREARS = "warning_arrears"
    WARNING_CONTRACT_EXPIRY = "warning_contract_expiry"
    WARNING_IDLE = "warning_idle"
    ROUND_OPENED = "round_opened"
    ROUND_NOTICED = "round_noticed"
    ROUND_CONFIRMED = "round_confirmed"
    ROUND_PAID = "round_paid"
    ROUND_FAILED_LINES = "round_failed_lines"
    REPORT_READY = "report_ready"
    PROBLEM_ASSIGNED = "problem_assigned"
    PROBLEM_SUBMITTED = "problem_submitted"
    PROBLEM_SENT_BACK = "problem_sent_back"
    PROBLEM_REOPENED = "problem_reopened"
    PROBLEM_OVERDUE = "problem_overdue"
    PROBLEM_ESCALATED = "problem_escalated"
    PROBLEM_CLOSED = "problem_closed"


class Channel(StrEnum):
    """Where a notification goes: a user's inbox and mailbox, or a region's webhook or work-group robot."""

    IN_APP = "in_app"
    EMAIL = "email"
    WEBHOOK = "webhook"
    DINGTALK = "dingtalk"
    WECOM = "wecom"


ENDPOINT_CHANNELS = (Channel.WEBHOOK, Channel.DINGTALK, Channel.WECOM)
"""Channels an admin registers per region (an URL, a secret, the events it takes)."""


class Delivery(StrEnum):
    """How a user wants one kind of event: at once, in the 08:00 digest, or not at all."""

    IMMEDIATE = "immediate"
    DIGEST = "digest"
    OFF = "off"


class DeliveryStatus(StrEnum):
    """An outbox row's state: waiting (now or for the digest), being sent, delivered, or given up."""

    PENDING = "pending"
    DIGEST = "digest"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


MANDATORY = frozenset(
    {EventKind.TASK_ESCALATED, EventKind.PROBLEM_OVERDUE, EventKind.PROBLEM_ESCALATED, EventKind.ROUND_FAILED_LINES}
)
"""Kinds nobody may turn off: escalations, an overdue problem, households whose dividend did not arrive."""

DEFAULT_DELIVERY: Mapping[EventKind, Delivery] = {
    **{k: Delivery.IMMEDIATE for k in EventKind},
    # a project moves through many stages: one line a day is enough unless the user asks for more
    EventKind.STAGE_CHANGED: Delivery.DIGEST,
    EventKind.NOTICE_CLOSED: Delivery.DIGEST,
}


def preference_refusal(kind: EventKind, delivery: Delivery) -> str | None:
    """Why a user may not choose `delivery` for `kind`, or None."""
    if delivery is Delivery.OFF and kind in MANDATORY:
        return f"{kind.value} cannot be turned off (不可关闭)"
    return None


@dataclass(frozen=True)
class Template:
    """A kind's title and one-line text in Chinese and in English; `{name}` placeholders take the event's params."""

    title_zh: str
    title_en: str
    text_zh: str
    text_en: str


TEMPLATES: Mapping[EventKind, Template] = {
    EventKind.TASK_OPENED: Template(
        "新任务：{task_label} {project_code}",
        "New task: {task_kind} {project_code}",
        "项目「{project_name}」有一项待办（{task_label}），请于 {due} 前处理。",
        "Project {project_name} has a task for you ({task_kind}), due {due}.",
    ),
    EventKind.TASK_REMINDED: Template(
        "催办：{task_label} {project_code}",
        "Reminder: {task_kind} {project_code}",
        "项目「{project_name}」的待办（{task_label}）已到期（{due}），请尽快处理。",
        "The task {task_kind} of {project_name} was due {due}: please decide it.",
    ),
    EventKind.TASK_ESCALATED: Template(
        "超期上报：{task_label} {project_code}",
        "Escalation: {task_kind} {project_code}",
        "项目「{project_name}」的待办（{task_label}）已超过时限两倍（到期 {due}），项目标红。",
        "The task {task_kind} of {project_name} is past twice its limit (due {due}); the project is red.",
    ),
    EventKind.TASK_REASSIGNED: Template(
        "任务转办：{task_label} {project_code}",
        "Task reassigned to you: {task_kind} {project_code}",
        "一项待办（{task_label}）已转给您办理，原因：{reason}",
        "A task ({task_kind}) was reassigned to you: {reason}",
    ),
    EventKind.DECISION_APPROVED: Template(
        "审核通过：{project_code}",
        "Approved: {project_code}",
        "您的项目「{project_name}」已通过{level_label}。{opinion}",
        "Your project {project_name} was approved at {level}. {opinion}",
    ),
    EventKind.DECISION_RETURNED: Template(
        "退回修改：{project_code}",
        "Returned for revision: {project_code}",
        "您的项目「{project_name}」在{level_label}被退回修改，意见：{opinion}",
        "Your project {project_name} was returned at {level} for revision: {opinion}",
    ),
    EventKind.DECISION_REJECTED: Template(
        "不予立项：{project_code}",
        "Rejected: {project_code}",
        "您的项目「{project_name}」在{level_label}未获通过，意见：{opinion}",
        "Your project {project_name} was rejected at {level}: {opinion}",
    ),
    EventKind.STAGE_CHANGED: Template(
        "阶段变更：{project_code}",
        "Stage changed: {project_code}",
        "项目「{project_name}」由{from_label}进入{to_label}。",
        "Project {project_name} moved from {from_stage} to {to_stage}.",
    ),
    EventKind.NOTICE_OPENED: Template(
        "公示开始：{project_code}",
        "Public notice opened: {project_code}",
        "项目「{project_name}」开始公示（{notice_kind}），至 {ends} 止。",
        "Project {project_name} is publicly noticed ({notice_kind}) until {ends}.",
    ),
    EventKind.NOTICE_CLOSED: Template(
        "公示结束：{project_code}",
        "Public notice closed: {project_code}",
        "项目「{project_name}」的公示（{notice_kind}）已结束：{outcome}。",
        "The public notice ({notice_kind}) of {project_name} closed: {outcome}.",
    ),
    EventKind.OBJECTION_FILED: Template(
        "收到异议：{project_code}",
        "Objection filed: {project_code}",
        "公示期间有人对项目「{project_name}」提出异议，县级正在核查。",
        "An objection was filed against {project_name} during its notice; the county is looking into it.",
    ),
    EventKind.WARNING_CONSTRUCTION: Template(
        "建设预警（{colour_zh}）：{project_code}",
        "Construction warning ({colour}): {project_code}",
        "项目「{project_name}」建设进度为{colour_zh}：{reason}",
        "Construction of {project_name} is {colour}: {reason}",
    ),
    EventKind.WARNING_ARREARS: Template(
        "租金欠缴：{project_code}",
        "Rent in arrears: {project_code}",
        "资产「{asset_name}」的租金逾期未缴：{detail}",
        "Rent of asset {asset_name} is overdue: {detail}",
    ),
    EventKind.WARNING_CONTRACT_EXPIRY: Template(
        "合同即将到期：{project_code}",
        "Contract expiring: {project_code}",
        "资产「{asset_name}」的经营合同即将到期：{detail}",
        "The operating contract of asset {asset_name} is about to end: {detail}",
    ),
    EventKind.WARNING_IDLE: Template(
        "资产闲置：{project_code}",
        "Idle asset: {project_code}",
        "资产「{asset_name}」闲置：{detail}",
        "Asset {asset_name} is idle: {detail}",
    ),
    EventKind.ROUND_OPENED: Template(
        "分红轮次已发起：{round_id}",
        "Dividend round opened: {round_id}",
        "分红轮次 {round_id} 已发起，正在编制分配方案。",
        "Dividend round {round_id} was opened; its plan is being drawn up.",
    ),
    EventKind.ROUND_NOTICED: Template(
        "分红方案公示：{round_id}",
        "Dividend plan noticed: {round_id}",
        "分红轮次 {round_id} 的分配方案开始公示，共 {households} 户，合计 {amount} 元，至 {ends} 止。",
        "The plan of dividend round {round_id} is noticed until {ends}: {households} households, {amount} yuan.",
    ),
    EventKind.ROUND_CONFIRMED: Template(
        "分红方案已确认：{round_id}",
        "Dividend plan confirmed: {round_id}",
        "分红轮次 {round_id} 的方案已由第二位财务人员确认，开始发放。",
        "The plan of dividend round {round_id} was confirmed by a second finance user; payment starts.",
    ),
    EventKind.ROUND_PAID: Template(
        "分红已发放：{round_id}",
        "Dividends paid: {round_id}",
        "分红轮次 {round_id} 已发放完毕：到账 {paid} 元，对账一致。",
        "Dividend round {round_id} is paid: {paid} yuan reached the households and the books reconcile.",
    ),
    EventKind.ROUND_FAILED_LINES: Template(
        "分红发放失败：{round_id}",
        "Dividend payments failed: {round_id}",
        "分红轮次 {round_id} 有 {failed} 户发放失败，请核对账户后更正重发。",
        "Dividend round {round_id}: {failed} payments failed; correct the accounts and pay them again.",
    ),
    EventKind.REPORT_READY: Template(
        "报表已生成：{report_title}",
        "Report ready: {report_title}",
        "{report_title}已生成，可在 /api/v1/reports/{report_id} 查看，下载 /api/v1/reports/{report_id}.xlsx。",
        "The report {report_title} is ready: /api/v1/reports/{report_id} (download: .xlsx).",
    ),
    EventKind.PROBLEM_ASSIGNED: Template(
        "问题待整改：#{problem_id}",
        "Problem assigned to you: #{problem_id}",
        "问题 #{problem_id}（{source}）由您负责整改，期限 {deadline}。",
        "Problem #{problem_id} ({source}) is yours to put right by {deadline}.",
    ),
    EventKind.PROBLEM_SUBMITTED: Template(
        "问题待销号核查：#{problem_id}",
        "Problem submitted for close-out: #{problem_id}",
        "问题 #{problem_id}（{source}）已提交整改材料，请核查销号。",
        "Evidence for problem #{problem_id} ({source}) was submitted: please verify and close it.",
    ),
    EventKind.PROBLEM_SENT_BACK: Template(
        "销号申请被退回：#{problem_id}",
        "Close-out sent back: #{problem_id}",
        "问题 #{problem_id}（{source}）的销号申请被退回，请继续整改。",
        "The close-out of problem #{problem_id} ({source}) was sent back: more rectification is needed.",
    ),
    EventKind.PROBLEM_REOPENED: Template(
        "问题已重开：#{problem_id}",
        "Problem reopened: #{problem_id}",
        "问题 #{problem_id}（{source}）已重新打开。",
        "Problem #{problem_id} ({source}) was reopened.",
    ),
    EventKind.PROBLEM_OVERDUE: Template(
        "问题整改超期：#{problem_id}",
        "Problem overdue: #{problem_id}",
        "问题 #{problem_id}（{source}）已超过整改期限 {deadline}。",
        "Problem #{problem_id} ({source}) is past its deadline {deadline}.",
    ),
    EventKind.PROBLEM_ESCALATED: Template(
        "问题超期上报：#{problem_id}",
        "Problem escalated: #{problem_id}",
        "问题 #{problem_id}（{source}）超过整改期限 {deadline} 仍未销号，已上报 {escalated_to}。",
        "Problem #{problem_id} ({source}) is still open past its deadline {deadline}: escalated to {escalated_to}.",
    ),
    EventKind.PROBLEM_CLOSED: Template(
        "问题已销号：#{problem_id}",
        "Problem closed: #{problem_id}",
        "问题 #{problem_id}（{source}）已核查销号。",
        "Problem #{problem_id} ({source}) was verified and closed.",
    ),
}

LABELS_ZH: Mapping[str, str] = {
    "township_review": "乡镇审核",
    "expert_review": "专家论证",
    "extend_expert_library": "补充专家库",
    "county_approval": "县级审批",
    "city_filing": "市级备案",
    "revision": "修改申报",
    "objection": "异议核查",
    "progress_report": "进度填报",
    "acceptance": "竣工验收",
    "asset_registration": "资产登记",
    "confirm_registration": "确权确认",
    "platform_rejected": "三资平台退回",
    "contract_review": "合同审核",
    "contract_approval": "合同审批",
    "renew_contract": "合同续签",
    "arrears_reminder": "租金催缴",
    "put_back_to_use": "闲置资产盘活",
    "inspection": "管护巡查",
    "rule_review": "分配方案审核",
    "rule_approval": "分配方案审批",
    "application": "申报",
    "approval_notice": "立项公示",
    "construction": "建设",
    "operation": "运营管护",
    "disposal": "处置",
    "closed": "已关闭",
    "returned": "退回修改",
    "rejected": "不予立项",
    "panel": "专家论证",
}


def label_zh(value: str) -> str:
    """The Chinese name of a task kind or stage (the value itself when none is known)."""
    return LABELS_ZH.get(value, value)


# --- personal data: never in a message, a webhook or a digest -------------------------------------------------

# an ID number (15 or 18 characters), a bank card (16–19 digits, more with a branch prefix): any run of 15+ digits;
# a mobile number: 11 digits starting 13–19; a landline with its area code (0531-84212345)
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{14,}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])0[0-9]{2,3}-[0-9]{7,8}(?![0-9])")


def mask_personal_data(text: str) -> str:
    """The text with ID numbers, bank accounts and phone numbers masked (first and last characters kept)."""

    def _mask(m: re.Match[str]) -> str:
        s = m.group(0)
        keep = 3 if len(s) > 8 else 1
        return s[:keep] + "*" * (len(s) - 2 * keep) + s[-keep:]

    for pattern in (_LONG_DIGITS, _MOBILE, _LANDLINE):
        text = pattern.sub(_mask, text)
    return text


def has_personal_data(text: str) -> bool:
    """Whether the text holds something that looks like an ID number, a bank account or a phone number."""
    return any(p.search(text) for p in (_LONG_DIGITS, _MOBILE, _LANDLINE))


Params = Mapping[str, str | int]


def clean_params(params: Params) -> dict[str, str | int]:
    """Params as stored with an event: strings masked and cut to 500 characters, names checked."""
    out: dict[str, str | int] = {}
    for name, value in params.items():
        if not name.isidentifier():
            raise ValueError(f"param name {name!r} is not an identifier")
        out[name] = value if isinstance(value, int) else mask_personal_data(str(value))[:500]
    return out


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Rendered:
    """One event as text: the title and body (Chinese line, then English), as plain text, HTML and markdown."""

    title: str
    text: str
    html: str
    markdown: str


_LABELLED = {"task_kind": "task_label", "level": "level_label", "from_stage": "from_label", "to_stage": "to_label"}


def _fill(pattern: str, params: Params) -> str:
    values = _Blank({k: str(v) for k, v in params.items()})
    for name, label in _LABELLED.items():
        if name in values and label not in values:
            values[label] = label_zh(values[name])
    return string.Formatter().vformat(pattern, (), values).strip()


def render(kind: EventKind, params: Params, *, link: str = "") -> Rendered:
    """The event's message in Chinese and English; a param that is missing renders empty."""
    t = TEMPLATES[kind]
    # masked again here: a caller that skipped `clean_params` still sends no ID number, account or phone
    title_zh, title_en = (mask_personal_data(_fill(x, params)) for x in (t.title_zh, t.title_en))
    zh, en = (mask_personal_data(_fill(x, params)) for x in (t.text_zh, t.text_en))
    title = f"{title_zh} / {title_en}"
    text = f"{zh}\n{en}" + (f"\n{link}" if link else "")
    esc = html.escape
    body_html = f'<p>{esc(zh)}</p><p lang="en">{esc(en)}</p>' + (
        f'<p><a href="{esc(link, quote=True)}">{esc(link)}</a></p>' if link else ""
    )
    markdown = f"### {title_zh}\n\n{zh}\n\n{en}" + (f"\n\n[{link}]({link})" if link else "")
    return Rendered(title=title, text=text, html=body_html, markdown=markdown)


def digest_body(lines: list[tuple[datetime, str]], zone: ZoneInfo) -> tuple[str, str]:
    """A digest's plain text and HTML: one line per event (local time and title), oldest first."""
    ordered = sorted(lines)
    text = "\n".join(f"{at.astimezone(zone):%m-%d %H:%M}  {title}" for at, title in ordered)
    items = "".join(f"<li>{at.astimezone(zone):%m-%d %H:%M} {html.escape(title)}</li>" for at, title in ordered)
    head = f"过去一天的 {len(ordered)} 条通知 / {len(ordered)} notifications since the last digest"
    return f"{head}\n\n{text}\n", f"<p>{html.escape(head)}</p><ul>{items}</ul>"


# --- when -----------------------------------------------------------------------------------------------------


def next_digest_at(now: datetime, zone: ZoneInfo, hour: int = 8) -> datetime:
    """The next digest time (`hour`:00 local) strictly after `now`."""
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return at


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Backoff after `attempts` failed attempts: base, 2×base, 4×base … capped."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), max_seconds))


# --- signatures -----------------------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Assetflow-Signature"
TIMESTAMP_HEADER = "X-Assetflow-Timestamp"
EVENT_HEADER = "X-Assetflow-Event"
DELIVERY_HEADER = "X-Assetflow-Delivery"


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 with the secret over `{timestamp}.{body}` (the receiver recomputes it)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """Whether a signature is ours (constant-time comparison)."""
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """A DingTalk robot's URL with `timestamp` and `sign` (base64 HMAC-SHA256 of "timestamp\\nsecret" keyed with
    the secret, URL-encoded) added, as DingTalk's custom robots require when signing is on."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    sign = base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in ("timestamp", "sign")]
    query += [("timestamp", str(timestamp_ms)), ("sign", sign)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def dingtalk_message(title: str, markdown: str) -> dict[str, object]:
    """A DingTalk custom robot's markdown message."""
    return {"msgtype": "markdown", "markdown": {"title": title[:64], "text": markdown}}


def wecom_message(markdown: str) -> dict[str, object]:
    """A WeCom group robot's markdown message (its content is at most 4096 bytes)."""
    content = markdown.encode()[:4096].decode(errors="ignore")
    return {"msgtype": "markdown", "markdown": {"content": content}}


# --- the dispatcher's payloads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatcherInput:
    """The dispatcher workflow's settings (from NotifySettings when the worker starts it)."""

    poll_seconds: float = 5.0
    batch_size: int = 50
    rounds_per_run: int = 500  # then continue-as-new: the history stays small


@dataclass(frozen=True)
class DispatchInput:
    """One dispatch: claim up to `limit` due deliveries and send them, then the due digests."""

    limit: int = 50
    now: datetime | None = None  # a test's clock (digests at 08:00); None: the activity's own clock


@dataclass(frozen=True)
class DispatchResult:
    """What one dispatch did, and in how many seconds the next delivery falls due (None: nothing waits)."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    digests: int = 0
    next_due_in: float | None = None
