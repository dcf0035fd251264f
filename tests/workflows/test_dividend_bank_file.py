"""A dividend round paid through the bank's batch file (PAYMENTS__KIND=file) on the time-skipping server: the batch
file downloaded as the bank takes it, a result file with a closed card uploaded (a malformed one refused by line,
nothing taken), the round collecting the answers, the failure corrected and checked, the corrected line's own batch
file and result, reconciliation, closed."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.security import hash_password
from core.calendar import is_china_workday
from core.payments import BatchFileBank
from core.settings import CountyNotice, DividendSettings, PaymentSettings, Settings
from db.engine import Sessions
from db.models import AssetIncomeShare, AuditEntry, DistributionRule, User
from domain.distribution import Buckets, rule_as_json
from domain.distribution import DistributionRule as Rule
from domain.workdays import due_at
from tests.api.chain_helpers import Driver
from tests.conftest import PASSWORD, World, eventually
from tests.workflows.test_dividend_round import _receive
from tests.workflows.test_operation_years import SETTINGS, _seed, _start, _today
from worker import build_worker


@pytest.fixture
async def file_api(skipping_settings: Settings, tmp_path: Path, world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The real app paying through the batch file kept in this test's directory; this world's county notices its
    rounds for 10 working days."""
    dividends = DividendSettings(counties={world.county: CountyNotice(notice_days=10, working_days=True)})
    payments = PaymentSettings(kind="file", file_dir=str(tmp_path))
    settings = skipping_settings.model_copy(update={"payments": payments, "dividends": dividends})
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


CHINA = ZoneInfo("Asia/Shanghai")


def _result_file(batch_csv: str, failing_serial: int) -> bytes:
    """The bank's answer to a batch file: every row paid but one card closed."""
    rows = list(csv.reader(io.StringIO(batch_csv.lstrip("\ufeff"))))
    header, lines = rows[0], rows[2:]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow(["序号", "金额（元）", "状态", "失败原因", "业务参考号"])
    for line in lines:
        failed = int(line[0]) == failing_serial
        writer.writerow([line[0], line[4], "失败" if failed else "成功", "销户" if failed else "", line[6]])
    return ("\ufeff" + out.getvalue()).encode()


async def test_a_round_is_paid_through_the_bank_file(
    skipping_env: WorkflowEnvironment,
    file_api: httpx.AsyncClient,
    sessions: Sessions,
    world: World,
    task_queue: str,
    tmp_path: Path,
) -> None:
    env, client, api = skipping_env, skipping_env.client, file_api
    drive, u = Driver(api, world), world.users
    today = await _today(env)
    code, asset_id, _ = await _seed(sessions, world, today)
    households = world.households[world.villages[0]]
    async with sessions.begin() as s:
        s.add_all([AssetIncomeShare(asset_id=asset_id, household_code=h, shares=1) for h in households])
        finance2 = User(
            username=f"finance2_{uuid.uuid4().hex[:6]}",
            full_name="复核",
            password_hash=hash_password(PASSWORD),
            role="finance",
            region_code=world.county,
        )
        s.add(finance2)
        s.add(
            DistributionRule(
                id=str(uuid.uuid4()),
                asset_id=asset_id,
                project_code=code,
                fiscal_year=today.year,
                version=1,
                status="approved",
                rule=rule_as_json(Rule(Buckets(collective_bp=5000, households_bp=5000))),
                excluded={},
                attachments=[],
                proposed_by=u["pm"].id,
                proposed_at=datetime.now().astimezone(),
            )
        )
    bank = BatchFileBank(tmp_path)
    async with build_worker(client, sessions, task_queue=task_queue, operation=SETTINGS, payments=bank):
        await client.start_workflow("ProjectWorkflow", _start(world, code), id=f"project-{code}", task_queue=task_queue)
        await drive.stage_is(code, "operation")
        await _receive(sessions, asset_id, code, u["pm"].id, today)
        finance, checker = await drive.headers(u["finance"]), await drive.headers(finance2)
        r = await api.post(
            "/api/v1/dividend-rounds",
            headers=finance,
            json={"scope_kind": "asset", "scope_code": asset_id, "fiscal_year": today.year},
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]

        async def status_is(status: str) -> bool:
            found = (await api.get(f"/api/v1/dividend-rounds/{rid}", headers=finance)).json()
            return bool(found["status"] == status)

        await eventually(lambda: status_is("noticed"))
        # ten working days on China's calendar (holidays and 调休 Saturdays known), to the end of the last one
        noticed = (await api.get(f"/api/v1/dividend-rounds/{rid}", headers=finance)).json()
        ends = datetime.fromisoformat(noticed["notice_ends_at"]).astimezone(CHINA)
        start = (await env.get_current_time()).astimezone(CHINA)
        assert ends == due_at(start, 10, is_china_workday, CHINA)
        assert (ends - start).days >= 13  # two weekends at least
        await env.sleep(timedelta(days=11))
        assert await status_is("noticed")  # eleven calendar days are not ten working days
        await env.sleep(ends - (await env.get_current_time()) + timedelta(hours=1))
        await eventually(lambda: status_is("awaiting_confirmation"))
        assert (await api.post(f"/api/v1/dividend-rounds/{rid}/confirm", headers=checker)).status_code == 200
        await eventually(lambda: status_is("paying"))
        batch_no = f"{rid}-b0001"

        async def sent() -> bool:
            return (tmp_path / "outbox" / f"{batch_no}.csv").exists()

        await eventually(sent)
        r = await api.get(f"/api/v1/dividend-rounds/{rid}/batches/{batch_no}.csv", headers=finance)
        assert r.status_code == 200, r.text
        batch_csv = r.content.decode("utf-8")
        async with sessions() as s:
            exported = await s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.chain == f"round:{rid}", AuditEntry.action == "batch_file_exported")
            )
        assert exported == 1
        assert batch_csv.startswith("\ufeff批次号")
        assert (
            await api.get(
                f"/api/v1/dividend-rounds/{rid}/batches/{batch_no}.csv", headers=await drive.headers(u["supervisor"])
            )
        ).status_code == 403
        url = f"/api/v1/dividend-rounds/{rid}/batches/{batch_no}/results"
        broken = _result_file(batch_csv, 2).replace(b"\xe6\x88\x90\xe5\x8a\x9f", b"maybe", 1)  # 成功 → maybe
        r = await api.post(url, files={"file": ("回盘.csv", broken, "text/csv")}, headers=finance)
        assert r.status_code == 422, r.text
        assert "line" in r.json()["details"][0]["message"]
        r = await api.post(url, files={"file": ("回盘.csv", _result_file(batch_csv, 2), "text/csv")}, headers=finance)
        assert r.status_code == 200, r.text
        assert r.json()["result"] == f"{len(households) - 1} paid, 1 failed"
        await env.sleep(timedelta(hours=2))  # the round asks the bank again every hour
        await eventually(lambda: status_is("correcting"))
        failed: dict[str, Any] = (
            await api.get(f"/api/v1/dividend-rounds/{rid}/payments", params={"status": "failed"}, headers=finance)
        ).json()
        assert [p["reason"] for p in failed["items"]] == ["card_closed"]
        r = await api.post(
            f"/api/v1/dividend-rounds/{rid}/corrections",
            headers=finance,
            json={
                "failed_reference": failed["items"][0]["reference"],
                "account": "6228480000000000777",
                "bank": "农行",
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        r = await api.post(
            f"/api/v1/dividend-rounds/{rid}/corrections/{cid}/check", json={"approve": True}, headers=checker
        )
        assert r.status_code == 200, r.text
        corrected = f"{rid}-c{cid}"

        async def corrected_sent() -> bool:
            return (tmp_path / "outbox" / f"{corrected}.csv").exists()

        await eventually(corrected_sent)
        again = (await api.get(f"/api/v1/dividend-rounds/{rid}/batches/{corrected}.csv", headers=finance)).content
        r = await api.post(
            f"/api/v1/dividend-rounds/{rid}/batches/{corrected}/results",
            files={"file": ("回盘.csv", _result_file(again.decode(), 0), "text/csv")},
            headers=finance,
        )
        assert r.status_code == 200, r.text
        await env.sleep(timedelta(hours=2))
        await eventually(lambda: status_is("result_noticed"))
        final = (await api.get(f"/api/v1/dividend-rounds/{rid}", headers=finance)).json()
        assert final["paid_fen"] == final["households_fen"]
