"""The purchase-order state machine and quantities, pure (issue #5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hoop.domain import purchasing as po
from hoop.domain.errors import Conflict, ValidationFailed
from hoop.domain.purchasing import POStatus as S

D = Decimal


@pytest.mark.parametrize(
    ("action", "current", "after"),
    [
        ("send", "draft", S.sent),
        ("cancel", "draft", S.cancelled),
        ("cancel", "sent", S.cancelled),
        ("close", "partially_received", S.received),
    ],
)
def test_allowed_transitions(action: str, current: str, after: S) -> None:
    assert po.transition(action, current) == after


@pytest.mark.parametrize(
    ("action", "current"),
    [
        ("send", "sent"), ("send", "partially_received"), ("send", "received"),
        ("send", "cancelled"), ("cancel", "partially_received"), ("cancel", "received"),
        ("cancel", "cancelled"), ("close", "draft"), ("close", "sent"), ("close", "received"),
        ("close", "cancelled"),
    ],
)  # fmt: skip
def test_refused_transitions_are_invalid_state(action: str, current: str) -> None:
    with pytest.raises(Conflict) as exc:
        po.transition(action, current)
    assert exc.value.code == "invalid_state"
    assert exc.value.details["status"] == current


def test_partly_received_cancel_says_close_it_short() -> None:
    with pytest.raises(Conflict, match="close it short"):
        po.transition("cancel", "partially_received")
    # a sent order whose receipt counted but whose status lags is still refused
    with pytest.raises(Conflict, match="received"):
        po.transition("cancel", "sent", received=D("0.5"))


def test_receiving_statuses() -> None:
    for ok in ("sent", "partially_received"):
        po.check_receiving(ok)
    for bad in ("draft", "received", "cancelled"):
        with pytest.raises(Conflict):
            po.check_receiving(bad)


def test_open_qty() -> None:
    assert po.open_qty(D(10), D(4)) == D(6)
    assert po.open_qty(D(10), D(10)) == 0
    assert po.open_qty(D(10), D(12)) == 0  # never below zero
    assert po.open_qty(D(10), D(4), is_open=False) == 0  # closed short


def test_status_after_receipts() -> None:
    f = po.status_after_receipts
    assert f("sent", [(D(10), D(0))]) == S.sent
    assert f("sent", [(D(10), D(3))]) == S.partially_received
    assert f("partially_received", [(D(10), D(10)), (D(2), D(1))]) == S.partially_received
    assert f("partially_received", [(D(10), D(10)), (D(2), D(2))]) == S.received
    # a cancelled receipt moves it back
    assert f("received", [(D(10), D(4))]) == S.partially_received
    assert f("partially_received", [(D(10), D(0))]) == S.sent
    # closed short stays received whatever is given back
    assert f("received", [(D(10), D(0))], closed_short=True) == S.received
    # draft and cancelled orders do not move
    assert f("draft", [(D(1), D(1))]) == S.draft
    assert f("cancelled", [(D(1), D(1))]) == S.cancelled


def test_over_receipts_name_every_line() -> None:
    wanted = {2: D(5), 1: D(3), 3: D(1)}
    open_ = {1: D(3), 2: D(4)}
    problems = po.over_receipts(wanted, open_)
    assert problems == [
        {"purchase_order_line_id": 2, "qty": D(5), "open_qty": D(4)},
        {"purchase_order_line_id": 3, "qty": D(1), "open_qty": D(0)},
    ]
    with pytest.raises(Conflict) as exc:
        po.raise_over_receipt(problems)
    assert exc.value.code == "over_receipt"
    assert [p["open_qty"] for p in exc.value.details["lines"]] == ["4", "0"]
    po.raise_over_receipt(po.over_receipts({1: D(3)}, open_))  # exactly open: fine


def test_arrival_window() -> None:
    t = datetime(2026, 11, 25, tzinfo=UTC)
    po.check_window(t, t)
    po.check_window(None, t)
    po.check_window(t, None)
    with pytest.raises(ValidationFailed):
        po.check_window(t + timedelta(seconds=1), t)
