"""The `assetflow` CLI against the real database: audit verification and CSV imports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from cli.main import app
from core.settings import get_settings
from db.engine import Sessions
from db.models import AuditEntry, Household, Region
from db.repositories.audit import project_chain
from domain.households import with_check_digit
from tests.conftest import Login, World, application, eventually


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose settings point at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def _invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    """Exit code and output with rich's line wrapping undone (the CLI runs its own loop: give it a thread)."""
    result: Result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, " ".join(result.output.split())


async def test_audit_verify_passes_then_reports_a_row_altered_in_sql(
    cli: CliRunner, api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    pm = await login(world.users["pm"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]
    await eventually(lambda: _entries(sessions, code, 3))

    ok_code, ok_out = await _invoke(cli, "audit", "verify", code)
    assert ok_code == 0, ok_out
    assert "0 broken" in ok_out

    async with sessions.begin() as s:
        with pytest.raises(DBAPIError, match="append-only"):
            async with s.begin_nested():
                await s.execute(
                    text("UPDATE audit_log SET actor_name = 'x' WHERE chain = :c"), {"c": project_chain(code)}
                )

    # someone with superuser rights bypasses the trigger and rewrites history
    async with sessions.begin() as s:
        await s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        await s.execute(
            text(
                "UPDATE audit_log SET payload = jsonb_set(payload, '{total_budget_fen}', '1') "
                "WHERE chain = :c AND seq = 1"
            ),
            {"c": project_chain(code)},
        )
        await s.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    bad_code, bad_out = await _invoke(cli, "audit", "verify", code)
    assert bad_code == 1
    assert f"project:{code} seq 1: content was altered" in bad_out
    history = (await api.get(f"/api/v1/projects/{code}/history", headers=pm)).json()
    assert history["verified"] is False
    assert history["problems"] == ["seq 1: content was altered: hash does not match"]


async def test_deleting_the_newest_entry_is_detected(
    cli: CliRunner, api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    code = (await api.post("/api/v1/projects", json=application(world), headers=await login(world.users["pm"]))).json()[
        "code"
    ]
    # filed, phase_started, stage_changed, task_opened: then the project waits for the township
    await eventually(lambda: _entries(sessions, code, 4))
    async with sessions.begin() as s:
        await s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        await s.execute(
            text("DELETE FROM audit_log WHERE chain = :c AND seq = (SELECT max(seq) FROM audit_log WHERE chain = :c)"),
            {"c": project_chain(code)},
        )
        await s.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    bad_code, bad_out = await _invoke(cli, "audit", "verify", code)
    assert bad_code == 1
    assert "chain head says seq 4, stored entries end at seq 3" in bad_out


async def _entries(sessions: Sessions, code: str, n: int) -> bool:
    async with sessions() as s:
        count = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.chain == project_chain(code))
        )
    return (count or 0) >= n


async def test_import_rejects_the_whole_file_and_names_each_bad_line(
    cli: CliRunner, world: World, sessions: Sessions, tmp_path: Path
) -> None:
    county = world.county
    f = tmp_path / "regions.csv"
    f.write_text(
        "code,name,level,parent_code\n"
        f"{county}150,新镇,township,{county}\n"
        f"{county}150201,新村,village,{county}150\n"
        f"{county}15,坏镇,township,{county}\n"
        f"{county}151201,孤村,village,{county}151\n"
        f"{county}152,,district,{county}\n",
        encoding="utf-8",
    )
    result_code, result_out = await _invoke(cli, "import", "regions", str(f))
    assert result_code == 1
    out = result_out
    assert "line 4: code: a township code has 9 digits" in out
    assert f"line 5: parent_code: no region {county}151" in out
    assert "line 6: level: must be one of" in out
    assert "3 problem(s)" in out
    assert "nothing was imported" in out
    async with sessions() as s:
        assert await s.get(Region, f"{county}150") is None

    f.write_text(
        f"code,name,level,parent_code\n{county}150,新镇,township,{county}\n{county}150201,新村,village,{county}150\n",
        encoding="utf-8",
    )
    good_code, good_out = await _invoke(cli, "import", "regions", str(f))
    assert good_code == 0, good_out
    assert "2 of 2 rows written" in good_out
    again_code, _ = await _invoke(cli, "import", "regions", str(f))
    assert again_code == 0
    async with sessions() as s:
        village = await s.get(Region, f"{county}150201")
        assert village is not None
        assert village.parent_code == f"{county}150"


async def test_household_import_checks_ids_and_villages(
    cli: CliRunner, world: World, sessions: Sessions, tmp_path: Path
) -> None:
    v = world.villages[0]
    f = tmp_path / "households.csv"
    f.write_text(
        "\ufeffcode,village_code,head_name,members,categories,id_number,bank_account\n"  # Excel's BOM
        f"HX{v}01,{v},张三,3,elderly;no_labour,11010519491231002X,622848000000000001\n"
        f"HX{v}02,{v},李四,2,,110105194912310021,622848000000000002\n"
        f"HX{v}03,{world.townships[0]},王五,0,rich,11010519491231002X,12\n",
        encoding="utf-8",
    )
    result_code, result_out = await _invoke(cli, "import", "households", str(f))
    assert result_code == 1
    out = result_out
    assert "line 3: id_number: the ID number's check digit is wrong" in out
    assert f"line 4: village_code: no village {world.townships[0]}" in out
    assert "line 4: members: must be a whole number from 1 to 30" in out
    assert "line 4: categories: unknown rich" in out
    assert "line 4: bank_account: must be 12–30 digits" in out
    async with sessions() as s:
        assert await s.scalar(select(Household).where(Household.code == f"HX{v}01")) is None

    partial_code, partial_out = await _invoke(cli, "import", "households", str(f), "--partial")
    assert partial_code == 1
    assert "1 of 3 rows written" in partial_out
    async with sessions() as s:
        stored = await s.scalar(select(Household).where(Household.code == f"HX{v}01"))
        assert stored is not None
        assert stored.categories == ["elderly", "no_labour"]


async def test_import_of_a_missing_file_or_column_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    missing_code, missing_out = await _invoke(cli, "import", "regions", str(tmp_path / "nope.csv"))
    assert missing_code == 2
    assert "no such file" in missing_out
    f = tmp_path / "r.csv"
    f.write_text("code,name\n1,x\n", encoding="utf-8")
    wrong_code, wrong_out = await _invoke(cli, "import", "regions", str(f))
    assert wrong_code == 2
    assert "missing column(s) level, parent_code" in " ".join(wrong_out.split())


async def test_household_import_progress_counts_each_row_once(
    cli: CliRunner, world: World, sessions: Sessions, tmp_path: Path
) -> None:
    v = world.villages[1]
    f = tmp_path / "households.csv"
    ids = [with_check_digit(f"1101051949123100{i}") for i in range(4)]
    f.write_text(
        "code,village_code,head_name,members,categories,id_number,bank_account\n"
        + "".join(f"HP{v}{i},{v},户主{i},2,elderly,{ids[i]},62284800000000000{i}\n" for i in range(4)),
        encoding="utf-8",
    )
    code, out = await _invoke(cli, "import", "households", str(f))
    assert code == 0, out
    assert "4 of 4 rows written" in out
    assert "4/4" in out
    assert "8/8" not in out
    async with sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Household).where(Household.code.like(f"HP{v}%")))
    assert count == 4


async def test_history_pages_and_verifies_what_was_appended_since_it_last_verified(
    cli: CliRunner, api: httpx.AsyncClient, worker: Worker, world: World, login: Login, sessions: Sessions
) -> None:
    """The history endpoint verifies incrementally (a checkpoint per chain): a change to the entry it verified
    last, or to anything after it, is found; pages follow the chain's order."""
    pm = await login(world.users["pm"])
    code = (await api.post("/api/v1/projects", json=application(world), headers=pm)).json()["code"]
    await eventually(lambda: _entries(sessions, code, 4))
    path = f"/api/v1/projects/{code}/history"
    whole = (await api.get(path, headers=pm)).json()
    assert (whole["verified"], whole["count"]) == (True, len(whole["items"]))
    first, rest = (
        (await api.get(path, params={"limit": 1}, headers=pm)).json(),
        (await api.get(path, params={"limit": 100, "offset": 1}, headers=pm)).json(),
    )
    assert [e["action"] for e in first["items"] + rest["items"]] == [e["action"] for e in whole["items"]]
    assert first["count"] == whole["count"]
    # the entry verified last is rewritten: found, though nothing before it is read again
    async with sessions.begin() as s:
        await s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        await s.execute(
            text(
                "UPDATE audit_log SET actor_name = 'x' WHERE chain = :c "
                "AND seq = (SELECT max(seq) FROM audit_log WHERE chain = :c)"
            ),
            {"c": project_chain(code)},
        )
        await s.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    tampered = (await api.get(path, headers=pm)).json()
    assert tampered["verified"] is False
    assert any("content was altered" in p for p in tampered["problems"]), tampered["problems"]
    # and the whole walk says the same
    bad_code, bad_out = await _invoke(cli, "audit", "verify", code)
    assert bad_code == 1, bad_out
    assert "content was altered" in bad_out


async def test_notify_test_mail_reaches_the_configured_server_or_says_why(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.notify_helpers import smtp_sink

    async with smtp_sink() as (box, port):
        monkeypatch.setenv("NOTIFY__SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("NOTIFY__SMTP_PORT", str(port))
        monkeypatch.setenv("NOTIFY__SMTP_SECURITY", "none")
        get_settings.cache_clear()
        code, out = await _invoke(cli, "notify", "test-mail", "ops@county.test")
        assert (code, out) == (0, f"accepted by 127.0.0.1:{port}")
        [mail] = [m for m in box.received if "ops@county.test" in m.rcpt]
        assert "测试邮件" in mail.subject
    monkeypatch.setenv("NOTIFY__SMTP_HOST", "")
    get_settings.cache_clear()
    code, out = await _invoke(cli, "notify", "test-mail", "ops@county.test")
    assert code == 1
    assert "NOTIFY__SMTP_HOST" in out
