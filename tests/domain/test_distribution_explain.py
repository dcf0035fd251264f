"""How a household's part is explained on the plan's notice (in Chinese, exact, with the reason for its extra fen)."""

from __future__ import annotations

from domain.distribution import Beneficiary, Buckets, DistributionRule, WeightBasis, distribute, explain_line


def test_each_part_is_explained_exactly() -> None:
    rule = DistributionRule(Buckets(collective_bp=3000, households_bp=7000), coefficients_bp={"elderly": 15000})
    split = distribute(
        300_001,
        rule,
        [
            Beneficiary("H1", shares=2, categories=("elderly",)),
            Beneficiary("H2", shares=1),
            Beneficiary("H3", shares=1, excluded="已稳定脱贫退出"),
        ],
    )
    lines = {line.key: explain_line(line, rule) for line in split.households.lines}
    assert lines == {
        "H1": "折股 2 股 × 系数 1.5；应得 157500.75 分，取整 1575.00 元，按余数排第 1 位加 1 分，实得 1575.01 元",
        "H2": "折股 1 股 × 系数 1；应得 52500.25 分，取整 525.00 元，实得 525.00 元",
        "H3": "本年不参与分红：已稳定脱贫退出",
    }


def test_a_quota_without_a_finite_decimal_is_a_fraction_and_members_are_people() -> None:
    rule = DistributionRule(Buckets(collective_bp=0, households_bp=10000), basis=WeightBasis.MEMBERS, max_fen=40_000)
    split = distribute(
        100_000, rule, [Beneficiary("H1", members=1), Beneficiary("H2", members=2), Beneficiary("H3", members=9)]
    )
    lines = {line.key: explain_line(line, rule) for line in split.households.lines}
    assert lines["H3"] == "家庭人口 9 人 × 系数 1；按每户上限计 400.00 元"
    assert lines["H1"].startswith("家庭人口 1 人 × 系数 1；应得 20000 分")
    assert "又" not in lines["H1"]
    thirds = distribute(100_000, rule, [Beneficiary(f"H{i}", members=1) for i in range(3)])
    assert "33333 又 1/3 分" in explain_line(thirds.households.lines[0], rule)
