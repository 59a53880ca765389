"""Low-stock alerts: one open alert per variant and location while its position (available +
incoming) is at or under the policy's reorder point; resolved by itself when it rises above.

Re-evaluated in the transaction of whatever changed a position (a posting, a reservation, a
purchase order, a policy) against the policy's stored reorder point, which the scheduler
refreshes as demand moves. The policy rows are locked (in id order, after any balance rows), so
two transactions changing one policy's position evaluate one after the other and the later one
sees the earlier one's stock: the alert always matches the last committed position."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from hoop.adapters.db import replenishment as db
from hoop.adapters.db.tables import alerts, locations, variants
from hoop.domain.errors import ValidationFailed
from hoop.domain.quantities import fmt
from hoop.service import events
from hoop.service.context import Actor

LOW = "low_stock"
ZERO = Decimal(0)


def positions_changed(conn: Connection, org_id: int, variant_ids: Iterable[int]) -> int:
    """Re-evaluate the low-stock alerts of these variants' policies. Returns how many alerts
    were raised or resolved. One statement, plus a write only when an alert changes."""
    vids = set(variant_ids)
    if not vids:
        return 0
    rows = db.positions(conn, org_id, vids)
    return sync(
        conn, org_id, [(r, r.available + r.incoming, r.reorder_point) for r in rows],
        {(r.variant_id, r.location_id): r.open_alert_id for r in rows if r.open_alert_id},
    )  # fmt: skip


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def sync(
    conn: Connection,
    org_id: int,
    items: list[tuple[Any, Decimal, Decimal]],
    open_now: dict[tuple[int, int], int] | None = None,
) -> int:
    """Bring the open alerts of these (policy row, position, reorder point) in line: raise
    where the position is at or under the reorder point, resolve where it is above.
    `open_now` maps (variant, location) to its open alert's id when the caller read them."""
    if not items:
        return 0
    now = datetime.now(UTC)
    if open_now is None:
        vids = sorted({r.variant_id for r, _, _ in items})
        open_now = {
            (a.variant_id, a.location_id): a.id
            for a in conn.execute(
                select(alerts.c.id, alerts.c.variant_id, alerts.c.location_id).where(
                    alerts.c.org_id == org_id, alerts.c.type == LOW, alerts.c.status == "open",
                    alerts.c.variant_id.in_(vids),
                )
            )
        }  # fmt: skip
    raise_rows, resolve_ids = [], []
    for r, position, rop in items:
        k = (r.variant_id, r.location_id)
        if position <= rop and k not in open_now:
            raise_rows.append((r, position, rop))
        elif position > rop and k in open_now:
            resolve_ids.append(open_now[k])
    if resolve_ids:
        conn.execute(
            update(alerts).where(alerts.c.id.in_(resolve_ids))
            .values(status="resolved", resolved_at=now)
        )  # fmt: skip
    raised = 0
    if raise_rows:
        stmt = _insert(conn)(alerts).values([
            {"org_id": org_id, "type": LOW, "variant_id": r.variant_id,
             "location_id": r.location_id, "status": "open", "position": pos,
             "reorder_point": rop, "raised_at": now}
            for r, pos, rop in raise_rows
        ])  # fmt: skip
        stmt = stmt.on_conflict_do_nothing(
            index_elements=["org_id", "type", "variant_id", "location_id"],
            # a literal, not a bound parameter: once psycopg prepares the statement (its 5th
            # run on a connection) Postgres cannot match `status = $1` to the partial index
            index_where=text("status = 'open'"),
        ).returning(alerts.c.id, alerts.c.variant_id, alerts.c.location_id)
        new = {(a.variant_id, a.location_id): a.id for a in conn.execute(stmt)}
        evs = []
        for r, pos, rop in raise_rows:
            alert_id = new.get((r.variant_id, r.location_id))
            if alert_id is None:
                continue  # another transaction raised it first
            name = getattr(r, "location_name", None) or f"location {r.location_id}"
            evs.append(events.Event(
                org_id, "stock.low",
                {"alert_id": alert_id, "sku": r.sku, "variant_id": r.variant_id,
                 "location_id": r.location_id, "position": fmt(pos), "reorder_point": fmt(rop)},
                title=f"Low stock: {r.sku} at {name}",
                body=f"{r.sku} at {name}: available + incoming is {fmt(pos)}, at or under the "
                     f"reorder point {fmt(rop)}.",
                to_sellers=True,
            ))  # fmt: skip
        events.emit_many(conn, evs)  # a fixed number of statements for any number of alerts
        raised = len(evs)
    return raised + len(resolve_ids)


def resolve_for(conn: Connection, org_id: int, keys: list[tuple[int, int]]) -> int:
    """Resolve the open alerts of these (variant, location) pairs (their policy is gone)."""
    n = 0
    for variant_id, location_id in keys:
        n += conn.execute(
            update(alerts).where(
                alerts.c.org_id == org_id, alerts.c.type == LOW, alerts.c.status == "open",
                alerts.c.variant_id == variant_id, alerts.c.location_id == location_id,
            ).values(status="resolved", resolved_at=datetime.now(UTC))
        ).rowcount  # fmt: skip
    return n


def list_alerts(
    conn: Connection, actor: Actor, type_: str | None, status: str | None, limit: int,
    after: int | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Alerts, newest first: open ones unless `status` says otherwise (`all` for every one)."""
    actor.require("alerts.read")
    if type_ is not None and type_ != LOW:
        raise ValidationFailed("type must be low_stock", {"field": "type"})
    status = status or "open"
    if status not in ("open", "resolved", "all"):
        raise ValidationFailed("status must be open, resolved or all", {"field": "status"})
    stmt = (
        select(alerts, variants.c.sku, locations.c.name.label("location_name"))
        .join(variants, variants.c.id == alerts.c.variant_id)
        .join(locations, locations.c.id == alerts.c.location_id)
        .where(alerts.c.org_id == actor.org_id)
    )
    if status != "all":
        stmt = stmt.where(alerts.c.status == status)
    if after is not None:
        stmt = stmt.where(alerts.c.id < after)
    rows = conn.execute(stmt.order_by(alerts.c.id.desc()).limit(limit)).all()
    return [
        {"id": r.id, "type": r.type, "status": r.status, "sku": r.sku,
         "variant_id": r.variant_id, "location_id": r.location_id,
         "location_name": r.location_name, "position": r.position,
         "reorder_point": r.reorder_point, "raised_at": r.raised_at,
         "resolved_at": r.resolved_at}
        for r in rows
    ]  # fmt: skip
