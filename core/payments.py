"""Paying households (代发): one interface, three adapters (DESIGN.md "Adapters to the outside", "Money").

`EmbeddedBank` is a ledger in our own database that can be told to fail given cards; `BatchFileBank` writes the
batch file a bank's upload tool takes and reads the bank's result file back; `HttpBank` talks to a bank's API.
Each pays a line reference (`round:household:attempt`) at most once, however often it is submitted — each says
how in its docstring. Lines carry names and account numbers: nothing here logs them (only batch numbers, counts
and totals), and PaymentLine's repr masks them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import uuid
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx
import structlog
from openpyxl import Workbook
from openpyxl.styles import Font

from core.http_answers import answer_body, answer_detail, is_transient
from core.settings import PaymentKind, Settings
from core.spreadsheets import SpreadsheetError, is_xlsx, sheet_rows
from db.engine import Sessions
from db.repositories.payments import (
    bank_results,
    create_bank_payments,
    create_failing_account,
    delete_failing_account,
    list_bank_payments,
)
from domain.households import RowError
from domain.payments import (
    EXPORT_COLUMNS,
    BatchReceipt,
    FailureReason,
    LineResult,
    PaymentBatch,
    PaymentStatus,
    ResultFileError,
    SentLine,
    batch_header,
    batch_rows,
    check_result_rows,
    failure_reason,
    read_export_rows,
    sent_lines,
)

log = structlog.get_logger(__name__)


class PaymentError(Exception):
    """The bank did not take the batch or answer its results; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PaymentUnavailable(PaymentError):
    """Transient: the bank is down, slow or overloaded; the same request (same key) may succeed later."""


class PaymentRejected(PaymentError):
    """Permanent: the bank refused this batch or request; repeating it unchanged will not help."""


class PaymentGateway(Protocol):
    """Submits batches of payment lines to a paying bank and reads back what it did with each line.

    `submit` may be repeated with the same batch (a retried activity): nothing is paid twice. `results` answers
    the lines the bank has reported so far (a line not in it is still pending); results are final once given."""

    async def submit(self, batch: PaymentBatch) -> BatchReceipt:
        """Hand the batch to the bank; a repeat answers the same batch without paying anything again."""
        ...

    async def results(self, batch_no: str) -> list[LineResult]:
        """What the bank has reported for the batch's lines so far, in the batch's order."""
        ...


def _check_size(batch: PaymentBatch, max_lines: int) -> None:
    if len(batch.lines) > max_lines:
        raise PaymentRejected(f"batch {batch.batch_no} has {len(batch.lines)} lines; at most {max_lines} (batch_size)")


# ---------------------------------------------------------------------------------------------- the embedded bank


class EmbeddedBank:
    """A simulated bank: a ledger in our own database (`bank_payments`) that pays at once, except to the accounts in
    `bank_failing_accounts`, which fail with their reason. For `make run`, tests and demos; nothing is paid.

    Never twice: a line is one row under a unique `reference`, written by one multi-row INSERT … ON CONFLICT
    (reference) DO NOTHING in one transaction, so a repeated or concurrent submission records nothing new. A
    reference submitted again under another batch, account or amount is refused (PaymentRejected), and the whole
    submission with it."""

    def __init__(self, sessions: Sessions, *, max_lines: int = 500) -> None:
        self._sessions = sessions
        self._max_lines = max_lines

    async def submit(self, batch: PaymentBatch) -> BatchReceipt:
        """Record and settle the batch's lines in one transaction; lines recorded before stay as they were."""
        _check_size(batch, self._max_lines)
        async with self._sessions.begin() as session:
            new = await create_bank_payments(session, batch_no=batch.batch_no, lines=batch.lines)
            if len(new) < len(batch.lines):
                by_ref = {line.reference: line for line in batch.lines}
                before = await list_bank_payments(session, references=[r for r in by_ref if r not in new])
                clashes = [
                    p.reference
                    for p in before
                    if (p.batch_no, p.account, p.amount_fen)
                    != (batch.batch_no, by_ref[p.reference].account, by_ref[p.reference].amount_fen)
                ]
                if clashes:
                    # raised inside the transaction: this submission's new rows are rolled back with it
                    raise PaymentRejected(
                        f"batch {batch.batch_no}: reference(s) {', '.join(clashes[:5])} were submitted before with "
                        "another batch, account or amount; a corrected line needs a new attempt"
                    )
        log.info(
            "batch submitted to the embedded bank",
            batch_no=batch.batch_no,
            lines=len(batch.lines),
            new_lines=len(new),
            total_fen=batch.total_fen,
        )
        return BatchReceipt(batch.batch_no, len(batch.lines), batch.total_fen, len(new))

    async def results(self, batch_no: str) -> list[LineResult]:
        """Every line of the batch: the embedded bank settles at once."""
        async with self._sessions() as session:
            rows = await bank_results(session, batch_no=batch_no)
        return [
            LineResult(
                reference=r.reference,
                status=PaymentStatus(r.status),
                amount_fen=r.amount_fen,
                reason=FailureReason(r.reason) if r.reason else None,
            )
            for r in rows
        ]

    async def fail_account(self, account: str, reason: FailureReason = FailureReason.CARD_CLOSED) -> None:
        """From now on, lines to `account` fail with `reason` (lines recorded before keep their outcome)."""
        async with self._sessions.begin() as session:
            await create_failing_account(session, account=account, reason=reason)

    async def heal_account(self, account: str) -> None:
        """From now on, lines to `account` are paid again."""
        async with self._sessions.begin() as session:
            await delete_failing_account(session, account=account)


# ---------------------------------------------------------------------------------------------- the batch file


class FileFormat(StrEnum):
    """The batch file's format: CSV (UTF-8 with BOM, what banks' upload tools and Excel read) or .xlsx."""

    CSV = "csv"
    XLSX = "xlsx"


def batch_csv(batch: PaymentBatch) -> bytes:
    """The batch file as CSV, UTF-8 with a BOM (so Excel and the banks' upload tools read the Chinese right)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(batch_header(batch))
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(batch_rows(batch))
    return out.getvalue().encode("utf-8-sig")


def batch_xlsx(batch: PaymentBatch) -> bytes:
    """The batch file as .xlsx: the same rows; accounts as text (an 19-digit number would lose digits), amounts as
    numbers shown with two decimals (written from the exact decimal text)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "代发"
    sheet.append(batch_header(batch))
    sheet.append(list(EXPORT_COLUMNS))
    for cell in (*sheet[1], *sheet[2]):
        cell.font = Font(bold=True)
    for serial, name, account, bank, yuan, purpose, ref in batch_rows(batch):
        sheet.append([int(serial), name, account, bank, Decimal(yuan), purpose, ref])
        sheet.cell(sheet.max_row, 3).number_format = "@"
        sheet.cell(sheet.max_row, 5).number_format = "0.00"
    for column, width in zip("ABCDEFG", (6, 12, 24, 24, 14, 24, 30), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rows(data: bytes) -> list[list[str]]:
    try:
        return sheet_rows(data)
    except SpreadsheetError as err:
        raise ResultFileError([RowError(1, "file", str(err))]) from err


class BatchFileBank:
    """The paying bank's batch file (代发文件): `submit` writes the batch file once into `{dir}/outbox/` for the
    finance office to upload to the bank (operator → reviewer → approver there); the bank's result file, once
    accepted by `accept_results` into `{dir}/results/`, answers `results`.

    Never twice: a batch number's file is written once (an exclusive create); a repeat with the same lines
    answers the same file, one with other lines is refused. The bank itself refuses a batch number it has taken,
    and the reference of each line travels in the file (业务参考号) and back in the result, matched by serial."""

    def __init__(self, directory: Path, *, file_format: FileFormat = FileFormat.CSV, max_lines: int = 500) -> None:
        self._outbox = directory / "outbox"
        self._results = directory / "results"
        self._format = FileFormat(file_format)
        self._max_lines = max_lines

    @staticmethod
    def export(batch: PaymentBatch, file_format: FileFormat = FileFormat.CSV) -> bytes:
        """The batch file's bytes (README "Payments (代发)": the format)."""
        return batch_xlsx(batch) if file_format is FileFormat.XLSX else batch_csv(batch)

    @staticmethod
    def parse_results(data: bytes, batch: PaymentBatch) -> list[LineResult]:
        """The bank's result file (.csv or .xlsx) matched to `batch`; ResultFileError lists every bad row."""
        return check_result_rows(_rows(data), batch.batch_no, sent_lines(batch))

    def export_path(self, batch_no: str) -> Path:
        """Where the batch's file is (written by `submit`)."""
        return self._outbox / f"{batch_no}.{self._format.value}"

    async def submit(self, batch: PaymentBatch) -> BatchReceipt:
        """Write the batch file unless it exists; the same batch again answers the file written before."""
        _check_size(batch, self._max_lines)
        data = self.export(batch, self._format)
        new = await asyncio.to_thread(self._write_once, self.export_path(batch.batch_no), data, batch)
        log.info(
            "batch file written" if new else "batch file was written before",
            batch_no=batch.batch_no,
            lines=len(batch.lines),
            total_fen=batch.total_fen,
        )
        return BatchReceipt(batch.batch_no, len(batch.lines), batch.total_fen, len(batch.lines) if new else 0)

    def _write_once(self, path: Path, data: bytes, batch: PaymentBatch) -> bool:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # names and accounts: the owner reads it only
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, path)  # exclusive: of two concurrent writers, one file wins whole
            return True
        except FileExistsError:
            stored = self._sent(path)
            if stored != (batch.batch_no, sent_lines(batch)):
                raise PaymentRejected(f"batch {batch.batch_no} was written before with other lines") from None
            return False
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _sent(path: Path) -> tuple[str, list[SentLine]]:
        return read_export_rows(sheet_rows(path.read_bytes()))

    async def accept_results(self, batch_no: str, data: bytes) -> list[LineResult]:
        """Check the bank's result file against the batch file sent, and keep it; ResultFileError if it is bad."""
        return await asyncio.to_thread(self._accept, batch_no, data)

    def _accept(self, batch_no: str, data: bytes) -> list[LineResult]:
        sent = self.export_path(batch_no)
        if not sent.exists():
            raise PaymentRejected(f"no batch file {batch_no} was written: its results cannot be taken")
        results = check_result_rows(_rows(data), *self._sent(sent))
        self._results.mkdir(parents=True, exist_ok=True)
        target = self._results / f"{batch_no}.{'xlsx' if is_xlsx(data) else 'csv'}"
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)  # a later, fuller result file of the same batch replaces an earlier one
        for other in self._results.glob(f"{batch_no}.*"):
            if other != target:
                other.unlink(missing_ok=True)
        log.info("bank result file accepted", batch_no=batch_no, results=len(results))
        return results

    async def results(self, batch_no: str) -> list[LineResult]:
        """The results of the accepted result file; none while the bank has not answered."""
        return await asyncio.to_thread(self._read_results, batch_no)

    def _read_results(self, batch_no: str) -> list[LineResult]:
        found = sorted(self._results.glob(f"{batch_no}.*")) if self._results.exists() else []
        if not found:
            return []
        return check_result_rows(sheet_rows(found[0].read_bytes()), *self._sent(self.export_path(batch_no)))


# ---------------------------------------------------------------------------------------------- a bank over HTTP


class HttpBank:
    """A bank's payment API: POST {url}/batches with `Idempotency-Key: {batch_no}`; GET {url}/batches/{no}/results.

    Never twice: the bank keeps the first batch per Idempotency-Key and answers a repeat with it (200/201/202, or
    409 naming the batch), and each line's `reference` is sent for the bank to refuse a second payment of it; we
    repeat a request (same key) whenever we cannot know whether it arrived."""

    def __init__(self, base_url: str, *, token: str = "", timeout: float = 30.0, max_lines: int = 500) -> None:
        self._url = base_url.rstrip("/") + "/batches"
        self._token = token
        self._timeout = timeout
        self._max_lines = max_lines

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                return await client.request(method, url, **kwargs)
        except httpx.HTTPError as err:
            raise PaymentUnavailable(f"the bank at {url} is unreachable: {type(err).__name__}: {err}") from err

    def _refuse(self, response: httpx.Response, what: str) -> PaymentError:
        status, detail = response.status_code, answer_detail(response)
        if is_transient(status):
            return PaymentUnavailable(f"the bank answered {status} to {what}: {detail}", status=status)
        return PaymentRejected(f"the bank refused {what} with {status}: {detail}", status=status)

    async def submit(self, batch: PaymentBatch) -> BatchReceipt:
        """POST the batch; 2xx or a 409 naming it → its receipt, else a typed PaymentError."""
        _check_size(batch, self._max_lines)
        body = {
            "batch_no": batch.batch_no,
            "count": len(batch.lines),
            "total_fen": batch.total_fen,
            "lines": [
                {
                    "reference": line.reference,
                    "household_code": line.household_code,
                    "name": line.name,
                    "account": line.account,
                    "bank": line.bank,
                    "amount_fen": line.amount_fen,
                    "purpose": line.purpose,
                }
                for line in batch.lines
            ],
        }
        headers = {**self._headers(), "Idempotency-Key": batch.batch_no}
        response = await self._call("POST", self._url, json=body, headers=headers)
        status, answer = response.status_code, answer_body(response)
        named = isinstance(answer, dict) and answer.get("batch_no") == batch.batch_no
        if status in (200, 201, 202) or (status == 409 and named):
            if not named:
                # the bank may have taken it: ask again with the same key rather than guess
                raise PaymentUnavailable(
                    f"the bank answered {status} without naming batch {batch.batch_no}", status=status
                )
            new = answer.get("new_lines") if status != 409 else 0
            new_lines = new if isinstance(new, int) and not isinstance(new, bool) and new >= 0 else len(batch.lines)
            log.info("batch submitted to the bank", batch_no=batch.batch_no, lines=len(batch.lines), status=status)
            return BatchReceipt(batch.batch_no, len(batch.lines), batch.total_fen, min(new_lines, len(batch.lines)))
        raise self._refuse(response, f"batch {batch.batch_no}")

    async def results(self, batch_no: str) -> list[LineResult]:
        """GET the batch's results; a malformed answer counts as unavailable (asked again), 4xx as refused."""
        url = f"{self._url}/{batch_no}/results"
        response = await self._call("GET", url, headers=self._headers())
        if response.status_code != 200:
            raise self._refuse(response, f"the results of batch {batch_no}")
        answer = answer_body(response)
        items = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise PaymentUnavailable(f"the bank's results of batch {batch_no} hold no list 'results'", status=200)
        try:
            return [_line_result(item) for item in items]
        except (KeyError, TypeError, ValueError) as err:
            raise PaymentUnavailable(
                f"the bank's results of batch {batch_no} are malformed: {err}", status=200
            ) from err


def _line_result(item: Any) -> LineResult:
    amount = item["amount_fen"]
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount_fen {amount!r} is not whole fen")
    status = PaymentStatus(item["status"])
    reason_text = str(item.get("reason") or "")
    failed = status is PaymentStatus.FAILED
    return LineResult(
        reference=str(item["reference"]),
        status=status,
        amount_fen=amount,
        reason=failure_reason(reason_text) if failed else None,
        detail=str(item.get("detail") or "")[:500] if failed else "",
    )


def make_payments(settings: Settings, sessions: Sessions) -> PaymentGateway:
    """The payment adapter the settings choose (`PAYMENTS__KIND`)."""
    p = settings.payments
    if p.kind is PaymentKind.HTTP:
        return HttpBank(p.url, token=p.token.get_secret_value(), timeout=p.timeout_seconds, max_lines=p.batch_size)
    if p.kind is PaymentKind.FILE:
        directory = Path(p.file_dir) if p.file_dir else Path(settings.data_dir) / "payments"
        return BatchFileBank(directory, file_format=FileFormat(p.file_format), max_lines=p.batch_size)
    return EmbeddedBank(sessions, max_lines=p.batch_size)
