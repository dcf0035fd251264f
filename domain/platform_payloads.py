"""Payloads of the "three assets" platform registration (三资平台登记): frozen dataclasses; new fields get defaults.

They land in workflow histories: asset ids and card numbers only, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PLATFORM_WAITING = "three-assets platform"
"""The project's `waiting_for` while the platform cannot be reached."""


@dataclass(frozen=True)
class RegisterAssetInput:
    """Register one asset into the platform (idempotent by asset_id); `at` is when the workflow asked."""

    asset_id: str
    project_code: str
    at: datetime


@dataclass(frozen=True)
class RegisterAssetResult:
    """The platform card number (三资平台卡号) the asset now carries."""

    asset_id: str
    card_no: str
