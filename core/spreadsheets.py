"""Spreadsheets in and out: the rows of an uploaded .csv or .xlsx with their line numbers, and the project import's
template (.xlsx with the Chinese headers, one example row and a 说明 sheet)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from domain.imports import COLUMNS, canonical_headers

Rows = list[tuple[int, dict[str, str]]]


class SpreadsheetError(ValueError):
    """The file as a whole cannot be read: not a .csv or .xlsx, not UTF-8, no header, a required column missing."""


def _cell(value: Any) -> str:
    """A cell as the text the rules read: dates as ISO dates, numbers without a float's noise."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # the shortest text that reads back as the same double: 1234.56, never 1234.5599999999999
        exact = Decimal(repr(value))
        return str(int(exact)) if exact == exact.to_integral_value() else format(exact, "f")
    return str(value).strip()


def _xlsx_rows(data: bytes) -> Iterable[Sequence[Any]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as err:
        raise SpreadsheetError(f"not a readable .xlsx workbook: {err}") from err
    sheet = book.worksheets[0]
    return [tuple(r) for r in sheet.iter_rows(values_only=True)]


def _csv_rows(data: bytes) -> Iterable[Sequence[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpreadsheetError("not UTF-8 text (save the sheet as CSV UTF-8, or upload the .xlsx)") from err
    if "\x00" in text:
        raise SpreadsheetError("not a CSV file: it holds binary data")
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise SpreadsheetError(f"not a readable CSV file: {err}") from err


def is_xlsx(data: bytes) -> bool:
    """An .xlsx is a zip archive: its first bytes say so whatever the file is called."""
    return data[:4] == b"PK\x03\x04"


def sheet_rows(data: bytes) -> list[list[str]]:
    """Every row of a .csv (UTF-8, with or without BOM) or .xlsx (its first sheet) as cell text, line 1 first."""
    raw = _xlsx_rows(data) if is_xlsx(data) else _csv_rows(data)
    return [[_cell(c) for c in cells] for cells in raw]


def read_project_rows(data: bytes, *, max_rows: int) -> Rows:
    """The rows of a project import file (.csv, UTF-8 with or without BOM, or .xlsx: its first sheet), each keyed by
    the canonical headers, with its line in the file (the header is line 1); blank rows are skipped."""
    raw = _xlsx_rows(data) if is_xlsx(data) else _csv_rows(data)
    lines = iter(enumerate(raw, start=1))
    header: list[str] = []
    for _, cells in lines:
        header = [_cell(c) for c in cells]
        if any(header):
            break
    if not any(header):
        raise SpreadsheetError("the file is empty: it needs a header row with the Chinese column names")
    mapping, missing = canonical_headers(header)
    if missing:
        raise SpreadsheetError(f"missing column(s) {', '.join(missing)}; download the template for the headers")
    rows: Rows = []
    for line, cells in lines:
        values = [_cell(c) for c in cells]
        if not any(values):
            continue
        row = {mapping[h]: v for h, v in zip(header, values, strict=False) if h in mapping}
        rows.append((line, row))
        if len(rows) > max_rows:
            raise SpreadsheetError(f"more than {max_rows} rows: split the file")
    return rows


def project_template() -> bytes:
    """The import template: headers and one example row on the first sheet, every column explained on 说明."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "项目资产"
    sheet.append([c.header for c in COLUMNS])
    sheet.append([c.example for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, c in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(10, len(c.header) * 2 + 2)
    notes = book.create_sheet("说明")
    notes.append(["列名", "是否必填", "项目列（同一项目各行须一致）", "说明与取值", "示例"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for c in COLUMNS:
        notes.append([c.header, "必填" if c.required else "选填", "是" if c.project else "否", c.meaning, c.example])
    notes.append([])
    for line in (
        "每行一个资产；同一项目的项目列在它的每个资产行上重复，且必须一致。",
        "金额单位为元，至多两位小数；资金来源之和等于总投资，项目各资产价值之和等于决算金额。",
        "日期写作 YYYY-MM-DD，不早于 2013-01-01、不晚于今天，开工 ≤ 竣工 ≤ 验收。",
        "经营性资产须有经营主体、合同和受益户；到户类资产填到户户码、不填所有权。",
        "默认全部行无误才导入；有错误时逐行列出 行号、列名、原因，什么也不写入。",
        "再次导入同一项目编号即更新该项目及其资产；通过申报流程建立的项目不能被导入覆盖。",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 28
    notes.column_dimensions["D"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_sheet(title: str, caption: Sequence[str], headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One sheet as .xlsx bytes: caption lines (the notice's title, totals), bold Chinese headers, the rows; text a
    client wrote that starts with "=" stays text (never a formula)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for line in caption:
        sheet.append([line])
    sheet.append(list(headers))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([f"'{v}" if isinstance(v, str) and v.startswith("=") else v for v in row])
    for i, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, len(header) * 2 + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
