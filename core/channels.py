"""The channels notifications leave by: e-mail over SMTP (aiosmtplib), signed webhooks, DingTalk and WeCom group
robots (httpx). Each send answers an `Outcome`: delivered, worth another attempt, or refused for good."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import httpx

from core.settings import NotifySettings, SmtpSecurity
from domain.notifications import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    dingtalk_message,
    dingtalk_signed_url,
    webhook_signature,
    wecom_message,
)

# statuses that say "not now": the same request may succeed later
RETRY_STATUSES = frozenset({408, 425, 429})
# a mail server's answer may quote the address: errors are logged and shown to admins with it masked
_ADDRESS = re.compile(r"[^\s<>@\"']+@([^\s<>@\"']+)")


def _scrub(text: str) -> str:
    return _ADDRESS.sub(lambda m: "***@" + m.group(1), text)[:200]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: `ok`, or an error that is `permanent` (never retried) or not."""

    ok: bool
    status_code: int | None = None
    error: str = ""
    permanent: bool = False


@dataclass(frozen=True)
class Mail:
    """One e-mail: HTML and plain text; `message_id` is the delivery's idempotency key (receivers may dedupe)."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str


def build_message(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message: plain text with an HTML alternative, UTF-8."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2].strip(" >") or "assetflow.local"
    # the same delivery keeps the same Message-ID on every attempt: a mail client shows a repeat once
    msg["Message-ID"] = f"<{_msgid_safe(mail.message_id)}@{domain}>"
    msg.set_content(mail.text)
    msg.add_alternative(
        f'<!doctype html><html><body style="font-family:sans-serif">{mail.html}</body></html>', subtype="html"
    )
    return msg


def _msgid_safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "." for c in key)[:120]


async def send_mail(settings: NotifySettings, mail: Mail) -> Outcome:
    """Send one mail; a refusal of the recipient (5xx) is permanent, a connection or 4xx problem is retried."""
    if not settings.smtp_host:
        return Outcome(False, error="e-mail is not configured (NOTIFY__SMTP_HOST)", permanent=True)
    password = settings.smtp_password.get_secret_value()
    try:
        await aiosmtplib.send(
            build_message(mail, settings.sender),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            use_tls=settings.smtp_security is SmtpSecurity.TLS,
            start_tls=settings.smtp_security is SmtpSecurity.STARTTLS,
            username=settings.smtp_username or None,
            password=password if settings.smtp_username else None,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        codes = [r.code for r in err.recipients]
        return Outcome(False, codes[0] if codes else None, "recipient refused", permanent=all(c >= 500 for c in codes))
    except aiosmtplib.SMTPResponseException as err:
        return Outcome(False, err.code, f"SMTP {err.code}: {_scrub(err.message)}", permanent=err.code >= 500)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
        return Outcome(False, None, f"SMTP unreachable: {type(err).__name__}: {_scrub(str(err))}")
    return Outcome(True, 250)


def _http_outcome(response: httpx.Response) -> Outcome:
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, code)
    retry = code >= 500 or code in RETRY_STATUSES
    return Outcome(False, code, f"HTTP {code}: {response.text[:200]}", permanent=not retry)


async def post_webhook(
    client: httpx.AsyncClient, *, url: str, secret: str, event: str, delivery: str, payload: dict[str, object]
) -> Outcome:
    """POST the event as JSON, signed (see README, "Webhooks"): HMAC-SHA256 over `{timestamp}.{body}`."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: webhook_signature(secret, ts, body),
        "User-Agent": "assetflow-webhooks/1",
    }
    try:
        return _http_outcome(await client.post(url, content=body, headers=headers))
    except httpx.HTTPError as err:
        return Outcome(False, None, f"{type(err).__name__}: {str(err)[:200]}")


async def post_robot(
    client: httpx.AsyncClient, *, kind: str, url: str, secret: str, title: str, markdown: str
) -> Outcome:
    """Post to a DingTalk (signed when it has a secret) or WeCom group robot; their answer's `errcode` 0 is success."""
    if kind == "dingtalk":
        target = dingtalk_signed_url(url, secret, int(time.time() * 1000)) if secret else url
        message = dingtalk_message(title, markdown)
    else:
        target, message = url, wecom_message(markdown)
    try:
        response = await client.post(target, json=message)
    except httpx.HTTPError as err:
        return Outcome(False, None, f"{type(err).__name__}: {str(err)[:200]}")
    outcome = _http_outcome(response)
    if not outcome.ok:
        return outcome
    try:
        answer = response.json()
    except ValueError:
        return Outcome(False, response.status_code, "the robot's answer is not JSON")
    errcode = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if errcode:
        # 130101 / 45009: too many messages a minute, worth waiting for; other codes (bad token, bad sign) are not
        transient = errcode in (130101, 45009, -1)
        return Outcome(
            False, response.status_code, f"errcode {errcode}: {answer.get('errmsg', '')}"[:200], not transient
        )
    return Outcome(True, response.status_code)
