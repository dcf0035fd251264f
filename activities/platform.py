"""Registration of assets into the "three assets" platform (三资平台): the call outside, then one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.archives import refresh_project
from activities.projects import transaction
from core.platform import PlatformRejected, PlatformUnavailable, ThreeAssetsPlatform
from db.engine import Sessions
from db.models import Asset
from db.repositories.assets import (
    IncomeTotals,
    Owner,
    get_asset,
    get_income_totals,
    list_asset_owners,
    update_asset_registered,
    update_asset_waiting,
    update_project_platform_wait,
)
from db.repositories.audit import create_audit_entry, project_chain
from domain.assets import AssetClass
from domain.platform_payloads import RegisterAssetInput, RegisterAssetResult

log = structlog.get_logger(__name__)


class PlatformActivities:
    """Registers assets for the project workflow; the platform adapter comes from core.platform.make_platform."""

    def __init__(self, sessions: Sessions, platform: ThreeAssetsPlatform) -> None:
        self._sessions = sessions
        self._platform = platform

    @activity.defn
    async def register_asset(self, inp: RegisterAssetInput) -> RegisterAssetResult:
        """Register one asset (idempotent by asset id) and keep its card number; household assets are refused."""
        async with self._sessions() as session:
            asset = await get_asset(session, asset_id=inp.asset_id)
            if asset is None or asset.project_code != inp.project_code:
                raise ApplicationError(
                    f"asset {inp.asset_id} of project {inp.project_code} not found", type="NotFound", non_retryable=True
                )
            if asset.platform_card_no:
                return RegisterAssetResult(asset_id=asset.id, card_no=asset.platform_card_no)
            if asset.asset_class == AssetClass.HOUSEHOLD:
                # DOMAIN.md §5: a household asset belongs to its household and gets no platform card; asking is a bug.
                raise ApplicationError(
                    f"asset {asset.id} is a household asset: it is not registered on the platform",
                    type="HouseholdAsset",
                    non_retryable=True,
                )
            payload = platform_payload(
                asset,
                owners=await list_asset_owners(session, asset_id=asset.id),
                income=await get_income_totals(session, asset_id=asset.id),
            )
        try:
            card_no = await self._platform.register(asset.id, payload)
        except PlatformUnavailable as err:
            async with transaction(self._sessions) as session:
                await update_asset_waiting(session, asset_id=asset.id)
                await update_project_platform_wait(session, project_code=inp.project_code, waiting=True)
            log.warning("platform unavailable; will retry", asset_id=asset.id, error=str(err))
            raise ApplicationError(str(err), type="PlatformUnavailable") from err
        except PlatformRejected as err:
            log.error("platform rejected the asset", asset_id=asset.id, error=str(err))
            raise ApplicationError(
                str(err), {"status": err.status}, type="PlatformRejected", non_retryable=True
            ) from err
        now = datetime.now(UTC)
        async with transaction(self._sessions) as session:
            locked = await get_asset(session, asset_id=asset.id, for_update=True)
            assert locked is not None
            if locked.platform_card_no and locked.platform_card_no != card_no:
                # A concurrent attempt stored its card first; the platform is idempotent, so this means a platform bug.
                log.error("platform returned a different card", asset_id=asset.id, stored=locked.platform_card_no)
            stored = locked.platform_card_no or card_no
            if await update_asset_registered(session, asset_id=asset.id, card_no=card_no, at=now):
                await create_audit_entry(
                    session,
                    chain=project_chain(inp.project_code),
                    action="platform_registered",
                    event_key=f"platform:{asset.id}",
                    payload={"asset_id": asset.id, "card_no": card_no, "requested_at": inp.at.isoformat()},
                    at=now,
                )
            await update_project_platform_wait(session, project_code=inp.project_code, waiting=False)
        async with transaction(self._sessions) as session:
            await refresh_project(session, inp.project_code, now)  # its own transaction: the project locked alone
        log.info("asset registered", asset_id=asset.id, card_no=stored, project_code=inp.project_code)
        return RegisterAssetResult(asset_id=asset.id, card_no=stored)


def platform_payload(asset: Asset, *, owners: list[Owner], income: IncomeTotals) -> dict[str, Any]:
    """What the platform receives: the asset and its four rights, with counts instead of people (no personal data)."""
    return {
        "asset_id": asset.id,
        "project_code": asset.project_code,
        "name": asset.name,
        "asset_class": asset.asset_class,
        "quantity": asset.quantity,
        "unit": asset.unit,
        "value_fen": asset.value_fen,
        "location": asset.location,
        "village_code": asset.village_code,
        "township_code": asset.township_code,
        "county_code": asset.county_code,
        "status": asset.status,
        "ownership": [{"village_code": o.village_code, "share_bp": o.share_bp} for o in owners],
        "operating": {
            "operator_name": asset.operator_name,
            "operator_type": asset.operator_type,
            "contract_mode": asset.contract_mode,
            "contract_start": asset.contract_start.isoformat() if asset.contract_start else None,
            "contract_end": asset.contract_end.isoformat() if asset.contract_end else None,
            "contract_term_years": asset.contract_term_years,
            "annual_rent_fen": asset.annual_rent_fen,
        },
        "income": {"households": income.households, "shares": income.shares},
        "supervision": dict(asset.supervision),
    }
