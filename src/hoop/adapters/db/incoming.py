"""Incoming stock: the open quantity of purchase-order lines whose order is draft, sent or
partly received. One definition, used by availability, replenishment positions and alerts."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Connection, func, select, type_coerce

from hoop.adapters.db.tables import purchase_order_lines, purchase_orders
from hoop.adapters.db.types import Scaled

OPEN_STATUSES = ("draft", "sent", "partially_received")


def incoming_by_location(
    conn: Connection, org_id: int, variant_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], Decimal]:
    """{(variant_id, location_id): open qty} over open lines of open purchase orders."""
    pol = purchase_order_lines
    stmt = (
        select(
            pol.c.variant_id,
            pol.c.location_id,
            type_coerce(func.sum(pol.c.qty - pol.c.received_qty), Scaled()),
        )
        .join(purchase_orders, purchase_orders.c.id == pol.c.purchase_order_id)
        .where(
            pol.c.org_id == org_id,
            pol.c.open.is_(True),
            purchase_orders.c.status.in_(OPEN_STATUSES),
        )
        .group_by(pol.c.variant_id, pol.c.location_id)
    )
    if variant_ids is not None:
        stmt = stmt.where(pol.c.variant_id.in_(sorted(set(variant_ids))))
    out: dict[tuple[int, int], Decimal] = {}
    for variant_id, location_id, qty in conn.execute(stmt):
        if qty:
            out[(variant_id, location_id)] = qty
    return out
