"""The rural collective "three assets" platform (农村集体"三资"管理平台): one interface, two adapters.

`EmbeddedPlatform` is a registry in our own database that issues card numbers; `HttpPlatform` talks to the
real platform. Both are idempotent by the asset id, so a retried registration never makes a second card.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import structlog

from core.http_answers import answer_body, answer_detail, is_transient
from core.settings import PlatformKind, Settings
from db.engine import Sessions
from db.repositories.assets import create_platform_card

log = structlog.get_logger(__name__)
MAX_CARD_NO = 64  # assets.platform_card_no is VARCHAR(64)


class PlatformError(Exception):
    """The platform did not register the asset; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PlatformUnavailable(PlatformError):
    """Transient: the platform is down, slow or overloaded; the same request may succeed later."""


class PlatformRejected(PlatformError):
    """Permanent: the platform refused this registration; repeating it unchanged will not help."""


class ThreeAssetsPlatform(Protocol):
    """Registers an asset and returns its platform card number (卡号); idempotent by `asset_id`."""

    async def register(self, asset_id: str, payload: dict[str, Any]) -> str:
        """The card number of `asset_id`: a new one, or the one issued by an earlier call."""
        ...


class EmbeddedPlatform:
    """A registry in our own database (`platform_cards`): cards `SZ{county}{yyyymmdd}{nnnnn}`, one per asset."""

    def __init__(self, sessions: Sessions, *, time_zone: str = "Asia/Shanghai") -> None:
        self._sessions = sessions
        self._zone = ZoneInfo(time_zone)

    async def register(self, asset_id: str, payload: dict[str, Any]) -> str:
        """Issue the asset's card, or return the one it has (insert … ON CONFLICT (asset_id) DO NOTHING)."""
        county = str(payload.get("county_code") or "")
        if len(county) != 6 or not county.isdigit():
            raise PlatformRejected(f"asset {asset_id}: the payload names no 6-digit county_code")
        async with self._sessions.begin() as session:
            card_no = await create_platform_card(
                session, asset_id=asset_id, county_code=county, day=datetime.now(self._zone).date(), payload=payload
            )
        log.info("asset registered on the embedded platform", asset_id=asset_id, card_no=card_no)
        return card_no


class HttpPlatform:
    """The real platform over HTTP: POST {base_url}/assets with `Idempotency-Key: {asset_id}` (README: the contract)."""

    def __init__(self, base_url: str, *, token: str = "", timeout: float = 10.0) -> None:
        self._url = base_url.rstrip("/") + "/assets"
        self._token = token
        self._timeout = timeout

    async def register(self, asset_id: str, payload: dict[str, Any]) -> str:
        """POST the asset; 200/201 → its card, 409 with a card → registered before, else a typed PlatformError."""
        headers = {"Idempotency-Key": asset_id, "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            # A client per call: registrations are rare, and nothing is left open between activity attempts.
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self._url, json=payload, headers=headers)
        except httpx.HTTPError as err:
            raise PlatformUnavailable(
                f"the platform at {self._url} is unreachable: {type(err).__name__}: {err}"
            ) from err
        status = response.status_code
        card_no = _card_no(response)
        if status in (200, 201):
            if card_no is None:
                # The platform may have registered the asset: ask again (same key) rather than give up on the card.
                raise PlatformUnavailable(f"the platform answered {status} without a usable card_no", status=status)
            log.info("asset registered on the platform", asset_id=asset_id, card_no=card_no, status=status)
            return card_no
        if status == 409 and card_no is not None:
            log.info("asset was registered on the platform before", asset_id=asset_id, card_no=card_no)
            return card_no
        detail = answer_detail(response)
        if is_transient(status):
            raise PlatformUnavailable(f"the platform answered {status}: {detail}", status=status)
        raise PlatformRejected(f"the platform refused asset {asset_id} with {status}: {detail}", status=status)


def _card_no(response: httpx.Response) -> str | None:
    body = answer_body(response)
    card = body.get("card_no") if isinstance(body, dict) else None
    if isinstance(card, str) and 0 < len(card.strip()) <= MAX_CARD_NO:
        return card.strip()
    return None


def make_platform(settings: Settings, sessions: Sessions) -> ThreeAssetsPlatform:
    """The platform adapter the settings choose (`PLATFORM__KIND`)."""
    if settings.platform.kind is PlatformKind.HTTP:
        return HttpPlatform(
            settings.platform.url,
            token=settings.platform.token.get_secret_value(),
            timeout=settings.platform.timeout_seconds,
        )
    return EmbeddedPlatform(sessions, time_zone=settings.time_zone)
