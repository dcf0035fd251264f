"""Existing projects brought under management (存量资产纳管): the import file's columns and every rule one of its
rows must meet, as pure functions. One row per asset; a project's columns repeat on each of its assets' rows.

An imported asset meets the same registration rules as a registered one (`domain.assets.registration_violations`),
less "the contract starts after the acceptance": an old asset's lease often began before its paperwork did.
Money is read as yuan with at most two decimals and kept as integer fen, exactly (Decimal, never float).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from domain.assets import (
    FULL_SHARE_BP,
    AssetClass,
    AssetFacts,
    IncomeShare,
    OperatorType,
    OwnerShare,
    registration_violations,
)
from domain.enums import FundSource, OperatingModel, ProjectType, RegionLevel, Role
from domain.households import RowError, split_list
from domain.operation import Schedule, Terms, annual_amount

EARLIEST = date(2013, 1, 1)  # 存量资产纳管 sweeps every asset built since 2013 (DOMAIN.md §6)
MAX_ROWS = 50_000


@dataclass(frozen=True)
class Column:
    """One column of the file: its Chinese header, whether a row must fill it, and what it holds (说明 sheet)."""

    header: str
    required: bool
    meaning: str
    example: str
    project: bool = False  # repeats on every asset row of the project and must agree


def _p(header: str, required: bool, meaning: str, example: str) -> Column:
    return Column(header, required, meaning, example, project=True)


def _a(header: str, required: bool, meaning: str, example: str) -> Column:
    return Column(header, required, meaning, example)


CODE = "项目编号"
COLUMNS: tuple[Column, ...] = (
    _p(
        CODE,
        True,
        "项目编号，导入的幂等键：再次导入即更新该项目（1–32 位字母、数字、-、_）",
        "XM370125-2019-001",
    ),
    _p("项目名称", True, "项目名称（至多 200 字）", "东关村光伏电站"),
    _p("项目类型", True, "光伏/冬暖大棚/帮扶车间/乡村旅游/养殖/冷库/农产品加工/商铺出租/其他（或英文代码）", "光伏"),
    _p("村代码", True, "项目所在村的 12 位区划代码（须已导入区划）", "370125100201"),
    _p("项目管理员账号", True, "辖区覆盖该村的在用项目管理员（project_manager）的用户名，即项目申报人", "pm_jiyang"),
    _p("实施主体", True, "实施主体名称", "东关村股份经济合作社"),
    _p("建设年份", True, "建设年份（2013 年及以后，介于开工与竣工年份之间）", "2019"),
    _p("开工日期", True, "开工日期 YYYY-MM-DD，不早于 2013-01-01", "2019-03-01"),
    _p("竣工日期", True, "竣工日期，不早于开工日期", "2019-09-30"),
    _p("验收日期", True, "竣工验收日期，不早于竣工日期，不晚于今天", "2019-10-20"),
    _p("总投资（元）", True, "总投资，元，至多两位小数；等于各资金来源之和", "1000000.00"),
    _p("衔接资金", False, "中央衔接推进乡村振兴补助资金，元", "600000"),
    _p("省级衔接资金", False, "省级衔接资金，元（可选列）", ""),
    _p("市级衔接资金", False, "市级衔接资金，元（可选列）", ""),
    _p("涉农整合资金", False, "统筹整合涉农资金，元", ""),
    _p("县级配套", False, "县级配套资金，元", "400000"),
    _p("自筹", False, "自筹资金，元", ""),
    _p("东西部协作", False, "东西部协作资金，元", ""),
    _p("社会捐赠", False, "社会捐赠，元", ""),
    _p("决算金额（元）", True, "竣工决算金额，元；项目各资产价值之和须等于它", "980000.00"),
    _p("预期年收益（元）", False, "预期年收益，元（空为 0）", "70000"),
    _a("资产名称", True, "资产名称", "光伏电站"),
    _a("资产类别", True, "经营性/公益性/到户类（或 operating/public_welfare/household）", "经营性"),
    _a("资产价值（元）", True, "资产价值，元，大于 0", "980000.00"),
    _a("数量", False, "数量（空为 1）", "1"),
    _a("单位", False, "计量单位", "座"),
    _a("坐落位置", True, "坐落位置", "东关村北"),
    _a(
        "所有权（村代码:比例;…）",
        False,
        "所有权：村代码:百分比，多个以 ; 分隔，合计 100（到户类资产留空；经营性、公益性资产必填）",
        "370125100201:100",
    ),
    _a("到户户码", False, "到户类资产所属农户的户码（仅到户类）", ""),
    _a("经营主体", False, "经营主体名称（经营性资产必填）", "济阳区光伏运维有限公司"),
    _a(
        "主体类型",
        False,
        "合作社/公司/种养大户/村集体（或 cooperative/company/large_farmer/…）",
        "公司",
    ),
    _a("统一社会信用代码", False, "经营主体的 18 位统一社会信用代码（校验位按 GB 32100）", "91370125MA3C4R2X1M"),
    _a("经营方式", False, "租赁/委托经营/股份合作/发包/自营（或 lease/entrusted/…/self_operation）", "租赁"),
    _a("合同开始", False, "经营合同开始日期", "2019-11-01"),
    _a("合同结束", False, "经营合同结束日期，晚于开始日期", "2029-10-31"),
    _a("租金（元/期）", False, "每期租金或保底收益，元", "70000"),
    _a("收款周期", False, "年/半年/季/月（或 annual/half_yearly/quarterly/monthly）", "年"),
    _a("押金（元）", False, "押金，元（空为 0）", "0"),
    _a("年递增（%）", False, "租金每合同年递增百分比（空为 0）", "0"),
    _a("管护主体", True, "管护主体", "东关村村委会"),
    _a("管护责任人", True, "管护责任人", "王建国"),
    _a("管护资金来源", True, "管护资金来源", "村集体收益"),
    _a("平台卡号", False, "已在农村集体三资管理平台登记的卡号（空则排队登记）", ""),
    _a("受益户（户码:股数;…）", False, "受益户：户码:股数，多个以 ; 分隔（经营性资产必填）", "H370125100201001:1"),
)
HEADERS = tuple(c.header for c in COLUMNS)
PROJECT_COLUMNS = tuple(c.header for c in COLUMNS if c.project)
FUND_COLUMNS: dict[str, FundSource] = {
    "衔接资金": FundSource.LINKAGE_CENTRAL,
    "省级衔接资金": FundSource.LINKAGE_PROVINCIAL,
    "市级衔接资金": FundSource.LINKAGE_CITY,
    "涉农整合资金": FundSource.INTEGRATED_AGRICULTURAL,
    "县级配套": FundSource.COUNTY_MATCH,
    "自筹": FundSource.SELF_RAISED,
    "东西部协作": FundSource.EAST_WEST,
    "社会捐赠": FundSource.DONATION,
}
OPTIONAL_HEADERS = frozenset({"省级衔接资金", "市级衔接资金"})
# every column of a contract: one filled means the asset has a contract and the others are required
CONTRACT_COLUMNS = ("经营主体", "主体类型", "经营方式", "合同开始", "合同结束", "租金（元/期）", "收款周期")
CONTRACT_EXTRAS = ("统一社会信用代码", "押金（元）", "年递增（%）")

PROJECT_TYPES: dict[str, str] = {
    "光伏": "photovoltaic",
    "光伏电站": "photovoltaic",
    "冬暖大棚": "greenhouse",
    "冬暖式大棚": "greenhouse",
    "大棚": "greenhouse",
    "帮扶车间": "workshop",
    "车间": "workshop",
    "乡村旅游": "rural_tourism",
    "养殖": "livestock",
    "冷库": "cold_storage",
    "农产品加工": "processing",
    "加工": "processing",
    "商铺出租": "shops_for_rent",
    "门面出租": "shops_for_rent",
    "商铺": "shops_for_rent",
    "其他": "other",
    **{t.value: t.value for t in ProjectType},
}
ASSET_CLASSES: dict[str, str] = {
    "经营性": "operating",
    "公益性": "public_welfare",
    "到户类": "household",
    "到户": "household",
    **{c.value: c.value for c in AssetClass},
}
OPERATOR_TYPES: dict[str, str] = {
    "合作社": "cooperative",
    "专业合作社": "cooperative",
    "公司": "company",
    "企业": "company",
    "种养大户": "large_farmer",
    "大户": "large_farmer",
    "村集体": "village_collective",
    "村集体经济组织": "village_collective",
    **{t.value: t.value for t in OperatorType},
}
MODES: dict[str, str] = {
    "租赁": "lease",
    "出租": "lease",
    "委托经营": "entrusted",
    "股份合作": "share_cooperation",
    "入股": "share_cooperation",
    "发包": "contracting",
    "承包": "contracting",
    "自营": "self_operation",
    **{m.value: m.value for m in OperatingModel},
}
SCHEDULES: dict[str, str] = {
    "年": "annual",
    "按年": "annual",
    "每年": "annual",
    "半年": "half_yearly",
    "按半年": "half_yearly",
    "季": "quarterly",
    "季度": "quarterly",
    "按季": "quarterly",
    "月": "monthly",
    "按月": "monthly",
    "每月": "monthly",
    **{s.value: s.value for s in Schedule},
}
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MONEY = re.compile(r"^\d+(\.\d{1,2})?$")
_PERCENT = re.compile(r"^\d+(\.\d{1,2})?$")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def header_key(header: str) -> str:
    """A header as matched: the text before any bracket (`总投资(元)` and `总投资（元）` are one column)."""
    return re.split(r"[（(]", header.strip(), maxsplit=1)[0].strip()


def canonical_headers(headers: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The file's headers mapped to the canonical ones (by `header_key`), and the required ones it lacks."""
    wanted = {header_key(h): h for h in HEADERS}
    found = {h: wanted[header_key(h)] for h in headers if h and header_key(h) in wanted}
    present = set(found.values())
    missing = [h for h in HEADERS if h not in present and h not in OPTIONAL_HEADERS]
    return found, missing


def yuan_to_fen(value: str) -> int | None:
    """Yuan with at most two decimals (thousands separators allowed) as integer fen, exactly; None if it is not."""
    text = value.replace(",", "").replace("，", "").strip()
    if not _MONEY.match(text):
        return None
    return int(Decimal(text) * 100)


def percent_to_bp(value: str) -> int | None:
    """A percentage with at most two decimals (`33.33`, `60%`) as basis points; None if it is not one."""
    text = value.strip().removesuffix("%").removesuffix("％").strip()
    if not _PERCENT.match(text):
        return None
    try:
        return int(Decimal(text) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def parse_date(value: str) -> date | None:
    """`2019-03-01`, `2019/3/1`, `2019.3.1` or `2019年3月1日`; None if it is none of those."""
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def credit_code_problem(code: str) -> str | None:
    """Why a unified social credit code (统一社会信用代码, GB 32100-2015) is invalid, or None."""
    if len(code) != 18 or any(c not in _CREDIT_CHARS for c in code):
        return "18 characters of 0-9 and A-Y (without I, O, S, V, Z)"
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(code[:17], _CREDIT_WEIGHTS, strict=True))
    if _CREDIT_CHARS[(31 - total % 31) % 31] != code[17]:
        return "the check character is wrong"
    return None


def with_credit_check(first17: str) -> str:
    """Complete 17 characters into a valid credit code (demo and test data)."""
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return first17 + _CREDIT_CHARS[(31 - total % 31) % 31]


@dataclass(frozen=True)
class Manager:
    """A user the file names as project manager, as the rules see them."""

    id: int
    role: str
    active: bool
    covers: Callable[[str], bool]


@dataclass(frozen=True)
class Lookups:
    """What the database says about the codes the file names (read before the rules run)."""

    region_levels: Mapping[str, str]
    managers: Mapping[str, Manager]
    households: frozenset[str]
    # project code → the SHA-256 of the file it was imported from, or None when it was filed through the API
    existing_projects: Mapping[str, str | None]
    # platform card number → the asset that carries it now
    cards: Mapping[str, str]
    # the importer's region: a project outside it is refused
    in_scope: Callable[[str], bool] = lambda _: True


@dataclass(frozen=True)
class ImportedContract:
    """An operating contract as the file gives it; money in fen, escalation in basis points."""

    operator_name: str
    operator_type: str
    credit_code: str
    mode: str
    start: date
    end: date
    rent_fen: int
    schedule: str
    deposit_fen: int
    escalation_bp: int

    @property
    def annual_rent_fen(self) -> int:
        """The first contract year's rent."""
        return annual_amount(Terms(self.start, self.end, self.rent_fen, self.schedule, self.escalation_bp))

    @property
    def term_years(self) -> int | None:
        """Whole years from start to end (the day before an anniversary), else None."""
        years = self.end.year - self.start.year
        try:
            anniversary = self.start.replace(year=self.start.year + years)
        except ValueError:
            return None
        return years if (anniversary - self.end).days == 1 else None


@dataclass(frozen=True)
class ImportedAsset:
    """One asset row, checked."""

    line: int
    name: str
    asset_class: str
    value_fen: int
    quantity: str
    unit: str
    location: str
    owners: list[OwnerShare]
    household_code: str | None
    contract: ImportedContract | None
    upkeep_body: str
    upkeep_person: str
    upkeep_fund_source: str
    platform_card_no: str | None
    income: list[IncomeShare]


@dataclass(frozen=True)
class ImportedProject:
    """One project of the file with its assets, checked: ready to be written."""

    code: str
    lines: list[int]
    name: str
    project_type: str
    village_code: str
    manager_id: int
    implementing_entity: str
    construction_year: int
    start: date
    completion: date
    acceptance: date
    total_fen: int
    sources: dict[str, int]
    final_cost_fen: int
    expected_revenue_fen: int
    assets: list[ImportedAsset] = field(default_factory=list)

    def application(self) -> dict[str, object]:
        """The application JSON of the project row: type, budget by source, revenue estimate, benefit linkage."""
        households = sorted({s.household_code for a in self.assets for s in a.income})
        shares = sum(s.shares for a in self.assets for s in a.income)
        yield_percent = round(self.expected_revenue_fen * 100 / self.final_cost_fen, 2) if self.final_cost_fen else 0
        modes = sorted({a.contract.mode for a in self.assets if a.contract})
        return {
            "imported": True,
            "name": self.name,
            "project_type": self.project_type,
            "village_code": self.village_code,
            "implementing_entity": {"name": self.implementing_entity},
            "construction_year": self.construction_year,
            "planned_start": self.start.isoformat(),
            "planned_end": self.completion.isoformat(),
            "completion_date": self.completion.isoformat(),
            "acceptance_date": self.acceptance.isoformat(),
            "budget": {
                "total_fen": self.total_fen,
                "sources": [{"source": s, "amount_fen": f} for s, f in self.sources.items() if f],
            },
            "final_cost_fen": self.final_cost_fen,
            "operating_model": modes[0] if len(modes) == 1 else ("mixed" if modes else ""),
            "revenue": {
                "expected_annual_revenue_fen": self.expected_revenue_fen,
                "expected_yield_percent": yield_percent,
            },
            "benefit": {
                "household_codes": households,
                "households": len(households),
                "shares": shares,
                "mechanism": "收益按股量化到户（存量资产纳管导入）",
            },
        }


Row = tuple[int, Mapping[str, str]]


class _Cells:
    """The cells of one row with the errors found in them."""

    def __init__(self, line: int, row: Mapping[str, str], errors: list[RowError]) -> None:
        self.line, self.row, self.errors = line, row, errors

    def text(self, column: str, *, required: bool = False, max_len: int = 200) -> str:
        value = self.row.get(column, "").strip()
        if "\x00" in value:
            return self.fail(column, "contains a NUL character", "")
        if required and not value:
            return self.fail(column, "is required", "")
        if len(value) > max_len:
            return self.fail(column, f"at most {max_len} characters", "")
        return value

    def fail(self, column: str, reason: str, fallback: object) -> str:
        self.errors.append(RowError(self.line, column, reason))
        return fallback  # type: ignore[return-value]

    def choice(self, column: str, labels: Mapping[str, str], *, required: bool = True) -> str:
        value = self.text(column, required=required)
        if not value:
            return ""
        found = labels.get(value) or labels.get(value.lower())
        if found is None:
            allowed = "/".join(k for k in labels if not k.isascii()) + "; " + ", ".join(sorted(set(labels.values())))
            return self.fail(column, f"unknown {value!r}; allowed: {allowed}", "")
        return found

    def money(self, column: str, *, required: bool = False) -> int | None:
        value = self.text(column, required=required)
        if not value:
            return None if required else 0
        fen = yuan_to_fen(value)
        if fen is None:
            self.errors.append(RowError(self.line, column, "an amount in yuan with at most two decimals"))
        return fen

    def day(self, column: str, *, required: bool = False) -> date | None:
        value = self.text(column, required=required)
        if not value:
            return None
        found = parse_date(value)
        if found is None:
            self.errors.append(RowError(self.line, column, f"not a date: {value!r} (YYYY-MM-DD)"))
        return found

    def pairs(self, column: str) -> list[tuple[str, str]] | None:
        out = []
        for part in split_list(self.text(column, max_len=200_000)):
            key, sep, amount = part.replace("：", ":").partition(":")
            if not sep or not key.strip() or not amount.strip():
                self.errors.append(RowError(self.line, column, f"{part!r}: write code:number, separated by ;"))
                return None
            out.append((key.strip(), amount.strip()))
        return out


def _check_project(
    rows: Sequence[Row], lookups: Lookups, today: date, errors: list[RowError]
) -> ImportedProject | None:
    first_line, first = rows[0]
    start_errors = len(errors)
    for line, row in rows[1:]:
        for column in PROJECT_COLUMNS:
            if row.get(column, "").strip() != first.get(column, "").strip():
                errors.append(RowError(line, column, f"differs from line {first_line} of the same project"))
    c = _Cells(first_line, first, errors)
    code = c.text(CODE, required=True, max_len=32)
    if code and not _CODE.match(code):
        c.fail(CODE, "1–32 letters, digits, - or _", "")
    if code in lookups.existing_projects and lookups.existing_projects[code] is None:
        c.fail(CODE, f"project {code} was filed through the application, not imported: it cannot be imported over", "")
    name = c.text("项目名称", required=True)
    project_type = c.choice("项目类型", PROJECT_TYPES)
    village = c.text("村代码", required=True, max_len=12)
    if village:
        if lookups.region_levels.get(village) != RegionLevel.VILLAGE.value:
            c.fail("村代码", f"no village {village}", "")
        elif not lookups.in_scope(village):
            c.fail("村代码", f"village {village} lies outside your region", "")
    username = c.text("项目管理员账号", required=True, max_len=64)
    manager = lookups.managers.get(username)
    if username:
        if manager is None or manager.role != Role.PROJECT_MANAGER.value or not manager.active:
            c.fail("项目管理员账号", f"no active project manager {username}", "")
        elif village and not manager.covers(village):
            c.fail("项目管理员账号", f"{username}'s region does not cover village {village}", "")
    entity = c.text("实施主体", required=True)
    year_text = c.text("建设年份", required=True, max_len=4)
    year = int(year_text) if year_text.isascii() and year_text.isdigit() else 0
    if year_text and not EARLIEST.year <= year <= today.year:
        c.fail("建设年份", f"a year from {EARLIEST.year} to {today.year}", "")
    start = c.day("开工日期", required=True)
    completion = c.day("竣工日期", required=True)
    acceptance = c.day("验收日期", required=True)
    for column, day in (("开工日期", start), ("竣工日期", completion), ("验收日期", acceptance)):
        if day is not None and not EARLIEST <= day <= today:
            c.fail(column, f"a date from {EARLIEST.isoformat()} to today ({today.isoformat()})", "")
    if start and completion and completion < start:
        c.fail("竣工日期", "on or after the start (开工日期)", "")
    if completion and acceptance and acceptance < completion:
        c.fail("验收日期", "on or after the completion (竣工日期)", "")
    if year and start and completion and not start.year <= year <= completion.year:
        c.fail("建设年份", f"between the start's and the completion's year ({start.year}–{completion.year})", "")
    total = c.money("总投资（元）", required=True)
    sources = {s.value: c.money(col) for col, s in FUND_COLUMNS.items()}
    final_cost = c.money("决算金额（元）", required=True)
    revenue = c.money("预期年收益（元）")
    if total is not None and all(v is not None for v in sources.values()):
        given = sum(v or 0 for v in sources.values())
        if total <= 0:
            c.fail("总投资（元）", "above zero", "")
        elif given != total:
            c.fail("总投资（元）", f"fund sources sum to {given / 100:.2f} yuan, not the total {total / 100:.2f}", "")
    if final_cost is not None and final_cost <= 0:
        c.fail("决算金额（元）", "above zero", "")
    assets = [a for line, row in rows if (a := _check_asset(line, row, lookups, errors)) is not None]
    if len(errors) > start_errors or manager is None:
        return None
    assert start
    assert completion
    assert acceptance
    assert total is not None
    assert final_cost is not None
    for v in registration_violations(
        [
            AssetFacts(
                name=a.name,
                asset_class=a.asset_class,
                value_fen=a.value_fen,
                owners=a.owners,
                household_code=a.household_code,
                has_operator=a.contract is not None,
                has_contract=a.contract is not None,
                income=a.income,
                has_supervision=True,  # the township and the county of the village supervise (监督权)
            )
            for a in assets
        ],
        final_cost_fen=final_cost,
        accepted_on=None,  # an old contract may predate its acceptance
    ):
        index, _, attr = v.field.partition(".")
        if index == "assets":
            errors.append(RowError(first_line, "资产价值（元）", v.message))
            continue
        asset = assets[int(index.removeprefix("assets[").removesuffix("]"))]
        errors.append(RowError(asset.line, _VIOLATION_COLUMNS.get(attr.split(".")[0], "资产类别"), v.message))
    if len(errors) > start_errors:
        return None
    return ImportedProject(
        code=code,
        lines=[line for line, _ in rows],
        name=name,
        project_type=project_type,
        village_code=village,
        manager_id=manager.id,
        implementing_entity=entity,
        construction_year=year,
        start=start,
        completion=completion,
        acceptance=acceptance,
        total_fen=total,
        sources={k: v or 0 for k, v in sources.items()},
        final_cost_fen=final_cost,
        expected_revenue_fen=revenue or 0,
        assets=assets,
    )


_VIOLATION_COLUMNS = {
    "asset_class": "资产类别",
    "value_fen": "资产价值（元）",
    "owners": "所有权（村代码:比例;…）",
    "household_code": "到户户码",
    "operator": "经营主体",
    "contract": "经营方式",
    "income": "受益户（户码:股数;…）",
    "supervision": "资产类别",
}


def _check_asset(line: int, row: Mapping[str, str], lookups: Lookups, errors: list[RowError]) -> ImportedAsset | None:
    before = len(errors)
    c = _Cells(line, row, errors)
    name = c.text("资产名称", required=True)
    asset_class = c.choice("资产类别", ASSET_CLASSES)
    value = c.money("资产价值（元）", required=True)
    quantity = c.text("数量", max_len=32) or "1"
    unit = c.text("单位", max_len=16)
    location = c.text("坐落位置", required=True, max_len=300)
    owners: list[OwnerShare] = []
    owner_column = "所有权（村代码:比例;…）"
    for village, percent in c.pairs(owner_column) or []:
        bp = percent_to_bp(percent)
        if bp is None:
            c.fail(owner_column, f"{village}: a percentage with at most two decimals", "")
        elif lookups.region_levels.get(village) != RegionLevel.VILLAGE.value:
            c.fail(owner_column, f"no village {village}", "")
        else:
            owners.append(OwnerShare(village, bp))
    if owners and sum(o.share_bp for o in owners) != FULL_SHARE_BP:
        c.fail(owner_column, f"shares sum to {sum(o.share_bp for o in owners) / 100:g} %, not exactly 100 %", "")
    household = c.text("到户户码", max_len=32) or None
    if household and household not in lookups.households:
        c.fail("到户户码", f"no household {household}", "")
    contract = _check_contract(c)
    upkeep_body = c.text("管护主体", required=True)
    upkeep_person = c.text("管护责任人", required=True, max_len=100)
    upkeep_fund = c.text("管护资金来源", required=True, max_len=100)
    card = c.text("平台卡号", max_len=64) or None
    income: list[IncomeShare] = []
    income_column = "受益户（户码:股数;…）"
    for code, shares in c.pairs(income_column) or []:
        if not shares.isascii() or not shares.isdigit() or int(shares) < 1:
            c.fail(income_column, f"{code}: shares are a whole number of at least 1", "")
        elif code not in lookups.households:
            c.fail(income_column, f"no household {code}", "")
        else:
            income.append(IncomeShare(code, int(shares)))
    if len(errors) > before or value is None:
        return None
    return ImportedAsset(
        line=line,
        name=name,
        asset_class=asset_class,
        value_fen=value,
        quantity=quantity,
        unit=unit,
        location=location,
        owners=owners,
        household_code=household,
        contract=contract,
        upkeep_body=upkeep_body,
        upkeep_person=upkeep_person,
        upkeep_fund_source=upkeep_fund,
        platform_card_no=card,
        income=income,
    )


def _check_contract(c: _Cells) -> ImportedContract | None:
    if not any(
        c.row.get(col, "").strip() for col in (*CONTRACT_COLUMNS, "统一社会信用代码", "押金（元）", "年递增（%）")
    ):
        return None
    before = len(c.errors)
    operator = c.text("经营主体", required=True)
    operator_type = c.choice("主体类型", OPERATOR_TYPES)
    credit = c.text("统一社会信用代码", max_len=18).upper()
    if credit and (problem := credit_code_problem(credit)):
        c.fail("统一社会信用代码", problem, "")
    mode = c.choice("经营方式", MODES)
    start = c.day("合同开始", required=True)
    end = c.day("合同结束", required=True)
    if start and start < EARLIEST:
        c.fail("合同开始", f"on or after {EARLIEST.isoformat()}", "")
    if start and end and end <= start:
        c.fail("合同结束", "after the contract's start (合同开始)", "")
    rent = c.money("租金（元/期）", required=True)
    schedule = c.choice("收款周期", SCHEDULES)
    deposit = c.money("押金（元）")
    escalation_text = c.text("年递增（%）", max_len=10)
    escalation = percent_to_bp(escalation_text) if escalation_text else 0
    if escalation is None or escalation > FULL_SHARE_BP:
        c.fail("年递增（%）", "a percentage from 0 to 100 with at most two decimals", "")
    if len(c.errors) > before:
        return None
    assert start
    assert end
    assert rent is not None
    assert escalation is not None
    return ImportedContract(
        operator_name=operator,
        operator_type=operator_type,
        credit_code=credit,
        mode=mode,
        start=start,
        end=end,
        rent_fen=rent,
        schedule=schedule,
        deposit_fen=deposit or 0,
        escalation_bp=escalation,
    )


def group_rows(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """The rows of each project code, in the order the codes first appear (assets keep their row order)."""
    groups: dict[str, list[Row]] = {}
    for line, row in rows:
        groups.setdefault(row.get(CODE, "").strip(), []).append((line, row))
    return groups


def check_project_rows(
    rows: Sequence[Row], lookups: Lookups, *, today: date, tick: Callable[[int], None] = lambda _: None
) -> tuple[list[ImportedProject], list[RowError]]:
    """Every project of the file that meets every rule, and every problem of the others (`line`, `column`, reason).

    A project with one bad row is refused whole: its assets are one registration."""
    projects: list[ImportedProject] = []
    errors: list[RowError] = []
    cards: dict[str, int] = {}
    for line, row in rows:
        card = row.get("平台卡号", "").strip()
        if not card:
            continue
        if card in cards:
            errors.append(RowError(line, "平台卡号", f"the same card as line {cards[card]}"))
        cards.setdefault(card, line)
    for code, group in group_rows(rows).items():
        found = len(errors)
        project = _check_project(group, lookups, today, errors)
        if project is not None:
            mine = {f"{code}-A{n}" for n in range(1, len(project.assets) + 1)}
            for a in project.assets:
                holder = lookups.cards.get(a.platform_card_no or "")
                if holder is not None and holder not in mine:
                    errors.append(RowError(a.line, "平台卡号", f"card {a.platform_card_no} belongs to asset {holder}"))
            lines = set(project.lines)
            if not any(e.line in lines for e in errors):
                projects.append(project)
        elif len(errors) == found:  # pragma: no cover - a refused project always says why
            errors.append(RowError(group[0][0], CODE, "refused"))
        tick(len(group))
    return projects, sorted(errors, key=lambda e: (e.line, HEADERS.index(e.column) if e.column in HEADERS else 99))


def asset_ids(code: str, count: int) -> list[str]:
    """The ids of a project's imported assets, stable by row order: `{code}-A1`, `{code}-A2`, …"""
    return [f"{code}-A{n}" for n in range(1, count + 1)]


def contract_id(asset_id: str) -> str:
    """The id of an imported asset's contract (stable: a rerun replaces it)."""
    return f"{asset_id}-c0"
