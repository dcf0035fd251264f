"""Demo data: a city, a county with two townships and three villages, one user per role, experts,
households, and projects at different stages. Loading twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from api.security import hash_password
from db.engine import Sessions
from db.models import Expert, Household, Region, User
from db.repositories.audit import SYSTEM_CHAIN, create_audit_entry
from domain.households import with_check_digit

DEMO_PASSWORD = "demo-Pass-2026"  # noqa: S105 - documented in the README; production refuses demo users

REGIONS = [
    ("370000", "山东省", "province", None),
    ("370100", "济南市", "city", "370000"),
    ("370115", "济阳区", "county", "370100"),
    ("370115100", "济阳街道", "township", "370115"),
    ("370115101", "崔寨街道", "township", "370115"),
    ("370115100201", "东关村", "village", "370115100"),
    ("370115100202", "西关村", "village", "370115100"),
    ("370115101201", "崔寨村", "village", "370115101"),
]


@dataclass(frozen=True)
class DemoUser:
    """A demo login."""

    username: str
    full_name: str
    role: str
    region_code: str
    organisation: str = ""


USERS = [
    DemoUser("pm_jiyang", "王建国（项目管理员）", "project_manager", "370115100", "济阳街道农业综合服务中心"),
    DemoUser("pm_cuizhai", "李秀英（项目管理员）", "project_manager", "370115101", "崔寨街道农业综合服务中心"),
    DemoUser("township_jiyang", "赵志强（乡镇审核）", "township_reviewer", "370115100", "济阳街道办事处"),
    DemoUser("township_cuizhai", "孙丽（乡镇审核）", "township_reviewer", "370115101", "崔寨街道办事处"),
    DemoUser("expert_liu", "刘教授（专家）", "expert", "370100", "山东农业大学"),
    DemoUser("expert_chen", "陈高工（专家）", "expert", "370100", "济南市农业科学研究院"),
    DemoUser("expert_zhou", "周会计师（专家）", "expert", "370100", "济南正信会计师事务所"),
    DemoUser("expert_wu", "吴研究员（专家）", "expert", "370100", "济阳区农业农村局"),
    DemoUser("county_reviewer", "钱明（县级审批）", "county_reviewer", "370115", "济阳区乡村振兴局"),
    DemoUser("city_reviewer", "郑华（市级备案）", "city_reviewer", "370100", "济南市乡村振兴局"),
    DemoUser("finance_a", "冯敏（财政）", "finance", "370115", "济阳区财政局"),
    DemoUser("finance_b", "何静（财政复核）", "finance", "370115", "济阳区财政局"),
    DemoUser("supervisor", "韩纪（纪检监督）", "supervisor", "370115", "济阳区纪委监委"),
    DemoUser("admin", "系统管理员", "admin", "370100", "济南市乡村振兴局"),
]

EXPERT_SPECIALTIES = {
    "expert_liu": ["greenhouse", "livestock", "processing"],
    "expert_chen": ["photovoltaic", "cold_storage", "workshop"],
    "expert_zhou": ["photovoltaic", "greenhouse", "rural_tourism", "shops_for_rent", "other"],
    "expert_wu": ["greenhouse", "photovoltaic", "livestock", "processing", "workshop"],
}
SURNAMES = "张王李赵刘陈杨黄周吴"
CATEGORIES = [
    [],
    ["elderly"],
    ["no_labour"],
    ["serious_illness"],
    ["severe_disability", "no_labour"],
    ["monitored"],
]


def demo_households() -> list[dict[str, Any]]:
    """Ten households in each demo village, with valid-looking (fictional) ID numbers and cards."""
    out = []
    for village, _, level, _ in REGIONS:
        if level != "village":
            continue
        for i in range(1, 11):
            birth = date(1950, 1, 1) + timedelta(days=997 * i)
            out.append(
                {
                    "code": f"H{village}{i:03d}",
                    "village_code": village,
                    "head_name": f"{SURNAMES[i % 10]}户主{i}",
                    "members": 1 + i % 5,
                    "categories": CATEGORIES[i % len(CATEGORIES)],
                    "id_number": with_check_digit(f"370125{birth:%Y%m%d}{i:03d}"),
                    "bank_account": f"6228480{village[-6:]}{i:06d}",
                }
            )
    return out


async def load_demo_reference(sessions: Sessions) -> dict[str, int]:
    """Regions, users, experts and households; upserts keyed by natural keys, so a rerun adds nothing."""
    counts = {"regions": 0, "users": 0, "experts": 0, "households": 0}
    async with sessions.begin() as session:
        for code, name, level, parent in REGIONS:
            stmt = insert(Region).values(code=code, name=name, level=level, parent_code=parent)
            result = await session.execute(stmt.on_conflict_do_nothing().returning(Region.code))
            counts["regions"] += len(result.all())
        existing = set((await session.scalars(select(User.username))).all())
        password_hash = hash_password(DEMO_PASSWORD)
        for u in USERS:
            if u.username in existing:
                continue
            session.add(
                User(
                    username=u.username,
                    full_name=u.full_name,
                    password_hash=password_hash,
                    role=u.role,
                    region_code=u.region_code,
                    organisation=u.organisation,
                    is_demo=True,
                )
            )
            counts["users"] += 1
        await session.flush()
        ids = {row[0]: row[1] for row in (await session.execute(select(User.username, User.id)))}
        for u in USERS:
            if u.role != "expert":
                continue
            stmt = insert(Expert).values(
                user_id=ids[u.username],
                name=u.full_name,
                specialties=EXPERT_SPECIALTIES[u.username],
                region_code=u.region_code,
                affiliation=u.organisation,
                conflicts={"townships": [], "organisations": []},
                active=True,
            )
            result = await session.execute(stmt.on_conflict_do_nothing().returning(Expert.id))
            counts["experts"] += len(result.all())
        for h in demo_households():
            result = await session.execute(
                insert(Household).values(**h).on_conflict_do_nothing().returning(Household.id)
            )
            counts["households"] += len(result.all())
        if any(counts.values()):
            await create_audit_entry(
                session,
                chain=SYSTEM_CHAIN,
                action="demo_loaded",
                event_key=f"demo:{sorted(counts.items())}:{len(existing)}",
                payload=counts,
                actor_name="cli",
            )
    return counts


def demo_application(
    name: str, village: str, project_type: str, households: list[str], budget_yuan: int
) -> dict[str, Any]:
    """A complete, valid application for the demo."""
    total = budget_yuan * 100
    central = total * 6 // 10
    revenue = total * 7 // 100
    start = date.today() + timedelta(days=30)
    return {
        "name": name,
        "project_type": project_type,
        "village_code": village,
        "content": "新建冬暖式大棚及配套水肥一体化设施" if project_type == "greenhouse" else "村级光伏电站建设",
        "scale": "10 个大棚，占地 40 亩" if project_type == "greenhouse" else "装机 300 kW",
        "budget": {
            "total_fen": total,
            "sources": [
                {"source": "linkage_central", "amount_fen": central},
                {"source": "county_match", "amount_fen": total - central},
            ],
        },
        "implementing_entity": {
            "name": "济阳街道东关村股份经济合作社",
            "person_in_charge": "王建国",
            "phone": "0531-84212345",
        },
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(days=240)).isoformat(),
        "operating_model": "lease",
        "revenue": {"expected_annual_revenue_fen": revenue, "expected_yield_percent": 7.0},
        "benefit": {
            "household_codes": households,
            "people": 3 * len(households),
            "mechanism": "租金收益按股分红，差异化分配",
        },
        "performance_targets": [
            {"indicator": "带动脱贫户增收", "target": f"{len(households)} 户，户均年增收 1000 元以上"},
            {"indicator": "村集体年收益", "target": f"{revenue // 100} 元"},
        ],
    }


# (idempotency key, applicant, application, the township reviewer's (username, decision, opinion) or None)
DemoProject = tuple[str, str, dict[str, Any], tuple[str, str, str] | None]

DEMO_PROJECTS: list[DemoProject] = [
    (
        "demo-greenhouse-dongguan",
        "pm_jiyang",
        demo_application(
            "东关村冬暖式大棚项目",
            "370115100201",
            "greenhouse",
            [f"H370115100201{i:03d}" for i in range(1, 7)],
            1_200_000,
        ),
        None,
    ),
    (
        "demo-pv-xiguan",
        "pm_jiyang",
        demo_application(
            "西关村光伏电站项目",
            "370115100202",
            "photovoltaic",
            [f"H370115100202{i:03d}" for i in range(1, 9)],
            900_000,
        ),
        ("township_jiyang", "approve", "材料齐全，同意上报"),
    ),
    (
        "demo-greenhouse-cuizhai",
        "pm_cuizhai",
        demo_application(
            "崔寨村大棚扩建项目",
            "370115101201",
            "greenhouse",
            [f"H370115101201{i:03d}" for i in range(1, 5)],
            600_000,
        ),
        ("township_cuizhai", "reject", "与已建项目重复申报，不予立项"),
    ),
]


async def load_demo_projects(
    api_url: str,
    *,
    timeout: float = 60.0,
    projects: list[DemoProject] | None = None,
    password: str = DEMO_PASSWORD,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """File the demo projects through the real API (Idempotency-Key makes reruns return the same ones)."""
    import asyncio

    lines = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30, transport=transport) as client:

        async def token(username: str) -> dict[str, str]:
            r = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        async def file(key: str, applicant: str, application: dict[str, Any]) -> tuple[str, dict[str, str]]:
            headers = await token(applicant)
            r = await client.post("/api/v1/projects", json=application, headers=headers | {"Idempotency-Key": key})
            # The planned dates follow today, so a rerun on a later day sends another body under the same key:
            # the project filed the first time is the demo project, not a reason to fail.
            if r.status_code == 409 and r.json().get("code") == "idempotency_key_reused":
                return str(r.json()["details"]["project_code"]), headers
            r.raise_for_status()
            return str(r.json()["code"]), headers

        async def settled(code: str, auth: dict[str, str]) -> dict[str, Any]:
            # The create answers before the workflow has opened its first task; wait for it.
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                r = await client.get(f"/api/v1/projects/{code}", headers=auth)
                r.raise_for_status()
                detail: dict[str, Any] = r.json()
                if detail["open_tasks"] or detail["stage"] != "application":
                    return detail
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"project {code} never reached township review")
                await asyncio.sleep(0.2)

        for key, applicant, application, decision in DEMO_PROJECTS if projects is None else projects:
            code, auth = await file(key, applicant, application)
            detail = await settled(code, auth)
            if decision is not None:
                reviewer, verdict, opinion = decision
                auth = await token(reviewer)
                # Only the township review is the demo's to decide; later tasks belong to other roles.
                for task in detail["open_tasks"]:
                    if task["kind"] != "township_review":
                        continue
                    r = await client.post(
                        f"/api/v1/tasks/{task['id']}/decision",
                        json={"decision": verdict, "opinion": opinion},
                        headers=auth,
                    )
                    r.raise_for_status()
                r = await client.get(f"/api/v1/projects/{code}", headers=auth)
                r.raise_for_status()
                detail = r.json()
            lines.append(f"{code}  {application['name']}  → {detail['stage']}")
    return lines
