"""Failure types shared by activities, workflows and the API (ApplicationError.type values)."""

from __future__ import annotations

UNSTORABLE = "Unstorable"
"""The database refused the data itself (a data or integrity error): retrying cannot help."""

STORE_FAILED = "StoreFailed"
"""A store inside an Update did not finish within its budget (the database is down or slow): retry later."""
