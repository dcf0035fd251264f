"""Demo data: a city, a county with two townships and three villages, one user per role, experts,
households, and projects at different stages. Loading twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from api.security import hash_password
from db.engine import Sessions
from db.models import BankFailingAccount, Expert, Household, NotificationEndpoint, Region, User
from db.repositories.audit import SYSTEM_CHAIN, create_audit_entry
from domain.households import with_check_digit
from domain.operation import add_months

DEMO_PASSWORD = "demo-Pass-2026"  # noqa: S105 - documented in the README; production refuses demo users
DEMO_MAIL_DOMAIN = "demo.assetflow.local"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret-0123456789abcdef"  # noqa: S105 - the demo receiver's, in the README
DEMO_WEBHOOK_NAME = "演示 webhook（make run 的接收器）"

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
        # the embedded bank refuses one demo card (closed), so a round shows a failure corrected and repaid
        closed = next(h for h in demo_households() if h["code"] == CLOSED_CARD_HOUSEHOLD)
        await session.execute(
            insert(BankFailingAccount)
            .values(account=closed["bank_account"], reason="card_closed")
            .on_conflict_do_nothing()
        )
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


# ---------------------------------------------------------------- operation: projects built before the system

DEMO_IMPORTER = "county_reviewer"
CLOSED_CARD_HOUSEHOLD = "H370115100201005"  # a beneficiary of the demo's shops whose card the embedded bank refuses
DEMO_MANAGER = "pm_jiyang"


def demo_import_rows(today: date) -> list[dict[str, str]]:
    """Two projects built before assetflow, brought in straight into operation (存量资产纳管): a photovoltaic
    station whose lease ends within 90 days (an expiry warning and a renewal task at once), and shops let
    monthly whose rent falls due today (the demo records it received)."""
    shops_start = add_months(today, -60)  # let monthly on today's day of the month, five years ago
    lease_end = today + timedelta(days=60)
    village, other = "370115100201", "370115100202"
    common = {
        "村代码": village,
        "项目管理员账号": DEMO_MANAGER,
        "实施主体": "东关村股份经济合作社",
        "管护主体": "东关村村委会",
        "管护责任人": "王建国",
        "管护资金来源": "村集体收益",
    }
    solar = {
        **common,
        "项目编号": "XM370115-2019-9001",
        "项目名称": "东关村光伏扶贫电站（存量）",
        "项目类型": "光伏",
        "建设年份": "2019",
        "开工日期": "2019-03-01",
        "竣工日期": "2019-09-30",
        "验收日期": "2019-10-20",
        "总投资（元）": "1000000",
        "衔接资金": "600000",
        "县级配套": "400000",
        "决算金额（元）": "980000",
        "预期年收益（元）": "70000",
        "资产名称": "东关村光伏电站 200kW",
        "资产类别": "经营性",
        "资产价值（元）": "980000",
        "数量": "1",
        "单位": "座",
        "坐落位置": "东关村北",
        "所有权（村代码:比例;…）": f"{village}:60;{other}:40",
        "经营主体": "济阳光伏运维有限公司",
        "主体类型": "公司",
        "经营方式": "租赁",
        "合同开始": "2019-11-01",
        "合同结束": lease_end.isoformat(),
        "租金（元/期）": "65000",
        "收款周期": "年",
        "押金（元）": "10000",
        "年递增（%）": "0",
        "受益户（户码:股数;…）": f"H{village}001:2;H{village}002:1;H{village}003:1",
    }
    shops = {
        **common,
        "项目编号": "XM370115-2021-9002",
        "项目名称": "东关村扶贫商铺（存量）",
        "项目类型": "商铺出租",
        "建设年份": "2021",
        "开工日期": "2021-03-01",
        "竣工日期": "2021-08-31",
        "验收日期": "2021-09-15",
        "总投资（元）": "600000",
        "衔接资金": "600000",
        "县级配套": "",
        "决算金额（元）": "600000",
        "预期年收益（元）": "42000",
        "资产名称": "沿街商铺 4 间",
        "资产类别": "经营性",
        "资产价值（元）": "600000",
        "数量": "4",
        "单位": "间",
        "坐落位置": "东关村沿街",
        "所有权（村代码:比例;…）": f"{village}:100",
        "经营主体": "东关便民超市",
        "主体类型": "大户",
        "经营方式": "租赁",
        "合同开始": shops_start.isoformat(),
        "合同结束": (add_months(shops_start, 120) - timedelta(days=1)).isoformat(),
        "租金（元/期）": "3500",
        "收款周期": "月",
        "押金（元）": "3500",
        "年递增（%）": "0",
        "受益户（户码:股数;…）": f"H{village}004:1;H{village}005:1",
    }
    return [solar, shops]


def demo_import_csv(today: date) -> bytes:
    """The demo's import file, as Excel writes "CSV UTF-8"."""
    import csv
    import io

    from domain.imports import HEADERS

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(HEADERS), lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(demo_import_rows(today))
    return out.getvalue().encode("utf-8-sig")


async def load_demo_operation(
    api_url: str,
    *,
    today: date,
    timeout: float = 60.0,
    password: str = DEMO_PASSWORD,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """Import the demo's existing projects through the API, then record what a manager records in operation:
    the shops' rent received today and an inspection of the photovoltaic station. Reruns change nothing."""
    import asyncio

    lines: list[str] = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30, transport=transport) as client:

        async def token(username: str) -> dict[str, str]:
            r = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        county, pm = await token(DEMO_IMPORTER), await token(DEMO_MANAGER)
        r = await client.post(
            "/api/v1/imports/projects",
            files={"file": ("存量项目.csv", demo_import_csv(today), "text/csv")},
            headers=county,
        )
        r.raise_for_status()
        solar, shops = (row["项目编号"] for row in demo_import_rows(today))
        shop_asset = f"{shops}-A1"
        deadline = asyncio.get_running_loop().time() + timeout
        due: list[dict[str, Any]] = []
        while not due:  # the operation workflow schedules today's rent at its first check
            r = await client.get(f"/api/v1/assets/{shop_asset}/receivables", headers=pm)
            r.raise_for_status()
            due = [i for i in r.json()["items"] if i["due_date"] == today.isoformat()]
            if asyncio.get_running_loop().time() > deadline:
                break  # (a day of the month the schedule skips, e.g. 29 February: no rent today)
            if not due:
                await asyncio.sleep(0.3)
        for item in (i for i in due if i["outstanding_fen"] > 0):
            r = await client.post(
                f"/api/v1/assets/{shop_asset}/receivables/{item['id']}/payments",
                json={"amount_fen": item["outstanding_fen"], "received_on": today.isoformat(), "note": "当月租金"},
                headers=pm | {"Idempotency-Key": f"demo-rent-{shop_asset}-{item['id']}"},
            )
            if r.status_code >= 400:
                raise RuntimeError(f"recording the demo rent failed: {r.status_code} {r.text}")
        solar_asset = f"{solar}-A1"
        r = await client.get(f"/api/v1/assets/{solar_asset}/inspections", headers=pm)
        r.raise_for_status()
        if not any(i["status"] == "done" for i in r.json()["items"]):
            photo = b"\x89PNG\r\n\x1a\n" + b"demo inspection photo " + today.isoformat().encode()
            up = await client.post(
                "/api/v1/attachments", files={"file": ("巡查照片.png", photo, "image/png")}, headers=pm
            )
            up.raise_for_status()
            r = await client.post(
                f"/api/v1/assets/{solar_asset}/inspections",
                json={
                    "inspected_on": today.isoformat(),
                    "condition": "good",
                    "photos": [up.json()["sha256"]],
                    "note": "组件清洁，逆变器运行正常",
                },
                headers=pm,
            )
            r.raise_for_status()
        lines.append(await _demo_rule(client, shop_asset, today, pm, token, asyncio, timeout))
        ends = demo_import_rows(today)[0]["合同结束"]
        lines.append(f"{solar}  东关村光伏扶贫电站（存量） → operation, lease ends {ends}")
        rent = f"rent due {today} received" if due else "no rent due today"
        lines.append(f"{shops}  东关村扶贫商铺（存量） → operation, {rent}")
    return lines


async def _demo_rule(
    client: httpx.AsyncClient,
    asset_id: str,
    today: date,
    pm: dict[str, str],
    token: Any,
    asyncio: Any,
    timeout: float,
) -> str:
    """The shops' distribution rule for this year — 30 % to the collective, 70 % to the households by their shares,
    the elderly 1.5× — proposed with the village meeting's resolution, reviewed by the township and approved by the
    county, so finance can open this year's round at once. Nothing is proposed again on a rerun."""
    path = f"/api/v1/assets/{asset_id}/distribution-rules"
    r = await client.get(path, headers=pm)
    r.raise_for_status()
    if any(i["fiscal_year"] == today.year and i["status"] in ("approved", "proposed") for i in r.json()["items"]):
        return f"{asset_id}  distribution rule {today.year}: in place"
    resolution = b"%PDF-1.7\n" + f"demo village meeting resolution {today.year}".encode()
    up = await client.post(
        "/api/v1/attachments", files={"file": ("村民代表会议决议.pdf", resolution, "application/pdf")}, headers=pm
    )
    up.raise_for_status()
    body = {
        "fiscal_year": today.year,
        "buckets": {"collective_bp": 3000, "households_bp": 7000},
        "basis": "shares",
        "coefficients_bp": {"elderly": 15000},
        "village_resolution": up.json()["sha256"],
        "note": "村民代表会议表决通过",
    }
    r = await client.post(path, json=body, headers=pm)
    if r.status_code >= 400:
        raise RuntimeError(f"proposing the demo rule failed: {r.status_code} {r.text}")
    project = asset_id.rsplit("-", 1)[0]
    for reviewer, kind in (("township_jiyang", "rule_review"), ("county_reviewer", "rule_approval")):
        auth = await token(reviewer)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await client.get("/api/v1/tasks", params={"project": project, "kind": kind}, headers=auth)
            r.raise_for_status()
            if r.json()["items"]:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the demo rule's {kind} task never opened")
            await asyncio.sleep(0.3)
        task = r.json()["items"][0]["id"]
        r = await client.post(
            f"/api/v1/tasks/{task}/decision", json={"decision": "approve", "opinion": "同意"}, headers=auth
        )
        r.raise_for_status()
    return f"{asset_id}  distribution rule {today.year}: approved (collective 30 %, households 70 % by shares)"


async def load_demo_notifications(sessions: Sessions, *, webhook_url: str, county: str = "370115") -> dict[str, int]:
    """Demo users get addresses (`{username}@demo.assetflow.local`, read in the local SMTP sink) and the demo county
    a webhook to the local receiver, signed with DEMO_WEBHOOK_SECRET; a rerun adds nothing and keeps the URL current."""
    async with sessions.begin() as session:
        users = (await session.scalars(select(User).where(User.is_demo, User.email.is_(None)))).all()
        for u in users:
            u.email = f"{u.username}@{DEMO_MAIL_DOMAIN}"
        stmt = select(NotificationEndpoint).where(
            NotificationEndpoint.region_code == county, NotificationEndpoint.name == DEMO_WEBHOOK_NAME
        )
        endpoint = (await session.scalars(stmt)).first()
        created = 0
        if endpoint is None:
            admin = await session.scalar(select(User.id).where(User.username == "admin"))
            if admin is None:
                return {"addresses": len(users), "webhooks": 0}
            session.add(
                NotificationEndpoint(
                    kind="webhook",
                    region_code=county,
                    name=DEMO_WEBHOOK_NAME,
                    url=webhook_url,
                    secret=DEMO_WEBHOOK_SECRET,
                    events=[],
                    active=True,
                    created_by=admin,
                    created_at=datetime.now(UTC),
                )
            )
            created = 1
        else:
            endpoint.url = webhook_url
    return {"addresses": len(users), "webhooks": created}


async def load_demo_reports(
    api_url: str,
    *,
    today: date,
    password: str = DEMO_PASSWORD,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """This week's scheduling report of the demo county (the week just ended, as Monday's run makes it) and this
    month's bulletin of the city (the month just ended), made on demand through the API — the supervisor orders the
    county's, the city's admin the city's — so both can be downloaded at once. A rerun finds them made."""
    from domain.reports import ReportKind, previous_period

    lines: list[str] = []
    async with httpx.AsyncClient(base_url=api_url, timeout=60, transport=transport) as client:
        for username, kind, region in (
            ("supervisor", ReportKind.WEEKLY, "370115"),
            ("admin", ReportKind.MONTHLY, "370100"),
        ):
            r = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
            r.raise_for_status()
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            body = {"kind": kind.value, "region_code": region, "period": previous_period(kind, today).label}
            r = await client.post("/api/v1/reports", json=body, headers=auth)
            if r.status_code >= 400:
                raise RuntimeError(f"making the demo {kind.value} report failed: {r.status_code} {r.text}")
            report = r.json()
            lines.append(f"{report['id']}  {report['title']} → {report['xlsx']}")
    return lines
