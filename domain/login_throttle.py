"""Login rate-limit rules: what is counted (a username, a client address) and how a key is kept storable."""

from __future__ import annotations

import hashlib
import unicodedata
from enum import StrEnum

# Longest key stored as written; a longer (or unprintable) one is stored as its digest, so any input fits.
MAX_KEY_CHARS = 200


class ThrottleScope(StrEnum):
    """What failed logins are counted against."""

    USERNAME = "username"
    ADDRESS = "address"


def printable(value: str, limit: int = MAX_KEY_CHARS) -> str:
    """`value` without control and format characters (NUL, bidi overrides), at most `limit` characters."""
    return "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf", "Cs"))[:limit]


def throttle_key(value: str) -> str:
    """The key a username or address is counted under: itself when storable, else `sha256:<digest>`.

    PostgreSQL refuses NUL in text and the column is bounded, yet an attacker picks the username: hashing keeps
    every distinct input distinct without ever failing the insert."""
    if len(value) <= MAX_KEY_CHARS and printable(value) == value:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def audit_key(scope: ThrottleScope, key: str, window_started_epoch: int) -> str:
    """The audit event key of one lock (one per key and window, so concurrent refusals audit it once)."""
    return f"login-locked:{scope.value}:{hashlib.sha256(key.encode()).hexdigest()[:40]}:{window_started_epoch}"
