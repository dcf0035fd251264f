"""The notification catalogue, masking, signatures, backoff and the digest's hour (pure rules)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.notifications import (
    DEFAULT_DELIVERY,
    MANDATORY,
    TEMPLATES,
    Delivery,
    EventKind,
    clean_params,
    dingtalk_message,
    dingtalk_signed_url,
    has_personal_data,
    mask_personal_data,
    next_digest_at,
    preference_refusal,
    render,
    retry_delay,
    verify_webhook,
    webhook_signature,
    wecom_message,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_every_kind_has_both_languages_and_a_default() -> None:
    assert set(TEMPLATES) == set(EventKind) == set(DEFAULT_DELIVERY)
    for kind in EventKind:
        r = render(kind, {})
        zh, en = r.text.split("\n")[:2]
        assert zh
        assert en
        assert " / " in r.title
        assert any("\u4e00" <= c <= "\u9fff" for c in zh), kind
        assert not any("\u4e00" <= c <= "\u9fff" for c in TEMPLATES[kind].text_en), kind


def test_the_kinds_other_branches_need_are_in_the_catalogue() -> None:
    for name in ("report_ready", "problem_assigned", "problem_overdue", "problem_closed"):
        assert EventKind(name) in TEMPLATES


def test_mandatory_kinds_cannot_be_turned_off() -> None:
    assert EventKind.TASK_ESCALATED in MANDATORY
    assert preference_refusal(EventKind.TASK_ESCALATED, Delivery.OFF) is not None
    assert preference_refusal(EventKind.TASK_ESCALATED, Delivery.DIGEST) is None
    assert preference_refusal(EventKind.STAGE_CHANGED, Delivery.OFF) is None


@pytest.mark.parametrize(
    "raw",
    [
        "650102198001010011",  # an 18-character ID number
        "65010219800101001X",
        "62284865010220100101",  # a 20-digit account
        "6228480402564890018",  # a 19-digit card
        "13812345678",  # a mobile
        "+86 13812345678",
        "0531-84212345",  # a landline
    ],
)
def test_personal_data_is_masked(raw: str) -> None:
    text = f"意见：请联系 {raw} 核实"
    assert has_personal_data(text)
    masked = mask_personal_data(text)
    assert raw not in masked
    assert not has_personal_data(masked)
    assert "*" in masked


def test_codes_and_amounts_are_not_personal_data() -> None:
    for text in ("650102100201", "XM650102-2026-0001", "1,234.56 元", "dividend-asset-A1-2026-1", "2026-12-01 08:00"):
        assert mask_personal_data(text) == text


def test_params_are_masked_when_cleaned_and_when_rendered() -> None:
    params = clean_params(
        {
            "project_code": "XM1",
            "project_name": "大棚",
            "level": "county_approval",
            "opinion": "账号 6228480402564890018 有误",
        }
    )
    assert "6228480402564890018" not in str(params["opinion"])
    raw = render(EventKind.DECISION_RETURNED, {"opinion": "身份证 650102198001010011"})
    assert "650102198001010011" not in raw.text + raw.html + raw.markdown
    with pytest.raises(ValueError, match="identifier"):
        clean_params({"not a name": "x"})


def test_render_fills_labels_and_escapes_html() -> None:
    r = render(EventKind.TASK_OPENED, {"task_kind": "county_approval", "project_name": "<b>棚</b>", "due": "12-01"})
    assert "县级审批" in r.title
    assert "county_approval" in r.title
    assert "&lt;b&gt;" in r.html
    assert "<b>" not in r.html
    assert r.markdown.startswith("### ")


def test_webhook_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"event":"decision_approved"}'
    sig = webhook_signature("s3cret", 1700000000, body)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sig == f"sha256={expected}"
    assert verify_webhook("s3cret", 1700000000, body, sig)
    assert not verify_webhook("s3cret", 1700000001, body, sig)
    assert not verify_webhook("other", 1700000000, body, sig)


def test_dingtalk_signature_follows_dingtalks_rule() -> None:
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "SECxyz", 1700000000123)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["access_token"] == "abc"
    assert query["timestamp"] == "1700000000123"
    mac = hmac.new(b"SECxyz", b"1700000000123\nSECxyz", hashlib.sha256).digest()
    assert query["sign"] == base64.b64encode(mac).decode()
    assert "sign=" + urllib.parse.quote_plus(base64.b64encode(mac).decode()) in url


def test_robot_messages_are_markdown() -> None:
    assert dingtalk_message("t" * 100, "### x") == {
        "msgtype": "markdown",
        "markdown": {"title": "t" * 64, "text": "### x"},
    }
    long = wecom_message("中" * 3000)
    assert long["msgtype"] == "markdown"
    assert len(str(long["markdown"]["content"]).encode()) <= 4096  # type: ignore[index]


def test_digest_is_next_eight_oclock_in_shanghai() -> None:
    # 23:30 UTC is 07:30 the next morning in Shanghai: the digest is half an hour later
    assert next_digest_at(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), SHANGHAI) == datetime(
        2026, 3, 2, 8, tzinfo=SHANGHAI
    )
    # 00:00 UTC is 08:00 in Shanghai: the next digest is tomorrow's
    assert next_digest_at(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), SHANGHAI) == datetime(2026, 3, 3, 8, tzinfo=SHANGHAI)


def test_backoff_doubles_to_its_cap() -> None:
    assert [retry_delay(n, 30, 300).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 300, 300]
    assert retry_delay(1, 0.1, 1) == timedelta(seconds=0.1)
