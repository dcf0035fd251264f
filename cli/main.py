"""`assetflow` — users, imports, demo data, audit verification, migrations and the dev stack."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import update

if TYPE_CHECKING:
    from cli.handover import HandOver

from api.security import hash_password
from cli.imports import ImportFileError, import_file, read_rows
from core.logging import configure_logging
from core.settings import Environment, Settings, get_settings
from db.engine import Sessions, make_engine, make_sessions
from db.migrate import upgrade
from db.models import Region, User
from db.repositories.audit import SYSTEM_CHAIN, create_audit_entry, verify_audit_chains
from db.repositories.audit import project_chain as _project_chain
from db.repositories.users import create_user, get_user_by_username, list_users
from domain.enums import Role
from domain.users import password_problems

app = typer.Typer(help="assetflow: rural industry-project assets (帮扶产业项目资产)", no_args_is_help=True)
user_app = typer.Typer(help="manage users", no_args_is_help=True)
demo_app = typer.Typer(help="demo data", no_args_is_help=True)
audit_app = typer.Typer(help="the audit log", no_args_is_help=True)
db_app = typer.Typer(help="the database", no_args_is_help=True)
dev_app = typer.Typer(help="the embedded development stack", no_args_is_help=True)
workflows_app = typer.Typer(help="the projects' workflows", no_args_is_help=True)
notify_app = typer.Typer(help="notifications: check the mail settings", no_args_is_help=True)
schedules_app = typer.Typer(help="the report schedules (周调度, 月通报)", no_args_is_help=True)
for sub, name in (
    (notify_app, "notify"),
    (schedules_app, "schedules"),
    (workflows_app, "workflows"),
    (user_app, "user"),
    (demo_app, "demo"),
    (audit_app, "audit"),
    (db_app, "db"),
    (dev_app, "dev"),
):
    app.add_typer(sub, name=name)

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def _run(work: Callable[[Sessions, Settings], Awaitable[T]]) -> T:
    settings = get_settings()
    configure_logging(fmt=settings.log_format, level="WARNING")

    async def main() -> T:
        engine = make_engine(settings.database_url, pool_size=2)
        try:
            return await work(make_sessions(engine), settings)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[Role, typer.Option(help="the user's role")],
    region: Annotated[str, typer.Option(help="region code the user acts in")],
    name: Annotated[str, typer.Option(help="full name")],
    organisation: Annotated[str, typer.Option(help="organisation")] = "",
    password: Annotated[str | None, typer.Option(help="password (prompted when omitted)")] = None,
) -> None:
    """Add a user with a role and a region."""
    secret = password or getpass.getpass("password: ")
    if problems := password_problems(secret, username=username):
        for _, message in problems:
            err_console.print(f"password: {message}")
        raise typer.Exit(2)

    async def work(sessions: Sessions, _: Settings) -> None:
        async with sessions.begin() as s:
            if await s.get(Region, region) is None:
                err_console.print(f"region: no region {region}")
                raise typer.Exit(2)
            if await get_user_by_username(s, username=username):
                err_console.print(f"username: {username} exists already")
                raise typer.Exit(2)
            user = await create_user(
                s,
                username=username,
                full_name=name,
                password_hash=hash_password(secret),
                role=role.value,
                region_code=region,
                organisation=organisation,
            )
            await create_audit_entry(
                s,
                chain=SYSTEM_CHAIN,
                action="user_added",
                event_key=f"user_added:{user.id}",
                payload={"username": username, "role": role.value, "region": region},
                actor_name="cli",
            )
        console.print(f"added {username} ({role.value}, {region})")

    _run(work)


@user_app.command("list")
def user_list(role: Annotated[Role | None, typer.Option(help="only this role")] = None) -> None:
    """List users."""

    async def work(sessions: Sessions, _: Settings) -> None:
        async with sessions() as s:
            users = await list_users(s, role=role.value if role else None)
        table = Table("username", "name", "role", "region", "active", "demo")
        for u in users:
            table.add_row(u.username, u.full_name, u.role, u.region_code, str(u.active), str(u.is_demo))
        console.print(table)

    _run(work)


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user (demo users must be disabled before production)."""

    async def work(sessions: Sessions, _: Settings) -> None:
        async with sessions.begin() as s:
            user = await get_user_by_username(s, username=username)
            if user is None:
                err_console.print(f"username: no user {username}")
                raise typer.Exit(2)
            await s.execute(update(User).where(User.id == user.id).values(active=False))
            await create_audit_entry(
                s,
                chain=SYSTEM_CHAIN,
                action="user_disabled",
                event_key=f"user_disabled:{user.id}:{user.active}",
                payload={"username": username},
                actor_name="cli",
            )
        console.print(f"disabled {username}")

    _run(work)


def _progress() -> Progress:
    """An import's progress bar, on stderr (stdout keeps the result)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="regions | experts | households | projects")],
    file: Annotated[Path, typer.Argument(help="a UTF-8 CSV file with a header row (projects: .csv or .xlsx)")],
    partial: Annotated[bool, typer.Option(help="write the good rows (projects: the good projects) anyway")] = False,
) -> None:
    """Import a file; by default all-or-nothing, every bad row reported by line number, column and reason."""
    if kind == "projects":
        raise typer.Exit(_import_projects(file, partial=partial))
    if kind not in ("regions", "experts", "households"):
        err_console.print("kind: must be regions, experts, households or projects")
        raise typer.Exit(2)
    try:
        total = len(read_rows(file, kind))
    except ImportFileError as err:
        err_console.print(str(err))
        raise typer.Exit(2) from err

    async def work(sessions: Sessions, _: Settings) -> int:
        with _progress() as progress:
            # one bar of the file's rows, counted once per phase: checking, then writing the good ones
            task = progress.add_task(f"check {kind}", total=total)

            def phase(name: str) -> None:
                progress.reset(task, total=total, description=f"{name} {kind}")

            result = await import_file(
                sessions, kind, file, partial=partial, tick=lambda n: progress.advance(task, n), phase=phase
            )
        for e in result.errors:
            err_console.print(f"[red]{e}[/red]")
        if result.errors and not partial:
            err_console.print(f"{len(result.errors)} problem(s) in {file}; nothing was imported")
            return 1
        console.print(f"{kind}: {result.written} of {result.rows} rows written")
        return 1 if result.errors else 0

    raise typer.Exit(_run(work))


def _import_projects(file: Path, *, partial: bool) -> int:
    """`assetflow import projects FILE`: existing projects straight into operation (存量资产纳管)."""
    from core.imports import import_projects
    from core.spreadsheets import SpreadsheetError
    from core.temporal import connect

    if file.suffix.lower() not in (".csv", ".xlsx"):
        err_console.print(f"{file}: a .csv or .xlsx file")
        return 2
    try:
        data = file.read_bytes()
    except OSError as err:
        err_console.print(f"{file}: {err.strerror or err}")
        return 2

    async def work(sessions: Sessions, settings: Settings) -> int:
        try:
            client = await connect(settings)
        except RuntimeError as err:  # the SDK's connection error
            err_console.print(f"cannot reach Temporal at {settings.temporal_address}: {err}")
            return 2
        with _progress() as progress:
            bar = progress.add_task("read projects", total=None)
            labels = {"check": "check rows", "write": "write projects", "start": "start workflows"}

            def phase(name: str, total: int) -> None:
                progress.reset(bar, total=total, description=labels[name])

            try:
                report = await import_projects(
                    sessions,
                    client,
                    settings,
                    data,
                    file_name=file.name,
                    partial=partial,
                    actor_name="cli",
                    tick=lambda n: progress.advance(bar, n),
                    phase=phase,
                )
            except SpreadsheetError as err:
                err_console.print(f"{file}: {err}")
                return 2
        for e in report.errors:
            err_console.print(f"[red]{e}[/red]", highlight=False)
        if report.errors and not partial:
            err_console.print(
                f"{len(report.errors)} problem(s) in {report.refused_projects} of {report.projects_in_file} "
                f"project(s) in {file}; nothing was imported"
            )
            return 1
        c = report.counts
        console.print(
            f"projects: {c.projects} of {report.projects_in_file} written ({report.rows} rows): {c.assets} assets, "
            f"{c.ownerships} ownership shares, {c.income_shares} household links, {c.contracts} contracts; "
            f"{report.workflows_started} workflows in operation; file sha256 {report.sha256}",
            highlight=False,
        )
        return 1 if report.errors else 0

    return _run(work)


@demo_app.command("load")
def demo_load() -> None:
    """Load demo regions, users, experts and households (idempotent; refused in production)."""
    from cli.demo import load_demo_reference

    if get_settings().environment is Environment.PRODUCTION:
        err_console.print("demo data is refused in production")
        raise typer.Exit(2)

    async def work(sessions: Sessions, _: Settings) -> None:
        counts = await load_demo_reference(sessions)
        console.print("demo data: " + ", ".join(f"{k} +{v}" for k, v in counts.items()))

    _run(work)


@audit_app.command("verify")
def audit_verify(
    project: Annotated[str | None, typer.Argument(help="a project code; all chains if omitted")] = None,
) -> None:
    """Recompute the audit hash chains; exit 1 and list every altered, inserted or deleted entry."""

    async def work(sessions: Sessions, _: Settings) -> int:
        async with sessions() as s:
            reports = await verify_audit_chains(s, chain=_project_chain(project) if project else None)
        bad = 0
        for r in reports:
            if r.problems:
                bad += 1
                for p in r.problems:
                    console.print(f"[red]BROKEN[/red] {r.chain} seq {p.seq}: {p.problem}")
        console.print(f"{len(reports)} chain(s), {sum(r.entries for r in reports)} entries, {bad} broken")
        return 1 if bad else 0

    raise typer.Exit(_run(work))


@notify_app.command("test-mail")
def notify_test_mail(address: Annotated[str, typer.Argument(help="where to send the test mail")]) -> None:
    """Send one test mail with the NOTIFY__SMTP_* settings in force; exit 1 and say why when it is not accepted."""
    from core.channels import Mail, send_mail

    settings = get_settings()
    configure_logging(fmt=settings.log_format, level="WARNING")
    mail = Mail(
        address,
        "assetflow 测试邮件 / test mail",
        "这是一封测试邮件：邮件通知的设置可用。\nThis is a test mail: the notification mail settings work.",
        "<p>这是一封测试邮件：邮件通知的设置可用。</p><p>This is a test mail: the notification mail settings work.</p>",
        "test-mail",
    )
    outcome = asyncio.run(send_mail(settings.notify, mail))
    if outcome.ok:
        console.print(f"accepted by {settings.notify.smtp_host}:{settings.notify.smtp_port}")
        return
    err_console.print(f"[red]not sent[/red]: {outcome.error}")
    raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply alembic migrations (the compose `migrate` service runs this once)."""
    settings = get_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    upgrade(settings.database_url, revision)
    console.print(f"database at {revision}")


@workflows_app.command("hand-over")
def workflows_hand_over(
    timeout: Annotated[float, typer.Option(help="seconds to wait for every execution to be handed over")] = 120.0,
) -> None:
    """Hand every running single-class project workflow over to the phase workflows, and report each."""
    from cli.handover import hand_over_all

    _report_executions(hand_over_all, timeout, "handed over", "handed over to ProjectWorkflow")


@workflows_app.command("start-operations")
def workflows_start_operations(
    timeout: Annotated[float, typer.Option(help="seconds to wait for every OperationWorkflow to start")] = 120.0,
) -> None:
    """Start the OperationWorkflow of every project that reached operation before it existed, and report each."""
    from cli.handover import start_operations

    queue = get_settings().task_queue
    _report_executions(
        partial(start_operations, task_queue=queue), timeout, "started", "started their OperationWorkflow"
    )


def _report_executions(
    work: Callable[..., Awaitable[list[HandOver]]], timeout: float, done_word: str, what: str
) -> None:
    """Run a command over the running executions, print a line per execution and a table, exit 1 on a problem."""
    from core.temporal import connect

    settings = get_settings()
    configure_logging(fmt=settings.log_format, level="WARNING")
    table = Table()
    for column in ("project workflow", "stage", "phase", "now taking its Updates", "problem"):
        table.add_column(column, overflow="fold")

    def show(result: HandOver) -> None:
        mark = f"[green]{done_word}[/]" if result.done else f"[red]not {done_word}[/]"
        console.print(f"{mark} {result.workflow_id} ({result.stage})")
        table.add_row(result.workflow_id, result.stage, result.phase, result.child_id, result.problem)

    async def main() -> list[HandOver]:
        try:
            client = await connect(settings)
        except RuntimeError as err:  # the SDK's connection error
            err_console.print(f"cannot reach Temporal at {settings.temporal_address}: {err}")
            raise typer.Exit(2) from err
        return await work(client, timeout=timeout, progress=show)

    results = asyncio.run(main())
    if results:
        console.print(table)
    done = sum(r.done for r in results)
    console.print(f"{done} of {len(results)} running execution(s) {what}")
    if done < len(results):
        raise typer.Exit(1)


@schedules_app.command("ensure")
def schedules_ensure() -> None:
    """Create the report schedules (weekly Monday 08:00, monthly the 1st 08:00, a daily backfill check) or bring them up
    to date: what every worker does when it starts, for a deploy step."""
    from core.schedules import ensure_schedules
    from core.temporal import connect

    settings = get_settings()
    configure_logging(fmt=settings.log_format, level="WARNING")

    async def main() -> None:
        try:
            client = await connect(settings)
        except RuntimeError as err:  # the SDK's connection error
            err_console.print(f"cannot reach Temporal at {settings.temporal_address}: {err}")
            raise typer.Exit(2) from err
        for ensured in await ensure_schedules(client, settings):
            console.print(f"{ensured.outcome:8} {ensured.schedule_id}")

    asyncio.run(main())


@dev_app.command("run")
def dev_run() -> None:
    """Start PostgreSQL, Temporal, migrations, demo data, worker and API; Ctrl-C stops everything."""
    from cli.devrun import run_dev_stack

    raise typer.Exit(run_dev_stack())
