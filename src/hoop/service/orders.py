"""Marketplace orders: confirmed at once when every line is in stock, an order request for the
seller otherwise; accept, decline, pay, cancel, deadlines, pickup (which posts the shipment).

Concurrency: placing an order reserves on its balance rows only what is still available there,
locking them in the key order postings use (see place_order), so of n simultaneous orders for
k units exactly k are confirmed. Every later command locks the order row, so two
commands on one order (pay and the expiry job, cancel and pickup) serialise and the loser sees
the winner's status.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, insert, select, update

from hoop.adapters.db import bulk, hot
from hoop.adapters.db import ledger as ledger_db
from hoop.adapters.db.tables import (
    balances,
    locations,
    order_events,
    order_lines,
    order_reservations,
    orders,
    orgs,
    stock_documents,
)
from hoop.domain import orders as rules
from hoop.domain.audit import jsonable
from hoop.domain.errors import Conflict, NotFound, ValidationFailed
from hoop.domain.fields import text
from hoop.domain.ledger import BalanceKey, Move, shortages
from hoop.domain.orders import OrderStatus, Slot
from hoop.domain.quantities import ZERO, from_scaled, parse_decimal
from hoop.service import access, alerts, audit, costing, events
from hoop.service.catalog import resolve_variants, virtual_location_ids
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork

MAX_LINES = 500
log = logging.getLogger("hoop.orders")


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ input


def _customer(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationFailed("customer must be an object with a name", {"field": "customer"})
    unknown = set(raw) - {"name", "email", "phone"}
    if unknown:
        raise ValidationFailed(f"unknown customer fields {sorted(unknown)}", {"field": "customer"})
    return {
        "name": text(raw.get("name"), "customer.name", 200),
        "email": text(raw.get("email"), "customer.email", 320, required=False),
        "phone": text(raw.get("phone"), "customer.phone", 40, required=False),
    }


def _raw_lines(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("an order needs at least one line", {"field": "lines"})
    if len(raw) > MAX_LINES:
        raise ValidationFailed(f"at most {MAX_LINES} lines per order", {"field": "lines"})
    for i, ln in enumerate(raw):
        if not isinstance(ln, dict) or not isinstance(ln.get("sku"), str):
            raise ValidationFailed("each line needs a sku", {"line": i})
    return raw


def _lines(raw: list[dict[str, Any]], found: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the lines against the variants of their SKUs (`found`: sku -> variant)."""
    skus = {ln["sku"] for ln in raw}
    missing = sorted(skus - set(found))
    if missing:
        raise NotFound(f"unknown sku(s): {', '.join(missing)}", {"skus": missing})
    not_for_sale = sorted(s for s in skus if found[s].status != "active")
    if not_for_sale:
        raise Conflict(
            f"not available for orders (draft or archived): {', '.join(not_for_sale)}",
            {"skus": not_for_sale},
            code="product_not_available",
        )
    out = []
    for i, ln in enumerate(raw, 1):
        unknown = set(ln) - {"sku", "qty", "unit_price"}
        if unknown:
            raise ValidationFailed(f"unknown line fields {sorted(unknown)}", {"line": i - 1})
        qty = parse_decimal(ln.get("qty"), "qty")
        if qty <= 0:
            raise ValidationFailed("qty must be greater than zero", {"line": i - 1})
        v = found[ln["sku"]]
        if v.tracking == "serial" and qty != qty.to_integral_value():
            raise ValidationFailed("serial-tracked quantities are whole units", {"line": i - 1})
        price = ln.get("unit_price")
        price = None if price is None else parse_decimal(price, "unit_price")
        if price is not None and price < 0:
            raise ValidationFailed("unit_price must not be negative", {"line": i - 1})
        out.append({"line_no": i, "variant_id": v.id, "sku": v.sku, "qty": qty,
                    "unit_price": price})  # fmt: skip
    return out


# ------------------------------------------------------------------ stock


def _sellable_slots(
    conn: Connection, org_id: int, variant_ids: list[int], lock: bool = True
) -> dict[int, list[Slot]]:
    """Read the balance rows of these variants at sellable locations; with `lock`, lock them
    (key order, as postings lock them), so the availability read here holds until commit."""
    sellable = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.internal.is_(True), locations.c.sellable
    )
    stmt = (
        select(balances.c.variant_id, balances.c.location_id, balances.c.lot, balances.c.on_hand,
               balances.c.reserved)
        .where(balances.c.org_id == org_id, balances.c.variant_id.in_(sorted(variant_ids)),
               balances.c.location_id.in_(sellable))
        .order_by(balances.c.variant_id, balances.c.location_id, balances.c.lot)
    )  # fmt: skip
    rows = conn.execute(stmt.with_for_update() if lock else stmt).all()
    out: dict[int, list[Slot]] = defaultdict(list)
    for r in rows:
        out[r.variant_id].append(Slot(r.location_id, r.lot, r.on_hand - r.reserved))
    return out


def _reserve(
    conn: Connection, org_id: int, order_id: int, lines: list[dict[str, Any]],
    slots: dict[int, list[Slot]], default_location: int | None,
) -> dict[BalanceKey, Decimal]:  # fmt: skip
    """Reserve what tracked stock there is for each line (at most the line's qty); returns
    what it reserved where."""
    held = rules.allocate_lines([(ln["variant_id"], ln["qty"]) for ln in lines], slots,
                                default_location)  # fmt: skip
    if not held:
        return {}
    rows = ledger_db.apply_balance_deltas(conn, org_id, {}, dict(held))
    ledger_db.check_stock(shortages(rows), {})
    conn.execute(
        insert(order_reservations),
        [{"order_id": order_id, "variant_id": k[0], "location_id": k[1], "lot": k[2],
          "org_id": org_id, "qty": q} for k, q in sorted(held.items())],
    )  # fmt: skip
    alerts.positions_changed(conn, org_id, {k[0] for k in held})
    return dict(held)


def _release(conn: Connection, org_id: int, order_id: int) -> dict[BalanceKey, Decimal]:
    """Give back the order's reservations; returns what was held."""
    held = {
        (r.variant_id, r.location_id, r.lot): r.qty
        for r in conn.execute(
            select(order_reservations).where(order_reservations.c.order_id == order_id)
        )
    }
    if held:
        ledger_db.apply_balance_deltas(conn, org_id, {}, {k: -q for k, q in held.items()})
        conn.execute(delete(order_reservations).where(order_reservations.c.order_id == order_id))
        alerts.positions_changed(conn, org_id, {k[0] for k in held})
    return held


# ------------------------------------------------------------------ life cycle


def _org(conn: Connection, org_id: int) -> Any:
    return conn.execute(
        select(orgs.c.seller_response_seconds, orgs.c.payment_window_seconds,
               orgs.c.default_shipping_location_id)
        .where(orgs.c.id == org_id)
    ).one()  # fmt: skip


def _buyer(order: Any) -> dict[str, int | None]:
    return {"user_id": order["placed_by_user"], "api_key_id": order["placed_by_api_key"]}


def _record(
    conn: Connection, actor: Actor | None, order_id: int, org_id: int, action: str,
    before: str | None, after: str, now: datetime, note: str | None = None,
) -> None:  # fmt: skip
    conn.execute(
        insert(order_events).values(
            org_id=org_id, order_id=order_id, at=now,
            actor_type=actor.kind if actor else "system",
            actor_id=actor.actor_id if actor else None,
            action=action, from_status=before, to_status=after, note=note,
        )
    )  # fmt: skip


TITLES = {
    "order.requested": ("New order request", "Accept or decline by {respond_by}."),
    "order.confirmed": ("Order confirmed", "Order {order_id} is confirmed; pickup requested."),
    "order.payment_requested": ("Payment requested", "Please pay by {pay_by}."),
    "order.declined": ("Order declined", "The seller declined order {order_id}."),
    "order.expired": ("Order request expired", "The seller did not answer in time."),
    "order.cancelled": ("Order cancelled", "Order {order_id} was cancelled."),
    "order.picked_up": ("Order picked up", "Order {order_id} is on its way."),
    "order.delivered": ("Order delivered", "Order {order_id} was delivered."),
}


def _event_of(order: dict[str, Any], event: str, **kw: Any) -> events.Event:
    payload = {
        "order_id": order["id"],
        "status": order["status"],
        "respond_by": _iso(order.get("respond_by")),
        "pay_by": _iso(order.get("pay_by")),
    }
    title, body = TITLES[event]
    return events.Event(order["org_id"], event, payload, title, body.format(**payload),
                        order_id=order["id"], **kw)  # fmt: skip


def _event(conn: Connection, order: dict[str, Any], event: str, **kw: Any) -> None:
    events.emit_many(conn, [_event_of(order, event, **kw)])


def _iso(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


# ------------------------------------------------------------------ placing


class _Context(NamedTuple):
    """What placing an order reads before it writes (no lock): the order's id (PostgreSQL:
    from the sequence, so every row can be built before the single write), the org's
    settings, the variants of its SKUs, their sellable stock, and who its events go to."""

    order_id: int | None
    seller_response_seconds: int
    default_location: int | None
    variants: dict[str, Any]
    slots: dict[int, list[Slot]]
    to: events.Recipients
    has_policy: bool  # a computed replenishment policy names one of the variants


class _Variant(NamedTuple):
    id: int
    sku: str
    status: str
    tracking: str


# One round trip: the id, the org, the variants, their sellable balances (no lock), and the
# recipients of the order's event. One placeholder per SKU (as SQLAlchemy expands IN): with
# `= ANY(array)` PostgreSQL never settles on the prepared statement's generic plan and plans
# every call anew (0.5 ms).
_PG_CONTEXT = """
SELECT nextval('orders_id_seq'), o.seller_response_seconds, o.default_shipping_location_id,
  (SELECT json_agg(json_build_array(v.id, v.sku, p.status, p.tracking))
     FROM variants v JOIN products p ON p.id = v.product_id
    WHERE v.org_id = %(org)s AND v.sku IN ({skus})),
  (SELECT json_agg(json_build_array(b.variant_id, b.location_id, b.lot, b.on_hand - b.reserved)
                   ORDER BY b.variant_id, b.location_id, b.lot)
     FROM balances b JOIN variants v ON v.id = b.variant_id
    WHERE v.org_id = %(org)s AND v.sku IN ({skus}) AND b.org_id = %(org)s
      AND b.location_id IN (SELECT l.id FROM locations l
                             WHERE l.org_id = %(org)s AND l.internal AND l.sellable)),
  (SELECT json_agg(json_build_array(u.id, u.roles) ORDER BY u.id)
     FROM users u WHERE u.org_id = %(org)s AND u.active),
  (SELECT json_agg(json_build_array(w.id, w.events) ORDER BY w.id)
     FROM webhook_endpoints w WHERE w.org_id = %(org)s AND w.active),
  EXISTS (SELECT 1 FROM replenishment_policies rp JOIN variants v ON v.id = rp.variant_id
           WHERE rp.org_id = %(org)s AND v.org_id = %(org)s AND v.sku IN ({skus})
             AND rp.reorder_point IS NOT NULL)
FROM orgs o WHERE o.id = %(org)s
"""


@functools.lru_cache(maxsize=64)
def _pg_context_sql(n: int) -> str:
    return _PG_CONTEXT.replace("{skus}", ", ".join(f"%(s{i})s" for i in range(n)))


@functools.lru_cache(maxsize=64)
def _pg_caller_context_sql(caller_sql: str, n: int) -> str:
    """The caller's row (access.caller_query) and, for its org, the context: one round trip."""
    inner = _pg_context_sql(n).replace("%(org)s", "c.org_id")
    return f"WITH c AS ({caller_sql}) SELECT c.*, x.* FROM c CROSS JOIN LATERAL ({inner}) x"


def _skus_params(skus: list[str]) -> dict[str, Any]:
    return {f"s{i}": s for i, s in enumerate(skus)}


def _context_of(r: Sequence[Any]) -> _Context:
    """The _Context of a row of _PG_CONTEXT."""
    found = {v[1]: _Variant(*v) for v in r[3] or ()}
    slots: dict[int, list[Slot]] = defaultdict(list)
    for v, loc, lot, avail in r[4] or ():
        slots[v].append(Slot(loc, lot, from_scaled(avail)))
    to = events.Recipients(
        events.seller_ids((u[0], u[1]) for u in r[5] or ()),
        tuple((w[0], tuple(w[1] or ())) for w in r[6] or ()),
    )
    return _Context(r[0], r[1], r[2], found, slots, to, r[7])


def _context(conn: Connection, org_id: int, skus: list[str]) -> _Context:
    if conn.dialect.name == "postgresql":
        params = {**_skus_params(skus), "org": org_id}
        r = hot.fetch_one(conn, _pg_context_sql(len(skus)), params)
        assert r is not None  # the org exists: its caller was just authenticated
        return _context_of(r)
    org = _org(conn, org_id)
    rows = resolve_variants(conn, org_id, set(skus), set())
    found = {s: _Variant(rows[s].id, s, rows[s].status, rows[s].tracking) for s in skus
             if s in rows}  # fmt: skip
    ids = sorted({v.id for v in found.values()})
    return _Context(None, org.seller_response_seconds, org.default_shipping_location_id, found,
                    _sellable_slots(conn, org_id, ids, lock=False) if ids else {},
                    events.recipients(conn, [org_id])[org_id], True)  # fmt: skip


def _allocation(
    lines: list[dict[str, Any]], slots: dict[int, list[Slot]], default_location: int | None
) -> dict[BalanceKey, Decimal] | None:
    """What a confirmed order reserves where, or None when it cannot be confirmed now."""
    wanted = [(ln["variant_id"], ln["qty"]) for ln in lines]
    available = {v: sum((s.available for s in ss), ZERO) for v, ss in slots.items()}
    if not rules.confirms_at_once(wanted, available):
        return None
    return rules.allocate_lines(wanted, slots, default_location)


_PG_WRITE = """
WITH {reserve}o AS (
  INSERT INTO orders (id, org_id, status, channel_id, customer, placed_by_user,
                      placed_by_api_key, respond_by, pickup_status, created_at, updated_at)
  SELECT %(id)s, %(org)s, %(status)s, %(channel)s, %(customer)s::json, %(by_user)s,
         %(by_key)s, %(respond_by)s, %(pickup)s, %(now)s, %(now)s {only}
), l AS (
  INSERT INTO order_lines (org_id, order_id, line_no, variant_id, qty, unit_price)
  SELECT %(org)s, %(id)s, (e->>0)::int, (e->>1)::bigint, (e->>2)::bigint, (e->>3)::bigint
    FROM json_array_elements(%(lines)s::json) AS x(e) {only}
), rs AS (
  INSERT INTO order_reservations (order_id, variant_id, location_id, lot, org_id, qty)
  SELECT %(id)s, (e->>0)::bigint, (e->>1)::bigint, e->>2, %(org)s, (e->>3)::bigint
    FROM json_array_elements(%(held)s::json) AS x(e) {only}
), t AS (
  INSERT INTO order_events (org_id, order_id, at, actor_type, actor_id, action, from_status,
                            to_status, note)
  SELECT %(org)s, %(id)s, %(now)s, %(actor_type)s, %(actor_id)s, 'place', NULL, %(status)s,
         NULL {only}
), n AS (
  INSERT INTO notifications (org_id, user_id, api_key_id, audience, event, order_id, title,
                             body, data, created_at)
  SELECT %(org)s, (e->>0)::bigint, (e->>1)::bigint, e->>2, %(event)s, %(id)s, %(title)s,
         %(body)s, %(data)s::json, %(now)s
    FROM json_array_elements(%(notes)s::json) AS x(e) {only}
), b AS (
  INSERT INTO outbox (org_id, event_id, event, payload, created_at)
  SELECT %(org)s, %(event_id)s, %(event)s, %(payload)s::json, %(now)s {only}
  RETURNING id
), d AS (
  INSERT INTO webhook_deliveries (org_id, outbox_id, endpoint_id, status, attempts,
                                  next_attempt_at)
  SELECT %(org)s, b.id, e::text::bigint, 'pending', 0, %(now)s
    FROM b, json_array_elements(%(hooks)s::json) AS x(e)
), a AS (
  INSERT INTO audit_events (org_id, at, actor_type, actor_id, action, object_type, object_id,
                            outcome, error_code, before, after)
  SELECT %(org)s, %(now)s, %(actor_type)s, %(actor_id)s, 'order.place', 'order', %(id)s::text,
         'ok', NULL, 'null'::json, %(audit)s::json {only}
)
SELECT {result}
"""

# A confirmed order: its balance rows are reserved first, only where the stock is still
# available, and the order is written by the same statement only if every row was. `ok` reads
# r to the end before any insert runs: each insert's WHERE asks for it.
# One row (most orders): a conditional UPDATE. One that waits for another order's lock
# re-checks the committed row, and if the stock is gone it neither updates nor keeps the row
# locked, so the losers of a race for the last units do not queue behind each other.
_PG_RESERVE_ONE = """r AS (
  UPDATE balances SET reserved = reserved + %(r_qty)s
   WHERE variant_id = %(r_variant)s AND location_id = %(r_location)s AND lot = %(r_lot)s
     AND on_hand - reserved >= %(r_qty)s
  RETURNING 1
), ok AS (SELECT count(*) = 1 AS ok FROM r), """
# Several rows: locked in key order, as postings lock them (an UPDATE ... FROM would lock them
# in whatever order its join runs). ON CONFLICT DO UPDATE keeps a row locked even where its
# WHERE fails, and some rows may be taken while others are not: the caller holds a savepoint.
# No row is inserted: the LATERAL ... LIMIT 1 keeps only rows that exist (they were read, and
# balance rows are never deleted) by a key lookup each; EXISTS was planned as a hash join over
# a sequential scan of every balance.
_PG_RESERVE_MANY = """r AS (
  INSERT INTO balances (variant_id, location_id, lot, org_id, on_hand, reserved)
  SELECT (e->>0)::bigint, (e->>1)::bigint, e->>2, %(org)s, 0, (e->>3)::bigint
    FROM json_array_elements(%(held)s::json) WITH ORDINALITY AS x(e, k)
   CROSS JOIN LATERAL (SELECT 1 FROM balances c WHERE c.variant_id = (e->>0)::bigint
                          AND c.location_id = (e->>1)::bigint AND c.lot = e->>2 LIMIT 1) AS c
   ORDER BY k
  ON CONFLICT (variant_id, location_id, lot) DO UPDATE
     SET reserved = balances.reserved + excluded.reserved
   WHERE balances.on_hand - balances.reserved >= excluded.reserved
  RETURNING 1
), ok AS (SELECT count(*) = %(n_held)s AS ok FROM r), """
_PG_WRITE_PLAIN = _PG_WRITE.format(reserve="", only="", result="true")
_IF_OK = {"only": "WHERE (SELECT ok FROM ok)", "result": "(SELECT ok FROM ok)"}
_PG_WRITE_IF_RESERVED_ONE = _PG_WRITE.format(reserve=_PG_RESERVE_ONE, **_IF_OK)
_PG_WRITE_IF_RESERVED_MANY = _PG_WRITE.format(reserve=_PG_RESERVE_MANY, **_IF_OK)


def _write_order(
    conn: Connection, actor: Actor, order: dict[str, Any], lines: list[dict[str, Any]],
    held: dict[BalanceKey, Decimal], to: events.Recipients,
) -> bool:  # fmt: skip
    """Insert the order with its lines, reservations, timeline entry, event and audit event.
    PostgreSQL: one statement (the id came from the sequence) which, for a confirmed order,
    first reserves `held` on the balance rows and writes nothing unless every row still had it
    (False then). SQLite: the balances are the caller's. True when the order was written."""
    org_id, status, now = actor.org_id, order["status"], order["created_at"]
    if conn.dialect.name == "postgresql":
        ev = _placed_event(order)
        planned = events.rows_of(ev, to, now)
        first = planned.notifications[0] if planned.notifications else None
        one = next(iter(held.items())) if len(held) == 1 else None
        sql = (_PG_WRITE_PLAIN if not held else
               _PG_WRITE_IF_RESERVED_ONE if one else _PG_WRITE_IF_RESERVED_MANY)  # fmt: skip
        return bool(hot.fetch_one(
            conn, sql,
            {
                "id": order["id"], "org": org_id, "status": status, "channel": order["channel_id"],
                "customer": json.dumps(order["customer"]), "by_user": order["placed_by_user"],
                "by_key": order["placed_by_api_key"], "respond_by": order["respond_by"],
                "pickup": order["pickup_status"], "now": now,
                "lines": json.dumps([[ln["line_no"], ln["variant_id"], bulk.scaled(ln["qty"]),
                                      bulk.scaled(ln["unit_price"])] for ln in lines]),
                "held": json.dumps([[k[0], k[1], k[2], bulk.scaled(q)]
                                    for k, q in sorted(held.items())]),
                "actor_type": actor.kind, "actor_id": actor.actor_id,
                "notes": json.dumps([[n["user_id"], n["api_key_id"], n["audience"]]
                                     for n in planned.notifications]),
                "event": ev.event, "title": ev.title, "body": ev.body,
                "data": json.dumps(first["data"] if first else None),
                "event_id": ev.event_id, "payload": json.dumps(planned.outbox["payload"]),
                "hooks": json.dumps(planned.endpoints),
                "audit": json.dumps(jsonable({"status": status})), "n_held": len(held),
                **({"r_variant": one[0][0], "r_location": one[0][1], "r_lot": one[0][2],
                    "r_qty": bulk.scaled(one[1])} if one else {}),
            },
        )[0])  # type: ignore[index]  # fmt: skip
    row = {k: v for k, v in order.items() if k != "id"}
    order_id = conn.execute(insert(orders).values(**row).returning(orders.c.id)).scalar_one()
    order["id"] = order_id
    conn.execute(
        insert(order_lines),
        [{"org_id": org_id, "order_id": order_id, "line_no": ln["line_no"],
          "variant_id": ln["variant_id"], "qty": ln["qty"], "unit_price": ln["unit_price"]}
         for ln in lines],
    )  # fmt: skip
    if held:
        conn.execute(
            insert(order_reservations),
            [{"order_id": order_id, "variant_id": k[0], "location_id": k[1], "lot": k[2],
              "org_id": org_id, "qty": q} for k, q in sorted(held.items())],
        )  # fmt: skip
    _record(conn, actor, order_id, org_id, "place", None, status, now)
    events.emit_many(conn, [_placed_event(order)], {org_id: to})
    audit.record(conn, actor, "order.place", "order", order_id, None, {"status": status})
    return True


def _placed_event(order: dict[str, Any]) -> events.Event:
    if order["status"] == OrderStatus.confirmed:
        return _event_of(order, "order.confirmed", to_sellers=True, buyer=_buyer(order))
    return _event_of(order, "order.requested", to_sellers=True)


class _Placing(NamedTuple):
    """An order to place, checked against what its first read found."""

    channel: int | None
    customer: dict[str, Any]
    lines: list[dict[str, Any]]
    ctx: _Context
    now: datetime


def _placing(
    conn: Connection, actor: Actor, data: dict[str, Any], ctx: _Context | None = None
) -> _Placing:
    """Check the order; read its context unless `ctx` was read with the caller."""
    actor.require("orders.place")
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be an object")
    unknown = set(data) - {"channel_id", "customer", "lines"}
    if unknown:
        raise ValidationFailed(f"unknown fields {sorted(unknown)}", {"fields": sorted(unknown)})
    channel = data.get("channel_id")
    if actor.channel_id is not None:
        if channel is not None and channel != actor.channel_id:
            raise ValidationFailed(
                "this API key is bound to another channel", {"field": "channel_id"}
            )
        channel = actor.channel_id
    customer = _customer(data.get("customer"))
    raw = _raw_lines(data.get("lines"))
    if ctx is None:
        ctx = _context(conn, actor.org_id, _skus_of(raw))
    return _Placing(channel, customer, _lines(raw, ctx.variants), ctx, _now())


def _skus_of(raw: list[dict[str, Any]]) -> list[str]:
    return sorted({ln["sku"] for ln in raw})


def _placed(
    actor: Actor, p: _Placing, order: dict[str, Any], held: dict[BalanceKey, Decimal]
) -> dict[str, Any]:
    """The response, from what is at hand: no read back."""
    timeline = [{"at": p.now, "action": "place", "from_status": None,
                 "to_status": order["status"], "actor_type": actor.kind,
                 "actor_id": actor.actor_id, "note": None}]  # fmt: skip
    return _shape(order, p.lines, held, timeline,
                  {ln["variant_id"]: ln["sku"] for ln in p.lines})  # fmt: skip


def place_order(
    conn: Connection, actor: Actor, data: dict[str, Any], lost: int = 0
) -> dict[str, Any]:
    """Confirm the order at once if every line is in active stock mode and within what is
    available (reserving it now); otherwise make it an order request for the seller.

    Locks last: availability is read without a lock, so an order that cannot be confirmed
    never locks anything. On PostgreSQL one that can is a single statement: a conditional
    upsert reserves its balance rows (locking them in key order, taking only what is still
    available), and the order with its lines, timeline, event and audit rows is written only
    if every row was reserved. If another order got there first, nothing was written (with
    several rows, a savepoint undoes the ones that were taken) and the decision is made again
    from a fresh read, and after a few such losses (`lost` counts those of an earlier try)
    under `SELECT ... FOR UPDATE`, as postings do. The rows stay locked for that statement
    and the COMMIT. On SQLite the writer holds the database (BEGIN IMMEDIATE), so the first
    read is already exact.

    Low-stock alerts are re-evaluated only when the first read found a computed policy for
    one of the variants (a policy made while the order is placed is evaluated by its own
    transaction, and by the scheduler's refresh).
    """
    p = _placing(conn, actor, data)
    pg = conn.dialect.name == "postgresql"
    slots = p.ctx.slots
    variant_ids = sorted({ln["variant_id"] for ln in p.lines})
    for attempt in range(lost, 5):
        if attempt == 3:  # lost three times in a row: decide under the lock, as postings do
            slots = _sellable_slots(conn, actor.org_id, variant_ids)
        # (under the lock the reservation cannot lose; should it ever, the order is a request)
        held = _allocation(p.lines, slots, p.ctx.default_location) if attempt < 4 else None
        order = _new_order(actor, p.channel, p.customer, held is not None, p.now, p.ctx)
        if not pg:  # SQLite: exact under BEGIN IMMEDIATE
            _write_order(conn, actor, order, p.lines, held or {}, p.ctx.to)
            if held:
                rows = ledger_db.apply_balance_deltas(conn, actor.org_id, {}, held)
                ledger_db.check_stock(shortages(rows), {})
            break
        # one row is either reserved or left as it was; of several, some might be taken
        partial = held is not None and len(held) > 1
        if partial:
            conn.exec_driver_sql("SAVEPOINT place_order")
        if _write_order(conn, actor, order, p.lines, held or {}, p.ctx.to):
            break
        if partial:
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT place_order")
        slots = _sellable_slots(conn, actor.org_id, variant_ids, lock=False)
    if held and p.ctx.has_policy:  # what it reserved lowers availability: the alerts see it now
        alerts.positions_changed(conn, actor.org_id, {k[0] for k in held})
    return _placed(actor, p, order, held or {})


def place_order_statementwise(
    uow: UnitOfWork, bearer: str, data: dict[str, Any],
    seen: Callable[[Actor], None] = lambda actor: None,
) -> dict[str, Any]:  # fmt: skip
    """place_order for the caller of a bearer token, without a transaction around it
    (PostgreSQL; for a request with no Idempotency-Key). One statement finds the caller and
    reads the order's context; the order with its reservation is written by one statement,
    which is its own transaction. That saves the BEGIN and COMMIT round trips and the token's
    own, and the balance row is locked only while that statement runs. A reservation over
    several balance rows, one that lost three times, or a body whose lines are unreadable
    is placed by place_order in a transaction (from a fresh read; it authenticates first).
    `seen` is told the caller as soon as it is known (the API audits a refusal with it).
    Low-stock alerts are re-evaluated in a transaction of their own after the order commits:
    each evaluation reads what is committed, so the last one sees the last change. Should it
    fail, the order still stands (logged; the scheduler's policy refresh catches up)."""

    def in_transaction(lost: int) -> dict[str, Any]:
        def run(conn: Connection) -> dict[str, Any]:
            actor = access.authenticate(conn, bearer)
            seen(actor)
            return place_order(conn, actor, data, lost)

        return uow.write(run)

    try:
        skus = _skus_of(_raw_lines(data.get("lines"))) if isinstance(data, dict) else None
    except ValidationFailed:
        skus = None
    if skus is None or uow.engine.dialect.name != "postgresql":
        return in_transaction(0)
    q = access.caller_query(bearer)
    sql, params = _pg_caller_context_sql(q.sql, len(skus)), {**q.params, **_skus_params(skus)}

    def attempt(conn: Connection) -> tuple[Actor, _Placing, dict[str, Any] | None, Any, int]:
        row = hot.fetch_one(conn, sql, params)
        actor = access.caller_of(bearer, row)
        seen(actor)
        assert row is not None
        p = _placing(conn, actor, data, _context_of(row[q.width :]))
        slots = p.ctx.slots
        for lost in range(3):
            held = _allocation(p.lines, slots, p.ctx.default_location)
            if held is not None and len(held) > 1:
                return actor, p, None, None, 0  # several rows: reserved under a savepoint
            order = _new_order(actor, p.channel, p.customer, held is not None, p.now, p.ctx)
            if _write_order(conn, actor, order, p.lines, held or {}, p.ctx.to):
                return actor, p, order, held, lost
            if lost < 2:  # (after the third loss the transaction reads, under the lock)
                variant_ids = sorted({ln["variant_id"] for ln in p.lines})
                slots = _sellable_slots(conn, actor.org_id, variant_ids, lock=False)
        return actor, p, None, None, 3

    actor, p, order, held, lost = uow.statementwise(attempt)
    if order is None:
        return in_transaction(lost)
    if held and p.ctx.has_policy:
        variants = {k[0] for k in held}
        try:
            uow.write(lambda c: alerts.positions_changed(c, actor.org_id, variants))
        except Exception:  # the order is committed: its caller must hear so, not a 500
            # (the scheduler's refresh of the policies re-evaluates their alerts)
            log.exception("low-stock alerts after order %s were not re-evaluated", order["id"])
    return _placed(actor, p, order, held or {})


def _new_order(
    actor: Actor, channel: int | None, customer: dict[str, Any], confirm: bool, now: datetime,
    ctx: _Context,
) -> dict[str, Any]:  # fmt: skip
    respond_by = None if confirm else now + timedelta(seconds=ctx.seller_response_seconds)
    status = OrderStatus.confirmed if confirm else OrderStatus.pending_seller
    return {
        "id": ctx.order_id, "org_id": actor.org_id, "status": status.value,
        "channel_id": channel, "customer": customer,
        "placed_by_user": actor.user_id if actor.kind == "user" else None,
        "placed_by_api_key": actor.api_key_id if actor.kind == "api_key" else None,
        "respond_by": respond_by, "pay_by": None, "decline_reason": None,
        "pickup_status": "requested" if confirm else None, "shipment_document_id": None,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def _load(conn: Connection, org_id: int, order_id: int, lock: bool = True) -> dict[str, Any]:
    stmt = select(orders).where(orders.c.id == order_id, orders.c.org_id == org_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("no such order", {"id": order_id})
    return dict(row._mapping)


def _move(
    conn: Connection, actor: Actor | None, order: dict[str, Any], action: str, now: datetime,
    note: str | None = None, **values: Any,
) -> dict[str, Any]:  # fmt: skip
    before = order["status"]
    after = rules.transition(action, before)
    conn.execute(
        update(orders)
        .where(orders.c.id == order["id"])
        .values(status=after.value, updated_at=now, **values)
    )
    order.update(status=after.value, updated_at=now, **values)
    _record(conn, actor, order["id"], order["org_id"], action, before, after.value, now, note)
    if actor is not None:
        audit.record(conn, actor, f"order.{action}", "order", order["id"],
                     {"status": before}, {"status": after.value})  # fmt: skip
    return order


def _deadline(order: dict[str, Any], field: str, now: datetime) -> None:
    due = order.get(field)
    if due is not None and now > due:
        raise Conflict(
            f"the deadline ({field} {due.isoformat()}) has passed",
            {"field": field, "deadline": due.isoformat()},
            code="deadline_passed",
        )


def accept(conn: Connection, actor: Actor, order_id: int) -> dict[str, Any]:
    actor.require("orders.manage")
    order = _load(conn, actor.org_id, order_id)
    rules.transition("accept", order["status"])
    now = _now()
    _deadline(order, "respond_by", now)
    window = _org(conn, actor.org_id).payment_window_seconds
    _move(conn, actor, order, "accept", now, pay_by=now + timedelta(seconds=window))
    _event(conn, order, "order.payment_requested", buyer=_buyer(order))
    return get_order(conn, actor, order_id, check=False)


def decline(conn: Connection, actor: Actor, order_id: int, reason: Any = None) -> dict[str, Any]:
    actor.require("orders.manage")
    reason = text(reason, "reason", 2000, required=False)
    order = _load(conn, actor.org_id, order_id)
    _move(conn, actor, order, "decline", _now(), reason, decline_reason=reason)
    _event(conn, order, "order.declined", buyer=_buyer(order))
    return get_order(conn, actor, order_id, check=False)


def pay(conn: Connection, actor: Actor, order_id: int) -> dict[str, Any]:
    """Payment received: the order is confirmed, with what tracked stock there is reserved
    (the rest will ship from `untracked`), and a pickup is requested."""
    actor.require("orders.place")
    order = _load(conn, actor.org_id, order_id)
    rules.transition("pay", order["status"])
    now = _now()
    _deadline(order, "pay_by", now)
    lines = _order_lines(conn, order_id)
    slots = _sellable_slots(conn, actor.org_id, sorted({ln["variant_id"] for ln in lines}))
    default = _org(conn, actor.org_id).default_shipping_location_id
    _reserve(conn, actor.org_id, order_id, lines, slots, default)
    _move(conn, actor, order, "pay", now, pickup_status="requested")
    _event(conn, order, "order.confirmed", to_sellers=True, buyer=_buyer(order))
    return get_order(conn, actor, order_id, check=False)


def cancel(conn: Connection, actor: Actor, order_id: int, reason: Any = None) -> dict[str, Any]:
    actor.require("orders.place")
    reason = text(reason, "reason", 2000, required=False)
    order = _load(conn, actor.org_id, order_id)
    rules.transition("cancel", order["status"])
    _release(conn, actor.org_id, order_id)
    _move(conn, actor, order, "cancel", _now(), reason, pickup_status=None)
    _event(conn, order, "order.cancelled", to_sellers=True, buyer=_buyer(order))
    return get_order(conn, actor, order_id, check=False)


def pickup(conn: Connection, actor: Actor, order_id: int, status: Any) -> dict[str, Any]:
    """`picked_up` posts the shipment: reserved units from where they are held, any remainder
    from the virtual `untracked` location. `delivered` closes the order."""
    actor.require("orders.manage")
    if status not in ("picked_up", "delivered"):
        raise ValidationFailed("status must be picked_up or delivered", {"field": "status"})
    order = _load(conn, actor.org_id, order_id)
    rules.transition(status, order["status"])
    now = _now()
    if status == "picked_up":
        doc_id = _ship(conn, actor, order, now)
        _move(conn, actor, order, "picked_up", now, pickup_status="picked_up",
              shipment_document_id=doc_id)  # fmt: skip
        _event(conn, order, "order.picked_up", buyer=_buyer(order))
    else:
        _move(conn, actor, order, "delivered", now, pickup_status="delivered")
        _event(conn, order, "order.delivered", buyer=_buyer(order))
    return get_order(conn, actor, order_id, check=False)


def _order_lines(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(order_lines)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.line_no)
        )
    ]


def _ship(conn: Connection, actor: Actor, order: dict[str, Any], now: datetime) -> int:
    """Post the order's shipment as a done shipment document: the reservations leave their
    locations (and are released in the same balance upsert), the rest leaves `untracked`."""
    org_id = order["org_id"]
    virtual = virtual_location_ids(conn, org_id)
    held = {
        (r.variant_id, r.location_id, r.lot): r.qty
        for r in conn.execute(
            select(order_reservations).where(order_reservations.c.order_id == order["id"])
        )
    }
    moves: list[Move] = []
    remaining = dict(held)
    for ln in _order_lines(conn, order["id"]):
        need = ln["qty"]
        for key in sorted(k for k in remaining if k[0] == ln["variant_id"]):
            take = min(need, remaining[key])
            if take > 0:
                moves.append(Move(key[0], key[1], virtual["customer"], take, key[2],
                                  line_no=ln["line_no"]))  # fmt: skip
                remaining[key] -= take
                need -= take
        if need > 0:
            moves.append(Move(ln["variant_id"], virtual["untracked"], virtual["customer"], need,
                              line_no=ln["line_no"]))  # fmt: skip
    doc_id = conn.execute(
        insert(stock_documents).values(
            org_id=org_id, type="shipment", state="done",
            from_location_id=min((k[1] for k in held), default=None),
            note=f"order {order['id']}: pickup", effective_at=now, created_by=actor.user_id,
            created_at=now, submitted_by=actor.user_id, submitted_at=now, posted_at=now,
            two_step=False, reversed=False,
        ).returning(stock_documents.c.id)
    ).scalar_one()  # fmt: skip
    bulk.insert_lines(
        conn, org_id,
        [(doc_id, i, m.variant_id, m.qty, None, m.lot, None, ()) for i, m in enumerate(moves, 1)],
    )  # fmt: skip
    costing.check_open(conn, org_id, [now])
    internal = {k[1] for k in held}
    types = {i: kind for kind, i in virtual.items()}
    ledger_db.post_moves(
        conn, org_id, [(doc_id, now, moves)], internal, recorded_at=now, user_id=actor.user_id,
        sku_names={}, reserved={k: -q for k, q in held.items()}, virtual_types=types,
    )  # fmt: skip
    conn.execute(delete(order_reservations).where(order_reservations.c.order_id == order["id"]))
    return doc_id


# ------------------------------------------------------------------ deadlines (scheduler)


def lapse_due(conn: Connection, now: datetime | None = None, limit: int = 500) -> int:
    """Order requests past respond_by become `expired`; accepted orders past pay_by become
    `cancelled`. Takes due orders with SKIP LOCKED (PostgreSQL), so several workers share the
    work and an order a command is holding is left to that command (which then sees its own
    deadline). A batch is a fixed number of statements: the status change, the timeline and
    the events (`events.emit_many`: recipients, notifications, outbox, deliveries) are all
    set-based. Returns how many."""
    now = now or _now()
    done = 0
    for status, field, action, event in (
        (OrderStatus.pending_seller, orders.c.respond_by, "expire", "order.expired"),
        (OrderStatus.awaiting_payment, orders.c.pay_by, "lapse", "order.cancelled"),
    ):
        stmt = (
            select(orders)
            .where(orders.c.status == status.value, field <= now)
            .order_by(field)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        due = [dict(r._mapping) for r in conn.execute(stmt)]
        if not due:
            continue
        after = rules.transition(action, status.value)
        ids = [o["id"] for o in due]
        conn.execute(
            update(orders)
            .where(orders.c.id.in_(ids), orders.c.status == status.value)
            .values(status=after.value, updated_at=now)
        )
        conn.execute(
            insert(order_events),
            [{"org_id": o["org_id"], "order_id": o["id"], "at": now, "actor_type": "system",
              "actor_id": None, "action": action, "from_status": status.value,
              "to_status": after.value, "note": "deadline passed"} for o in due],
        )  # fmt: skip
        for o in due:
            o["status"] = after.value
        events.emit_many(
            conn,
            [_event_of(o, event, buyer=_buyer(o), to_sellers=event == "order.cancelled")
             for o in due],
        )  # fmt: skip
        done += len(due)
    return done


# ------------------------------------------------------------------ read


def available_of(conn: Connection, org_id: int, sku: str) -> Decimal:
    """What an order for this SKU would find available now (sellable locations)."""
    found = resolve_variants(conn, org_id, {sku}, set())
    if sku not in found:
        raise NotFound("unknown sku", {"sku": sku})
    sellable = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.internal.is_(True), locations.c.sellable
    )
    rows = conn.execute(
        select(balances.c.on_hand, balances.c.reserved).where(
            balances.c.org_id == org_id,
            balances.c.variant_id == found[sku].id,
            balances.c.location_id.in_(sellable),
        )
    ).all()
    return sum((r.on_hand - r.reserved for r in rows), ZERO)


def get_order(conn: Connection, actor: Actor, order_id: int, check: bool = True) -> dict[str, Any]:
    if check:
        actor.require("orders.read")
    order = _load(conn, actor.org_id, order_id, lock=False)
    lines = _order_lines(conn, order_id)
    found = resolve_variants(conn, actor.org_id, set(), {ln["variant_id"] for ln in lines})
    held = {
        (r.variant_id, r.location_id, r.lot): r.qty
        for r in conn.execute(
            select(order_reservations).where(order_reservations.c.order_id == order_id)
        )
    }
    timeline = [
        {"at": e.at, "action": e.action, "from_status": e.from_status, "to_status": e.to_status,
         "actor_type": e.actor_type, "actor_id": e.actor_id, "note": e.note}
        for e in conn.execute(
            select(order_events).where(order_events.c.order_id == order_id)
            .order_by(order_events.c.id)
        )
    ]  # fmt: skip
    skus = {v: found[v].sku for v in {ln["variant_id"] for ln in lines}}
    return _shape(order, lines, held, timeline, skus)


def _shape(
    order: dict[str, Any], lines: list[dict[str, Any]], held: dict[BalanceKey, Decimal],
    timeline: list[dict[str, Any]], skus: dict[int, str],
) -> dict[str, Any]:  # fmt: skip
    per_variant: dict[int, Decimal] = defaultdict(Decimal)
    for (variant_id, _, _), qty in held.items():
        per_variant[variant_id] += qty
    return {
        "id": order["id"],
        "status": order["status"],
        "channel_id": order["channel_id"],
        "customer": order["customer"],
        "respond_by": order["respond_by"],
        "pay_by": order["pay_by"],
        "decline_reason": order["decline_reason"],
        "pickup": None if order["pickup_status"] is None else {
            "status": order["pickup_status"], "shipment_document_id": order["shipment_document_id"],
        },
        "lines": [
            {"line_no": ln["line_no"], "sku": skus[ln["variant_id"]],
             "variant_id": ln["variant_id"], "qty": ln["qty"], "unit_price": ln["unit_price"],
             "reserved": per_variant.get(ln["variant_id"], ZERO)}
            for ln in lines
        ],
        "reservations": [
            {"sku": skus[k[0]], "location_id": k[1], "lot": k[2] or None, "qty": q}
            for k, q in sorted(held.items())
        ],
        "timeline": timeline,
        "created_at": order["created_at"],
        "updated_at": order["updated_at"],
    }  # fmt: skip


def list_orders(
    conn: Connection, actor: Actor, status: str | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    actor.require("orders.read")
    stmt = select(orders).where(orders.c.org_id == actor.org_id)
    if status is not None:
        if status not in OrderStatus.__members__:
            raise ValidationFailed(
                f"status must be one of {', '.join(OrderStatus)}", {"field": "status"}
            )
        stmt = stmt.where(orders.c.status == status)
    if after is not None:
        stmt = stmt.where(orders.c.id < after)
    rows = conn.execute(stmt.order_by(orders.c.id.desc()).limit(limit)).all()
    return [
        {"id": r.id, "status": r.status, "channel_id": r.channel_id, "customer": r.customer,
         "respond_by": r.respond_by, "pay_by": r.pay_by, "created_at": r.created_at,
         "updated_at": r.updated_at}
        for r in rows
    ]  # fmt: skip
