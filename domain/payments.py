"""Payments (代发) to households' subsidy cards: the lines and batches sent to a paying bank, its results, and the
bank batch file's rows (DOMAIN.md §7, DESIGN.md "Money"). Pure: no I/O; the adapters live in core.payments.

Amounts are integer fen; yuan appear only as text in files, converted exactly (never through a float). Lines
carry names and account numbers, so these types never enter a workflow history, and their `repr` masks both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.households import RowError, mask
from domain.imports import yuan_to_fen

MAX_REFERENCE = 200  # bank_payments.reference is VARCHAR(200), as dividend_payments.reference
_BATCH_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # it names files and URL paths: no separators
_ACCOUNT = re.compile(r"^\d{12,30}$")  # as households.bank_account is checked on import


class PaymentStatus(StrEnum):
    """What the bank did with a line."""

    PAID = "paid"
    FAILED = "failed"


class FailureReason(StrEnum):
    """Why a line failed, as the bank's result says it (核实 → 更正 → 补发 starts from this)."""

    CARD_CLOSED = "card_closed"  # 卡已销户 / 账户已注销
    WRONG_ACCOUNT = "wrong_account"  # 账号不存在 / 账号错误
    NAME_MISMATCH = "name_mismatch"  # 户名不符
    ACCOUNT_FROZEN = "account_frozen"  # 账户冻结 / 止付
    OTHER = "other"  # any other reason: its text is kept in LineResult.detail


# The words a bank's result file uses for a reason, matched in this order (the first that occurs wins).
_REASON_WORDS: tuple[tuple[str, FailureReason], ...] = (
    ("户名", FailureReason.NAME_MISMATCH),
    ("姓名", FailureReason.NAME_MISMATCH),
    ("销户", FailureReason.CARD_CLOSED),
    ("注销", FailureReason.CARD_CLOSED),
    ("closed", FailureReason.CARD_CLOSED),
    ("冻结", FailureReason.ACCOUNT_FROZEN),
    ("止付", FailureReason.ACCOUNT_FROZEN),
    ("frozen", FailureReason.ACCOUNT_FROZEN),
    ("账号", FailureReason.WRONG_ACCOUNT),
    ("帐号", FailureReason.WRONG_ACCOUNT),
    ("账户不存在", FailureReason.WRONG_ACCOUNT),
    ("wrong", FailureReason.WRONG_ACCOUNT),
)


def failure_reason(text: str) -> FailureReason:
    """The reason a bank's text names: a code as such (`card_closed`), or Chinese words (`账户已销户`); else OTHER."""
    value = text.strip()
    if value in FailureReason.__members__.values():
        return FailureReason(value)
    lowered = value.lower()
    return next((reason for word, reason in _REASON_WORDS if word in lowered), FailureReason.OTHER)


def reference(round_id: str, household_code: str, attempt: int) -> str:
    """A line's unique key `round:household:attempt`: the idempotency key every adapter pays at most once."""
    if attempt < 1:
        raise ValueError("an attempt is numbered from 1")
    return f"{round_id}:{household_code}:{attempt}"


def mask_name(name: str) -> str:
    """A name as logs may show it: the family name, the rest starred (张** for 张三丰)."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


@dataclass(frozen=True, repr=False)
class PaymentLine:
    """One payment to one household's card; `reference` is its idempotency key (see `reference`)."""

    reference: str
    household_code: str
    name: str
    account: str
    bank: str
    amount_fen: int
    purpose: str

    def __post_init__(self) -> None:
        if problems := line_problems(self):
            raise ValueError(f"payment line {self.reference!r}: {'; '.join(problems)}")

    def __repr__(self) -> str:
        # names and accounts are personal data (DESIGN.md): never whole in a log line or a traceback
        return (
            f"PaymentLine(reference={self.reference!r}, household_code={self.household_code!r}, "
            f"name={mask_name(self.name)!r}, account={mask(self.account)!r}, bank={self.bank!r}, "
            f"amount_fen={self.amount_fen}, purpose={self.purpose!r})"
        )


def line_problems(line: PaymentLine) -> list[str]:
    """Why a line cannot be sent to a bank (empty: it can)."""
    problems = []
    if not line.reference or len(line.reference) > MAX_REFERENCE or "\n" in line.reference:
        problems.append(f"reference must be 1–{MAX_REFERENCE} characters on one line")
    if not line.household_code:
        problems.append("household_code is required")
    if not line.name.strip() or len(line.name) > 100:
        problems.append("name must be 1–100 characters")
    if not _ACCOUNT.match(line.account):
        problems.append("account must be 12–30 digits")
    if isinstance(line.amount_fen, bool) or not isinstance(line.amount_fen, int) or line.amount_fen <= 0:
        problems.append("amount_fen must be a whole number of fen above zero")
    for field_name in ("name", "bank", "purpose"):
        value = getattr(line, field_name)
        if any(c in value for c in "\r\n\x00"):
            problems.append(f"{field_name} must be one line of text")
    return problems


@dataclass(frozen=True)
class PaymentBatch:
    """Lines sent to the bank together (at most PAYMENTS__BATCH_SIZE); `batch_no` is the batch's idempotency key."""

    batch_no: str
    lines: tuple[PaymentLine, ...]

    def __post_init__(self) -> None:
        if not _BATCH_NO.match(self.batch_no):
            raise ValueError("batch_no must be 1–64 letters, digits, '-' or '_', starting with a letter or digit")
        if not self.lines:
            raise ValueError(f"batch {self.batch_no} has no lines")
        seen: set[str] = set()
        for line in self.lines:
            if line.reference in seen:
                raise ValueError(f"batch {self.batch_no} holds reference {line.reference!r} twice")
            seen.add(line.reference)

    @property
    def total_fen(self) -> int:
        """The sum of the batch's lines, in fen."""
        return sum(line.amount_fen for line in self.lines)


def split_batches(prefix: str, lines: Sequence[PaymentLine], size: int) -> list[PaymentBatch]:
    """Lines cut into batches of at most `size`, numbered `{prefix}-001`, `-002`… in the lines' order: the same
    lines always give the same batch numbers, so a repeated submission is recognised as a repeat."""
    if size < 1:
        raise ValueError("a batch holds at least one line")
    return [
        PaymentBatch(f"{prefix}-{n:03d}", tuple(lines[start : start + size]))
        for n, start in enumerate(range(0, len(lines), size), start=1)
    ]


@dataclass(frozen=True)
class BatchReceipt:
    """The bank's acknowledgement of a batch: `new_lines` were recorded now, the others by an earlier submission."""

    batch_no: str
    lines: int
    total_fen: int
    new_lines: int


@dataclass(frozen=True)
class LineResult:
    """What the bank did with one line; `reason` is set when it failed, `detail` keeps the bank's own words."""

    reference: str
    status: PaymentStatus
    amount_fen: int
    reason: FailureReason | None = None
    detail: str = ""


# ---------------------------------------------------------------------------------------------- the batch file (代发)

HEADER_BATCH_NO = "批次号"
HEADER_COUNT = "总笔数"
HEADER_TOTAL = "总金额（元）"
EXPORT_COLUMNS = ("序号", "户主姓名", "账号", "开户行", "金额（元）", "用途", "业务参考号")
RESULT_SERIAL, RESULT_REFERENCE, RESULT_AMOUNT, RESULT_STATUS, RESULT_REASON = (
    "序号",
    "业务参考号",
    "金额（元）",
    "状态",
    "失败原因",
)
RESULT_REQUIRED = (RESULT_SERIAL, RESULT_AMOUNT, RESULT_STATUS)
STATUS_WORDS = {"成功": PaymentStatus.PAID, "失败": PaymentStatus.FAILED}


def fen_to_yuan(fen: int) -> str:
    """Integer fen as yuan with exactly two decimals (`132500` → `1325.00`), by integer arithmetic."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def batch_header(batch: PaymentBatch) -> list[str]:
    """The file's first line: batch number, row count and total in yuan, each after its label."""
    total = fen_to_yuan(batch.total_fen)
    return [HEADER_BATCH_NO, batch.batch_no, HEADER_COUNT, str(len(batch.lines)), HEADER_TOTAL, total]


def batch_rows(batch: PaymentBatch) -> list[list[str]]:
    """The file's rows after the column header: serial from 1, name, account, bank, yuan, purpose, reference."""
    return [
        [str(n), line.name, line.account, line.bank, fen_to_yuan(line.amount_fen), line.purpose, line.reference]
        for n, line in enumerate(batch.lines, start=1)
    ]


def _column_key(header: str) -> str:
    """A header as matched: without blanks and without a bracketed unit (`金额(元)` is `金额（元）`)."""
    return re.split(r"[（(]", header.replace(" ", "").strip(), maxsplit=1)[0]


class ResultFileError(ValueError):
    """A bank result file that cannot be taken: every bad row, by line (`line N: column: reason`)."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class SentLine:
    """What a result row is checked against: the reference and amount sent under a serial (1 = first line)."""

    reference: str
    amount_fen: int


def sent_lines(batch: PaymentBatch) -> list[SentLine]:
    """The batch's lines as a result file is matched to them, in serial order."""
    return [SentLine(line.reference, line.amount_fen) for line in batch.lines]


def read_export_rows(rows: Sequence[Sequence[str]]) -> tuple[str, list[SentLine]]:
    """The batch number and the sent lines of a batch file this module wrote (`batch_header` + `batch_rows`)."""
    header, _columns, *lines = [list(r) for r in rows if any(c.strip() for c in r)]
    if header[:1] != [HEADER_BATCH_NO] or len(header) < 2:
        raise ValueError("not a batch file: its first line does not name the batch")
    sent = []
    for cells in lines:
        amount = yuan_to_fen(cells[4])
        if amount is None:
            raise ValueError(f"not a batch file: {cells[4]!r} is no amount")
        sent.append(SentLine(cells[6], amount))
    return header[1], sent


def check_result_rows(rows: Sequence[Sequence[str]], batch_no: str, sent: Sequence[SentLine]) -> list[LineResult]:
    """The results of a bank's result file (its rows as text, line 1 first), matched to the lines sent in the batch.

    Optional first line: the batch header, whose batch number must be this batch's. Then a column header with
    序号, 金额（元）, 状态 (成功/失败), and optionally 业务参考号 and 失败原因; then one row per line. A row is
    matched by serial; a reference, when given, must be that line's; the amount must be the line's to the fen; a
    failure needs a reason. Any problem anywhere refuses the whole file with every problem listed. Lines the file
    does not mention are left out (the bank has not reported them yet)."""
    errors: list[RowError] = []
    numbered = [
        (n, [c.strip() for c in cells]) for n, cells in enumerate(rows, start=1) if any(c.strip() for c in cells)
    ]
    if numbered and numbered[0][1][0] == HEADER_BATCH_NO:
        line, cells = numbered.pop(0)
        named = cells[1] if len(cells) > 1 else ""
        if named != batch_no:
            errors.append(RowError(line, HEADER_BATCH_NO, f"names batch {named or '(empty)'}, not {batch_no}"))
    if not numbered:
        raise ResultFileError([*errors, RowError(1, "file", "no column header row: 序号, 金额（元）, 状态 …")])
    header_line, header = numbered.pop(0)
    wanted = {_column_key(h): h for h in (RESULT_SERIAL, RESULT_REFERENCE, RESULT_AMOUNT, RESULT_STATUS, RESULT_REASON)}
    position = {wanted[_column_key(h)]: i for i, h in reversed(list(enumerate(header))) if _column_key(h) in wanted}
    missing = [h for h in RESULT_REQUIRED if h not in position]
    if missing:
        raise ResultFileError([*errors, RowError(header_line, "header", f"missing column(s) {', '.join(missing)}")])

    def cell(cells: list[str], column: str) -> str:
        i = position.get(column)
        return cells[i] if i is not None and i < len(cells) else ""

    results: list[LineResult] = []
    seen: dict[int, int] = {}
    for line, cells in numbered:
        serial_text = cell(cells, RESULT_SERIAL)
        serial = int(serial_text) if serial_text.isascii() and serial_text.isdigit() else 0
        if not 1 <= serial <= len(sent):
            errors.append(RowError(line, RESULT_SERIAL, f"{serial_text or '(empty)'} is no serial of this batch"))
            continue
        if serial in seen:
            errors.append(
                RowError(line, RESULT_SERIAL, f"serial {serial} is reported again (first on line {seen[serial]})")
            )
            continue
        seen[serial] = line
        expected = sent[serial - 1]
        ref = cell(cells, RESULT_REFERENCE)
        if ref and ref != expected.reference:
            errors.append(RowError(line, RESULT_REFERENCE, f"{ref} is not the reference of serial {serial}"))
        amount_text = cell(cells, RESULT_AMOUNT)
        amount = yuan_to_fen(amount_text)
        if amount is None:
            errors.append(RowError(line, RESULT_AMOUNT, f"{amount_text or '(empty)'} is not yuan with ≤ 2 decimals"))
        elif amount != expected.amount_fen:
            sent_yuan = fen_to_yuan(expected.amount_fen)
            reason = f"{fen_to_yuan(amount)} differs from the {sent_yuan} sent for serial {serial}"
            errors.append(RowError(line, RESULT_AMOUNT, reason))
        status_text = cell(cells, RESULT_STATUS)
        status = STATUS_WORDS.get(status_text)
        if status is None:
            errors.append(RowError(line, RESULT_STATUS, f"{status_text or '(empty)'} is neither 成功 nor 失败"))
        detail = cell(cells, RESULT_REASON)
        if status is PaymentStatus.FAILED and not detail:
            errors.append(RowError(line, RESULT_REASON, "a failed row needs the bank's reason"))
        if status is None or amount != expected.amount_fen:
            continue
        failed = status is PaymentStatus.FAILED
        results.append(
            LineResult(
                reference=expected.reference,
                status=status,
                amount_fen=expected.amount_fen,
                reason=failure_reason(detail) if failed else None,
                detail=detail if failed else "",
            )
        )
    if errors:
        raise ResultFileError(errors)
    return results
