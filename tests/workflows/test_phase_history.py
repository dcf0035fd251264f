"""Ten simulated years of weekly construction checks (time-skipping): every run of every execution of the
project stays under 2,000 events, because ConstructionWorkflow continues as new as its history grows."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.engine import Sessions
from domain.construction import week_start_of
from tests.api.chain_helpers import Driver
from tests.api.test_construction import _to_construction
from tests.conftest import World, local_today
from tests.replay.test_replay import _replayer, record_history

pytestmark = pytest.mark.usefixtures("skipping_worker")
RUN_LIMIT = 2000


async def _runs(client: Client, workflow_id: str, record_first_as: str) -> list[int]:
    """The event count of each run of an execution chain, oldest first (walked back from the newest); each
    run replays, and the first (which continued as new) is recorded with RECORD_HISTORIES=1."""
    counts: list[int] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        assert (await _replayer().replay_workflow(history, raise_on_replay_failure=True)).replay_failure is None
        counts.append(len(history.events))
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            if os.environ.get("RECORD_HISTORIES") == "1":
                await record_history(client, workflow_id, record_first_as, run_id=run_id)
            return counts[::-1]
        run_id = previous


async def test_ten_years_of_weekly_checks_stay_small_per_run(
    skipping_api: httpx.AsyncClient, world: World, sessions: Sessions, skipping_env: WorkflowEnvironment
) -> None:
    drive = Driver(skipping_api, world)
    code = await _to_construction(drive, world, sessions, skipping_env)
    await skipping_env.sleep(timedelta(days=3653))
    detail = await drive.project(code)
    assert detail["stage"] == "construction"
    assert detail["construction_colour"] == "red"  # ten years without a progress report
    client = skipping_env.client
    construction = await _runs(client, f"project-{code}-construction-1", "construction_continued_as_new")
    project = await _runs(client, f"project-{code}", "project_approval_continued_as_new")
    assert len(construction) >= 5, construction  # about 520 weekly checks, continued as new along the way
    assert max(construction) < RUN_LIMIT, construction
    assert max(project) < RUN_LIMIT, project
    assert sum(construction) > 520 * 9  # every week was checked
    # the newest run takes the project's Updates: a progress report is stored and coloured
    week = {"week_start": week_start_of(local_today()).isoformat(), "percent": 10, "funds_paid_fen": 1_000_000}
    r = await skipping_api.post(
        f"/api/v1/projects/{code}/progress-reports", json=week, headers=await drive.headers(drive.pm)
    )
    assert r.status_code == 201, r.text
