"""Purchase orders: create (one or many, set-based), send, cancel, close short, and read.
What arrives against them (ASNs, the receive command) is in `service/deliveries.py`; how a
posted receipt counts on the order lines is in `service/receiving.py`.

Every command on an order locks its row FOR UPDATE first, so a status change and a receipt (or
two receipts) on one order serialise; the loser sees the winner's status and quantities.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from hoop.adapters.db.tables import (
    asns,
    locations,
    orgs,
    purchase_order_lines,
    purchase_orders,
    stock_documents,
    supplier_items,
    suppliers,
    variants,
)
from hoop.domain import purchasing as rules
from hoop.domain.errors import Conflict, HoopError, NotFound, ValidationFailed
from hoop.domain.fields import text
from hoop.domain.purchasing import POStatus
from hoop.domain.quantities import ZERO, Money4, parse_decimal, q4
from hoop.service import alerts, audit, events, receiving
from hoop.service.catalog import resolve_variants
from hoop.service.context import Actor

pol = purchase_order_lines
MAX_LINES = 2000
PO_KEYS = {"supplier_id", "location_id", "expected_at", "note", "lines"}
LINE_KEYS = {"sku", "variant_id", "qty", "unit_price", "expected_at", "location_id"}


def _now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f"{field} must be an ISO 8601 time", {"field": field}) from None
    if value.tzinfo is None:
        raise ValidationFailed(f"{field} needs a time zone", {"field": field})
    return value.astimezone(UTC)


def parse_id(value: Any, field: str, where: dict[str, Any] | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be an integer id", {**(where or {}), "field": field})
    return value


def check_keys(data: Any, allowed: set[str], what: str, where: dict[str, Any]) -> None:
    if not isinstance(data, dict):
        raise ValidationFailed(f"each {what} is an object", where)
    unknown = set(data) - allowed
    if unknown:
        raise ValidationFailed(f"unknown {what} fields {sorted(unknown)}", where)


@contextmanager
def _draft(index: int, count: int) -> Iterator[None]:
    try:
        yield
    except HoopError as exc:
        if count > 1:
            exc.message = f"purchase order {index}: {exc.message}"
            exc.details = {"purchase_order": index, "details": exc.details}
        raise


# ------------------------------------------------------------------ create


def create_purchase_order(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """A draft purchase order (source `manual`)."""
    return _create(conn, actor, [data], "manual")[0]


def create_purchase_orders(
    conn: Connection, actor: Actor, drafts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Several draft purchase orders in one go (source `suggestion`), all or none, in a fixed
    number of statements whatever their count. Each draft is `{supplier_id, location_id,
    expected_at, note?, lines: [{variant_id | sku, qty, unit_price?, location_id?,
    expected_at?}]}` with the same rules and defaults as POST /purchase-orders. Returns the
    orders as GET /purchase-orders/{id} shows them."""
    return _create(conn, actor, drafts, "suggestion")


def _create(conn: Connection, actor: Actor, drafts: Any, source: str) -> list[dict[str, Any]]:
    actor.require("purchasing.write")
    if not isinstance(drafts, list) or not drafts:
        raise ValidationFailed("give at least one purchase order", {"field": "purchase_orders"})
    org_id, n = actor.org_id, len(drafts)
    sup_ids, loc_ids, skus, vids = set(), set(), set(), set()
    for i, d in enumerate(drafts):
        with _draft(i, n):
            check_keys(d, PO_KEYS, "purchase order", {})
            sup_ids.add(parse_id(d.get("supplier_id"), "supplier_id"))
            if d.get("location_id") is not None:
                loc_ids.add(parse_id(d["location_id"], "location_id"))
            lines = d.get("lines")
            if not isinstance(lines, list) or not lines or len(lines) > MAX_LINES:
                raise ValidationFailed(
                    f"a purchase order needs 1 to {MAX_LINES} lines", {"field": "lines"}
                )
            for j, ln in enumerate(lines):
                check_keys(ln, LINE_KEYS, "line", {"line": j})
                if ln.get("location_id") is not None:
                    loc_ids.add(parse_id(ln["location_id"], "location_id", {"line": j}))
                if ln.get("variant_id") is not None:
                    vids.add(parse_id(ln["variant_id"], "variant_id", {"line": j}))
                elif isinstance(ln.get("sku"), str) and ln["sku"]:
                    skus.add(ln["sku"])
                else:
                    raise ValidationFailed("each line needs a sku or a variant_id", {"line": j})
    org = conn.execute(
        select(orgs.c.currency, orgs.c.default_shipping_location_id).where(orgs.c.id == org_id)
    ).one()
    sups = {
        r.id: r
        for r in conn.execute(
            select(suppliers).where(suppliers.c.org_id == org_id, suppliers.c.id.in_(sup_ids))
        )
    }
    if any(d.get("location_id") is None for d in drafts):
        default = _default_location(conn, org_id, org.default_shipping_location_id)
        if default is not None:
            loc_ids.add(default)
    else:
        default = None
    locs = {
        r.id: r.internal
        for r in conn.execute(
            select(locations.c.id, locations.c.internal).where(
                locations.c.org_id == org_id, locations.c.id.in_(sorted(loc_ids))
            )
        )
    }
    found = resolve_variants(conn, org_id, skus, vids)
    ids = {v.id for v in found.values()}
    prices = {
        (r.supplier_id, r.variant_id): r
        for r in conn.execute(
            select(supplier_items).where(
                supplier_items.c.org_id == org_id,
                supplier_items.c.supplier_id.in_(sorted(sup_ids)),
                supplier_items.c.variant_id.in_(sorted(ids)),
            )
        )
    } if ids else {}  # fmt: skip
    now = _now()
    prepared = []
    for i, d in enumerate(drafts):
        with _draft(i, n):
            prepared.append(_prepare(actor, d, source, sups, locs, default, found, prices, now))
    po_ids = _insert_many(conn, purchase_orders, [po for po, _ in prepared])
    rows = []
    for po_id, (po, lines) in zip(po_ids, prepared, strict=True):
        po["id"] = po_id
        for ln in lines:
            ln["purchase_order_id"] = po_id
            rows.append(ln)
    line_ids = _insert_many(conn, pol, rows)
    for line_id, ln in zip(line_ids, rows, strict=True):
        ln["id"] = line_id
    audit.record_many(conn, actor, [
        ("purchase_order.create", "purchase_order", po["id"], None,
         {"status": po["status"], "supplier_id": po["supplier_id"], "source": source,
          "lines": len(lines)})
        for po, lines in prepared
    ])  # fmt: skip
    alerts.positions_changed(conn, org_id, sorted({ln["variant_id"] for ln in rows}))
    skus_of = {v.id: v.sku for v in found.values()}
    return [
        _shape(po, sups[po["supplier_id"]].name, lines, skus_of, [], []) for po, lines in prepared
    ]


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows in one statement; their ids in the rows' order."""
    if conn.dialect.name == "postgresql":
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars())
    # SQLite writers hold the database lock (BEGIN IMMEDIATE) and rowids are max + 1: the rows
    # just inserted are the last len(rows) ids (as in adapters/db/bulk.py).
    conn.execute(insert(table), rows)
    last = conn.execute(select(func.max(table.c.id))).scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def _default_location(conn: Connection, org_id: int, shipping: int | None) -> int | None:
    """The org's default shipping location, else its first internal warehouse."""
    if shipping is not None:
        return shipping
    return conn.execute(
        select(locations.c.id)
        .where(locations.c.org_id == org_id, locations.c.internal.is_(True),
               locations.c.type == "warehouse")
        .order_by(locations.c.id)
        .limit(1)
    ).scalar()  # fmt: skip


def _location(locs: dict[int, bool], loc_id: int | None, where: dict[str, Any]) -> int:
    if loc_id is None:
        raise ValidationFailed(
            "give location_id: the org has no default shipping location and no warehouse",
            {**where, "field": "location_id"}, code="location_required",
        )  # fmt: skip
    if loc_id not in locs:
        raise NotFound("no such location", {**where, "location_id": loc_id})
    if not locs[loc_id]:
        raise ValidationFailed(
            "location_id must be an internal location, not a virtual one",
            {**where, "field": "location_id"},
        )
    return loc_id


def _prepare(
    actor: Actor, d: dict[str, Any], source: str, sups: dict[int, Any], locs: dict[int, bool],
    default: int | None, found: dict[Any, Any], prices: dict[tuple[int, int], Any],
    now: datetime,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """One draft validated against the preloaded lookups; no I/O."""
    sup = sups.get(d["supplier_id"])
    if sup is None:
        raise NotFound("no such supplier", {"supplier_id": d["supplier_id"]})
    if not sup.active:
        raise Conflict(
            "this supplier is inactive", {"supplier_id": sup.id}, code="supplier_inactive"
        )
    location = _location(locs, d.get("location_id") or default, {})
    expected = parse_time(d.get("expected_at"), "expected_at")
    note = text(d.get("note"), "note", 2000, required=False)
    lines = []
    for j, ln in enumerate(d["lines"]):
        where = {"line": j}
        v = found.get(ln["variant_id"] if ln.get("variant_id") is not None else ln["sku"])
        if v is None:
            ref = ln.get("variant_id") or ln.get("sku")
            raise NotFound(f"unknown sku or variant: {ref}", {**where, "missing": [str(ref)]})
        if v.status == "archived":
            raise Conflict(
                f"{v.sku} is archived: it takes no purchase orders",
                {**where, "skus": [v.sku]}, code="product_archived",
            )  # fmt: skip
        qty = parse_decimal(ln.get("qty"), f"lines[{j}].qty")
        if qty <= 0:
            raise ValidationFailed("qty must be greater than zero", where)
        if v.tracking == "serial" and qty != qty.to_integral_value():
            raise ValidationFailed("serial-tracked quantities are whole units", where)
        price = ln.get("unit_price")
        if price is None:
            item = prices.get((sup.id, v.id))
            if item is None or item.currency != sup.currency:
                raise ValidationFailed(
                    f"give unit_price: supplier {sup.id} has no {sup.currency} price for {v.sku}",
                    {**where, "field": "unit_price"}, code="unit_price_required",
                )  # fmt: skip
            price = item.price
        price = parse_decimal(price, f"lines[{j}].unit_price")
        if price < 0:
            raise ValidationFailed("unit_price must not be negative", where)
        lines.append({
            "org_id": actor.org_id, "line_no": j + 1, "variant_id": v.id,
            "location_id": _location(locs, ln.get("location_id") or location, where),
            "qty": qty, "received_qty": ZERO, "unit_price": price,
            "expected_at": parse_time(ln.get("expected_at"), "expected_at") or expected,
            "open": True,
        })  # fmt: skip
    po = {
        "org_id": actor.org_id, "supplier_id": sup.id, "status": POStatus.draft.value,
        "currency": sup.currency, "location_id": location, "expected_at": expected,
        "note": note, "source": source, "created_by": actor.user_id, "created_at": now,
        "sent_at": None, "cancelled_at": None, "received_at": None, "closed_short": False,
        "updated_at": now,
    }  # fmt: skip
    return po, lines


# ------------------------------------------------------------------ life cycle


def lock(conn: Connection, org_id: int, po_id: int) -> dict[str, Any]:
    po = receiving.lock_orders(conn, org_id, [po_id]).get(po_id)
    if po is None:
        raise NotFound("no such purchase order", {"id": po_id})
    return po


def _lines(conn: Connection, po_id: int) -> list[dict[str, Any]]:
    return list(receiving.order_lines(conn, [po_id]).values())


def _set_status(
    conn: Connection, actor: Actor, po: dict[str, Any], action: str, after: POStatus,
    **values: Any,
) -> None:  # fmt: skip
    now = _now()
    conn.execute(
        update(purchase_orders)
        .where(purchase_orders.c.id == po["id"])
        .values(status=after.value, updated_at=now, **values)
    )
    audit.record(conn, actor, f"purchase_order.{action}", "purchase_order", po["id"],
                 {"status": po["status"]}, {"status": after.value, **values})  # fmt: skip
    po.update(status=after.value, updated_at=now, **values)


def send(conn: Connection, actor: Actor, po_id: int) -> dict[str, Any]:
    """draft -> sent: the order goes to the supplier."""
    actor.require("purchasing.write")
    po = lock(conn, actor.org_id, po_id)
    after = rules.transition("send", po["status"])
    _set_status(conn, actor, po, "send", after, sent_at=_now())
    lines = _lines(conn, po_id)
    events.emit(
        conn, actor.org_id, "purchase_order.sent",
        {"purchase_order_id": po_id, "supplier_id": po["supplier_id"],
         "expected_at": po["expected_at"].isoformat() if po["expected_at"] else None,
         "lines": [{"variant_id": ln["variant_id"], "qty": str(ln["qty"])} for ln in lines]},
        title="Purchase order sent", body=f"Purchase order {po_id} was sent to the supplier.",
    )  # fmt: skip
    alerts.positions_changed(conn, actor.org_id, sorted({ln["variant_id"] for ln in lines}))
    return get_purchase_order(conn, actor, po_id, check=False)


def cancel(conn: Connection, actor: Actor, po_id: int) -> dict[str, Any]:
    """draft or sent, with nothing received -> cancelled: nothing is incoming any more."""
    actor.require("purchasing.write")
    po = lock(conn, actor.org_id, po_id)
    lines = _lines(conn, po_id)
    received = sum((ln["received_qty"] for ln in lines), ZERO)
    after = rules.transition("cancel", po["status"], received)
    _set_status(conn, actor, po, "cancel", after, cancelled_at=_now())
    _drop_open_asns(conn, actor.org_id, po_id)
    alerts.positions_changed(conn, actor.org_id, sorted({ln["variant_id"] for ln in lines}))
    return get_purchase_order(conn, actor, po_id, check=False)


def close(conn: Connection, actor: Actor, po_id: int) -> dict[str, Any]:
    """partially_received -> received, closed short: the open rest is no longer expected."""
    actor.require("purchasing.write")
    po = lock(conn, actor.org_id, po_id)
    after = rules.transition("close", po["status"])
    conn.execute(
        update(pol).where(pol.c.purchase_order_id == po_id, pol.c.open.is_(True)).values(open=False)
    )
    _set_status(conn, actor, po, "close", after, closed_short=True, received_at=_now())
    _drop_open_asns(conn, actor.org_id, po_id)
    receiving.emit_received(conn, po)
    variant_ids = {ln["variant_id"] for ln in _lines(conn, po_id)}
    alerts.positions_changed(conn, actor.org_id, sorted(variant_ids))
    return get_purchase_order(conn, actor, po_id, check=False)


def _drop_open_asns(conn: Connection, org_id: int, po_id: int) -> None:
    conn.execute(
        update(asns)
        .where(asns.c.org_id == org_id, asns.c.purchase_order_id == po_id, asns.c.status == "open")
        .values(status="cancelled")
    )


# ------------------------------------------------------------------ read


def money(value: Decimal) -> Money4:
    """Money keeps its 4 places in the API ("2.5000")."""
    return Money4(q4(value))


def _shape(
    po: dict[str, Any], supplier_name: str, lines: list[dict[str, Any]], skus: dict[int, str],
    asn_list: list[dict[str, Any]], receipts: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    counting = POStatus(po["status"]) in rules.OPEN
    out_lines = [
        {"id": ln["id"], "line_no": ln["line_no"], "sku": skus.get(ln["variant_id"]),
         "variant_id": ln["variant_id"], "location_id": ln["location_id"], "qty": ln["qty"],
         "received_qty": ln["received_qty"],
         "open_qty": rules.open_qty(ln["qty"], ln["received_qty"], ln["open"] and counting),
         "unit_price": money(ln["unit_price"]), "expected_at": ln["expected_at"],
         "open": ln["open"]}
        for ln in sorted(lines, key=lambda x: x["line_no"])
    ]  # fmt: skip
    keys = ("id", "supplier_id", "status", "currency", "location_id", "expected_at", "note",
            "source", "created_by", "created_at", "sent_at", "cancelled_at", "received_at",
            "closed_short", "updated_at")  # fmt: skip
    return {
        **{k: po[k] for k in keys}, "closed_short": bool(po["closed_short"]),
        "supplier_name": supplier_name,
        "total": money(sum((ln["qty"] * ln["unit_price"] for ln in lines), ZERO)),
        "lines": out_lines, "asns": asn_list, "receipts": receipts,
    }  # fmt: skip


def get_purchase_order(
    conn: Connection, actor: Actor, po_id: int, check: bool = True
) -> dict[str, Any]:
    """The order with its lines (qty, received_qty, open_qty), its ASNs and its receipts."""
    if check:
        actor.require("purchasing.read")
    row = conn.execute(
        select(purchase_orders, suppliers.c.name.label("supplier_name"))
        .join(suppliers, suppliers.c.id == purchase_orders.c.supplier_id)
        .where(purchase_orders.c.id == po_id, purchase_orders.c.org_id == actor.org_id)
    ).first()
    if row is None:
        raise NotFound("no such purchase order", {"id": po_id})
    po = dict(row._mapping)
    lines = _lines(conn, po_id)
    skus = {
        r.id: r.sku
        for r in conn.execute(
            select(variants.c.id, variants.c.sku).where(
                variants.c.id.in_(sorted({ln["variant_id"] for ln in lines}))
            )
        )
    }
    asn_rows = conn.execute(
        select(asns).where(asns.c.purchase_order_id == po_id, asns.c.org_id == actor.org_id)
        .order_by(asns.c.id)
    ).all()  # fmt: skip
    asn_list = [
        {k: a._mapping[k] for k in ("id", "status", "reference", "ship_date", "arrive_from",
                                     "arrive_to", "receipt_document_id")}
        for a in asn_rows
    ]  # fmt: skip
    sd = stock_documents
    receipts = [
        dict(r._mapping)
        for r in conn.execute(
            select(sd.c.id, sd.c.state, sd.c.to_location_id, sd.c.effective_at, sd.c.posted_at,
                   sd.c.created_at, sd.c.reversed)
            .where(sd.c.org_id == actor.org_id, sd.c.purchase_order_id == po_id)
            .order_by(sd.c.id)
        )
    ]  # fmt: skip
    return _shape(po, po["supplier_name"], lines, skus, asn_list, receipts)


def list_purchase_orders(
    conn: Connection, actor: Actor, status: str | None, supplier_id: int | None, limit: int,
    after: int | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Newest first, with each order's line count, ordered and received quantities and total."""
    actor.require("purchasing.read")
    if status is not None and status not in POStatus.__members__:
        raise ValidationFailed(f"status must be one of {', '.join(POStatus)}", {"field": "status"})
    stmt = (
        select(purchase_orders, suppliers.c.name.label("supplier_name"))
        .join(suppliers, suppliers.c.id == purchase_orders.c.supplier_id)
        .where(purchase_orders.c.org_id == actor.org_id)
    )
    if status is not None:
        stmt = stmt.where(purchase_orders.c.status == status)
    if supplier_id is not None:
        stmt = stmt.where(purchase_orders.c.supplier_id == supplier_id)
    if after is not None:
        stmt = stmt.where(purchase_orders.c.id < after)
    rows = conn.execute(stmt.order_by(purchase_orders.c.id.desc()).limit(limit)).all()
    totals: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"lines": 0, "qty": ZERO, "received_qty": ZERO, "total": ZERO}
    )
    if rows:
        for ln in conn.execute(
            select(pol.c.purchase_order_id, pol.c.qty, pol.c.received_qty, pol.c.unit_price)
            .where(pol.c.purchase_order_id.in_([r.id for r in rows]))
        ):  # fmt: skip
            t = totals[ln.purchase_order_id]
            t["lines"] += 1
            t["qty"] += ln.qty
            t["received_qty"] += ln.received_qty
            t["total"] += ln.qty * ln.unit_price
    keys = (
        "id",
        "supplier_id",
        "supplier_name",
        "status",
        "currency",
        "location_id",
        "expected_at",
        "source",
        "closed_short",
        "created_at",
        "sent_at",
        "updated_at",
    )
    return [
        {**{k: r._mapping[k] for k in keys}, "closed_short": bool(r.closed_short),
         "line_count": totals[r.id]["lines"], "qty": totals[r.id]["qty"],
         "received_qty": totals[r.id]["received_qty"], "total": money(totals[r.id]["total"])}
        for r in rows
    ]  # fmt: skip
