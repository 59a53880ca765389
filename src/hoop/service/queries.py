"""Read side: availability, the ledger, the audit trail. Shaped for the endpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from hoop.adapters.db.tables import audit_events, balances, locations, moves, variants
from hoop.domain.errors import NotFound, ValidationFailed
from hoop.service.context import Actor

ZERO = Decimal(0)


def variant_by_ref(conn: Connection, actor: Actor, sku: str | None, variant_id: int | None) -> Any:
    if sku is None and variant_id is None:
        raise ValidationFailed("give sku or variant_id", {"field": "sku"})
    stmt = select(variants.c.id, variants.c.sku).where(variants.c.org_id == actor.org_id)
    stmt = (
        stmt.where(variants.c.sku == sku)
        if sku is not None
        else stmt.where(variants.c.id == variant_id)
    )
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("no such variant", {"sku": sku, "variant_id": variant_id})
    return row


def _location_path(conn: Connection, actor: Actor, location_id: int) -> str:
    path = conn.execute(
        select(locations.c.path).where(
            locations.c.id == location_id, locations.c.org_id == actor.org_id
        )
    ).scalar()
    if path is None:
        raise NotFound("no such location", {"location_id": location_id})
    return str(path)


def availability(
    conn: Connection,
    actor: Actor,
    sku: str | None = None,
    variant_id: int | None = None,
    location_id: int | None = None,
) -> dict[str, Any]:
    """On hand and reserved over internal locations (under location_id when given); available
    counts sellable locations only."""
    v = variant_by_ref(conn, actor, sku, variant_id)
    stmt = (
        select(
            balances.c.location_id,
            locations.c.sellable,
            func.sum(balances.c.on_hand).label("on_hand"),
            func.sum(balances.c.reserved).label("reserved"),
        )
        .join(locations, locations.c.id == balances.c.location_id)
        .where(balances.c.variant_id == v.id, balances.c.org_id == actor.org_id)
        .group_by(balances.c.location_id, locations.c.sellable)
        .order_by(balances.c.location_id)
    )
    if location_id is not None:
        stmt = stmt.where(locations.c.path.startswith(_location_path(conn, actor, location_id)))
    on_hand = reserved = available = ZERO
    per_loc = []
    for r in conn.execute(stmt):
        if r.on_hand == 0 and r.reserved == 0:
            continue
        avail = r.on_hand - r.reserved if r.sellable else ZERO
        on_hand += r.on_hand
        reserved += r.reserved
        available += avail
        per_loc.append(
            {
                "location_id": r.location_id,
                "on_hand": r.on_hand,
                "reserved": r.reserved,
                "available": avail,
                "sellable": r.sellable,
            }
        )
    return {
        "sku": v.sku,
        "variant_id": v.id,
        "on_hand": on_hand,
        "reserved": reserved,
        "available": available,
        "incoming": ZERO,
        "stock_mode": "active" if available > 0 else "inactive",
        "locations": per_loc,
    }


def list_moves(
    conn: Connection,
    actor: Actor,
    *,
    sku: str | None,
    variant_id: int | None,
    location_id: int | None,
    from_: datetime | None,
    to: datetime | None,
    document_id: int | None,
    limit: int,
    after: int | None,
) -> list[dict[str, Any]]:
    stmt = (
        select(moves, variants.c.sku)
        .join(variants, variants.c.id == moves.c.variant_id)
        .where(moves.c.org_id == actor.org_id)
    )
    if sku is not None or variant_id is not None:
        stmt = stmt.where(moves.c.variant_id == variant_by_ref(conn, actor, sku, variant_id).id)
    if location_id is not None:
        sub = select(locations.c.id).where(
            locations.c.org_id == actor.org_id,
            locations.c.path.startswith(_location_path(conn, actor, location_id)),
        )
        stmt = stmt.where(moves.c.from_location_id.in_(sub) | moves.c.to_location_id.in_(sub))
    if from_ is not None:
        stmt = stmt.where(moves.c.effective_at >= from_)
    if to is not None:
        stmt = stmt.where(moves.c.effective_at < to)
    if document_id is not None:
        stmt = stmt.where(moves.c.document_id == document_id)
    if after is not None:
        stmt = stmt.where(moves.c.id > after)
    rows = conn.execute(stmt.order_by(moves.c.id).limit(limit)).all()
    return [
        {
            "id": r.id,
            "sku": r.sku,
            "variant_id": r.variant_id,
            "qty": r.qty,
            "from_location_id": r.from_location_id,
            "to_location_id": r.to_location_id,
            "lot": r.lot or None,
            "serial": r.serial,
            "unit_cost": r.unit_cost,
            "value": r.value,
            "effective_at": r.effective_at,
            "recorded_at": r.recorded_at,
            "document_id": r.document_id,
            "reversal": r.reversal,
            "user_id": r.user_id,
        }
        for r in rows
    ]


def list_audit(
    conn: Connection,
    actor: Actor,
    *,
    limit: int,
    before: int | None,
    object_type: str | None,
    object_id: str | None,
    action: str | None,
) -> list[dict[str, Any]]:
    actor.require("audit.read")
    stmt = select(audit_events).where(audit_events.c.org_id == actor.org_id)
    if before is not None:
        stmt = stmt.where(audit_events.c.id < before)
    if object_type:
        stmt = stmt.where(audit_events.c.object_type == object_type)
    if object_id:
        stmt = stmt.where(audit_events.c.object_id == object_id)
    if action:
        stmt = stmt.where(audit_events.c.action == action)
    rows = conn.execute(stmt.order_by(audit_events.c.id.desc()).limit(limit)).all()
    return [{k: v for k, v in r._mapping.items() if k != "org_id"} for r in rows]
