"""Password hashing (argon2) and JWT bearer tokens (PyJWT)."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("no-such-user")


def verify_dummy(password: str) -> None:
    """Spend the same time as a real verification, so timing does not reveal which usernames exist."""
    verify_password(_dummy_hash(), password)


def create_token(*, user_id: int, role: str, region_code: str, secret: str, ttl_minutes: int) -> str:
    """A signed bearer token for a user."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "region": region_code,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, *, secret: str) -> dict[str, Any]:
    """The claims of a valid token; raises jwt.InvalidTokenError otherwise."""
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    return claims


_TEMPORARY_ALPHABET = string.ascii_letters + string.digits


def temporary_password() -> str:
    """A random password handed out once by an administrator; its holder must change it at the next login."""
    while True:
        candidate = "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(14))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate
