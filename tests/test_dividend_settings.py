"""Dividend notice settings: a county's own days, counted as working days when it says so (whole days only)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import CountyNotice, DividendSettings


def test_a_county_notices_by_its_own_rule_and_the_others_by_the_default() -> None:
    s = DividendSettings(notice_days=10, counties={"370115": CountyNotice(notice_days=15, working_days=True)})
    assert s.notice_for("370115") == (15, 15, True)
    assert s.notice_for("370116") == (10, 10, False)


def test_working_days_are_whole_days() -> None:
    with pytest.raises(ValidationError, match="whole days"):
        CountyNotice(notice_days=10.5, working_days=True)
    assert CountyNotice(notice_days=0.5).notice_days == 0.5  # calendar days may be fractions (a demo's minutes)
