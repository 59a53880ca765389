"""The ledger's rules: document lines become moves; moves become balance deltas; invariants.

Pure: no I/O. The posting adapter applies the deltas set-wise and hands the resulting balance
rows back to `shortages` to decide whether the posting stands.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hoop.domain.catalog import Tracking
from hoop.domain.documents import DocType
from hoop.domain.errors import ValidationFailed
from hoop.domain.quantities import ZERO

BalanceKey = tuple[int, int, str]  # (variant_id, location_id, lot)


@dataclass(frozen=True)
class Line:
    variant_id: int
    qty: Decimal  # signed for adjustments, positive otherwise
    unit_cost: Decimal | None = None
    lot: str = ""
    expiry: str | None = None
    serials: tuple[str, ...] = ()
    line_no: int = 0


@dataclass(frozen=True)
class Move:
    variant_id: int
    from_location_id: int
    to_location_id: int
    qty: Decimal
    lot: str = ""
    serial: str | None = None
    unit_cost: Decimal | None = None
    line_no: int = 0
    reverses: int | None = None  # the move this one undoes (a cancelled document's)


@dataclass(frozen=True)
class Route:
    """Where a document's stock comes from and goes to (one leg)."""

    from_location_id: int
    to_location_id: int
    # For adjustments the sign of each line picks the direction.
    adjustment_location_id: int | None = None
    adjustment_virtual_id: int | None = None


@dataclass
class Shortage:
    variant_id: int
    location_id: int
    lot: str
    on_hand: Decimal
    reserved: Decimal
    missing: Decimal = field(default=ZERO)


def validate_line(line: Line, doc_type: str, tracking: str, idx: int) -> None:
    where = {"line": idx}
    if doc_type == DocType.adjustment:
        if line.qty == 0:
            raise ValidationFailed("adjustment qty must not be zero", where)
    elif line.qty <= 0:
        raise ValidationFailed("qty must be greater than zero", where)
    if line.unit_cost is not None and line.unit_cost < 0:
        raise ValidationFailed("unit_cost must not be negative", where)
    if tracking == Tracking.lot and not line.lot:
        raise ValidationFailed(
            "this product is lot-tracked: the line needs a lot", where, code="lot_required"
        )
    if tracking == Tracking.serial:
        if line.qty != line.qty.to_integral_value():
            raise ValidationFailed("serial-tracked quantities are whole units", where)
        if len(line.serials) != abs(line.qty):
            raise ValidationFailed(
                f"this product is serial-tracked: give exactly {abs(line.qty)} serials",
                where,
                code="serials_required",
            )
        if len(set(line.serials)) != len(line.serials):
            raise ValidationFailed("serials repeat within the line", where)
    elif line.serials:
        raise ValidationFailed("serials are only for serial-tracked products", where)


def moves_for(lines: Iterable[Line], route: Route) -> list[Move]:
    """Expand lines into moves along a route. Serial lines become one move per serial."""
    out: list[Move] = []
    for ln in lines:
        src, dst, qty = route.from_location_id, route.to_location_id, ln.qty
        if route.adjustment_location_id is not None:
            assert route.adjustment_virtual_id is not None
            if qty > 0:
                src, dst = route.adjustment_virtual_id, route.adjustment_location_id
            else:
                src, dst, qty = route.adjustment_location_id, route.adjustment_virtual_id, -qty
        if ln.serials:
            out.extend(
                Move(ln.variant_id, src, dst, Decimal(1), ln.lot, s, ln.unit_cost, ln.line_no)
                for s in ln.serials
            )
        else:
            out.append(Move(ln.variant_id, src, dst, qty, ln.lot, None, ln.unit_cost, ln.line_no))
    return out


def reverse(moves: Iterable[tuple[int, Move]]) -> list[Move]:
    """Moves undoing (move id, move) pairs: the other way round, each naming what it undoes."""
    return [
        Move(
            m.variant_id,
            m.to_location_id,
            m.from_location_id,
            m.qty,
            m.lot,
            m.serial,
            m.unit_cost,
            m.line_no,
            move_id,
        )
        for move_id, m in moves
    ]


def balance_deltas(
    moves: Iterable[Move], internal: Mapping[int, bool] | set[int]
) -> dict[BalanceKey, Decimal]:
    """Net on-hand change per balance key, internal locations only, in lock order (sorted)."""
    acc: dict[BalanceKey, Decimal] = defaultdict(Decimal)
    for m in moves:
        if m.from_location_id in internal:
            acc[(m.variant_id, m.from_location_id, m.lot)] -= m.qty
        if m.to_location_id in internal:
            acc[(m.variant_id, m.to_location_id, m.lot)] += m.qty
    return {k: acc[k] for k in sorted(acc) if acc[k] != 0}


def shortages(rows: Iterable[tuple[int, int, str, Decimal, Decimal]]) -> list[Shortage]:
    """Balance rows after applying deltas that break the invariants: on_hand < 0 or
    reserved > on_hand."""
    out = []
    for variant_id, location_id, lot, on_hand, reserved in rows:
        if on_hand < 0 or reserved > on_hand:
            missing = max(-on_hand, reserved - on_hand)
            out.append(Shortage(variant_id, location_id, lot, on_hand, reserved, missing))
    return out


def check_effective_at(effective_at: datetime, now: datetime) -> None:
    if effective_at.tzinfo is None:
        raise ValidationFailed("effective_at needs a time zone", {"field": "effective_at"})
    if effective_at > now:
        raise ValidationFailed("effective_at cannot be in the future", {"field": "effective_at"})


def stepwise_shortages(
    final: list[tuple[int, int, str, Decimal, Decimal]], steps: list[dict[BalanceKey, Decimal]]
) -> list[Shortage]:
    """Shortages at any point of a sequence of postings applied together.

    `final` holds the balance rows after all `steps` (each a document's on-hand deltas, in
    posting order). Working back to the starting balances and replaying the steps finds a
    document that would go short before a later one in the same batch refills the stock."""
    if len(steps) > 1:
        rows = {(v, loc, lot): (on_hand, reserved) for v, loc, lot, on_hand, reserved in final}
        on_hand = {k: rows[k][0] for k in rows}
        for step in steps:
            for k, d in step.items():
                on_hand[k] -= d
        for step in steps:
            for k, d in step.items():
                on_hand[k] += d
            short = [(*k, on_hand[k], rows[k][1]) for k in step if on_hand[k] < 0]
            if short:
                return shortages(short)
    return shortages(final)
