"""Reading an outside service's HTTP answer: its JSON body, its error text, and which statuses are worth repeating."""

from __future__ import annotations

from typing import Any

import httpx

TRANSIENT_4XX = {408, 425, 429}  # timeout, too early, too many requests: asking again later may succeed


def is_transient(status: int) -> bool:
    """A status after which the same request may succeed later (5xx, 408, 425, 429)."""
    return status >= 500 or status in TRANSIENT_4XX


def answer_body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def answer_detail(response: httpx.Response) -> str:
    """The service's own reason (`message`, `error` or `detail`), else the body's first 500 characters."""
    body = answer_body(response)
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if body.get(key):
                return str(body[key])[:500]
    return response.text[:500] or response.reason_phrase
