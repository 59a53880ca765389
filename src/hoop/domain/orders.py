"""Marketplace orders under flexible stock management: the life of an order, whether it is
confirmed at once, and where its stock is reserved.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from hoop.domain.errors import Conflict
from hoop.domain.quantities import ZERO


class OrderStatus(StrEnum):
    pending_seller = "pending_seller"  # an order request: the seller accepts or declines
    awaiting_payment = "awaiting_payment"
    confirmed = "confirmed"
    declined = "declined"
    expired = "expired"  # the seller did not answer in time
    cancelled = "cancelled"
    picked_up = "picked_up"
    delivered = "delivered"


S = OrderStatus
# action -> {from: to}. "expire" and "lapse" are the scheduler's (deadlines).
TRANSITIONS: dict[str, dict[OrderStatus, OrderStatus]] = {
    "accept": {S.pending_seller: S.awaiting_payment},
    "decline": {S.pending_seller: S.declined},
    "pay": {S.awaiting_payment: S.confirmed},
    "cancel": {
        S.pending_seller: S.cancelled,
        S.awaiting_payment: S.cancelled,
        S.confirmed: S.cancelled,
    },  # fmt: skip
    "expire": {S.pending_seller: S.expired},
    "lapse": {S.awaiting_payment: S.cancelled},
    "picked_up": {S.confirmed: S.picked_up},
    "delivered": {S.picked_up: S.delivered},
}


def transition(action: str, current: str) -> OrderStatus:
    """The status `action` leads to from `current`, or 409 invalid_state."""
    to = TRANSITIONS[action].get(OrderStatus(current))
    if to is None:
        allowed = sorted(s.value for s in TRANSITIONS[action])
        raise Conflict(
            f"cannot {action.replace('_', ' ')} an order that is {current}",
            {"status": current, "action": action, "allowed_from": allowed},
            code="invalid_state",
        )
    return to


@dataclass(frozen=True)
class Slot:
    """Stock a line may be reserved from: a sellable location (and lot) with its available."""

    location_id: int
    lot: str
    available: Decimal


def allocate(
    qty: Decimal, slots: Iterable[Slot], default_location: int | None
) -> tuple[list[tuple[int, str, Decimal]], Decimal]:
    """Reserve `qty` across slots: the org's default shipping location first, then the slots
    with the most available (ties: lower location id, then lot). Returns the reservations
    (location, lot, qty) and what could not be reserved."""
    order = sorted(
        (s for s in slots if s.available > 0),
        key=lambda s: (s.location_id != default_location, -s.available, s.location_id, s.lot),
    )
    out = []
    need = qty
    for s in order:
        if need <= 0:
            break
        take = min(need, s.available)
        out.append((s.location_id, s.lot, take))
        need -= take
    return out, max(need, ZERO)


def allocate_lines(
    lines: Sequence[tuple[int, Decimal]],
    slots: dict[int, list[Slot]],
    default_location: int | None,
) -> dict[tuple[int, int, str], Decimal]:
    """Reserve each (variant, qty) line across its variant's slots (`allocate`), lines of the
    same variant taking from what the earlier ones left. Returns what to hold per (variant,
    location, lot); a line with too little stock holds what there is."""
    left = {v: list(ss) for v, ss in slots.items()}
    held: dict[tuple[int, int, str], Decimal] = {}
    for variant_id, qty in lines:
        got, _ = allocate(qty, left.get(variant_id, []), default_location)
        taken = {(loc, lot): q for loc, lot, q in got}
        for loc, lot, q in got:
            key = (variant_id, loc, lot)
            held[key] = held.get(key, ZERO) + q
        left[variant_id] = [
            Slot(s.location_id, s.lot, s.available - taken.get((s.location_id, s.lot), ZERO))
            for s in left.get(variant_id, [])
        ]
    return held


def confirms_at_once(lines: Sequence[tuple[int, Decimal]], available: dict[int, Decimal]) -> bool:
    """Active stock mode for every line (available > 0) and every quantity within what is
    available (lines of the same variant add up)."""
    wanted: dict[int, Decimal] = {}
    for variant_id, qty in lines:
        wanted[variant_id] = wanted.get(variant_id, ZERO) + qty
    return all(
        available.get(v, ZERO) > 0 and q <= available.get(v, ZERO) for v, q in wanted.items()
    )
