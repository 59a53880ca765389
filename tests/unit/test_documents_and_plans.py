from decimal import Decimal as D

import pytest

from hoop.domain.documents import (
    check_command,
    check_not_self_approval,
    needs_approval,
    parse_approval_rules,
)
from hoop.domain.errors import Forbidden, InvalidState, PlanRequired, ValidationFailed
from hoop.domain.plans import authorize, plan_allows
from hoop.domain.quantities import fmt, parse_decimal, q4


def test_life_cycle_commands():
    check_command("submit", "draft")
    check_command("approve", "pending_approval")
    check_command("cancel", "done")
    for cmd, state in [
        ("submit", "done"),
        ("approve", "draft"),
        ("reject", "done"),
        ("cancel", "cancelled"),
        ("receive", "done"),
    ]:
        with pytest.raises(InvalidState):
            check_command(cmd, state)


def test_approval_by_largest_line_qty_or_total_value():
    rules = parse_approval_rules(
        [
            {"document_type": "adjustment", "min_qty": "50"},
            {"document_type": "shipment", "min_value": 1000},
        ]
    )
    # largest |qty| is |-60| = 60 >= 50
    assert needs_approval(rules, "adjustment", [D("10"), D("-60")], [])
    assert not needs_approval(rules, "adjustment", [D("49"), D("-49")], [])
    # total |value| = 400 + 600 = 1000 >= 1000
    assert needs_approval(rules, "shipment", [D(1)], [D("400"), D("600")])
    assert not needs_approval(rules, "shipment", [D(1)], [D("999.99")])
    assert not needs_approval(rules, "receipt", [D(10**6)], [D(10**9)])


def test_rule_without_thresholds_always_applies():
    rules = parse_approval_rules([{"document_type": "scrap"}])
    assert needs_approval(rules, "scrap", [D("0.0001")], [])


@pytest.mark.parametrize(
    "raw",
    [
        [{"document_type": "nope"}],
        [{"document_type": "scrap", "min_qty": "-1"}],
        [{"document_type": "scrap", "extra": 1}],
        ["x"],
    ],
)
def test_bad_rules(raw):
    with pytest.raises(ValidationFailed):
        parse_approval_rules(raw)


def test_no_self_approval():
    with pytest.raises(Forbidden):
        check_not_self_approval(5, 5)
    check_not_self_approval(5, 6)


def test_plans_gate_with_402_and_roles_with_403():
    assert plan_allows("core", "anything.unlisted")
    assert not plan_allows("core", "costing.fifo_lifo")
    assert plan_allows("enterprise", "costing.fifo_lifo")
    with pytest.raises(PlanRequired) as e:
        authorize(["owner"], "core", "catalog.write", "costing.fifo_lifo")
    assert e.value.details["plan_needed"] == "pro"
    with pytest.raises(Forbidden):
        authorize(["clerk"], "enterprise", "documents.approve")
    authorize(["approver"], "core", "documents.approve")


@pytest.mark.parametrize(
    "raw,ok",
    [
        ("12.5", D("12.5")),
        (3, D(3)),
        (0.25, D("0.25")),
        ("1.23456", None),
        ("NaN", None),
        ("Infinity", None),
        ("abc", None),
        (True, None),
        (None, None),
        ("1e20", None),
    ],
)
def test_parse_decimal(raw, ok):
    if ok is None:
        with pytest.raises(ValidationFailed):
            parse_decimal(raw)
    else:
        assert parse_decimal(raw) == ok


def test_half_even_rounding_and_format():
    assert q4(D("0.00005")) == D("0.0000")  # half to even: 0 is even
    assert q4(D("0.00015")) == D("0.0002")
    assert fmt(D("12.5000")) == "12.5" and fmt(D("100")) == "100" and fmt(D("-0")) == "0"


def test_report_and_period_dates_at_the_edges_of_the_calendar_are_refused_not_crashed():
    import pytest

    from hoop.domain.dates import parse_instant
    from hoop.domain.errors import ValidationFailed

    for text, end in (("9999-12-31", True), ("9999-12-31T23:59:59.999999+00:00", True),
                      ("0001-01-01T00:00:00+05:00", False), ("2025-13-01", True),
                      ("2025-03-01T10:00:00", True)):  # fmt: skip
        with pytest.raises(ValidationFailed):
            parse_instant(text, "as_of", end_of_day=end)
    assert parse_instant("2025-03-01", "to", end_of_day=True).isoformat() == (
        "2025-03-02T00:00:00+00:00"  # a date closes through its end
    )
