"""Driving N items through C concurrent clients, and summarising what was timed."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Latency:
    """Round-trip times of one kind of call, in seconds."""

    samples: tuple[float, ...]

    @property
    def count(self) -> int:
        """How many calls were timed."""
        return len(self.samples)

    @property
    def mean_ms(self) -> float:
        """Arithmetic mean, milliseconds."""
        return statistics.fmean(self.samples) * 1000

    @property
    def p50_ms(self) -> float:
        """Median, milliseconds."""
        return self._percentile(50)

    @property
    def p99_ms(self) -> float:
        """99th percentile, milliseconds (interpolated inside the observed range)."""
        return self._percentile(99)

    @property
    def p95_ms(self) -> float:
        """95th percentile, milliseconds."""
        return self._percentile(95)

    def _percentile(self, p: int) -> float:
        if len(self.samples) == 1:
            return self.samples[0] * 1000
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1] * 1000

    def summary(self) -> dict[str, Any]:
        """The figures, for the JSON line."""
        return {
            "count": self.count,
            "mean_ms": round(self.mean_ms, 1),
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
        }


@dataclass(frozen=True)
class Throughput:
    """Items completed by concurrent clients, and the wall time that took."""

    items: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Items per second of wall time."""
        return self.items / self.seconds

    def summary(self) -> dict[str, Any]:
        """The figures, for the JSON line."""
        return {"items": self.items, "seconds": round(self.seconds, 2), "per_second": round(self.per_second, 2)}


async def drive(
    items: Sequence[T],
    *,
    clients: int,
    step: Callable[[int, T], Awaitable[R]],
    done: Callable[[], None] | None = None,
) -> tuple[list[R], float]:
    """Run `step(client, item)` over `items` with `clients` concurrent clients (numbered from 0); the results in
    item order and the wall time. Each client takes the next item as soon as it is free.

    The first failure cancels the other clients and propagates (a benchmark over failing calls means nothing).
    """
    results: dict[int, R] = {}
    pending = iter(enumerate(items))  # shared by the clients: one event loop, so next() needs no lock

    async def client(number: int) -> None:
        for i, item in pending:
            results[i] = await step(number, item)
            if done is not None:
                done()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(min(clients, len(items))):
            group.create_task(client(number))
    elapsed = time.perf_counter() - started
    return [results[i] for i in range(len(items))], elapsed


async def timed(call: Awaitable[R]) -> tuple[R, float]:
    """Await `call`; its result and how long it took (perf_counter seconds)."""
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started
