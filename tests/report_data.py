"""A hand-built data set for the reports (周调度, 月通报): a county of the test world with projects at known stages and
colours, review tasks overdue or not at the cut, assets, rent due and received, a dividend round's payments paid and
failed, and problems opened, closed and overdue — each placed on or just past a period's boundary, so every figure of
the week 2025-W10 (3–9 March 2025, Asia/Shanghai) and of the month 2025-03 is known by hand (see the tests)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from api.security import hash_password
from db.engine import Sessions
from db.models import (
    Contract,
    DividendPayment,
    DividendRound,
    Problem,
    Project,
    Receivable,
    ReceivedPayment,
    Region,
    Task,
    User,
)
from tests.conftest import PASSWORD, World, asset_row

ZONE = ZoneInfo("Asia/Shanghai")
WEEK = "2025-W10"
MONTH = "2025-03"


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A local time in Asia/Shanghai."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=ZONE)


def D(m: int, d: int) -> date:
    return date(2025, m, d)


async def seed_county(sessions: Sessions, world: World) -> dict[str, str]:
    """The data set in the world's county; its project codes by name (p1…p5)."""
    tag = uuid.uuid4().hex[:6]
    t0, t1 = world.townships
    v0, v2 = world.villages[0], world.villages[2]
    pm = world.users["pm"].id
    codes = {f"p{i}": f"XM{world.county}-R{tag}-{i}" for i in range(1, 6)}

    def project(key: str, village: str, stage: str, created: datetime, **colours: str) -> Project:
        return Project(
            code=codes[key],
            name=f"报表项目{key}",
            project_type="greenhouse",
            village_code=village,
            township_code=village[:9],
            county_code=world.county,
            city_code=world.city,
            stage=stage,
            total_budget_fen=10_000_000,
            planned_start=D(1, 1),
            planned_end=D(12, 1),
            applicant_id=pm,
            application={},
            workflow_id=f"project-{codes[key]}",
            created_at=created,
            **colours,
        )

    async with sessions.begin() as s:
        s.add_all(
            [
                project("p1", v0, "construction", at(D(3, 4), 10), construction_colour="yellow", colour="yellow"),
                project("p2", v0, "construction", at(D(1, 10)), construction_colour="red", colour="red"),
                project(
                    "p3",
                    v2,
                    "operation",
                    at(D(6, 1).replace(year=2024)),
                    construction_colour="green",
                    operation_colour="blue",
                    colour="blue",
                ),
                project("p4", v2, "township_review", at(D(3, 9), 23, 30)),
                project("p5", v0, "township_review", at(D(3, 10), 0, 0)),  # the next week's first minute
            ]
        )
        await s.flush()

        def task(n: int, key: str, role: str, opened: datetime, due: datetime, **decided: object) -> Task:
            return Task(
                id=f"RT{tag}-{n}",
                project_code=codes[key],
                kind="township_review" if role != "project_manager" else "progress_report",
                stage="township_review",
                candidate_role=role,
                region_code=t0,
                allowed_decisions=["approve"],
                status="decided" if decided else "open",
                opened_at=opened,
                due_at=due,
                **decided,
            )

        s.add_all(
            [
                task(1, "p4", "township_reviewer", at(D(3, 1)), at(D(3, 5))),  # overdue at the cut
                task(2, "p5", "township_reviewer", at(D(3, 10), 8), at(D(3, 10), 9)),  # opened after the cut
                task(3, "p1", "county_reviewer", at(D(2, 20)), at(D(3, 5)), decided_at=at(D(3, 8))),  # decided before
                task(4, "p2", "county_reviewer", at(D(2, 20)), at(D(3, 1)), decided_at=at(D(3, 12))),  # decided after
                task(5, "p3", "project_manager", at(D(2, 20)), at(D(3, 1))),  # not a review
            ]
        )
        a1, a2, a3 = (f"{codes['p3']}-A{i}" for i in range(1, 4))
        s.add_all(
            [
                asset_row(a1, codes["p3"], v2, status="leased", registration_status="registered"),
                asset_row(a2, codes["p3"], v2, asset_class="public_welfare", status="idle"),
                asset_row(a3, codes["p3"], v2, asset_class="household", status="in_use"),
            ]
        )
        await s.flush()
        s.add(
            Contract(
                id=f"{a1}-c1",
                asset_id=a1,
                project_code=codes["p3"],
                kind="initial",
                status="active",
                operator_name="合作社",
                operator_type="cooperative",
                mode="lease",
                start_date=D(1, 1),
                end_date=date(2034, 12, 31),
                rent_fen=100_000,
                schedule="monthly",
            )
        )
        await s.flush()
        receivables = {
            "r1": Receivable(amount_fen=100_000, due_date=D(3, 5), status="partly_paid"),
            "r2": Receivable(amount_fen=50_000, due_date=D(1, 15), status="paid"),
            "r3": Receivable(amount_fen=70_000, due_date=D(3, 12)),
            "r4": Receivable(amount_fen=30_000, due_date=D(2, 1), status="paid"),
        }
        for n, r in enumerate(receivables.values(), start=1):
            r.contract_id, r.asset_id, r.project_code, r.period_no = f"{a1}-c1", a1, codes["p3"], n
            r.period_start = r.period_end = r.due_date
        s.add_all(receivables.values())
        await s.flush()
        for key, amount, day in (("r1", 60_000, D(3, 6)), ("r2", 50_000, D(1, 20)), ("r4", 30_000, D(3, 11))):
            s.add(
                ReceivedPayment(
                    receivable_id=receivables[key].id,
                    asset_id=a1,
                    project_code=codes["p3"],
                    amount_fen=amount,
                    received_on=day,
                    recorded_by=pm,
                    idempotency_key=f"rp-{tag}-{key}",
                )
            )
        rid = f"dividend-{world.county}-R{tag}"
        s.add(
            DividendRound(
                id=rid,
                scope_kind="county",
                scope_code=world.county,
                fiscal_year=2024,
                n=int(tag, 16) % 100000,
                county_code=world.county,
                period_start=D(1, 1).replace(year=2024),
                period_end=D(12, 31).replace(year=2024),
                status="paying",
                households_fen=1_000_000,
                paid_fen=300_000,
                opened_by=world.users["finance"].id,
                opened_at=at(D(2, 1)),
            )
        )
        await s.flush()
        h0, h2 = world.households[v0], world.households[v2]
        for household, status, amount, settled in (
            (h0[0], "paid", 100_000, at(D(3, 5))),
            (h2[0], "paid", 200_000, at(D(3, 7))),
            (h0[1], "failed", 50_000, at(D(3, 6))),
            (h0[2], "paid", 99, at(D(3, 10), 0, 0, 1)),  # after the week
            (h0[3], "submitted", 77, None),
        ):
            s.add(
                DividendPayment(
                    reference=f"{rid}:{household}:1",
                    round_id=rid,
                    household_code=household,
                    attempt=1,
                    amount_fen=amount,
                    name="户主",
                    account="6228480000000000",
                    bank="一卡通",
                    batch_no=f"{rid}-001",
                    status=status,
                    created_at=at(D(3, 1)),
                    settled_at=settled,
                )
            )

        def problem(n: int, township: str, opened: datetime, deadline: date, **more: object) -> Problem:
            return Problem(
                project_code=codes["p1"],
                county_code=world.county,
                township_code=township,
                region_code=township + "201",
                source="inspection",
                description=f"问题{n}",
                deadline=deadline,
                opened_at=opened,
                **more,
            )

        s.add_all(
            [
                problem(1, t0, at(D(3, 4)), D(3, 8), responsible_unit="东关村委会"),
                problem(2, t1, at(D(2, 1)), D(2, 20), status="closed", closed_at=at(D(3, 6))),
                problem(3, t0, at(D(2, 10)), D(3, 20), responsible_unit="东关村委会"),
                problem(5, t0, at(D(3, 11)), D(4, 30)),
            ]
        )
    return codes


async def add_county(sessions: Sessions, world: World) -> tuple[str, User]:
    """A second county in the world's city with one project on schedule, one registered asset in use, a supervisor."""
    county = world.city[:4] + "02"
    township, village = county + "100", county + "100201"
    code = f"XM{county}-R{uuid.uuid4().hex[:6]}"
    async with sessions.begin() as s:
        if await s.get(Region, county) is None:
            s.add(Region(code=county, name="第二县", level="county", parent_code=world.city))
            await s.flush()
            s.add(Region(code=township, name="第二镇", level="township", parent_code=county))
            await s.flush()
            s.add(Region(code=village, name="第二村", level="village", parent_code=township))
            await s.flush()
        s.add(
            Project(
                code=code,
                name="第二县项目",
                project_type="photovoltaic",
                village_code=village,
                township_code=township,
                county_code=county,
                city_code=world.city,
                stage="construction",
                total_budget_fen=1,
                planned_start=D(1, 1),
                planned_end=D(12, 1),
                applicant_id=world.users["pm"].id,
                application={},
                workflow_id=f"project-{code}",
                construction_colour="green",
                colour="green",
                created_at=at(D(1, 5)),
            )
        )
        await s.flush()
        s.add(asset_row(f"{code}-A1", code, village, registration_status="registered"))
        supervisor = User(
            username=f"sup2_{uuid.uuid4().hex[:6]}",
            full_name="第二县监督",
            password_hash=hash_password(PASSWORD),
            role="supervisor",
            region_code=county,
        )
        s.add(supervisor)
    return county, supervisor
