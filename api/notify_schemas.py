"""HTTP schemas of notifications' preferences, regions' webhooks and robots, and the delivery log (bilingual)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from api.edge import Text
from api.people_schemas import EMAIL_PATTERN, REGION_PATTERN
from api.schemas import _d, _In
from domain.notifications import Channel, Delivery, EventKind

ENDPOINT_KINDS = (Channel.WEBHOOK.value, Channel.DINGTALK.value, Channel.WECOM.value)


class PreferencePublic(BaseModel):
    """How I receive one kind of event."""

    kind: EventKind = Field(description=_d("事件类型", "event kind"))
    delivery: Delivery = Field(description=_d("接收方式：即时、每日摘要、不接收", "immediate, daily digest or off"))
    default: Delivery = Field(description=_d("默认方式", "the default"))
    mandatory: bool = Field(description=_d("不可关闭", "cannot be turned off"))
    title: str = Field(description=_d("示例标题", "sample title"))


class PreferencesPublic(BaseModel):
    """My choices for every event kind, and where my e-mail goes."""

    items: list[PreferencePublic]
    email: str | None = Field(None, description=_d("接收邮箱（未设置则只有站内通知）", "my e-mail; none: in-app only"))
    digest_hour: int = Field(8, description=_d("每日摘要时间（北京时间）", "hour of the daily digest, Asia/Shanghai"))


class PreferenceIn(_In):
    """Choose how one kind of event reaches me."""

    delivery: Delivery = Field(description=_d("即时、每日摘要、不接收", "immediate, digest or off"))


class EmailIn(_In):
    """My e-mail address for notifications (null removes it)."""

    email: str | None = Field(max_length=254, pattern=EMAIL_PATTERN, description=_d("邮箱地址", "e-mail address"))


class EndpointCreate(_In):
    """A region's webhook or work-group robot (DingTalk 钉钉, WeCom 企业微信)."""

    kind: str = Field(
        Channel.WEBHOOK.value,
        pattern="^(webhook|dingtalk|wecom)$",
        description=_d("类型：webhook、dingtalk（钉钉群机器人）、wecom（企业微信群机器人）", "kind"),
    )
    region_code: str = Field(pattern=REGION_PATTERN, description=_d("所属区划（本辖区内）", "region, inside yours"))
    name: Text = Field(min_length=1, max_length=100, description=_d("名称", "name"))
    url: str = Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        description=_d(
            "地址（钉钉/企业微信为机器人的 Webhook 地址，含 access_token/key）",
            "URL (for a robot: its webhook URL with access_token or key)",
        ),
    )
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description=_d(
            "签名密钥（webhook 省略则生成并仅返回一次；钉钉为加签密钥 SEC…；企业微信不用）",
            "signing secret (webhook: generated and shown once when omitted; DingTalk: the SEC… secret; WeCom: none)",
        ),
    )
    events: list[EventKind] = Field(
        default_factory=list, max_length=50, description=_d("订阅的事件（空为全部）", "events taken; empty: all")
    )

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[EventKind]) -> list[EventKind]:
        return sorted(set(value))


class EndpointUpdate(_In):
    """Change a webhook or robot: its name, URL, events, whether it is active, or a new secret."""

    name: Text | None = Field(None, min_length=1, max_length=100, description=_d("名称", "name"))
    url: str | None = Field(
        None, min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$", description=_d("地址", "URL")
    )
    events: list[EventKind] | None = Field(None, max_length=50, description=_d("订阅的事件", "events taken"))
    active: bool | None = Field(None, description=_d("是否启用", "active"))
    rotate_secret: bool = Field(False, description=_d("生成新密钥（仅返回一次）", "generate a new secret, shown once"))


class EndpointPublic(BaseModel):
    """A webhook or robot (its secret is never shown again after creation or rotation)."""

    id: int
    kind: str = Field(description=_d("类型", "kind"))
    region_code: str = Field(description=_d("区划", "region"))
    name: str = Field(description=_d("名称", "name"))
    url: str = Field(description=_d("地址（令牌已遮盖）", "URL, its token masked"))
    events: list[str] = Field(description=_d("订阅的事件（空为全部）", "events taken; empty: all"))
    active: bool = Field(description=_d("是否启用", "active"))
    has_secret: bool = Field(description=_d("是否已设密钥", "a secret is set"))
    created_at: datetime = Field(description=_d("创建时间", "created at"))
    secret: str | None = Field(
        None, description=_d("签名密钥（仅在创建或更换时返回一次）", "the secret, shown once on creation or rotation")
    )


class EndpointsPublic(BaseModel):
    """A region's webhooks and robots."""

    items: list[EndpointPublic]
    count: int = Field(description=_d("总数", "total"))


class AttemptPublic(BaseModel):
    """One attempt at a delivery."""

    n: int = Field(description=_d("第几次", "attempt number"))
    at: datetime = Field(description=_d("时间", "at"))
    ok: bool = Field(description=_d("是否送达", "delivered"))
    status_code: int | None = Field(None, description=_d("对方应答码", "the receiver's status code"))
    error: str = Field(description=_d("错误", "error"))
    duration_ms: int = Field(description=_d("耗时（毫秒）", "milliseconds"))


class DeliveryPublic(BaseModel):
    """One delivery of the outbox with its attempts (the delivery log)."""

    id: int
    channel: str = Field(description=_d("渠道", "channel"))
    event: str = Field(description=_d("事件类型", "event kind"))
    event_key: str = Field(description=_d("事件键", "event key"))
    idempotency_key: str = Field(description=_d("投递幂等键（接收方据此去重）", "idempotency key; receivers dedupe"))
    status: str = Field(description=_d("状态：pending、digest、sending、delivered、failed", "status"))
    attempts: int = Field(description=_d("已尝试次数", "attempts made"))
    due_at: datetime = Field(description=_d("下次尝试时间", "next attempt at"))
    last_error: str = Field(description=_d("最近错误", "last error"))
    delivered_at: datetime | None = Field(None, description=_d("送达时间", "delivered at"))
    created_at: datetime = Field(description=_d("创建时间", "created at"))
    user_id: int | None = Field(None, description=_d("收件用户", "recipient user (e-mail)"))
    endpoint_id: int | None = Field(None, description=_d("webhook/机器人", "webhook or robot"))
    log: list[AttemptPublic] = Field(description=_d("尝试记录", "attempts"))


class DeliveriesPublic(BaseModel):
    """A page of deliveries, newest first."""

    items: list[DeliveryPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int
