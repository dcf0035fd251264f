"""Helpers for driving the approval chain through the HTTP API on the time-skipping server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.security import hash_password
from db.engine import Sessions
from db.models import Expert, User
from tests.conftest import PASSWORD, World, application, eventually

GOOD_SCORES = {"operating_model": 20, "revenue_estimate": 20, "benefit_linkage": 25, "compliance_risk": 15}
POOR_SCORES = {"operating_model": 10, "revenue_estimate": 10, "benefit_linkage": 10, "compliance_risk": 10}


@dataclass
class Experts:
    """Experts added to a world's library: eligible ones and the ones that must never be drawn."""

    eligible: list[User] = field(default_factory=list)
    same_township: User | None = None
    same_entity: User | None = None
    declared_conflict: User | None = None
    inactive: User | None = None
    ids: dict[int, int] = field(default_factory=dict)  # user id → expert id


async def add_expert(
    sessions: Sessions,
    world: World,
    *,
    region: str | None = None,
    affiliation: str = "",
    specialties: list[str] | None = None,
    conflicts: dict[str, list[str]] | None = None,
    active: bool = True,
) -> tuple[User, int]:
    """One expert with a login account, in the world's city unless told otherwise."""
    suffix = uuid.uuid4().hex[:8]
    async with sessions.begin() as s:
        user = User(
            username=f"expert_{suffix}",
            full_name=f"专家{suffix}",
            password_hash=hash_password(PASSWORD),
            role="expert",
            region_code=region or world.city,
            organisation=affiliation,
        )
        s.add(user)
        await s.flush()
        expert = Expert(
            user_id=user.id,
            name=f"专家{suffix}",
            specialties=specialties or ["greenhouse"],
            region_code=region or world.city,
            affiliation=affiliation or f"农科院{suffix}",
            conflicts=conflicts or {"townships": [], "organisations": []},
            active=active,
        )
        s.add(expert)
        await s.flush()
        return user, expert.id


async def add_library(sessions: Sessions, world: World, eligible: int = 4) -> Experts:
    """A library with `eligible` good experts and four that the draw must exclude."""
    out = Experts()
    for _ in range(eligible):
        user, eid = await add_expert(sessions, world)
        out.eligible.append(user)
        out.ids[user.id] = eid
    out.same_township, eid = await add_expert(sessions, world, region=world.townships[0])
    out.ids[out.same_township.id] = eid
    out.same_entity, eid = await add_expert(sessions, world, affiliation="东关村股份经济合作社")
    out.ids[out.same_entity.id] = eid
    out.declared_conflict, eid = await add_expert(
        sessions, world, conflicts={"townships": [world.townships[0]], "organisations": []}
    )
    out.ids[out.declared_conflict.id] = eid
    out.inactive, eid = await add_expert(sessions, world, active=False)
    out.ids[out.inactive.id] = eid
    return out


class Driver:
    """Logs users in and drives a project through the API."""

    def __init__(self, api: httpx.AsyncClient, world: World) -> None:
        self.api = api
        self.world = world
        self._tokens: dict[int, dict[str, str]] = {}

    async def headers(self, user: User) -> dict[str, str]:
        """Bearer headers for `user` (cached)."""
        if user.id not in self._tokens:
            r = await self.api.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[user.id] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._tokens[user.id]

    async def create(self, **overrides: Any) -> str:
        """File an application as the world's project manager; the project code."""
        r = await self.api.post(
            "/api/v1/projects", json=application(self.world, **overrides), headers=await self.headers(self.pm)
        )
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    @property
    def pm(self) -> User:
        """The applicant."""
        return self.world.users["pm"]

    async def inbox(self, user: User, **params: Any) -> list[dict[str, Any]]:
        """The user's open tasks."""
        r = await self.api.get("/api/v1/tasks", params=params, headers=await self.headers(user))
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def task_for(self, user: User, code: str, kind: str) -> dict[str, Any]:
        """Wait until `user` sees a task of `kind` for project `code`."""

        async def check() -> dict[str, Any] | None:
            return next((t for t in await self.inbox(user, project=code) if t["kind"] == kind), None)

        found: dict[str, Any] = await eventually(check)
        return found

    async def decide(self, user: User, task_id: str, **body: Any) -> httpx.Response:
        """POST a decision."""
        return await self.api.post(f"/api/v1/tasks/{task_id}/decision", json=body, headers=await self.headers(user))

    async def approve(self, user: User, code: str, kind: str) -> str:
        """Find and approve the task; the stage after it."""
        task = await self.task_for(user, code, kind)
        r = await self.decide(user, task["id"], decision="approve", opinion="同意")
        assert r.status_code == 200, r.text
        return str(r.json()["stage"])

    async def project(self, code: str, user: User | None = None) -> dict[str, Any]:
        """Project detail as `user` (the supervisor by default)."""
        r = await self.api.get(
            f"/api/v1/projects/{code}", headers=await self.headers(user or self.world.users["supervisor"])
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def recorded(self, code: str, action: str) -> dict[str, Any]:
        """Project detail once its timeline holds an `action` entry: entries the workflow writes after an
        Update answered (the panel verdict) are recorded by a later activity, not by the time of the answer."""

        async def check() -> dict[str, Any] | None:
            p = await self.project(code)
            return p if any(e["action"] == action for e in p["timeline"]) else None

        found: dict[str, Any] = await eventually(check)
        return found

    async def notice_open(self, code: str, kind: str = "approval") -> dict[str, Any]:
        """Project detail once a notice of `kind` is open: the stage changes with the decision that ends the
        step before, the notice (and with it the right to object) opens by the workflow's next activity."""

        async def check() -> dict[str, Any] | None:
            p = await self.project(code)
            return p if any(n["kind"] == kind and n["status"] == "open" for n in p["notices"]) else None

        found: dict[str, Any] = await eventually(check)
        return found

    async def stage_is(self, code: str, stage: str) -> dict[str, Any]:
        """Wait until the project reaches `stage` (the approval notice: until the notice is open, too)."""

        async def check() -> dict[str, Any] | None:
            p = await self.project(code)
            if stage == "approval_notice" and not any(n["status"] == "open" for n in p["notices"]):
                return None
            return p if p["stage"] == stage else None

        found: dict[str, Any] = await eventually(check)
        return found

    async def panel(self, code: str, experts: list[User], seats_wanted: int = 3) -> dict[int, dict[str, Any]]:
        """Wait for the drawn panel: each seated expert's task, by user id."""

        async def check() -> dict[int, dict[str, Any]] | None:
            seats: dict[int, dict[str, Any]] = {}
            for e in experts:
                tasks = [t for t in await self.inbox(e, project=code) if t["kind"] == "expert_review"]
                if tasks:
                    seats[e.id] = tasks[0]
            return seats if len(seats) >= seats_wanted else None

        found: dict[int, dict[str, Any]] = await eventually(check)
        return found

    async def score_all(
        self, code: str, experts: list[User], scores: dict[str, int] = GOOD_SCORES, seats_open: int = 3
    ) -> str:
        """The `seats_open` seated experts among `experts` score; the stage after the last score."""
        seats = await self.panel(code, experts, seats_open)
        stage = ""
        for uid, task in seats.items():
            user = next(e for e in experts if e.id == uid)
            r = await self.decide(user, task["id"], decision="score", scores=scores, opinion="可行")
            assert r.status_code == 200, r.text
            stage = r.json()["stage"]
        return stage
