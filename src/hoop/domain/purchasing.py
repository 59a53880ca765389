"""Purchase orders, the pure part: their life, a line's open quantity, the status a receipt
leaves behind, over-receipt and an ASN's arrival window.

    draft --send--> sent --receipt--> partially_received --receipt--> received
      |               |                       |
      +---cancel------+ (nothing received)    +--close--> received (closed short)

A cancelled receipt gives its quantity back, so the status can move back down
(received -> partially_received -> sent), except for an order closed short, which stays closed.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hoop.domain.errors import Conflict, ValidationFailed
from hoop.domain.quantities import ZERO, fmt


class POStatus(StrEnum):
    draft = "draft"
    sent = "sent"
    partially_received = "partially_received"
    received = "received"
    cancelled = "cancelled"


S = POStatus
# Statuses whose open lines count as incoming stock (see hoop.adapters.db.incoming).
OPEN = frozenset({S.draft, S.sent, S.partially_received})
# Statuses that take receipts (and ASNs).
RECEIVING = frozenset({S.sent, S.partially_received})

# action -> {from: to}
TRANSITIONS: dict[str, dict[POStatus, POStatus]] = {
    "send": {S.draft: S.sent},
    "cancel": {S.draft: S.cancelled, S.sent: S.cancelled},
    "close": {S.partially_received: S.received},
}


def _refuse(action: str, current: str, allowed: Iterable[str], hint: str = "") -> Conflict:
    return Conflict(
        f"cannot {action} a purchase order that is {current}{hint}",
        {"status": current, "action": action, "allowed_from": sorted(allowed)},
        code="invalid_state",
    )


def transition(action: str, current: str, received: Decimal = ZERO) -> POStatus:
    """The status `action` leads to from `current`, or 409 invalid_state. A cancel is refused
    once anything was received (close the order short instead)."""
    to = TRANSITIONS[action].get(POStatus(current))
    if to is None:
        short = action == "cancel" and current == S.partially_received
        hint = " (close it short instead)" if short else ""
        raise _refuse(action, current, TRANSITIONS[action], hint)
    if action == "cancel" and received > 0:
        raise _refuse(action, current, TRANSITIONS[action], " with stock received against it")
    return to


def check_receiving(current: str) -> None:
    """Only sent or partly received orders take receipts and ASNs."""
    if POStatus(current) not in RECEIVING:
        raise _refuse("receive against", current, RECEIVING)


def open_qty(qty: Decimal, received: Decimal, is_open: bool = True) -> Decimal:
    """What a line still expects: ordered minus received, never below zero; nothing once
    the line is closed."""
    return max(qty - received, ZERO) if is_open else ZERO


def status_after_receipts(
    current: str, lines: Iterable[tuple[Decimal, Decimal]], closed_short: bool = False
) -> POStatus:
    """The status of a receiving order after its received quantities changed (a receipt posted
    or was cancelled). `lines` are (ordered, received)."""
    if POStatus(current) in (S.draft, S.cancelled):
        return POStatus(current)
    if closed_short:
        return S.received
    pairs = list(lines)
    if pairs and all(received >= qty for qty, received in pairs):
        return S.received
    if any(received > 0 for _, received in pairs):
        return S.partially_received
    return S.sent


def over_receipts(
    wanted: Mapping[int, Decimal], open_by_line: Mapping[int, Decimal]
) -> list[dict[str, Any]]:
    """Every line (by id) asked for more than it has open: [{purchase_order_line_id, qty,
    open_qty}], empty when all fit."""
    return [
        {"purchase_order_line_id": line_id, "qty": qty, "open_qty": open_by_line.get(line_id, ZERO)}
        for line_id, qty in sorted(wanted.items())
        if qty > open_by_line.get(line_id, ZERO)
    ]


def raise_over_receipt(problems: list[dict[str, Any]]) -> None:
    if problems:
        names = ", ".join(
            f"line {p['purchase_order_line_id']} ({fmt(p['qty'])} > open {fmt(p['open_qty'])})"
            for p in problems
        )
        raise Conflict(
            f"more than is open on the purchase order: {names}",
            {"lines": [{**p, "qty": fmt(p["qty"]), "open_qty": fmt(p["open_qty"])}
                       for p in problems]},
            code="over_receipt",
        )  # fmt: skip


def check_window(arrive_from: datetime | None, arrive_to: datetime | None) -> None:
    if arrive_from is not None and arrive_to is not None and arrive_from > arrive_to:
        raise ValidationFailed("arrive_from must not be after arrive_to", {"field": "arrive_from"})
