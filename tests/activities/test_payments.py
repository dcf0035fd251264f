"""Payments (代发): the embedded bank against real PostgreSQL (never twice, failing cards), the bank batch file round
trip (export, a result file with failures, malformed rows, amounts that differ), the HTTP adapter against a real
loopback server (up, down, refusing), and the settings that choose among them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from structlog.testing import capture_logs

from core.devstack import free_port
from core.payments import (
    BatchFileBank,
    EmbeddedBank,
    FileFormat,
    HttpBank,
    PaymentRejected,
    PaymentUnavailable,
    make_payments,
)
from core.settings import Environment, PaymentKind, PaymentSettings, Settings
from db.engine import Sessions
from db.models import BankPayment
from domain.payments import (
    BatchReceipt,
    FailureReason,
    LineResult,
    PaymentBatch,
    PaymentLine,
    PaymentStatus,
    ResultFileError,
    fen_to_yuan,
    reference,
    split_batches,
)
from tests.loopback import LoopbackServer

TOKEN = "bank-test-token"
NAMES = ["张三", "李四", "王五", "赵六", "孙七", "周八"]


def _account() -> str:
    return "6228" + "".join(random.choices("0123456789", k=15))


def _lines(n: int, *, amounts: list[int] | None = None, round_id: str | None = None) -> tuple[PaymentLine, ...]:
    rid = round_id or f"dividend-{uuid.uuid4().hex[:8]}-2025-1"
    amounts = amounts or [132_500 + i for i in range(n)]
    return tuple(
        PaymentLine(
            reference=reference(rid, f"H{i:04d}", 1),
            household_code=f"H{i:04d}",
            name=NAMES[i % len(NAMES)],
            account=_account(),
            bank="中国农业银行济阳支行",
            amount_fen=amounts[i],
            purpose="2025年度光伏电站收益分红",
        )
        for i in range(n)
    )


def _batch(n: int = 3, **kwargs: Any) -> PaymentBatch:
    return PaymentBatch(f"B{uuid.uuid4().hex[:12]}", _lines(n, **kwargs))


async def _ledger(sessions: Sessions, refs: list[str]) -> dict[str, int]:
    """How many ledger rows each reference has, counted in SQL."""
    async with sessions() as s:
        rows = await s.execute(
            select(BankPayment.reference, func.count())
            .where(BankPayment.reference.in_(refs))
            .group_by(BankPayment.reference)
        )
        return {ref: n for ref, n in rows.all()}


# --- the types ------------------------------------------------------------------------------------------------------


def test_amounts_are_exact_yuan_and_lines_are_checked_and_masked() -> None:
    assert [fen_to_yuan(f) for f in (0, 1, 10, 100, 132_500, 10_000_000_001, -5)] == [
        "0.00",
        "0.01",
        "0.10",
        "1.00",
        "1325.00",
        "100000000.01",
        "-0.05",
    ]
    line = _lines(1)[0]
    assert line.name not in repr(line)
    assert line.account not in repr(line)
    assert "张*" in repr(line)
    assert line.account[-4:] in repr(line)
    with pytest.raises(ValueError, match="account must be 12–30 digits; amount_fen must be a whole number"):
        PaymentLine("r:h:1", "h", "张三", "123", "bank", 0, "p")
    with pytest.raises(ValueError, match="holds reference"):
        PaymentBatch("B1", (line, line))
    with pytest.raises(ValueError, match="batch_no"):
        PaymentBatch("../etc", (line,))
    with pytest.raises(ValueError, match="attempt"):
        reference("r", "h", 0)
    batches = split_batches("dividend-x-2025-1", _lines(7), 3)
    assert [(b.batch_no, len(b.lines)) for b in batches] == [
        ("dividend-x-2025-1-001", 3),
        ("dividend-x-2025-1-002", 3),
        ("dividend-x-2025-1-003", 1),
    ]


# --- the embedded bank ------------------------------------------------------------------------------------------------


async def test_embedded_bank_pays_a_batch_and_answers_its_results(sessions: Sessions) -> None:
    bank = EmbeddedBank(sessions)
    batch = _batch(4)
    with capture_logs() as logs:
        receipt = await bank.submit(batch)
    assert receipt == BatchReceipt(batch.batch_no, 4, batch.total_fen, 4)
    results = await bank.results(batch.batch_no)
    assert results == [LineResult(line.reference, PaymentStatus.PAID, line.amount_fen) for line in batch.lines]
    assert await bank.results("B-no-such-batch") == []
    logged = json.dumps(logs, ensure_ascii=False, default=str)
    assert batch.batch_no in logged
    assert not any(line.account in logged or line.name in logged for line in batch.lines)


async def test_embedded_bank_pays_each_reference_once_repeated_and_concurrently(sessions: Sessions) -> None:
    bank = EmbeddedBank(sessions)
    batch = _batch(5)
    first = await bank.submit(batch)
    again = await bank.submit(batch)
    together = await asyncio.gather(*(bank.submit(batch) for _ in range(6)))
    assert first.new_lines == 5
    assert again.new_lines == 0
    assert all(r.new_lines == 0 for r in together)
    # a fresh batch submitted by eight callers at once: its lines are recorded by exactly one of them
    fresh = _batch(5)
    receipts = await asyncio.gather(*(bank.submit(fresh) for _ in range(8)))
    assert sum(r.new_lines for r in receipts) == 5
    refs = [line.reference for line in (*batch.lines, *fresh.lines)]
    assert await _ledger(sessions, refs) == dict.fromkeys(refs, 1)
    assert len(await bank.results(fresh.batch_no)) == 5


async def test_embedded_bank_refuses_a_reference_reused_with_another_amount_and_keeps_nothing(
    sessions: Sessions,
) -> None:
    bank = EmbeddedBank(sessions, max_lines=3)
    batch = _batch(2)
    await bank.submit(batch)
    changed = PaymentLine(**{**batch.lines[0].__dict__, "amount_fen": batch.lines[0].amount_fen + 1})
    extra = _lines(1)[0]
    with pytest.raises(PaymentRejected, match=batch.lines[0].reference):
        await bank.submit(PaymentBatch(batch.batch_no, (changed, extra)))
    assert await _ledger(sessions, [extra.reference]) == {}  # the whole submission was rolled back
    with pytest.raises(PaymentRejected, match="at most 3"):
        await bank.submit(_batch(4))


async def test_embedded_bank_fails_the_accounts_it_is_told_to_with_their_reason(sessions: Sessions) -> None:
    bank = EmbeddedBank(sessions)
    batch = _batch(3)
    closed, wrong = batch.lines[0].account, batch.lines[2].account
    await bank.fail_account(closed)
    await bank.fail_account(wrong, FailureReason.NAME_MISMATCH)
    await bank.fail_account(wrong, FailureReason.WRONG_ACCOUNT)  # a repeat changes the reason
    await bank.submit(batch)
    results = {r.reference: r for r in await bank.results(batch.batch_no)}
    assert [(r.status, r.reason) for r in results.values()] == [
        (PaymentStatus.FAILED, FailureReason.CARD_CLOSED),
        (PaymentStatus.PAID, None),
        (PaymentStatus.FAILED, FailureReason.WRONG_ACCOUNT),
    ]
    # 核实 → 更正 → 补发: the card is reopened and a new attempt (a new reference) pays; the failed line stays failed
    await bank.heal_account(closed)
    retry = PaymentLine(**{**batch.lines[0].__dict__, "reference": batch.lines[0].reference[:-1] + "2"})
    await bank.submit(PaymentBatch(f"{batch.batch_no}-R", (retry,)))
    assert [(r.status, r.reason) for r in await bank.results(f"{batch.batch_no}-R")] == [(PaymentStatus.PAID, None)]
    assert (await bank.results(batch.batch_no))[0].status is PaymentStatus.FAILED


# --- the bank batch file --------------------------------------------------------------------------------------------


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


RESULT_HEADER = ["序号", "业务参考号", "金额（元）", "状态", "失败原因"]


def test_batch_file_csv_and_xlsx_hold_the_header_rows_and_exact_yuan() -> None:
    batch = _batch(3, amounts=[1, 10_000_000_001, 132_510])
    data = BatchFileBank.export(batch)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["批次号", batch.batch_no, "总笔数", "3", "总金额（元）", "100001325.12"]
    assert rows[1] == ["序号", "户主姓名", "账号", "开户行", "金额（元）", "用途", "业务参考号"]
    first = batch.lines[0]
    assert rows[2] == ["1", first.name, first.account, first.bank, "0.01", first.purpose, first.reference]
    assert [r[4] for r in rows[2:]] == ["0.01", "100000000.01", "1325.10"]

    book = load_workbook(io.BytesIO(BatchFileBank.export(batch, FileFormat.XLSX)))
    sheet = book.worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][:6] == ["批次号", batch.batch_no, "总笔数", "3", "总金额（元）", "100001325.12"]
    assert values[1][:6] == ["序号", "户主姓名", "账号", "开户行", "金额（元）", "用途"]
    assert values[2][2] == first.account
    assert isinstance(values[2][2], str)
    assert sheet.cell(3, 5).number_format == "0.00"
    # read back as a bank's tool would: the numbers are the exact amounts
    results = BatchFileBank.parse_results(
        _csv([RESULT_HEADER, *[[str(i), "", str(values[i + 1][4]), "成功", ""] for i in (1, 2, 3)]]), batch
    )
    assert [r.amount_fen for r in results] == [1, 10_000_000_001, 132_510]


async def test_batch_file_round_trip_with_failures(tmp_path: Path) -> None:
    bank = BatchFileBank(tmp_path)
    batch = _batch(4)
    receipt = await bank.submit(batch)
    assert receipt == BatchReceipt(batch.batch_no, 4, batch.total_fen, 4)
    path = bank.export_path(batch.batch_no)
    assert path.read_bytes() == BatchFileBank.export(batch)
    assert path.stat().st_mode & 0o077 == 0  # names and accounts: the owner reads it only
    assert (await bank.submit(batch)).new_lines == 0  # a repeat answers the file written before
    other = PaymentBatch(batch.batch_no, _lines(1))
    with pytest.raises(PaymentRejected, match="other lines"):
        await bank.submit(other)
    assert await bank.results(batch.batch_no) == []  # the bank has not answered yet

    ys = [fen_to_yuan(line.amount_fen) for line in batch.lines]
    result_file = _csv(
        [
            ["批次号", batch.batch_no],
            RESULT_HEADER,
            ["1", batch.lines[0].reference, ys[0], "成功", ""],
            ["2", batch.lines[1].reference, ys[1], "失败", "账户已销户"],
            ["3", "", ys[2], "失败", "户名不符"],
            ["4", batch.lines[3].reference, ys[3], "失败", "账号不存在"],
        ]
    )
    accepted = await bank.accept_results(batch.batch_no, result_file)
    assert [(r.reference, r.status, r.reason) for r in accepted] == [
        (batch.lines[0].reference, PaymentStatus.PAID, None),
        (batch.lines[1].reference, PaymentStatus.FAILED, FailureReason.CARD_CLOSED),
        (batch.lines[2].reference, PaymentStatus.FAILED, FailureReason.NAME_MISMATCH),
        (batch.lines[3].reference, PaymentStatus.FAILED, FailureReason.WRONG_ACCOUNT),
    ]
    assert accepted[1].detail == "账户已销户"
    assert await bank.results(batch.batch_no) == accepted
    with pytest.raises(PaymentRejected, match="no batch file"):
        await bank.accept_results("B-never-sent", result_file)


async def test_batch_file_result_as_xlsx(tmp_path: Path) -> None:
    bank = BatchFileBank(tmp_path, file_format=FileFormat.XLSX)
    batch = _batch(2)
    await bank.submit(batch)
    assert bank.export_path(batch.batch_no).suffix == ".xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(RESULT_HEADER)
    sheet.append([1, batch.lines[0].reference, batch.lines[0].amount_fen / 100, "成功", None])
    sheet.append([2, batch.lines[1].reference, batch.lines[1].amount_fen / 100, "失败", "卡片冻结"])
    out = io.BytesIO()
    book.save(out)
    results = await bank.accept_results(batch.batch_no, out.getvalue())
    assert [(r.status, r.reason) for r in results] == [
        (PaymentStatus.PAID, None),
        (PaymentStatus.FAILED, FailureReason.ACCOUNT_FROZEN),
    ]
    assert await bank.results(batch.batch_no) == results


def test_result_file_reports_every_bad_row_by_line_and_refuses_other_amounts() -> None:
    batch = _batch(3)
    ys = [fen_to_yuan(line.amount_fen) for line in batch.lines]
    data = _csv(
        [
            ["批次号", "B-other"],
            RESULT_HEADER,
            ["1", batch.lines[0].reference, "1325.001", "成功", ""],
            ["2", "wrong-ref", ys[1], "完成", ""],
            ["", "", "", "", ""],
            ["9", "", ys[2], "成功", ""],
            ["3", "", fen_to_yuan(batch.lines[2].amount_fen + 1), "失败", ""],
            ["3", "", ys[2], "成功", ""],
        ]
    )
    with pytest.raises(ResultFileError) as caught:
        BatchFileBank.parse_results(data, batch)
    assert [str(e) for e in caught.value.errors] == [
        f"line 1: 批次号: names batch B-other, not {batch.batch_no}",
        "line 3: 金额（元）: 1325.001 is not yuan with ≤ 2 decimals",
        "line 4: 业务参考号: wrong-ref is not the reference of serial 2",
        "line 4: 状态: 完成 is neither 成功 nor 失败",
        "line 6: 序号: 9 is no serial of this batch",
        f"line 7: 金额（元）: {fen_to_yuan(batch.lines[2].amount_fen + 1)} differs from the {ys[2]} sent for serial 3",
        "line 7: 失败原因: a failed row needs the bank's reason",
        "line 8: 序号: serial 3 is reported again (first on line 7)",
    ]
    with pytest.raises(ResultFileError, match=r"line 1: header: missing column\(s\) 状态"):
        BatchFileBank.parse_results(_csv([["序号", "金额(元)"], ["1", ys[0]]]), batch)
    with pytest.raises(ResultFileError, match="line 1: file: not UTF-8"):
        BatchFileBank.parse_results("序号".encode("gbk"), batch)
    # a partial result file: the lines it leaves out are still pending
    partial = BatchFileBank.parse_results(_csv([["序号", "金额(元)", "状态"], ["2", ys[1], "成功"]]), batch)
    assert partial == [LineResult(batch.lines[1].reference, PaymentStatus.PAID, batch.lines[1].amount_fen)]


# --- the HTTP adapter against a real server -------------------------------------------------------------------------


class BankServer(LoopbackServer):
    """A bank on loopback: one batch per Idempotency-Key, each reference paid once."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.batches: dict[str, dict[str, Any]] = {}
        self.paid: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.answer: tuple[int, Any] | None = None

    @property
    def url(self) -> str:
        """The base URL the adapter is configured with."""
        return f"http://127.0.0.1:{self.port}/bank/"

    def respond(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """A fixed answer if one is set, else the bank's."""
        method, path, _ = request_line.split(" ", 2)
        self.requests.append((method, path, headers))
        return self.answer or self._answer(method, path, headers, body)

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "bad token"}
        if method == "POST" and path == "/bank/batches":
            batch = json.loads(body)
            key = headers.get("idempotency-key")
            if key != batch["batch_no"]:
                return 400, {"message": "Idempotency-Key must be the batch number"}
            if key in self.batches:
                return 409, {"batch_no": key, "message": "batch submitted before"}
            self.batches[key] = batch
            new = 0
            for line in batch["lines"]:
                if line["reference"] not in self.paid:
                    self.paid[line["reference"]] = line["amount_fen"]
                    new += 1
            return 201, {"batch_no": key, "new_lines": new}
        if method == "GET" and path.startswith("/bank/batches/") and path.endswith("/results"):
            key = path.split("/")[3]
            if key not in self.batches:
                return 404, {"message": f"no batch {key}"}
            lines = self.batches[key]["lines"]
            return 200, {
                "results": [
                    {"reference": ln["reference"], "status": "failed", "amount_fen": ln["amount_fen"],
                     "reason": "card_closed", "detail": "账户已销户"}
                    if i == 0
                    else {"reference": ln["reference"], "status": "paid", "amount_fen": ln["amount_fen"]}
                    for i, ln in enumerate(lines)
                ]
            }  # fmt: skip
        return 404, {"message": f"no route {method} {path}"}


@pytest.fixture
async def bank_server() -> Any:
    """A bank on a free port, not yet listening."""
    s = BankServer(free_port())
    yield s
    await s.stop()


async def test_http_bank_submits_once_per_batch_and_reads_results(bank_server: BankServer) -> None:
    await bank_server.start()
    bank = HttpBank(bank_server.url, token=TOKEN, timeout=5)
    batch = _batch(3)
    first = await bank.submit(batch)
    again = await bank.submit(batch)  # the bank answers 409 naming the batch
    assert first == BatchReceipt(batch.batch_no, 3, batch.total_fen, 3)
    assert again == BatchReceipt(batch.batch_no, 3, batch.total_fen, 0)
    assert bank_server.paid == {line.reference: line.amount_fen for line in batch.lines}
    method, path, headers = bank_server.requests[0]
    assert (method, path) == ("POST", "/bank/batches")
    assert headers["idempotency-key"] == batch.batch_no
    assert headers["authorization"] == f"Bearer {TOKEN}"
    sent = bank_server.batches[batch.batch_no]
    assert (sent["count"], sent["total_fen"]) == (3, batch.total_fen)
    assert sent["lines"][0]["account"] == batch.lines[0].account
    results = await bank.results(batch.batch_no)
    assert results[0] == LineResult(
        batch.lines[0].reference,
        PaymentStatus.FAILED,
        batch.lines[0].amount_fen,
        FailureReason.CARD_CLOSED,
        "账户已销户",
    )
    assert [r.status for r in results[1:]] == [PaymentStatus.PAID, PaymentStatus.PAID]
    assert bank_server.requests[-1][:2] == ("GET", f"/bank/batches/{batch.batch_no}/results")
    with pytest.raises(PaymentRejected, match="404: no batch") as caught:
        await bank.results("B-unknown")
    assert caught.value.status == 404


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ((400, {"message": "bad account"}), PaymentRejected, 400),
        ((422, {"error": "missing field"}), PaymentRejected, 422),
        ((409, {"message": "conflict without the batch"}), PaymentRejected, 409),
        ((429, {"message": "slow down"}), PaymentUnavailable, 429),
        ((503, {"message": "maintenance"}), PaymentUnavailable, 503),
        ((201, {"ok": True}), PaymentUnavailable, 201),
    ],
)
async def test_http_bank_maps_answers_to_permanent_or_transient_errors(
    bank_server: BankServer, answer: tuple[int, Any], error: type[Exception], status: int
) -> None:
    bank_server.answer = answer
    await bank_server.start()
    with pytest.raises(error) as caught:
        await HttpBank(bank_server.url, token=TOKEN, timeout=5).submit(_batch(1))
    assert isinstance(caught.value, PaymentRejected | PaymentUnavailable)
    assert caught.value.status == status


async def test_http_bank_down_wrong_token_and_malformed_results(bank_server: BankServer) -> None:
    batch = _batch(1)
    with pytest.raises(PaymentUnavailable, match="unreachable: ConnectError"):
        await HttpBank(bank_server.url, token=TOKEN, timeout=5).submit(batch)
    with pytest.raises(PaymentUnavailable, match="unreachable"):
        await HttpBank(bank_server.url, token=TOKEN, timeout=5).results(batch.batch_no)
    await bank_server.start()
    with pytest.raises(PaymentRejected, match="401: bad token"):
        await HttpBank(bank_server.url, token="wrong", timeout=5).submit(batch)
    bank_server.answer = (200, {"results": [{"reference": "x", "status": "maybe", "amount_fen": 1}]})
    with pytest.raises(PaymentUnavailable, match="malformed"):
        await HttpBank(bank_server.url, token=TOKEN, timeout=5).results(batch.batch_no)
    bank_server.answer = (200, {"results": [{"reference": "x", "status": "paid", "amount_fen": 1.5}]})
    with pytest.raises(PaymentUnavailable, match="whole fen"):
        await HttpBank(bank_server.url, token=TOKEN, timeout=5).results(batch.batch_no)


# --- settings -------------------------------------------------------------------------------------------------------


def test_make_payments_follows_the_settings(sessions: Sessions, tmp_path: Path) -> None:
    assert isinstance(make_payments(Settings(environment=Environment.TEST), sessions), EmbeddedBank)
    file = Settings(
        environment=Environment.TEST, payments=PaymentSettings(kind=PaymentKind.FILE, file_dir=str(tmp_path))
    )
    assert isinstance(make_payments(file, sessions), BatchFileBank)
    http = Settings(
        environment=Environment.TEST, payments=PaymentSettings(kind=PaymentKind.HTTP, url="https://bank.example.cn/api")
    )
    assert isinstance(make_payments(http, sessions), HttpBank)
    with pytest.raises(ValueError, match="PAYMENTS__URL"):
        PaymentSettings(kind=PaymentKind.HTTP, url="")


def test_production_never_pays_through_the_embedded_bank_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    prod = {"environment": Environment.PRODUCTION, "jwt_secret": "x" * 40}
    assert Settings(**prod).payments.kind is PaymentKind.FILE  # not chosen: the bank's batch file
    monkeypatch.setenv("PAYMENTS__KIND", "embedded")
    with pytest.raises(ValueError, match="PAYMENTS__KIND=embedded"):
        Settings(**prod)
    monkeypatch.setenv("PAYMENTS__ALLOW_EMBEDDED", "true")
    assert Settings(**prod).payments.kind is PaymentKind.EMBEDDED
    assert Settings(environment=Environment.TEST).payments.kind is PaymentKind.EMBEDDED
    monkeypatch.setenv("PAYMENTS__KIND", "http")
    monkeypatch.setenv("PAYMENTS__URL", "https://bank.example.cn/api")
    monkeypatch.setenv("PAYMENTS__TOKEN", "s3cret")
    monkeypatch.setenv("PAYMENTS__BATCH_SIZE", "200")
    p = Settings(**prod).payments
    assert (p.kind, p.url, p.token.get_secret_value(), p.batch_size) == (
        PaymentKind.HTTP,
        "https://bank.example.cn/api",
        "s3cret",
        200,
    )
    assert "s3cret" not in repr(p)
