"""A stored report (周调度, 月通报) as an Excel workbook: Chinese headers, money in yuan from integer fen, rates as
percentages, and native Excel charts (XlsxWriter) — projects by stage, the archive colours, the county ranking."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

STAGE_ZH = {
    "application": "申报",
    "township_review": "乡镇初审",
    "expert_review": "专家论证",
    "county_approval": "县级审批",
    "city_filing": "市级备案",
    "approval_notice": "立项公示",
    "construction": "建设实施",
    "acceptance": "竣工验收",
    "asset_registration": "确权登记",
    "operation": "运营管护",
    "disposal": "资产处置",
    "closed": "已结束",
    "returned": "退回修改",
    "rejected": "不予立项",
}
COLOUR_ZH = {"green": "绿", "blue": "蓝", "yellow": "黄", "red": "红", "": "—"}
COLOUR_FILL = {"green": "#63BE7B", "blue": "#5B9BD5", "yellow": "#FFD966", "red": "#E06666"}
RATE_ZH = {
    "on_schedule": "建设进度正常率",
    "registration": "确权完成率",
    "revenue": "收益到账率",
    "dividends": "分红发放率",
    "problems": "问题按期整改率",
    "idle": "资产在用率",
}
TYPE_ZH = {
    "photovoltaic": "光伏",
    "greenhouse": "冬暖大棚",
    "workshop": "帮扶车间",
    "rural_tourism": "乡村旅游",
    "livestock": "养殖",
    "cold_storage": "冷库",
    "processing": "农产品加工",
    "shops_for_rent": "商铺出租",
    "other": "其他",
}


def yuan(fen: int | None) -> float | None:
    """Fen as yuan for a cell shown `#,##0.00` (display only: every figure is kept and summed in fen)."""
    return None if fen is None else fen / 100


def ratio(bp: int | None) -> float | None:
    """Basis points as a fraction for a cell shown as a percentage."""
    return None if bp is None else bp / 10000


class _Book:
    def __init__(self, out: io.BytesIO) -> None:
        self.book = xlsxwriter.Workbook(
            out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        self.head = self.book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True})
        self.title = self.book.add_format({"bold": True, "font_size": 14})
        self.money = self.book.add_format({"num_format": "#,##0.00"})
        self.pct = self.book.add_format({"num_format": "0.0%"})
        self.text = self.book.add_format({})

    def sheet(self, name: str) -> Worksheet:
        return self.book.add_worksheet(name)

    def table(
        self,
        ws: Worksheet,
        row: int,
        headers: Sequence[str],
        rows: Sequence[Sequence[Any]],
        formats: Sequence[Format | None] = (),
    ) -> int:
        """Headers at `row`, then the rows; the next free row."""
        for c, h in enumerate(headers):
            ws.write_string(row, c, h, self.head)
            ws.set_column(c, c, max(12, min(40, len(h) * 2 + 4)))
        for r, values in enumerate(rows, start=row + 1):
            for c, v in enumerate(values):
                fmt = formats[c] if c < len(formats) else None
                if v is None:
                    ws.write_blank(r, c, None, fmt)
                elif isinstance(v, str):
                    ws.write_string(r, c, v, fmt)  # a name starting with "=" stays text, never a formula
                else:
                    ws.write_number(r, c, v, fmt)
        return row + len(rows) + 2


def _summary_rows(t: dict[str, Any]) -> list[tuple[str, Any, str]]:
    p, c, rv, ar, po, d, pr, a, r = (
        t["projects"],
        t["construction"],
        t["revenue"],
        t["arrears"],
        t["payouts"],
        t["dividends"],
        t["problems"],
        t["assets"],
        t["rates_bp"],
    )
    return [
        ("项目总数", p["total"], "n"),
        ("本期新增项目", p["new"], "n"),
        ("审核超期任务", t["reviews_overdue"], "n"),
        ("在建项目", c["under_construction"], "n"),
        ("进度滞后（黄）", c["yellow"], "n"),
        ("进度滞后（红）", c["red"], "n"),
        ("本期应收（元）", yuan(rv["due_fen"]), "m"),
        ("本期实收（元）", yuan(rv["received_fen"]), "m"),
        ("本年应收（元）", yuan(rv["due_ytd_fen"]), "m"),
        ("本年实收（元）", yuan(rv["received_ytd_fen"]), "m"),
        ("收益到账率", ratio(r["revenue"]), "p"),
        ("欠款笔数", ar["count"], "n"),
        ("欠款金额（元）", yuan(ar["outstanding_fen"]), "m"),
        ("本期分红发放笔数", po["paid_count"], "n"),
        ("本期分红发放金额（元）", yuan(po["paid_fen"]), "m"),
        ("本期发放失败笔数", po["failed_count"], "n"),
        ("本期发放失败金额（元）", yuan(po["failed_fen"]), "m"),
        ("本年分红计划（元）", yuan(d["planned_fen"]), "m"),
        ("本年分红已发放（元）", yuan(d["paid_fen"]), "m"),
        ("分红发放率", ratio(r["dividends"]), "p"),
        ("本期新增问题", pr["opened"], "n"),
        ("本期销号问题", pr["closed"], "n"),
        ("未销号问题", pr["open"], "n"),
        ("超期未销号问题", pr["overdue"], "n"),
        ("资产总数", a["total"], "n"),
        ("应确权资产", a["to_register"], "n"),
        ("已确权资产", a["registered"], "n"),
        ("确权完成率", ratio(r["registration"]), "p"),
        ("运营中资产", a["in_operation"], "n"),
        ("闲置资产", a["idle"], "n"),
        ("资产闲置率", ratio(r["idle_asset_rate"]), "p"),
    ]


REGION_HEADERS = [
    "区划代码",
    "名称",
    "项目数",
    "本期新增",
    "在建",
    "滞后（黄）",
    "滞后（红）",
    "审核超期",
    "本期实收（元）",
    "本年应收（元）",
    "本年实收（元）",
    "欠款金额（元）",
    "分红发放（元）",
    "发放失败（元）",
    "新增问题",
    "销号问题",
    "超期问题",
    "确权完成率",
    "资产闲置率",
]


def _region_row(s: dict[str, Any]) -> list[Any]:
    return [
        s["code"],
        s["name"],
        s["projects"]["total"],
        s["projects"]["new"],
        s["construction"]["under_construction"],
        s["construction"]["yellow"],
        s["construction"]["red"],
        s["reviews_overdue"],
        yuan(s["revenue"]["received_fen"]),
        yuan(s["revenue"]["due_ytd_fen"]),
        yuan(s["revenue"]["received_ytd_fen"]),
        yuan(s["arrears"]["outstanding_fen"]),
        yuan(s["payouts"]["paid_fen"]),
        yuan(s["payouts"]["failed_fen"]),
        s["problems"]["opened"],
        s["problems"]["closed"],
        s["problems"]["overdue"],
        ratio(s["rates_bp"]["registration"]),
        ratio(s["rates_bp"]["idle_asset_rate"]),
    ]


PROJECT_HEADERS = ["项目编号", "项目名称", "乡镇", "类型", "阶段", "建设进度"]


def _project_row(p: dict[str, Any], archives: dict[str, str], townships: dict[str, str]) -> list[Any]:
    return [
        p["code"],
        p["name"],
        townships.get(p["township_code"], p["township_code"]),
        TYPE_ZH.get(p["project_type"], p["project_type"]),
        STAGE_ZH.get(p["stage"], p["stage"]),
        ratio(p["progress_percent"] * 100),
        *(COLOUR_ZH.get(p.get(col) or "", p.get(col) or "") for col in archives),
    ]


def render_report(figures: dict[str, Any]) -> bytes:
    """The workbook of a stored report's figures."""
    out = io.BytesIO()
    b = _Book(out)
    fmt: dict[str, Format | None] = {"n": None, "m": b.money, "p": b.pct}
    t = figures["totals"]
    archives: dict[str, str] = figures["colour_archives"]
    names = {s["code"]: s["name"] for s in figures.get("townships", [])}
    monthly = figures["kind"] == "monthly"

    ws = b.sheet("概况")
    ws.write_string(0, 0, figures["title"], b.title)
    period = figures["period"]
    ws.write_string(1, 0, f"区域：{figures['region']['name']}（{figures['region']['code']}）")
    ws.write_string(2, 0, f"期间：{period['start']} 至 {period['last_day']}（{period['label']}）")
    ws.write_string(3, 0, f"数据截至：{figures['as_of']}；生成时间：{figures['generated_at']}")
    if figures.get("truncated"):
        cut = "，".join(f"{k} 共 {v} 条" for k, v in figures["truncated"].items())
        ws.write_string(4, 0, f"名单已截断（完整数据见系统）：{cut}")
    ws.write_string(5, 0, "指标", b.head)
    ws.write_string(5, 1, "数值", b.head)
    for i, (label, value, kind) in enumerate(_summary_rows(t), start=6):
        ws.write_string(i, 0, label)
        if value is None:
            ws.write_blank(i, 1, None, fmt[kind])
        else:
            ws.write_number(i, 1, value, fmt[kind])
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 18)

    ws = b.sheet("项目阶段")
    stages = [(STAGE_ZH.get(s, s), n) for s, n in t["projects"]["by_stage"].items()]
    b.table(ws, 0, ["阶段", "项目数"], stages)
    chart = b.book.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "项目数",
            "categories": ["项目阶段", 1, 0, len(stages), 0],
            "values": ["项目阶段", 1, 1, len(stages), 1],
        }
    )
    chart.set_title({"name": "项目阶段分布"})
    chart.set_legend({"none": True})
    ws.insert_chart("D2", chart, {"x_scale": 1.5, "y_scale": 1.2})

    ws = b.sheet("三色档案")
    colour_rows = [
        [archives.get(col, col), *(t["colours"][col][c] for c in ("green", "blue", "yellow", "red"))]
        for col in archives
    ]
    b.table(ws, 0, ["档案", "绿", "蓝", "黄", "红"], colour_rows)
    chart = b.book.add_chart({"type": "bar", "subtype": "stacked"})
    for i, c in enumerate(("green", "blue", "yellow", "red"), start=1):
        chart.add_series(
            {
                "name": ["三色档案", 0, i],
                "categories": ["三色档案", 1, 0, len(colour_rows), 0],
                "values": ["三色档案", 1, i, len(colour_rows), i],
                "fill": {"color": COLOUR_FILL[c]},
            }
        )
    chart.set_title({"name": "红绿蓝三色档案"})
    ws.insert_chart("G2", chart, {"x_scale": 1.4, "y_scale": 1.2})

    region_formats: list[Format | None] = [None] * 8 + [b.money] * 6 + [None] * 3 + [b.pct, b.pct]
    if monthly:
        ws = b.sheet("县区汇总")
        b.table(ws, 0, REGION_HEADERS, [_region_row(s) for s in figures["counties"]], region_formats)
        ws = b.sheet("县区排名")
        rank_headers = ["排名", "县区", "得分", *(RATE_ZH[c] for c in RATE_ZH)]
        ranking = figures["ranking"]
        b.table(
            ws,
            0,
            rank_headers,
            [
                [r["rank"] or None, r["name"], ratio(r["score_bp"]), *(ratio(r["rates_bp"].get(c)) for c in RATE_ZH)]
                for r in ranking
            ],
            [None, None, *([b.pct] * (len(RATE_ZH) + 1))],
        )
        weights = figures.get("weights", {})
        ws.write_string(len(ranking) + 2, 0, "权重：" + "，".join(f"{RATE_ZH[k]} {v}" for k, v in weights.items()))
        chart = b.book.add_chart({"type": "bar"})
        chart.add_series(
            {
                "name": "得分",
                "categories": ["县区排名", 1, 1, max(1, len(ranking)), 1],
                "values": ["县区排名", 1, 2, max(1, len(ranking)), 2],
            }
        )
        chart.set_title({"name": "县区综合得分"})
        chart.set_legend({"none": True})
        ws.insert_chart("K2", chart, {"x_scale": 1.3, "y_scale": 1.2})
    ws = b.sheet("乡镇汇总")
    b.table(ws, 0, REGION_HEADERS, [_region_row(s) for s in figures["townships"]], region_formats)

    project_headers = [*PROJECT_HEADERS, *(archives[c] for c in archives)]
    project_formats: list[Format | None] = [None] * 5 + [b.pct]
    ws = b.sheet("红黄名单")
    row = 0
    for key, label in (("red_list", "红色名单"), ("yellow_list", "黄色名单"), ("construction_behind", "建设进度滞后")):
        ws.write_string(row, 0, label, b.title)
        row = b.table(
            ws,
            row + 1,
            project_headers,
            [_project_row(p, archives, names) for p in figures[key]],
            project_formats,
        )

    ws = b.sheet("欠款清单")
    b.table(
        ws,
        0,
        ["资产编号", "资产名称", "项目编号", "项目名称", "应收日期", "应收金额（元）", "欠款金额（元）"],
        [
            [
                a["asset_id"],
                a["asset_name"],
                a["project_code"],
                a["project_name"],
                a["due_date"],
                yuan(a["amount_fen"]),
                yuan(a["outstanding_fen"]),
            ]
            for a in figures["arrears_list"]
        ],
        [None] * 5 + [b.money, b.money],
    )

    ws = b.sheet("超期问题")
    b.table(
        ws,
        0,
        ["责任单位", "超期问题数", "最早整改时限"],
        [[u["unit"], u["overdue"], u["oldest_deadline"]] for u in figures["overdue_problems_by_unit"]],
    )

    ws = b.sheet("新增项目")
    b.table(ws, 0, project_headers, [_project_row(p, archives, names) for p in figures["new"]], project_formats)
    ws = b.sheet("项目清单")
    b.table(ws, 0, project_headers, [_project_row(p, archives, names) for p in figures["projects"]], project_formats)
    b.book.close()
    return out.getvalue()
