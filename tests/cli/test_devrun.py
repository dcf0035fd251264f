"""`make run` supervises its worker and API: a child that dies is restarted (and said so in the log), a crash
loop stops the stack, and SIGTERM still leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, TypeVar

import httpx
from structlog.testing import capture_logs
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cli.devrun import GaveUp, Supervisor
from core.devstack import check_port_free
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def _until(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll a synchronous condition until it holds (the processes under test run on their own clocks)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    """The process no longer exists (it was reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _supervise_until_given_up(supervisor: Supervisor, *, timeout: float) -> GaveUp:
    """Run the supervision loop as `make run` does, until it gives up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            supervisor.check()
        except GaveUp as err:
            return err
        time.sleep(0.02)
    raise AssertionError(f"the supervisor did not give up within {timeout} s")


def test_a_child_that_keeps_dying_is_restarted_with_backoff_then_given_up(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    crash = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    supervisor = Supervisor(max_exits=3, window=60, backoff=0.05)
    with capture_logs() as logs:
        supervisor.start("crasher", [sys.executable, "-c", crash], env=os.environ, log_file=tmp_path / "crasher.log")
        gave_up = _supervise_until_given_up(supervisor, timeout=30)
    assert str(gave_up).startswith("crasher exited 3 times within 60 s (last exit code 3)")
    assert starts.read_text() == "xxx", "started once, restarted twice, then given up"
    restarts = [e for e in logs if e["event"] == "process exited; restarting"]
    assert [(e["process"], e["exit_code"], e["log_file"]) for e in restarts] == [
        ("crasher", 3, str(tmp_path / "crasher.log"))
    ] * 2
    assert [e["restart_in"] for e in restarts] == [0.05, 0.1], "the backoff grows"


def test_a_child_that_exits_is_back_after_its_backoff_and_stop_all_leaves_none(tmp_path: Path) -> None:
    supervisor = Supervisor(backoff=0.05)
    first = supervisor.start(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], env=os.environ, log_file=tmp_path / "s.log"
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    def restarted() -> subprocess.Popen[bytes] | None:
        supervisor.check()
        proc = supervisor.children[0].proc
        return proc if proc is not None and proc.pid != first.pid and proc.poll() is None else None

    second = _until(restarted, timeout=10, what="the killed child is running again")
    supervisor.stop_all()
    assert second.returncode == -signal.SIGTERM
    assert _gone(second.pid)


def _free_ports(n: int) -> list[int]:
    """`n` distinct unused loopback ports (held together while chosen, so none is handed out twice)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


class DevStack:
    """`assetflow dev run` as a subprocess on ports and a data directory of its own, logging JSON."""

    def __init__(self, tmp: Path) -> None:
        self.data = tmp / "data"
        api_port, temporal_port, ui_port, smtp_port, webhook_port = _free_ports(5)
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.temporal = f"127.0.0.1:{temporal_port}"
        self.out = tmp / "stdout.log"
        self.err = tmp / "stderr.log"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TASK_QUEUE")}
        env |= {
            "DATA_DIR": str(self.data),
            "API_PORT": str(api_port),
            "TEMPORAL_ADDRESS": self.temporal,
            "TEMPORAL_UI_PORT": str(ui_port),
            "DEV_SMTP_PORT": str(smtp_port),
            "DEV_WEBHOOK_PORT": str(webhook_port),
            "WORKER_METRICS_BIND": "",
            "API_SDK_METRICS_BIND": "",
            "LOG_FORMAT": "json",
        }
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "assetflow"), "dev", "run"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """The dev stack's own log lines with this event and these fields."""
        found = []
        for line in self.err.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("event") == event and all(entry.get(k) == v for k, v in match.items()):
                found.append(entry)
        return found

    def ready(self) -> bool:
        """The banner is out (demo data loaded); fails fast if the stack stopped."""
        assert self.proc.poll() is None, f"dev run exited with {self.proc.returncode}: {self.err.read_text()[-3000:]}"
        return "assetflow is ready" in self.out.read_text()

    def stop(self) -> int:
        """SIGTERM, as a service manager or Ctrl-C would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


async def test_make_run_restarts_a_killed_worker_and_stops_cleanly(tmp_path: Path) -> None:
    stack = DevStack(tmp_path)
    try:
        _until(stack.ready, timeout=180, what="the dev stack is ready")

        # the demo's township approval reached its manager in the local SMTP sink, and the county's webhook, signed
        def approvals() -> list[str]:
            mails = (stack.data / "mail").glob("*-pm_jiyang@demo.assetflow.local.eml")
            subjects = [str(message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]) for p in mails]
            return [s for s in subjects if s.startswith("审核通过")]

        assert _until(approvals, timeout=60, what="the demo approval's mail to its manager is in the sink")
        hooks = stack.data / "webhooks.jsonl"
        posted = _until(
            lambda: [
                json.loads(line)
                for line in (hooks.read_text().splitlines() if hooks.exists() else [])
                if '"decision_approved"' in line
            ],
            timeout=60,
            what="the approval is posted to the demo webhook",
        )
        assert all(p["signature_valid"] for p in posted)
        (worker,) = stack.events("process started", process="worker")
        (api,) = stack.events("process started", process="api")
        os.kill(worker["pid"], signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            stack.ready()
            again = stack.events("process started", process="worker")
            return again[-1] if len(again) == 2 else None

        new_worker = _until(restarted, timeout=30, what="the worker is started again")
        (said,) = stack.events("process exited; restarting", process="worker")
        assert said["exit_code"] == -signal.SIGKILL
        assert said["log_file"] == str(stack.data.resolve() / "worker.log")
        assert new_worker["pid"] != worker["pid"]

        # the new worker polls the task queue, and the API answered throughout
        client = await Client.connect(stack.temporal)

        async def polling() -> bool:
            desc = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name="assetflow"))
            )
            return any(p.identity.startswith(f"{new_worker['pid']}@") for p in desc.pollers)

        await eventually(polling, timeout=30)
        async with httpx.AsyncClient(base_url=stack.api_url) as http:
            assert (await http.get("/readyz")).status_code == 200
        assert len(stack.events("process started", process="api")) == 1, "the API was not touched"
    finally:
        code = stack.stop()
    assert code == 0, stack.err.read_text()[-3000:]
    assert stack.events("stopping", signal="SIGTERM")
    for pid in (new_worker["pid"], api["pid"]):
        assert _gone(pid)
    assert not (stack.data / "pg" / "postmaster.pid").exists(), "PostgreSQL is stopped"
    host, port = stack.temporal.rsplit(":", 1)
    check_port_free(host, int(port), "TEMPORAL_ADDRESS")  # the Temporal dev server is gone too
