"""The two reads officials make all day, on a full database: a township reviewer's inbox with 100,000 open tasks
stored, and a county's project list filtered by stage with 10,000 projects stored. Through the real app (HTTP,
auth, the read model), one request at a time, after the rows are written in bulk."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert

from api.security import hash_password
from bench.stats import Latency
from db.engine import Sessions
from db.models import Project, Region, Task, User
from domain.enums import RegionLevel, Role, Stage, TaskKind

PROJECTS = 10_000
TASKS = 100_000
TOWNSHIPS = 20
VILLAGES_PER_TOWNSHIP = 5
REQUESTS = 200
CITY, COUNTY = "980100", "980101"
PASSWORD = "bench-Pass-1234"
STAGES = [Stage.TOWNSHIP_REVIEW, Stage.EXPERT_REVIEW, Stage.COUNTY_APPROVAL, Stage.CONSTRUCTION, Stage.OPERATION]
ROLES = [
    (Role.TOWNSHIP_REVIEWER, TaskKind.TOWNSHIP_REVIEW, Stage.TOWNSHIP_REVIEW),
    (Role.COUNTY_REVIEWER, TaskKind.COUNTY_APPROVAL, Stage.COUNTY_APPROVAL),
    (Role.CITY_REVIEWER, TaskKind.CITY_FILING, Stage.CITY_FILING),
    (Role.COUNTY_REVIEWER, TaskKind.ACCEPTANCE, Stage.ACCEPTANCE),
]


@dataclass(frozen=True)
class ReadFigures:
    """One read's latencies and the size of what it read from."""

    name: str
    stored: int
    matching: int
    latency: Latency

    def summary(self) -> dict[str, Any]:
        """For the JSON line."""
        return {
            "stored": self.stored,
            "matching": self.matching,
            "requests": self.latency.count,
            "p50_ms": round(self.latency.p50_ms, 1),
            "p95_ms": round(self.latency.p95_ms, 1),
        }


def _township(i: int) -> str:
    return f"{COUNTY}{100 + i:03d}"


def _village(i: int, j: int) -> str:
    return f"{_township(i)}{201 + j:03d}"


async def seed(sessions: Sessions) -> dict[str, int]:
    """A county of 20 townships and 100 villages, 10,000 projects and 100,000 open tasks, written in bulk; the
    ids of the township reviewer and the county reviewer who read them."""
    now = datetime.now(UTC)
    pw = hash_password(PASSWORD)
    async with sessions.begin() as s:
        regions: list[dict[str, Any]] = [
            {"code": "980000", "name": "读省", "level": RegionLevel.PROVINCE.value, "parent_code": None},
            {"code": CITY, "name": "读市", "level": RegionLevel.CITY.value, "parent_code": "980000"},
            {"code": COUNTY, "name": "读县", "level": RegionLevel.COUNTY.value, "parent_code": CITY},
        ]
        for i in range(TOWNSHIPS):
            regions.append({"code": _township(i), "name": f"读镇{i}", "level": "township", "parent_code": COUNTY})
            for j in range(VILLAGES_PER_TOWNSHIP):
                regions.append(
                    {"code": _village(i, j), "name": f"读村{i}-{j}", "level": "village", "parent_code": _township(i)}
                )
        await s.execute(insert(Region), regions)
        users = {
            "pm": (Role.PROJECT_MANAGER, _village(0, 0)),
            "township": (Role.TOWNSHIP_REVIEWER, _township(0)),
            "county": (Role.COUNTY_REVIEWER, COUNTY),
        }
        ids: dict[str, int] = {}
        for key, (role, region) in users.items():
            user = User(username=f"read_{key}", full_name=key, password_hash=pw, role=role.value, region_code=region)
            s.add(user)
            await s.flush()
            ids[key] = user.id
        projects: list[dict[str, Any]] = []
        for n in range(PROJECTS):
            i, j = n % TOWNSHIPS, (n // TOWNSHIPS) % VILLAGES_PER_TOWNSHIP
            code = f"XM{COUNTY}-2026-{n + 1:05d}"
            projects.append(
                {
                    "code": code,
                    "name": f"读项目{n}",
                    "project_type": "greenhouse",
                    "village_code": _village(i, j),
                    "township_code": _township(i),
                    "county_code": COUNTY,
                    "city_code": CITY,
                    "stage": STAGES[n % len(STAGES)].value,
                    "status": "active",
                    "total_budget_fen": 100_000_000,
                    "planned_start": date(2026, 3, 1),
                    "planned_end": date(2026, 12, 1),
                    "applicant_id": ids["pm"],
                    "application": {},
                    "workflow_id": f"project-{code}",
                }
            )
        await s.execute(insert(Project), projects)
        tasks: list[dict[str, Any]] = []
        for n in range(TASKS):
            project = projects[n % PROJECTS]
            role, kind, stage = ROLES[n % len(ROLES)]
            region = (
                project["township_code"]
                if role is Role.TOWNSHIP_REVIEWER
                else (CITY if role is Role.CITY_REVIEWER else COUNTY)
            )
            tasks.append(
                {
                    "id": f"read-{n:06d}",
                    "project_code": project["code"],
                    "kind": kind.value,
                    "stage": stage.value,
                    "round": 1,
                    "candidate_role": role.value,
                    "region_code": region,
                    "allowed_decisions": ["approve", "return", "reject"],
                    "status": "open",
                    "opened_at": now - timedelta(days=n % 30),
                    "due_at": now + timedelta(hours=n % 500),
                    "details": {},
                }
            )
        for start in range(0, TASKS, 10_000):
            await s.execute(insert(Task), tasks[start : start + 10_000])
    return ids


async def _time(
    api: httpx.AsyncClient, path: str, params: dict[str, Any], headers: dict[str, str]
) -> tuple[float, int]:
    started = time.perf_counter()
    r = await api.get(path, params=params, headers=headers)
    took = time.perf_counter() - started
    if r.status_code != 200:
        raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:200]}")
    return took, int(r.json()["count"])


async def measure_reads(api: httpx.AsyncClient, sessions: Sessions) -> list[ReadFigures]:
    """Seed, log in, warm up, then time each read `REQUESTS` times."""
    await seed(sessions)
    heads = {}
    for key in ("township", "county"):
        r = await api.post("/api/v1/auth/token", data={"username": f"read_{key}", "password": PASSWORD})
        heads[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    reads = [
        ("inbox", "/api/v1/tasks", {}, heads["township"], TASKS),
        (
            "project_list",
            "/api/v1/projects",
            {"county": COUNTY, "stage": Stage.CONSTRUCTION.value},
            heads["county"],
            PROJECTS,
        ),
    ]
    out = []
    for name, path, params, headers, stored in reads:
        for _ in range(10):  # warm-up: pools, caches, the planner's statistics
            await _time(api, path, params, headers)
        timings, matching = [], 0
        for _ in range(REQUESTS):
            took, matching = await _time(api, path, params, headers)
            timings.append(took)
        out.append(ReadFigures(name, stored, matching, Latency(tuple(timings))))
    return out
