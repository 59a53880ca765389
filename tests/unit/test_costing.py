"""Costing core. Expected numbers are worked by hand from the definitions, in the comments."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoop.domain.costing import (
    Book,
    CostEvent,
    CostingOutOfOrder,
    CostLayersExhausted,
    Method,
    MethodNotTracked,
    recompute,
    run,
)
from hoop.domain.errors import HoopError, ValidationFailed
from hoop.domain.quantities import from_scaled, q4, to_scaled

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def k(t: int, seq: int | None = None) -> tuple[datetime, int]:
    """Key at minute t; the move id defaults to t."""
    return (T0 + timedelta(minutes=t), t if seq is None else seq)


def rcv(t: int, qty: str, unit_cost: str | None, mirror: int | None = None) -> CostEvent:
    return CostEvent.of(k(t), D(qty), True, None if unit_cost is None else D(unit_cost), mirror)


def ship(t: int, qty: str, mirror: int | None = None) -> CostEvent:
    return CostEvent.of(k(t), D(qty), False, mirror=mirror)


class State:
    """A book seen through the method in force, in decimals."""

    def __init__(self, book: Book) -> None:
        self.book = book
        pool = book.pools[book.method]
        self.qty, self.value = from_scaled(pool.qty), from_scaled(pool.value)
        self.layers = tuple((la[0], from_scaled(la[3]), from_scaled(la[4])) for la in pool.layers)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and self.book.dump() == other.book.dump()


def cost(events, method, start: State | None = None):
    book = start.book.copy() if start else Book(method)
    moves = run(sorted(events, key=lambda e: e.key), book)
    return moves, State(book)


def cost_steps(events, method):
    book, moves, states = Book(method), [], []
    for ev in sorted(events, key=lambda e: e.key):
        moves.append(book.apply(ev, remember=True))
        states.append(State(book.copy()))
    return moves, states


def recost_from(history, checkpoints, inserted, method):
    """Re-cost from the latest checkpoint before `inserted`: only what comes after it."""
    before = [c for c in checkpoints if c.book.last_key < inserted.key]
    start = max(before, key=lambda c: c.book.last_key, default=None)
    after = [e for e in history if start is None or start.book.last_key < e.key]
    return cost([*after, inserted], method, start)


def values(moves) -> list[D]:
    return [from_scaled(abs(m.value)) for m in moves]


def outs(moves) -> list[D]:
    return [from_scaled(-m.value) for m in moves if not m.inbound]


def test_fifo_interleaved():
    # in 10 @ 2.00 (20.00), in 10 @ 3.00 (30.00)
    # ship 15: 10 x 2.00 + 5 x 3.00 = 35.00; ship 5: 5 x 3.00 = 15.00; nothing left
    moves, state = cost(
        [rcv(1, "10", "2"), rcv(2, "10", "3"), ship(3, "15"), ship(4, "5")], Method.fifo
    )
    assert values(moves) == [D("20"), D("30"), D("35"), D("15")]
    assert moves[2].unit_cost == D("2.3333")  # 35 / 15 = 2.33333.. for display
    assert state.layers == () and state.qty == 0 and state.value == 0


def test_fifo_backdated_receipt_changes_later_cogs():
    history = [rcv(1, "4", "3"), ship(2, "2"), rcv(4, "10", "5"), ship(5, "6"), ship(6, "4")]
    moves, states = cost_steps(history, Method.fifo)
    # t2 ship 2: 2 x 3 = 6.00                      (layer t1 left: 2 @ 3)
    # t5 ship 6: 2 x 3 + 4 x 5 = 26.00             (layer t4 left: 6 @ 5)
    # t6 ship 4: 4 x 5 = 20.00                     (left: 2 @ 5 = 10.00)
    assert outs(moves) == [D("6"), D("26"), D("20")]
    assert states[-1].value == D("10")

    # Backdate a cheaper receipt at t3: 5 @ 1.00. Layers before t5: 2 @ 3, 5 @ 1, 10 @ 5.
    # t2 ship 2 is before it: still 6.00
    # t5 ship 6: 2 x 3 + 4 x 1 = 10.00             (left: 1 @ 1, 10 @ 5)
    # t6 ship 4: 1 x 1 + 3 x 5 = 16.00             (left: 7 @ 5 = 35.00)
    # check: in 12 + 5 + 50 = 67 = out 6 + 10 + 16 (32) + 35
    inserted = rcv(3, "5", "1")
    re, state = recost_from(history, states, inserted, Method.fifo)
    assert [m.key for m in re] == [k(3), k(4), k(5), k(6)]  # only from t3 forward
    assert outs(re) == [D("10"), D("16")]
    assert state.value == D("35") and state.qty == D("7")
    full, full_state = cost([*history, inserted], Method.fifo)
    assert full[: len(full) - len(re)] == moves[:2] and full[-len(re) :] == re
    assert full_state == state


def test_backdated_shipment_under_average():
    history = [rcv(1, "10", "2"), rcv(3, "10", "4"), ship(4, "5")]
    moves, states = cost_steps(history, Method.average)
    # pool after t3: 20 units for 20 + 40 = 60.00, average 3.00; ship 5: 15.00
    assert outs(moves) == [D("15")]
    # Backdate a shipment of 8 at t2: 8 x 2.00 = 16.00, pool left 2 for 4.00.
    # t3 in 10 @ 4.00: pool 12 for 44.00, average 44/12 = 3.6666..
    # t4 ship 5: 5 x 44/12 = 18.3333.. -> 18.3333; pool left 7 for 44 - 18.3333 = 25.6667
    inserted = ship(2, "8")
    re, state = recost_from(history, states, inserted, Method.average)
    assert [m.key for m in re] == [k(2), k(3), k(4)]
    assert outs(re) == [D("16"), D("18.3333")]
    assert (state.qty, state.value) == (D("7"), D("25.6667"))
    assert cost([*history, inserted], Method.average) == (moves[:1] + re, state)


def test_backdated_shipment_under_fifo():
    history = [rcv(1, "10", "2"), rcv(3, "10", "3"), ship(4, "5")]
    moves, states = cost_steps(history, Method.fifo)
    assert outs(moves) == [D("10")]  # 5 x 2.00
    # Backdated ship 8 at t2: 8 x 2 = 16.00, layer t1 left 2 @ 2.
    # t4 ship 5: 2 x 2 + 3 x 3 = 13.00; left 7 @ 3 = 21.00 (in 50 = 16 + 13 + 21)
    re, state = recost_from(history, states, ship(2, "8"), Method.fifo)
    assert outs(re) == [D("16"), D("13")]
    assert state.value == D("21")


def test_lifo_perpetual_receipt_between_shipments():
    # t1 in 10 @ 2.00; t2 ship 4: newest (only) layer -> 4 x 2 = 8.00, left 6 @ 2
    # t3 in 10 @ 3.00; t4 ship 8: newest at t4 is t3's -> 8 x 3 = 24.00
    # left: 6 @ 2 + 2 @ 3 = 18.00 (in 50 = 8 + 24 + 18). A periodic LIFO would differ.
    evs = [rcv(1, "10", "2"), ship(2, "4"), rcv(3, "10", "3"), ship(4, "8")]
    moves, state = cost(evs, Method.lifo)
    assert outs(moves) == [D("8"), D("24")]
    assert list(state.layers) == [
        (k(1), D("6"), D("12")),
        (k(3), D("2"), D("6")),
    ]
    # ship 7 more: newest first -> 2 x 3 + 5 x 2 = 16.00, left 1 @ 2
    moves, state = cost([ship(5, "7")], Method.lifo, start=state)
    assert outs(moves) == [D("16")] and state.value == D("2")


def test_moving_average_with_zero_stock_restart():
    evs = [
        rcv(1, "10", "2"),  # pool 10 for 20.00
        rcv(2, "10", "4"),  # pool 20 for 60.00, average 3.00
        ship(3, "15"),  # 15 x 3 = 45.00, pool 5 for 15.00
        ship(4, "5"),  # last of the stock: takes what remains, 15.00; pool empty
        rcv(5, "5", "7"),  # restart: average 7.00, not a blend with the old 3.00
        ship(6, "2"),  # 2 x 7 = 14.00, pool 3 for 21.00
    ]
    moves, state = cost(evs, Method.average)
    assert outs(moves) == [D("45"), D("15"), D("14")]
    assert (state.qty, state.value) == (D("3"), D("21"))
    assert len(state.layers) == 1


def test_rounding_residue_under_average():
    # in 1 @ 4.00 + 2 @ 3.00: pool 3 for 10.00, average 3.3333..
    # ship 1: 3.3333; ship 1: 3.3333; ship the last 1: 10 - 6.6666 = 3.3334; sum 10.00 exactly
    evs = [rcv(1, "1", "4"), rcv(2, "2", "3"), ship(3, "1"), ship(4, "1"), ship(5, "1")]
    moves, state = cost(evs, Method.average)
    assert outs(moves) == [D("3.3333"), D("3.3333"), D("3.3334")]
    assert sum(outs(moves)) == D("10") and state.layers == ()


def test_rounding_residue_fifo_layer_split():
    # in 0.3 @ 33.3333 = 9.99999 -> 10.0000; unit cost of the layer 10 / 0.3 = 33.3333..
    # ship 0.1: 3.3333; ship 0.1: 3.3333; ship the last 0.1: 10 - 6.6666 = 3.3334
    evs = [rcv(1, "0.3", "33.3333"), ship(2, "0.1"), ship(3, "0.1"), ship(4, "0.1")]
    moves, state = cost(evs, Method.fifo)
    assert moves[0].amount == D("10")
    assert outs(moves) == [D("3.3333"), D("3.3333"), D("3.3334")]
    assert state.layers == ()


def test_positive_adjustment_without_cost_takes_current_average():
    # FIFO: layers 10 @ 2 (20.00), 10 @ 4 (40.00): on hand 20 for 60.00, average 3.00
    # adjust +5 without cost: 5 x 3 = 15.00, a new layer; ship 25: 20 + 40 + 15 = 75.00
    evs = [rcv(1, "10", "2"), rcv(2, "10", "4"), rcv(3, "5", None), ship(4, "25")]
    moves, state = cost(evs, Method.fifo)
    assert values(moves) == [D("20"), D("40"), D("15"), D("75")]
    assert moves[2].unit_cost == D("3")
    # average: pool 3 for 10.00 (see above); adjust +1: 10/3 = 3.3333; pool 4 for 13.3333
    moves, state = cost([rcv(1, "1", "4"), rcv(2, "2", "3"), rcv(3, "1", None)], Method.average)
    assert moves[2].amount == D("3.3333") and state.value == D("13.3333")
    # no stock at all: the adjustment is valued 0
    moves, state = cost([rcv(1, "2", None)], Method.lifo)
    assert moves[0].value == 0 and state.qty == D(2)


def test_outbound_beyond_layers_raises():
    with pytest.raises(CostLayersExhausted) as exc:
        cost([rcv(1, "2", "1"), ship(2, "3")], Method.fifo)
    assert isinstance(exc.value, HoopError)
    assert exc.value.code == "insufficient_stock_at_effective_time"
    assert exc.value.details["short_by"] == D("1")


def test_bad_events_rejected():
    with pytest.raises(CostingOutOfOrder):
        cost([rcv(1, "1", "1"), CostEvent.of(k(1), D("1"), False)], Method.fifo)
    _, state = cost([rcv(5, "1", "1")], Method.fifo)
    with pytest.raises(CostingOutOfOrder):
        cost([ship(4, "1")], Method.fifo, start=state)
    for bad in (
        lambda: CostEvent.of(k(1), D("0"), True, D("1")),
        lambda: CostEvent.of(k(1), D("0.00001"), True, D("1")),
        lambda: CostEvent.of(k(1), D("1"), True, D("-1")),
        lambda: CostEvent.of(k(1), D("1"), False, D("1")),
    ):
        with pytest.raises(ValidationFailed):
            bad()


def test_reversal_of_a_receipt_takes_back_its_own_layer():
    # FIFO: t1 in 10 @ 2, t2 in 10 @ 5; cancelling t2 (reversal of move 2) takes back
    # 10 @ 5 = 50.00, not the oldest layer's 20.00; left 10 @ 2 = 20.00
    moves, state = cost([rcv(1, "10", "2"), rcv(2, "10", "5"), ship(3, "10", mirror=2)], "fifo")
    assert outs(moves) == [D("50")] and state.value == D("20")
    # average: pool 20 for 70.00; the reversal takes back exactly the 50.00 it brought: the
    # pool is 10 for 20.00 again, as if the receipt had never been
    moves, state = cost([rcv(1, "10", "2"), rcv(2, "10", "5"), ship(3, "10", mirror=2)], "average")
    assert outs(moves) == [D("50")] and (state.qty, state.value) == (D("10"), D("20"))


def test_reversal_of_a_shipment_returns_at_its_cost():
    # FIFO: in 10 @ 2, in 10 @ 4; ship 15 = 10 x 2 + 5 x 4 = 40.00; cancel it: back 15 for
    # exactly 40.00 (a layer at 40/15 = 2.6667), pool 20 for 20 + 40 = 60.00 as before
    evs = [rcv(1, "10", "2"), rcv(2, "10", "4"), ship(3, "15"), rcv(4, "15", None, mirror=3)]
    moves, state = cost(evs, "fifo")
    assert values(moves)[2:] == [D("40"), D("40")]
    assert (state.qty, state.value) == (D("20"), D("60"))


def test_method_change_revalues_to_the_new_method():
    # FIFO: in 10 @ 1 (10.00), in 10 @ 3 (30.00), ship 10 -> 10.00; left 10 @ 3 = 30.00.
    # Average over the same history: pool 20 for 40.00 (avg 2); ship 10 -> 20.00; left 20.00.
    # Switch to average at t4: the stock is worth 20.00 now: revaluation 20 - 30 = -10.00.
    # Then ship 5 at t5 under average: 5 x 2 = 10.00; left 5 for 10.00.
    evs = [
        rcv(1, "10", "1"),
        rcv(2, "10", "3"),
        ship(3, "10"),
        CostEvent.change(k(4, 0), "average"),
        ship(5, "5"),
    ]
    moves, book = recompute(evs, "fifo")
    assert [from_scaled(m.value) for m in moves] == [
        D("10"), D("30"), D("-10"), D("-10"), D("-10")
    ]  # fmt: skip
    assert moves[3].qty == 0 and moves[3].value_after == to_scaled(D("20"))
    assert (book.method, from_scaled(book.value)) == (Method.average, D("10"))
    # a book that never tracked average cannot take the change: replay from the start
    b = Book("fifo")
    run(evs[:3], b)
    with pytest.raises(MethodNotTracked):
        b.apply(evs[3])


def test_book_round_trips_through_json():
    _, book = recompute([rcv(1, "3", "1.5"), rcv(2, "2", "2"), ship(3, "1")], "lifo")
    again = Book.load(book.dump())
    assert again.dump() == book.dump()
    # both cost the next event alike: lifo takes the newest layer, 1 x 2 = 2.00
    assert again.apply(ship(4, "1")) == book.apply(ship(4, "1"))


# --- property: incremental re-cost == full recompute; conservation; no negative layer ---

qtys = st.decimals(min_value=D("0.0001"), max_value=D("50"), places=4)
costs = st.decimals(min_value=D("0"), max_value=D("100"), places=4)


@st.composite
def scenario(draw):
    """A valid history (stock never negative) at even minutes, with reversals and method
    changes, and one backdated event at an odd minute that keeps the stock non-negative at
    every later point."""
    history, stock = [], []  # stock[i]: on hand after history[i]
    on_hand = D(0)
    ins, outs_ = [], []  # (move id, qty) of inbounds / outbounds, candidates to reverse
    for i in range(draw(st.integers(0, 14))):
        t = 2 * i + 2
        kind = draw(st.sampled_from(["in", "in", "adj", "out", "out", "rev", "method"]))
        if kind == "method":
            history.append(CostEvent.change(k(t, 0), draw(st.sampled_from(list(Method)))))
        elif kind == "rev" and outs_:
            mid, qty = draw(st.sampled_from(outs_))
            history.append(CostEvent.of(k(t), qty, True, None, mirror=mid))
            on_hand += qty
        elif kind == "rev" and ins and min(q for _, q in ins) <= on_hand:
            mid, qty = draw(st.sampled_from([x for x in ins if x[1] <= on_hand]))
            history.append(CostEvent.of(k(t), qty, False, mirror=mid))
            on_hand -= qty
        elif kind == "out" and on_hand > 0:
            qty = draw(st.sampled_from([on_hand, q4(on_hand / 3) or on_hand]) | qtys)
            qty = min(qty, on_hand)
            history.append(CostEvent.of(k(t), qty, False))
            outs_.append((t, qty))
            on_hand -= qty
        else:
            qty = draw(qtys)
            unit = None if kind == "adj" else draw(costs)
            history.append(CostEvent.of(k(t), qty, True, unit))
            ins.append((t, qty))
            on_hand += qty
        stock.append(on_hand)
    pos = draw(st.integers(0, len(history)))  # the inserted event goes before history[pos]
    room = min([*stock[pos:], stock[pos - 1] if pos else D(0)])
    t = 2 * pos + 1
    if room > 0 and draw(st.booleans()):
        inserted = CostEvent.of(k(t, 1000), min(draw(qtys), room), False)
    else:
        inserted = CostEvent.of(k(t, 1000), draw(qtys), True, draw(st.none() | costs))
    every = draw(st.integers(1, 4))  # keep every n-th state as a checkpoint
    initial = draw(st.sampled_from(list(Method)))
    return history, inserted, every, initial


@settings(max_examples=300, deadline=None)
@given(sc=scenario())
def test_property_recost_equals_recompute_conserves_and_stays_nonnegative(sc):
    history, inserted, every, initial = sc
    tracked = {initial, *(e.method for e in history if e.method)}
    # costed once, keeping checkpoints (a copy of the book after every n-th event)
    book, old_moves, checkpoints = Book(initial, tracked), [], []
    for i, ev in enumerate(history):
        old_moves.append(book.apply(ev, remember=True))
        if i % every == every - 1:
            checkpoints.append(book.copy())
    # re-cost after the backdated insert, from the last checkpoint before it; values of the
    # moves a replayed event reverses come from the first costing, as the database keeps them
    start = max(
        (c for c in checkpoints if c.last_key < inserted.key),
        key=lambda c: c.last_key,
        default=None,
    )
    re_book = start.copy() if start else Book(initial, tracked)
    after = sorted([e for e in history if e.key > (re_book.last_key or k(-1))] + [inserted],
                   key=lambda e: e.key)  # fmt: skip
    priors = {m.key[1]: (abs(m.qty), abs(m.value)) for m in old_moves if m.key < inserted.key}
    re = run(after, re_book, priors)

    full, full_book = recompute([*history, inserted], initial)
    # (a) incremental == from scratch, exactly; the moves before the insert keep their values
    assert re_book.dump() == full_book.dump(), (history, inserted, every, initial)
    head = len(full) - len(re)
    assert full[head:] == re and full[:head] == old_moves[:head]
    assert all(m.key < inserted.key for m in full[:head])
    # (b) conservation: in - out + revaluations == what remains, exactly; running totals agree
    assert sum(m.value for m in full) == full_book.value
    assert full[-1].value_after == full_book.value
    for pool in full_book.pools.values():
        # (c) no layer goes negative (emptied layers are dropped)
        for la in pool.layers:
            assert la[3] > 0 and la[4] >= 0
        assert pool.qty == full_book.qty
    assert all(m.qty_after >= 0 and m.value_after >= 0 for m in full)
    assert all(m.value >= 0 for m in full if m.qty > 0)
    assert all(m.value <= 0 for m in full if m.qty < 0)
