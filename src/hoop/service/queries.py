"""Read side: availability, the ledger, the audit trail. Shaped for the endpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, select

from hoop.adapters.db.incoming import incoming_by_location
from hoop.adapters.db.tables import (
    audit_events,
    balances,
    cost_entries,
    locations,
    moves,
    variants,
)
from hoop.domain.errors import NotFound, ValidationFailed
from hoop.domain.quantities import q4
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
    counts sellable locations only; incoming is the open purchase quantity bound there. Two
    queries (three with a location filter, four when stock is incoming)."""
    if sku is None and variant_id is None:
        raise ValidationFailed("give sku or variant_id", {"field": "sku"})
    on_balance = balances.c.variant_id == variants.c.id
    path = None
    if location_id is not None:
        path = _location_path(conn, actor, location_id)
        on_balance = and_(
            on_balance,
            balances.c.location_id.in_(
                select(locations.c.id).where(
                    locations.c.org_id == actor.org_id, locations.c.path.startswith(path)
                )
            ),
        )
    stmt = (
        select(
            variants.c.id,
            variants.c.sku,
            balances.c.location_id,
            locations.c.sellable,
            balances.c.on_hand,
            balances.c.reserved,
        )  # fmt: skip
        .select_from(
            variants.outerjoin(balances, on_balance).outerjoin(
                locations, locations.c.id == balances.c.location_id
            )
        )
        .where(variants.c.org_id == actor.org_id)
        .where(variants.c.sku == sku if sku is not None else variants.c.id == variant_id)
        .order_by(balances.c.location_id)
    )
    rows = conn.execute(stmt).all()
    if not rows:
        raise NotFound("no such variant", {"sku": sku, "variant_id": variant_id})
    per: dict[int, list[Any]] = {}
    for r in rows:
        if r.location_id is not None and (r.on_hand or r.reserved):
            acc = per.setdefault(r.location_id, [ZERO, ZERO, r.sellable])
            acc[0] += r.on_hand
            acc[1] += r.reserved
    incoming = _incoming(conn, actor, rows[0].id, path)
    for loc, (_, sellable) in incoming.items():
        per.setdefault(loc, [ZERO, ZERO, sellable])
    on_hand = reserved = available = total_incoming = ZERO
    per_loc = []
    for loc, (oh, rs, sellable) in sorted(per.items()):
        avail = oh - rs if sellable else ZERO
        inc = incoming[loc][0] if loc in incoming else ZERO
        on_hand, reserved, available = on_hand + oh, reserved + rs, available + avail
        total_incoming += inc
        per_loc.append({"location_id": loc, "on_hand": oh, "reserved": rs, "available": avail,
                        "incoming": inc, "sellable": sellable})  # fmt: skip
    return {
        "sku": rows[0].sku, "variant_id": rows[0].id, "on_hand": on_hand, "reserved": reserved,
        "available": available, "incoming": total_incoming,
        "stock_mode": "active" if available > 0 else "inactive", "locations": per_loc,
    }  # fmt: skip


def _incoming(
    conn: Connection, actor: Actor, variant_id: int, path: str | None
) -> dict[int, tuple[Decimal, bool]]:
    """Open purchase quantity of the variant per location (under `path` when given), with
    whether the location is sellable."""
    by_loc = {
        loc: qty for (_, loc), qty in incoming_by_location(conn, actor.org_id, [variant_id]).items()
    }
    if not by_loc:
        return {}
    rows = conn.execute(
        select(locations.c.id, locations.c.path, locations.c.sellable).where(
            locations.c.org_id == actor.org_id, locations.c.id.in_(sorted(by_loc))
        )
    ).all()
    return {
        r.id: (by_loc[r.id], r.sellable) for r in rows if path is None or r.path.startswith(path)
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
        select(moves, variants.c.sku, cost_entries.c.value.label("cost_value"))
        .join(variants, variants.c.id == moves.c.variant_id)
        .outerjoin(
            cost_entries,
            and_(
                cost_entries.c.org_id == moves.c.org_id,
                cost_entries.c.variant_id == moves.c.variant_id,
                cost_entries.c.effective_at == moves.c.effective_at,
                cost_entries.c.ord == moves.c.id,
            ),
        )
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
            # the costing of the move (derived, re-costed by backdating); a transfer carries
            # no value of its own
            **_cost_of(r),
            "effective_at": r.effective_at,
            "recorded_at": r.recorded_at,
            "document_id": r.document_id,
            "reversal": r.reversal,
            "user_id": r.user_id,
        }
        for r in rows
    ]


def _cost_of(r: Any) -> dict[str, Any]:
    if r.cost_value is None:
        return {"unit_cost": r.unit_cost, "value": None}
    value = abs(r.cost_value)
    return {"unit_cost": q4(value / r.qty) if r.qty else value, "value": value}


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
