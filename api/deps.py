"""Dependencies: sessions, Temporal client, settings and the authenticated user, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import jwt
import structlog
from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.errors import ApiError, forbidden, invalid, unauthorized
from api.security import decode_token
from core.settings import Settings
from db.engine import Sessions
from db.models import Region
from db.repositories.users import get_user
from domain.enums import RegionLevel, Role
from domain.regions import covers, region_prefix

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def _settings(request: Request) -> Settings:
    # the app-state dependencies are `async def` though they await nothing: FastAPI runs a plain `def` dependency
    # in a worker thread, three thread hand-offs per request for reading an attribute
    settings: Settings = request.app.state.settings
    return settings


READS = frozenset({"GET", "HEAD"})


async def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


@dataclass(frozen=True)
class WorkflowEngine:
    """The Temporal client and how long a request may wait on it (then 504, retry-safe)."""

    client: Client
    wait_seconds: float


async def _temporal(request: Request) -> WorkflowEngine:
    engine: WorkflowEngine = request.app.state.temporal
    return engine


async def _session(request: Request, sessions: Annotated[Sessions, Depends(_sessions)]) -> AsyncIterator[AsyncSession]:
    """The request's session; a read's (GET, HEAD) in autocommit mode. Under READ COMMITTED every statement sees
    its own snapshot either way, so a read loses no consistency; a read that writes (the history's verification
    checkpoint) writes one statement, committed by itself."""
    factory: Sessions = request.app.state.read_sessions if request.method in READS else sessions
    async with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionsDep = Annotated[Sessions, Depends(_sessions)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
TemporalDep = Annotated[WorkflowEngine, Depends(_temporal)]


@dataclass(frozen=True)
class Principal:
    """The authenticated user, as every route sees them."""

    id: int
    username: str
    full_name: str
    role: Role
    region_code: str
    region_level: RegionLevel
    region_name: str
    organisation: str = ""

    @property
    def region_prefix(self) -> str:
        """Every code inside this user's region starts with this."""
        return region_prefix(self.region_code, self.region_level)

    def covers(self, code: str) -> bool:
        """True when `code` lies inside this user's region."""
        return covers(self.region_code, self.region_level, code)

    def require_role(self, *roles: Role) -> None:
        """403 unless the user has one of `roles`."""
        if self.role not in roles:
            names = ", ".join(r.value for r in roles)
            raise forbidden(
                f"this action needs one of the roles: {names} (you are {self.role.value})", "role_forbidden"
            )

    def require_region(self, code: str, what: str = "this resource") -> None:
        """403 unless `code` lies inside the user's region."""
        if not self.covers(code):
            raise forbidden(f"{what} lies outside your region {self.region_code}", "region_forbidden")


class Principals:
    """The users recently authenticated by this process, kept `seconds` (settings.auth_cache_seconds): a request
    reads no user row, and a user disabled (or changed) elsewhere is refused within those seconds. Changes made
    through this process (`forget`) take effect at once."""

    def __init__(self, seconds: float) -> None:
        self._cache: TTLCache[int, tuple[Principal, bool]] = TTLCache(maxsize=10_000, ttl=seconds)

    def get(self, user_id: int) -> tuple[Principal, bool] | None:
        """The cached caller, if still fresh."""
        return self._cache.get(user_id)

    def put(self, user_id: int, known: tuple[Principal, bool]) -> None:
        """Remember an authenticated caller."""
        self._cache[user_id] = known

    def forget(self, user_id: int) -> None:
        """A user was changed (disabled, role, region, password): read them again on their next request."""
        self._cache.pop(user_id, None)


async def _principals(request: Request) -> Principals:
    principals: Principals = request.app.state.principals
    return principals


PrincipalsDep = Annotated[Principals, Depends(_principals)]


async def _authenticated(
    token: Annotated[str | None, Depends(oauth2)], settings: SettingsDep, sessions: SessionsDep, known: PrincipalsDep
) -> tuple[Principal, bool]:
    """The bearer token's active user, and whether they must change their password before anything else."""
    if not token:
        raise unauthorized()
    try:
        claims = decode_token(token, secret=settings.jwt_secret)
        user_id = int(claims["sub"])
    except (jwt.InvalidTokenError, ValueError, KeyError) as err:
        raise unauthorized("invalid or expired bearer token") from err
    if (cached := known.get(user_id)) is not None:
        structlog.contextvars.bind_contextvars(user=cached[0].username)
        return cached
    async with sessions() as session:
        user = await get_user(session, user_id=user_id)
        region = await session.get(Region, user.region_code) if user else None
    if user is None or not user.active or region is None:
        raise unauthorized("this account is unknown or disabled")
    structlog.contextvars.bind_contextvars(user=user.username)
    principal = Principal(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=Role(user.role),
        region_code=user.region_code,
        region_level=RegionLevel(region.level),
        region_name=region.name,
        organisation=user.organisation,
    )
    known.put(user_id, (principal, user.must_change_password))
    return principal, user.must_change_password


async def _current_user(
    authenticated: Annotated[tuple[Principal, bool], Depends(_authenticated)],
) -> Principal:
    principal, must_change_password = authenticated
    if must_change_password:
        raise forbidden(
            "an administrator set your password: change it first (POST /api/v1/me/password)",
            "password_change_required",
        )
    return principal


async def _password_changer(
    authenticated: Annotated[tuple[Principal, bool], Depends(_authenticated)],
) -> Principal:
    return authenticated[0]


CurrentUser = Annotated[Principal, Depends(_current_user)]
# Only for changing one's own password: the one thing a user whose password an administrator set may do.
PasswordChangerDep = Annotated[Principal, Depends(_password_changer)]


async def region_filter(session: AsyncSession, user: Principal, field: str, code: str) -> Region:
    """The region a list filter names: 403 when it lies outside the caller's region, 422 when there is none.

    Every list answers an out-of-region filter the same way: the caller asked for something outside their
    region, which is refused and said so, never silently narrowed to an empty page."""
    if not user.covers(code):
        message = f"{field} {code} lies outside your region {user.region_code}"
        raise ApiError(
            403, "region_forbidden", message, [{"field": field, "rule": "in_your_region", "message": message}]
        )
    region = await session.get(Region, code)
    if region is None:
        raise invalid([{"field": field, "rule": "exists", "message": f"no region {code}"}])
    return region
