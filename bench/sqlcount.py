"""Counts the SQL statements assetflow runs per chain (API and worker share this process), leaving out the
drivers' polling of the inbox: how often the drivers poll depends on how fast the system is, not on its work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_polling: ContextVar[bool] = ContextVar("bench_polling", default=False)


class StatementCounter:
    """Statements executed by every engine of this process since `install`, polling excluded."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> None:
        """Listen on every engine (the API's and the worker's)."""
        event.listen(Engine, "before_cursor_execute", self._seen)

    def uninstall(self) -> None:
        """Stop listening."""
        event.remove(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        if not _polling.get():
            self.count += 1


@contextmanager
def polling() -> Iterator[None]:
    """Statements run inside this block (the request it makes, served in the same task) are not counted."""
    token = _polling.set(True)
    try:
        yield
    finally:
        _polling.reset(token)
