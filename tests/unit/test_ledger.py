from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoop.domain.errors import ValidationFailed
from hoop.domain.ledger import (
    Line,
    Move,
    Route,
    balance_deltas,
    moves_for,
    reverse,
    shortages,
    stepwise_shortages,
    validate_line,
)

SUP, CUST, ADJ, A, B = 1, 2, 3, 10, 11
INTERNAL = {A, B}


def test_receipt_moves_and_deltas():
    ms = moves_for([Line(7, D("5"), D("2"))], Route(SUP, A))
    assert ms == [Move(7, SUP, A, D("5"), "", None, D("2"), 0)]
    assert balance_deltas(ms, INTERNAL) == {(7, A, ""): D("5")}


def test_transfer_moves_out_and_in():
    ms = moves_for([Line(7, D("3"))], Route(A, B))
    assert balance_deltas(ms, INTERNAL) == {(7, A, ""): D("-3"), (7, B, ""): D("3")}


def test_adjustment_sign_picks_direction():
    route = Route(0, 0, A, ADJ)
    ms = moves_for([Line(7, D("2")), Line(8, D("-4"))], route)
    assert (ms[0].from_location_id, ms[0].to_location_id, ms[0].qty) == (ADJ, A, D("2"))
    assert (ms[1].from_location_id, ms[1].to_location_id, ms[1].qty) == (A, ADJ, D("4"))


def test_serial_lines_become_one_move_each():
    ms = moves_for([Line(7, D("2"), serials=("S1", "S2"))], Route(SUP, A))
    assert [m.serial for m in ms] == ["S1", "S2"] and all(m.qty == 1 for m in ms)


def test_deltas_are_sorted_so_every_writer_locks_in_one_order():
    ms = moves_for([Line(9, D("1")), Line(3, D("1")), Line(5, D("1"))], Route(A, B))
    keys = list(balance_deltas(ms, INTERNAL))
    assert keys == sorted(keys)


def test_lines_that_cancel_out_touch_nothing():
    ms = moves_for([Line(7, D("1"))], Route(A, B)) + moves_for([Line(7, D("1"))], Route(B, A))
    assert balance_deltas(ms, INTERNAL) == {}


def test_shortages_flag_negative_and_over_reserved():
    rows = [(1, A, "", D("-2"), D("0")), (2, A, "", D("3"), D("5")), (3, A, "", D("1"), D("1"))]
    s = shortages(rows)
    assert [(x.variant_id, x.missing) for x in s] == [(1, D("2")), (2, D("2"))]


@pytest.mark.parametrize(
    "line,doc_type,tracking",
    [
        (Line(1, D("0")), "receipt", "none"),
        (Line(1, D("-1")), "shipment", "none"),
        (Line(1, D("0")), "adjustment", "none"),
        (Line(1, D("1")), "receipt", "lot"),  # lot missing
        (Line(1, D("2"), serials=("A",)), "receipt", "serial"),  # count mismatch
        (Line(1, D("1.5"), serials=("A", "B")), "receipt", "serial"),
        (Line(1, D("2"), serials=("A", "A")), "receipt", "serial"),
        (Line(1, D("1"), serials=("A",)), "receipt", "none"),
        (Line(1, D("1"), D("-1")), "receipt", "none"),
    ],
)
def test_invalid_lines(line, doc_type, tracking):
    with pytest.raises(ValidationFailed):
        validate_line(line, doc_type, tracking, 0)


qty = st.decimals(min_value=D("0.0001"), max_value=D("1000"), places=4)


@given(
    st.lists(st.tuples(st.integers(1, 4), st.sampled_from([A, B]), qty), min_size=1, max_size=30)
)
def test_reversal_nets_every_balance_to_zero(specs):
    ms = [Move(v, SUP if i % 2 else B, loc, q) for i, (v, loc, q) in enumerate(specs)]
    net = balance_deltas(ms + reverse(enumerate(ms, 1)), INTERNAL)
    assert net == {}


@given(st.lists(st.tuples(st.integers(1, 4), qty), min_size=1, max_size=30))
def test_deltas_conserve_quantity_in_internal_transfers(specs):
    ms = [Move(v, A, B, q) for v, q in specs]
    assert sum(balance_deltas(ms, INTERNAL).values(), D(0)) == 0


def test_a_batch_cannot_ship_before_it_receives():
    # start: 0 at A. Step 1 ships 5 (-5), step 2 receives 5 (+5): final 0, yet step 1 was short.
    key = (7, A, "")
    final = [(7, A, "", D(0), D(0))]
    s = stepwise_shortages(final, [{key: D(-5)}, {key: D(5)}])
    assert [(x.variant_id, x.missing) for x in s] == [(7, D(5))]
    # receive first, then ship: fine
    assert stepwise_shortages(final, [{key: D(5)}, {key: D(-5)}]) == []


def test_stepwise_sees_keys_that_net_to_zero():
    # A->B 3 then B->A 3 in one batch, A starts at 2: the first step is short at A by 1
    a, b = (7, A, ""), (7, B, "")
    final = [(7, A, "", D(2), D(0)), (7, B, "", D(0), D(0))]
    s = stepwise_shortages(final, [{a: D(-3), b: D(3)}, {a: D(3), b: D(-3)}])
    assert [(x.location_id, x.missing) for x in s] == [(A, D(1))]
