"""Driving N items through C concurrent clients, and summarising what was timed."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Latency:
    """Round-trip times of one kind of call, in seconds."""

    samples: tuple[float, ...]

    @property
    def p50_ms(self) -> float:
        """Median, milliseconds."""
        return self._percentile(50)

    @property
    def p99_ms(self) -> float:
        """99th percentile, milliseconds."""
        return self._percentile(99)

    def _percentile(self, p: int) -> float:
        return statistics.quantiles(self.samples, n=100)[p - 1] * 1000


@dataclass(frozen=True)
class Throughput:
    """Items brought to a point by concurrent clients, and the wall time that took."""

    items: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Items per second of wall time."""
        return self.items / self.seconds


async def drive(
    items: Sequence[T], *, clients: int, step: Callable[[T], Awaitable[R]], done: Callable[[], None] | None = None
) -> tuple[list[R], float]:
    """Run `step` over `items` with `clients` concurrent clients; results in item order and the wall time.

    The first failure cancels the other clients and propagates (a benchmark over failing calls means nothing).
    """
    results: dict[int, R] = {}
    pending = iter(enumerate(items))  # shared by the clients: one event loop, so next() needs no lock

    async def client() -> None:
        for i, item in pending:
            results[i] = await step(item)
            if done is not None:
                done()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(clients, len(items))):
            group.create_task(client())
    elapsed = time.perf_counter() - started
    return [results[i] for i in range(len(items))], elapsed


async def timed(call: Awaitable[R]) -> tuple[R, float]:
    """Await `call`; its result and how long it took (perf_counter seconds)."""
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started
