"""Activities of OperationWorkflow: the check that applies `domain.operation` to a project's assets, and the
contract proposals the township reviews and the county approves. Each is one transaction, idempotent by business
keys (a retried check raises nothing twice, opens no task twice, schedules no receivable twice)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.archives import refresh_project
from activities.contracts import terms_of
from activities.problems import register_rule_problems, rule_problem
from activities.projects import (
    audit,
    calling_workflow_id,
    locked_project,
    open_task_in,
    opened_task,
    project_params,
    transaction,
)
from core.settings import OperationSettings, get_settings
from db.engine import Sessions
from db.models import Asset, Contract, OperationWarning, Project
from db.repositories.notifications import note_event
from db.repositories.operation_checks import (
    YearFigures,
    clear_warnings,
    count_open_repairs,
    create_contracts,
    create_inspections,
    create_receivables,
    initial_contract,
    inspection_facts,
    last_income,
    list_active_warnings,
    list_operating_assets,
    list_project_contracts,
    list_unpaid,
    raise_warnings,
    set_asset_colours,
    set_warning_tasks,
    year_figures,
)
from db.repositories.projects import update_project_colours
from db.repositories.tasks import cancel_tasks
from domain.assets import AssetClass, AssetStatus
from domain.enums import Decision, Role, Stage, TaskStatus
from domain.notifications import EventKind
from domain.operation import (
    LEVELS,
    AssetOperation,
    ContractKind,
    ContractStatus,
    Rules,
    Warning,
    WarningKind,
    colour,
    low_yield,
    next_check,
    next_inspection,
    periods,
    warnings,
)
from domain.operation_payloads import (
    OperationCheckInput,
    OperationCheckResult,
)
from domain.payloads import OpenedTask, OpenTaskInput
from domain.problems import RuleKind, rule_key

log = structlog.get_logger(__name__)
CHECK_HOUR = time(9, 0)  # checks wake at 09:00 local time, when the people who act on them are at work
QUEUED = "queued"  # an imported asset's registration_status until the platform issues its card
TASK_NAMESPACE = uuid.UUID("6f1c2f4e-8d0b-4a57-9f7e-0b5f3c1d2e71")


def rules_from(settings: OperationSettings) -> Rules:
    """The operation rules as configured (read at every check: a changed setting applies from the next one)."""
    return Rules(
        expiry_warning_days=tuple(settings.expiry_warning_days),
        arrears_reminder_days=settings.arrears_reminder_days,
        arrears_problem_days=settings.arrears_problem_days,
        no_income_months=settings.no_income_months,
        put_back_days=settings.put_back_days,
        inspection_months=dict(settings.inspection_months),
        inspection_grace_days=settings.inspection_grace_days,
        low_yield_percent=settings.low_yield_percent,
        levels={**LEVELS, **settings.levels},
    )


def warning_task_id(project_code: str, key: str) -> str:
    """A warning's task id, derived from its key: a retried check finds the task it opened."""
    return str(uuid.uuid5(TASK_NAMESPACE, f"{project_code}:{key}"))


# the warnings a project's manager (and the region's webhooks and robots) hear of
WARNING_EVENTS = {
    WarningKind.CONTRACT_EXPIRING: EventKind.WARNING_CONTRACT_EXPIRY,
    WarningKind.CONTRACT_EXPIRED: EventKind.WARNING_CONTRACT_EXPIRY,
    WarningKind.ARREARS: EventKind.WARNING_ARREARS,
    WarningKind.ARREARS_PROBLEM: EventKind.WARNING_ARREARS,
    WarningKind.IDLE: EventKind.WARNING_IDLE,
    WarningKind.IDLE_OVERDUE: EventKind.WARNING_IDLE,
    WarningKind.NO_INCOME: EventKind.WARNING_IDLE,
}


class OperationActivities:
    """Writes the operation records on behalf of OperationWorkflow."""

    def __init__(self, sessions: Sessions, settings: OperationSettings | None = None) -> None:
        self._sessions = sessions
        self._settings = settings

    def _rules(self) -> Rules:
        return rules_from(self._settings or get_settings().operation)

    @activity.defn
    async def check_operation(self, inp: OperationCheckInput) -> OperationCheckResult:
        """Schedule the receivables and inspections that have come due, raise and clear warnings (each audited,
        with its task for the manager and, for long arrears, a problem for the county), colour the operation
        archive, and say when the next check is due."""
        rules = self._rules()
        zone = ZoneInfo(inp.time_zone)
        today = inp.at.astimezone(zone).date()
        year_end = date(inp.fiscal_year + 1, 1, 1)
        workflow_id = calling_workflow_id()
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            assets = await list_operating_assets(session, project_code=project.code)
            contracts = await self._contracts(session, project, assets, inp.at)
            await self._schedule(session, project, contracts, today, inp.at)
            facts = await self._facts(session, project, assets, contracts, today, rules)
            if inp.close_year:
                facts = await self._close_year(session, project, assets, facts, inp, rules)
            found = {w.key: (a, w) for a in facts for w in warnings(a, today, rules)}
            opened, closed = await self._apply(session, project, found, inp, workflow_id)
            await self._raise_problems(session, project, found, {a.id: a.village_code for a in assets}, inp.at)
            asset_colours = {a.asset_id: colour(w for k, (x, w) in found.items() if x is a) for a in facts}
            await set_asset_colours(session, colours=asset_colours)
            archive = colour(w for _, w in found.values()) if facts else ""
            if archive != project.operation_colour:
                await audit(
                    session,
                    project.code,
                    action="operation_colour_changed",
                    event_key=f"operation_colour:{project.code}:{inp.at.isoformat()}",
                    payload={"from": project.operation_colour or None, "to": archive},
                    at=inp.at,
                )
                await update_project_colours(session, code=project.code, operation_colour=archive)
            await refresh_project(session, project.code, inp.at)
        wake = next_check(facts, today, rules, year_end=year_end)
        at = datetime.combine(wake, CHECK_HOUR, zone) if wake < year_end else datetime.combine(year_end, time(), zone)
        log.info(
            "operation checked",
            project_code=inp.project_code,
            warnings=len(found),
            opened=len(opened),
            closed=len(closed),
            next_check=at.isoformat(),
        )
        return OperationCheckResult(
            next_check_at=at.astimezone(UTC),
            opened=opened,
            closed=closed,
            colour=archive,
            warnings=len(found),
            unregistered=[
                a.id
                for a in assets
                if a.registration_status == QUEUED and a.asset_class != AssetClass.HOUSEHOLD and not a.platform_card_no
            ],
        )

    async def _contracts(
        self, session: AsyncSession, project: Project, assets: Sequence[Asset], at: datetime
    ) -> dict[str, Contract]:
        """Each asset's active contract; an asset registered with a contract before contracts had their own table
        gets it as its `initial` contract."""
        stored = await list_project_contracts(session, project_code=project.code)
        known = {c.asset_id for c in stored}
        initial = [row for a in assets if a.id not in known and (row := initial_contract(a)) is not None]
        if initial:
            await create_contracts(session, rows=[{**row, "proposed_at": at, "decided_at": at} for row in initial])
            stored = await list_project_contracts(session, project_code=project.code)
        return {c.asset_id: c for c in stored if c.status == ContractStatus.ACTIVE}

    async def _schedule(
        self, session: AsyncSession, project: Project, contracts: dict[str, Contract], today: date, at: datetime
    ) -> None:
        """Receivables of every period due by today and within this fiscal year. An imported contract's periods
        start at its import: what fell due before is not known to the system and is not claimed."""
        through = date(today.year, 12, 31)
        for contract in contracts.values():
            since = contract.start_date
            if contract.kind == ContractKind.IMPORTED:
                since = max(since, contract.proposed_at.date())
            due = [p for p in periods(terms_of(contract)) if since <= p.due <= min(through, today)]
            created = await create_receivables(session, contract=contract, periods=due)
            if created:
                await audit(
                    session,
                    project.code,
                    action="receivables_scheduled",
                    event_key=f"receivables:{contract.id}:{created[0][0]}-{created[-1][0]}",
                    payload={
                        "contract_id": contract.id,
                        "asset_id": contract.asset_id,
                        "periods": [{"no": n, "due": d.isoformat(), "amount_fen": f} for n, d, f in created],
                    },
                    at=at,
                )

    async def _facts(
        self,
        session: AsyncSession,
        project: Project,
        assets: Sequence[Asset],
        contracts: dict[str, Contract],
        today: date,
        rules: Rules,
    ) -> list[AssetOperation]:
        unpaid = await list_unpaid(session, project_code=project.code, through=today)
        income = await last_income(session, project_code=project.code)
        inspections = await inspection_facts(session, project_code=project.code)
        repairs = await count_open_repairs(session, project_code=project.code)
        proposed = {
            c.asset_id
            for c in await list_project_contracts(session, project_code=project.code)
            if c.status == ContractStatus.PROPOSED
        }
        active = await list_active_warnings(session, project_code=project.code)
        low = {w.asset_id: int(w.key.rsplit(":", 1)[1]) for w in active if w.kind == WarningKind.LOW_YIELD}
        since = project.completion_date or project.created_at.date()
        schedule: list[dict[str, Any]] = []
        out: list[AssetOperation] = []
        for a in assets:
            contract = contracts.get(a.id)
            # watched from the day the contract came into this system (an imported one: the import), so years
            # before the system knew the asset are neither "without income" nor without inspections
            operating_since = max(contract.start_date, contract.proposed_at.date()) if contract else since
            due = inspections.due.get(a.id)
            if due is None:
                last = inspections.last_done.get(a.id) or max(operating_since, since, today)
                due = next_inspection(a.asset_class, last, rules)
                schedule.append({"asset_id": a.id, "project_code": project.code, "due_date": due})
            out.append(
                AssetOperation(
                    asset_id=a.id,
                    name=a.name,
                    asset_class=a.asset_class,
                    status=a.status,
                    operating_since=operating_since,
                    contract_id=contract.id if contract else None,
                    contract_end=contract.end_date if contract else None,
                    renewal_proposed=a.id in proposed,
                    unpaid=unpaid.get(a.id, []),
                    last_income_on=income.get(a.id),
                    idle_since=a.idle_since if a.status == AssetStatus.IDLE else None,
                    inspection_due=due,
                    open_repairs=repairs.get(a.id, 0),
                    low_yield_year=low.get(a.id),
                )
            )
        await create_inspections(session, rows=schedule)
        return out

    async def _close_year(
        self,
        session: AsyncSession,
        project: Project,
        assets: Sequence[Asset],
        facts: list[AssetOperation],
        inp: OperationCheckInput,
        rules: Rules,
    ) -> list[AssetOperation]:
        """The fiscal year's figures per asset, audited; a yield far below the estimate is a red warning."""
        year = inp.fiscal_year
        figures = await year_figures(session, project_code=project.code, start=date(year, 1, 1), end=date(year, 12, 31))
        expected = float(project.application.get("revenue", {}).get("expected_yield_percent", 0) or 0)
        values = {a.id: a.value_fen for a in assets}
        first, last = date(year, 1, 1), date(year, 12, 31)
        year_days = (last - first).days + 1
        low: dict[str, bool] = {}
        for a in facts:
            f = figures.get(a.asset_id, YearFigures())
            earns = a.contract_id is not None or f.profit_fen != 0
            days = (last - max(first, a.operating_since)).days + 1
            low[a.asset_id] = earns and low_yield(
                f.income_fen, values[a.asset_id], expected, rules, days=days, year_days=year_days
            )
        await audit(
            session,
            project.code,
            action="operation_year_closed",
            event_key=f"operation_year_closed:{project.code}:{year}",
            payload={
                "fiscal_year": year,
                "expected_yield_percent": expected,
                "assets": {
                    a: {
                        "due_fen": f.due_fen,
                        "received_fen": f.received_fen,
                        "profit_fen": f.profit_fen,
                        "upkeep_fen": f.upkeep_fen,
                        "income_fen": f.income_fen,
                        "value_fen": values.get(a, 0),
                    }
                    for a, f in sorted(figures.items())
                },
            },
            at=inp.at,
        )
        return [replace(a, low_yield_year=year if low[a.asset_id] else None) for a in facts]

    async def _apply(
        self,
        session: AsyncSession,
        project: Project,
        found: dict[str, tuple[AssetOperation, Warning]],
        inp: OperationCheckInput,
        workflow_id: str,
    ) -> tuple[list[OpenedTask], list[str]]:
        """Raise what holds and is not raised, clear what no longer holds; open and cancel the manager's tasks."""
        active = {w.key: w for w in await list_active_warnings(session, project_code=project.code)}
        gone: list[OperationWarning] = [w for k, w in active.items() if k not in found]
        await clear_warnings(session, ids=[w.id for w in gone], at=inp.at)
        # a task outlives a warning that hands over to the next (a contract warned at 90, then 30, then 7 days)
        live = {warning_task_id(project.code, w.task_key) for _, w in found.values() if w.task is not None}
        held = {w.task_id for k, w in active.items() if k in found and w.task_id}
        closed = [w.task_id for w in gone if w.task_id and w.task_id not in live]
        if closed:
            await cancel_tasks(session, task_ids=closed, at=inp.at)
        for old in gone:
            await audit(
                session,
                project.code,
                action="warning_cleared",
                event_key=f"warning_cleared:{old.key}:{inp.at.isoformat()}",
                payload={"key": old.key, "kind": old.kind, "asset_id": old.asset_id, "task_id": old.task_id},
                at=inp.at,
            )
        new = [(a, w) for k, (a, w) in found.items() if k not in active]
        raised = set(
            await raise_warnings(
                session,
                rows=[
                    {
                        "key": w.key,
                        "asset_id": a.asset_id,
                        "project_code": project.code,
                        "kind": w.kind.value,
                        "level": w.level,
                        "message": w.message,
                        "raised_at": inp.at,
                        "deadline": w.deadline,
                    }
                    for a, w in new
                ],
            )
        )
        opened: list[OpenedTask] = []
        links: dict[str, str] = {}
        for a, w in new:
            if w.key not in raised:
                continue
            await audit(
                session,
                project.code,
                action="warning_raised",
                event_key=f"warning_raised:{w.key}:{inp.at.isoformat()}",
                payload={
                    "key": w.key,
                    "kind": w.kind.value,
                    "level": w.level,
                    "asset_id": a.asset_id,
                    "message": w.message,
                },
                at=inp.at,
            )
            if (event := WARNING_EVENTS.get(w.kind)) is not None:
                await note_event(
                    session,
                    kind=event,
                    key=f"warning_raised:{w.key}:{inp.at.isoformat()}",
                    params=project_params(project) | {"asset_name": a.name, "detail": w.message},
                    user_ids=[project.applicant_id],
                    region_code=project.village_code,
                    project_code=project.code,
                    at=inp.at,
                )
            kind = w.task
            if kind is None:
                continue
            task_id = warning_task_id(project.code, w.task_key)
            if task_id in held:
                links[w.key] = task_id
                continue
            task = await open_task_in(
                session,
                OpenTaskInput(
                    task_id=task_id,
                    project_code=project.code,
                    kind=kind.value,
                    stage=Stage.OPERATION.value,
                    candidate_role=Role.PROJECT_MANAGER.value,
                    region_code=inp.village_code,
                    allowed_decisions=[Decision.DONE.value],
                    opened_at=inp.at,
                    working_days=inp.working_days,
                    time_zone=inp.time_zone,
                    assignee_id=inp.applicant_id,
                    details={
                        "asset_id": a.asset_id,
                        "asset_name": a.name,
                        "warning": w.kind.value,
                        "warning_key": w.key,
                        "message": w.message,
                        "deadline": w.deadline.isoformat() if w.deadline else None,
                    },
                ),
                workflow_id=workflow_id,
            )
            links[w.key] = task.id
            if task.status == TaskStatus.OPEN:
                opened.append(opened_task(task))
        await set_warning_tasks(session, tasks=links)
        return opened, closed

    def _problem_rules(self) -> dict[WarningKind, RuleKind]:
        """The warnings that register a problem for the county, as configured (each can be turned off)."""
        settings = self._settings or get_settings().operation
        rules = {
            WarningKind.ARREARS_PROBLEM: (RuleKind.ARREARS, settings.arrears_problems),
            WarningKind.IDLE_OVERDUE: (RuleKind.IDLE, settings.idle_problems),
            WarningKind.INSPECTION_OVERDUE: (RuleKind.INSPECTION, settings.inspection_problems),
        }
        return {kind: rule for kind, (rule, on) in rules.items() if on}

    async def _raise_problems(
        self,
        session: AsyncSession,
        project: Project,
        found: dict[str, tuple[AssetOperation, Warning]],
        villages: dict[str, str],
        at: datetime,
    ) -> None:
        """A problem in the ledger for each red warning a rule turns into one, once per fact (its key is unique, so
        a retried check, the next check, or a warning raised before this rule existed registers nothing twice)."""
        rules = self._problem_rules()
        base = get_settings()
        rows = [
            rule_problem(
                rules[w.kind],
                self._problem_key(a, w, rules[w.kind]),
                region_code=villages.get(a.asset_id, project.village_code),
                description=w.message,
                at=at,
                settings=base.problems,
                time_zone=base.time_zone,
                project_code=project.code,
                asset_id=a.asset_id,
                responsible_unit=project.implementing_entity,
            )
            for a, w in found.values()
            if w.kind in rules
        ]
        await register_rule_problems(session, rows, at)

    @staticmethod
    def _problem_key(a: AssetOperation, w: Warning, rule: RuleKind) -> str:
        if rule is RuleKind.ARREARS:
            return rule_key(rule, w.ref)
        if rule is RuleKind.IDLE:
            return rule_key(rule, a.asset_id, a.idle_since.isoformat() if a.idle_since else "")
        return rule_key(rule, a.asset_id, a.inspection_due.isoformat() if a.inspection_due else "")
