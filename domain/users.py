"""Who may grant which account, and what a password must be (one home for the API and the CLI)."""

from __future__ import annotations

from domain.enums import RegionLevel, Role
from domain.regions import covers

MIN_PASSWORD = 8
MAX_PASSWORD = 128
# Reviewers decide one level of the chain: their region is that level (an inbox is filled by region and role).
ROLE_LEVEL: dict[Role, RegionLevel] = {
    Role.TOWNSHIP_REVIEWER: RegionLevel.TOWNSHIP,
    Role.COUNTY_REVIEWER: RegionLevel.COUNTY,
    Role.CITY_REVIEWER: RegionLevel.CITY,
}


def grant_problem(
    *,
    admin_code: str,
    admin_level: RegionLevel,
    role: Role,
    region_code: str,
    region_level: RegionLevel | None = None,
) -> tuple[str, str, str] | None:
    """Why an admin of (admin_code, admin_level) may not hold sway over an account with `role` in `region_code`.

    As (field, rule, message), or None. An admin manages accounts inside their own region; another admin only
    strictly beneath it (a county admin is made by the city's admin, never by a peer or by themselves). With
    `region_level` (a new account) a reviewer's region must also be the level they review at."""
    if not covers(admin_code, admin_level, region_code):
        return "region_code", "in_your_region", f"region {region_code} lies outside your region {admin_code}"
    if role is Role.ADMIN and region_code == admin_code:
        return "role", "below_your_region", "an admin account is granted only for a region beneath yours"
    expected = ROLE_LEVEL.get(role)
    if expected is not None and region_level is not None and region_level is not expected:
        return "region_code", "role_level", f"a {role.value} acts in a {expected.value}, not a {region_level.value}"
    return None


def password_problems(password: str, *, username: str, old: str | None = None) -> list[tuple[str, str]]:
    """Why a new password is refused, as (rule, message) pairs; empty when it is acceptable."""
    out: list[tuple[str, str]] = []
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        out.append(("length", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"))
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        out.append(("letters_and_digits", "a password has at least one letter and one digit"))
    if username and username.lower() in password.lower():
        out.append(("not_username", "a password may not contain the login name"))
    if old is not None and password == old:
        out.append(("changed", "the new password must differ from the old one"))
    return out
