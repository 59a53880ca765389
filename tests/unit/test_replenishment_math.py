"""Replenishment math, worked by hand from the definitions in issue 5 (working in comments)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hoop.domain.errors import ValidationFailed
from hoop.domain.replenishment import (
    Demand,
    Offer,
    Policy,
    choose_offer,
    demand_from_days,
    eoq,
    plan,
    round_qty,
    suggest,
    validate_policy,
    z_score,
)


def test_demand_counts_days_without_shipments_as_zero() -> None:
    # 10-day window; shipped 4 on day 0, 6 on day 2, 10 on day 5, nothing on the other 7 days.
    # total 20, d = 20 / 10 = 2
    # sum x^2 = 16 + 36 + 100 = 152; variance = 152 / 10 - 2^2 = 15.2 - 4 = 11.2
    # sigma = sqrt(11.2) = 3.346640... -> 3.3466
    dm = demand_from_days({0: D(4), 2: D(6), 5: D(10), 12: D(99)}, 10)  # day 12 is outside
    assert dm.daily == D("2.0000")
    assert dm.sigma == D("3.3466")
    assert dm.total == D(20)


def test_demand_flat_has_no_variability() -> None:
    # 3 a day every day of a 5-day window: d = 15 / 5 = 3, variance = 45 / 5 - 9 = 0
    dm = demand_from_days({i: D(3) for i in range(5)}, 5)
    assert (dm.daily, dm.sigma) == (D(3), D(0))


def test_z_scores() -> None:
    # standard normal quantiles from tables: 95% -> 1.6449, 99% -> 2.3263, 50% -> 0
    assert z_score(D("0.95")) == D("1.6449")
    assert z_score(D("0.99")) == D("2.3263")
    assert z_score(D("0.5")) == D("0.0000")


def test_eoq_formula() -> None:
    # d = 2 -> D = 730 a year; S = 50; H = 0.2 * 10 = 2
    # EOQ = sqrt(2 * 730 * 50 / 2) = sqrt(36500) = 191.049731... -> 191.0497
    assert eoq(D(2), D(50), D("0.2"), D(10)) == D("191.0497")
    assert eoq(D(0), D(50), D("0.2"), D(10)) == 0  # nothing sold
    assert eoq(D(2), D(50), D("0.2"), D(0)) == 0  # free to hold: no answer


@pytest.mark.parametrize(
    ("qty", "moq", "pack", "want"),
    [
        (D("191.0497"), D(100), D(25), D(200)),  # 192 whole, >= 100, 8 packs of 25 = 200
        (D("40"), D(60), D(12), D(60)),  # 40 -> MOQ 60 -> 60 is 5 packs of 12
        (D("40"), D(0), D(12), D(48)),  # 40 -> 4 packs of 12 = 48
        (D("0.2"), D(0), D(1), D(1)),  # up to a whole unit
        (D("7"), D(5), D("2.5"), D("7.5")),  # 7 -> 3 packs of 2.5
        (D("0"), D(100), D(25), D(0)),  # nothing to order stays nothing
        (D("-3"), D(0), D(1), D(0)),
    ],
)
def test_rounding(qty: D, moq: D, pack: D, want: D) -> None:
    assert round_qty(qty, moq, pack) == want


def test_choose_offer() -> None:
    cheap = Offer(supplier_id=3, price=D(8), lead_time_days=D(20))
    dear_preferred = Offer(supplier_id=2, price=D(11), lead_time_days=D(5), preferred=True)
    tie = Offer(supplier_id=1, price=D(8), lead_time_days=D(9))
    assert choose_offer([cheap, dear_preferred, tie]) == dear_preferred  # preferred wins
    assert choose_offer([cheap, tie]) == tie  # lowest price, tie to the lowest supplier id
    assert choose_offer([cheap, dear_preferred], supplier_id=3) == cheap  # the policy's choice
    assert choose_offer([cheap], supplier_id=9) is None
    assert choose_offer([]) is None


def test_eoq_policy_end_to_end() -> None:
    # demand as in the first test: d = 2, sigma = 3.3466. Supplier lead time 9 days, price 10,
    # MOQ 100, pack 25. Policy: eoq, service level 0.95 (z = 1.6449), S = 50, holding 20%.
    # SS = 1.6449 * 3.3466 * sqrt(9) = 1.6449 * 10.0398 = 16.51446... -> 16.5145
    # ROP = d * L + SS = 2 * 9 + 16.5145 = 34.5145
    # position = 20 available + 10 incoming = 30 <= 34.5145 -> reorder
    # qty = max(EOQ 191.0497, 34.5145 - 30 = 4.5145) = 191.0497 -> 192 -> MOQ ok -> 8 x 25 = 200
    dm = demand_from_days({0: D(4), 2: D(6), 5: D(10)}, 10)
    pol = Policy(method="eoq", service_level=D("0.95"), order_cost=D(50), holding_rate=D("0.2"))
    offer = Offer(supplier_id=7, price=D(10), lead_time_days=D(9), moq=D(100), pack_size=D(25))
    p = plan(pol, dm, [offer])
    assert (p.safety_stock, p.reorder_point, p.lead_time_days) == (D("16.5145"), D("34.5145"), 9)
    assert p.supplier_id == 7 and p.lead_time_source == "supplier"
    s = suggest(pol, p, available=D(20), incoming=D(10))
    assert s is not None
    assert (s.eoq, s.raw_qty, s.qty) == (D("191.0497"), D("191.0497"), D(200))
    assert "reorder point 34.5145" in s.reason and "EOQ 191.0497" in s.reason
    assert "rounded up to 200" in s.reason
    # one unit more in position than the reorder point: no suggestion
    assert suggest(pol, p, available=D("24.5146"), incoming=D(10)) is None
    # exactly at the reorder point: reorder (the definition says <=)
    assert suggest(pol, p, available=D("24.5145"), incoming=D(10)) is not None


def test_eoq_gap_beats_eoq_and_given_safety_stock_and_lead_time() -> None:
    # d = 5 (flat 5 a day, sigma 0); policy lead time 4 overrides the supplier's 30;
    # SS given as 12. ROP = 5 * 4 + 12 = 32. Position 0 -> gap 32.
    # EOQ = sqrt(2 * 1825 * 1 / (0.5 * 100)) = sqrt(73) = 8.5440 < 32 -> order 32.
    dm = Demand(daily=D(5), sigma=D(0), total=D(50), window_days=10)
    pol = Policy(method="eoq", safety_stock=D(12), lead_time_days=D(4), order_cost=D(1),
                 holding_rate=D("0.5"))  # fmt: skip
    offer = Offer(supplier_id=1, price=D(100), lead_time_days=D(30))
    p = plan(pol, dm, [offer])
    assert (p.reorder_point, p.lead_time_source, p.z) == (D(32), "policy", None)
    s = suggest(pol, p, D(0), D(0))
    assert s is not None and s.eoq == D("8.5440") and s.qty == D(32)


def test_minmax_policy() -> None:
    # min 10, max 50, pack 12: position 10 (at min) -> 50 - 10 = 40 -> 4 packs = 48
    pol = Policy(method="minmax", min_qty=D(10), max_qty=D(50))
    dm = Demand(daily=D(0), sigma=D(0), total=D(0), window_days=90)
    p = plan(pol, dm, [Offer(supplier_id=1, price=D(1), lead_time_days=D(3), pack_size=D(12))])
    assert p.reorder_point == D(10)
    s = suggest(pol, p, D(6), D(4))
    assert s is not None and (s.raw_qty, s.qty) == (D(40), D(48))
    assert "minimum 10" in s.reason and "50 − 10 = 40" in s.reason
    assert suggest(pol, p, D(11), D(0)) is None


def test_no_supplier_and_no_lead_time() -> None:
    # no supplier: L = 0, so ROP = SS = z * sigma * 0 = 0; position -2 (backorders) -> gap 2
    pol = Policy(method="eoq", order_cost=D(10), holding_rate=D("0.1"))
    dm = Demand(daily=D(1), sigma=D(2), total=D(90), window_days=90)
    p = plan(pol, dm, [])
    assert (p.reorder_point, p.lead_time_source, p.supplier_id) == (D(0), "none", None)
    s = suggest(pol, p, D(-2), D(0))
    assert s is not None and s.qty == D(2)
    assert "no supplier" in s.reason


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (Policy(method="bulk"), "method"),
        (Policy(method="minmax", min_qty=D(5)), "max"),
        (Policy(method="minmax", min_qty=D(5), max_qty=D(4)), "max"),
        (Policy(method="minmax", min_qty=D(-1), max_qty=D(4)), "min"),
        (Policy(method="eoq", holding_rate=D("0.2")), "order_cost"),
        (Policy(method="eoq", order_cost=D(1)), "holding_rate"),
        (Policy(method="eoq", order_cost=D(1), holding_rate=D(0)), "holding_rate"),
        (Policy(method="eoq", order_cost=D(1), holding_rate=D("1.5")), "holding_rate"),
        (
            Policy(method="eoq", order_cost=D(1), holding_rate=D("0.2"), service_level=D("0.3")),
            "service_level",
        ),  # fmt: skip
        (
            Policy(method="eoq", order_cost=D(1), holding_rate=D("0.2"), demand_window_days=0),
            "demand_window_days",
        ),  # fmt: skip
    ],
)
def test_validation_names_the_field(policy: Policy, field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        validate_policy(policy)
    assert exc.value.details["field"] == field


def test_demand_from_sums_matches_demand_from_days() -> None:
    # the same 10-day window as above: total 20, sum of squares 16 + 36 + 100 = 152
    from hoop.domain.replenishment import demand_from_sums

    by_days = demand_from_days({0: D(4), 2: D(6), 5: D(10)}, 10)
    assert demand_from_sums(D(20), D(152), 10) == by_days
    assert demand_from_sums(D(0), D(0), 90) == demand_from_days({}, 90)
