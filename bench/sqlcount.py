"""Counts the SQL statements assetflow runs per chain (API and worker share this process), leaving out the
drivers' polling of the inbox: how often the drivers poll depends on how fast the system is, not on its work."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.pool import Pool

_polling: ContextVar[bool] = ContextVar("bench_polling", default=False)


class StatementCounter:
    """Statements executed by every engine of this process since `install`, polling excluded unless `polls`; and
    the connections taken from every pool meanwhile (`checkouts`, polls included)."""

    def __init__(self, *, shapes: bool = False, polls: bool = False) -> None:
        self.count = 0
        self.checkouts = 0
        self.shapes: Counter[str] | None = Counter() if shapes else None
        self._polls = polls

    def install(self) -> None:
        """Listen on every engine (the API's and the worker's) and every pool."""
        event.listen(Engine, "before_cursor_execute", self._seen)
        event.listen(Pool, "checkout", self._checkout)

    def uninstall(self) -> None:
        """Stop listening."""
        event.remove(Engine, "before_cursor_execute", self._seen)
        event.remove(Pool, "checkout", self._checkout)

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def _seen(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any) -> None:
        if self._polls or not _polling.get():
            self.count += 1
            if self.shapes is not None:
                # a statement SQLAlchemy compiled for this call (not found in its cache) costs far more Python time
                hit = getattr(context, "cache_hit", None)
                compiled = getattr(context, "compiled", None) is not None and hit is not CacheStats.CACHE_HIT
                self.shapes[shape(statement) + (" (compiled)" if compiled else "")] += 1


def shape(statement: str) -> str:
    """A statement's kind and first table, enough to tell the hot path's statements apart (BENCH_SQL_SHAPES=1)."""
    flat = re.sub(r"\s+", " ", statement).strip()
    match = re.match(r"(WITH \w+|SELECT|INSERT INTO \w+|UPDATE \w+|DELETE FROM \w+|\w+)", flat)
    head = match.group(1) if match else flat[:20]
    table = re.search(r" FROM (\w+)", flat) if head in ("SELECT",) or head.startswith("WITH") else None
    return f"{head} {table.group(1)}" if table else head


@contextmanager
def polling() -> Iterator[None]:
    """Statements run inside this block (the request it makes, served in the same task) are not counted."""
    token = _polling.set(True)
    try:
        yield
    finally:
        _polling.reset(token)
