"""The pure allocation rules of placing an order (domain/orders.py), worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hoop.domain.errors import ValidationFailed
from hoop.domain.fields import text
from hoop.domain.orders import Slot, allocate_lines, confirms_at_once

HOME, A, B = 10, 20, 30


def test_lines_take_the_default_location_first_then_the_fullest() -> None:
    slots = {1: [Slot(A, "", D(3)), Slot(B, "", D(6)), Slot(HOME, "", D(2))]}
    # 10 of variant 1: home 2, then b (6, the fullest), then 2 of a's 3
    assert allocate_lines([(1, D(10))], slots, HOME) == {
        (1, HOME, ""): D(2), (1, B, ""): D(6), (1, A, ""): D(2),
    }  # fmt: skip


def test_lines_of_one_variant_take_from_what_the_earlier_left() -> None:
    slots = {1: [Slot(A, "", D(4)), Slot(B, "", D(3))], 2: [Slot(A, "L1", D(1))]}
    # first 3 of variant 1 from a (4, fullest) -> a has 1 left; then 2 more: b (3) is now the
    # fullest, so b gives 2; variant 2 takes its 1 at a/L1: held a 3, b 2, (2, a, L1) 1
    got = allocate_lines([(1, D(3)), (2, D(1)), (1, D(2))], slots, None)
    assert got == {(1, A, ""): D(3), (1, B, ""): D(2), (2, A, "L1"): D(1)}


def test_short_lines_hold_what_there_is_and_no_stock_holds_nothing() -> None:
    slots = {1: [Slot(A, "", D(2))], 2: [Slot(A, "", D(0))]}
    assert allocate_lines([(1, D(5)), (2, D(1)), (3, D(1))], slots, None) == {(1, A, ""): D(2)}
    # confirmed at once only when every variant has stock and enough of it (lines add up)
    assert confirms_at_once([(1, D(1)), (1, D(1))], {1: D(2)})
    assert not confirms_at_once([(1, D(2)), (1, D(1))], {1: D(2)})
    assert not confirms_at_once([(1, D(1)), (2, D(1))], {1: D(2), 2: D(0)})


def test_text_fields() -> None:
    assert text("  Asha ", "name", 10) == "Asha"
    assert text(None, "name", 10, required=False) is None
    for bad in (None, "", "   ", 7, "x" * 11):
        with pytest.raises(ValidationFailed):
            text(bad, "name", 10)
