"""Receipts against purchase-order lines: the hooks `service/stock.py` calls.

- `expand`: before a batch of documents is validated, a receipt naming `purchase_order_id` gets
  its variants, destination and unit costs from the order's lines (the order row locked).
- `link`: after its lines are written, they name their purchase-order lines.
- `on_posting`: when such a receipt posts (at once, on submit or on approval) the lines'
  `received_qty` grows and the order's status follows; when a posted one is cancelled
  (reversed) the quantity is given back and the status moves back.

Every path locks the purchase-order rows (ordered by id) FOR UPDATE before reading what is
open, so two receipts on one line serialise and can never over-receive. Lock order: document
row (approve, cancel) -> purchase orders -> balance rows (posting).

A document batch without purchase orders costs these hooks no statement.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from hoop.adapters.db.tables import (
    asns,
    document_lines,
    locations,
    purchase_order_lines,
    purchase_orders,
)
from hoop.domain import purchasing as rules
from hoop.domain.errors import NotFound, ValidationFailed
from hoop.domain.purchasing import POStatus
from hoop.domain.quantities import ZERO, parse_decimal
from hoop.service import audit, events
from hoop.service.context import Actor
from hoop.service.suppliers import org_currency

pol = purchase_order_lines
LINE_KEYS = {"purchase_order_line_id", "qty", "unit_cost", "lot", "expiry", "serials",
             "sku", "variant_id"}  # fmt: skip


def lock_orders(conn: Connection, org_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Lock these purchase orders (in id order) and return them; unknown ids are left out."""
    rows = conn.execute(
        select(purchase_orders)
        .where(purchase_orders.c.org_id == org_id, purchase_orders.c.id.in_(sorted(set(ids))))
        .order_by(purchase_orders.c.id)
        .with_for_update()
    ).all()
    return {r.id: dict(r._mapping) for r in rows}


def order_lines(conn: Connection, po_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The lines of these orders, by line id."""
    rows = conn.execute(
        select(pol).where(pol.c.purchase_order_id.in_(sorted(set(po_ids)))).order_by(pol.c.id)
    ).all()
    return {r.id: dict(r._mapping) for r in rows}


def open_of(line: dict[str, Any]) -> Decimal:
    return rules.open_qty(line["qty"], line["received_qty"], line["open"])


def _id(value: Any, field: str, where: dict[str, Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be an integer id", {**where, "field": field})
    return value


# ------------------------------------------------------------------ before validation


def expand(
    conn: Connection, actor: Actor, batch: list[Any]
) -> tuple[list[Any], dict[int, list[int]]]:
    """Receipts naming a purchase order, rewritten as plain receipts (variant, destination
    and unit cost from the order's lines); returns the batch and, per batch index, the
    purchase-order line id of each line. Refuses (writing nothing) an order that takes no
    receipts (409 invalid_state), more than is open (409 over_receipt) and lines of another
    order or bound elsewhere (422)."""
    named = [
        i for i, d in enumerate(batch)
        if isinstance(d, dict) and (d.get("purchase_order_id") is not None or any(
            isinstance(ln, dict) and ln.get("purchase_order_line_id") is not None
            for ln in (d.get("lines") if isinstance(d.get("lines"), list) else [])
        ))
    ]  # fmt: skip
    if not named:
        return batch, {}
    po_ids: list[int] = []
    for i in named:
        d = batch[i]
        if d.get("type") != "receipt":
            raise ValidationFailed(
                "only receipts are made against a purchase order", {"document": i}
            )
        po_ids.append(_id(d.get("purchase_order_id"), "purchase_order_id", {"document": i}))
    orders = lock_orders(conn, actor.org_id, po_ids)
    for po_id in po_ids:
        if po_id not in orders:
            raise NotFound("no such purchase order", {"purchase_order_id": po_id})
        rules.check_receiving(orders[po_id]["status"])
    lines = order_lines(conn, po_ids)
    paths = _paths(conn, actor.org_id, batch, named, lines)
    home = org_currency(conn, actor.org_id)
    wanted: dict[int, Decimal] = defaultdict(Decimal)
    out, links = list(batch), {}
    for i in named:
        out[i], links[i] = _expand_one(batch[i], i, orders, lines, paths, home, wanted)
    rules.raise_over_receipt(
        rules.over_receipts(wanted, {k: open_of(v) for k, v in lines.items() if k in wanted})
    )
    return out, links


def _paths(
    conn: Connection, org_id: int, batch: list[Any], named: list[int],
    lines: dict[int, dict[str, Any]],
) -> dict[int, str]:  # fmt: skip
    ids = {ln["location_id"] for ln in lines.values()}
    for i in named:
        to = batch[i].get("to_location_id") or batch[i].get("location_id")
        if isinstance(to, int) and not isinstance(to, bool):
            ids.add(to)
    rows = conn.execute(
        select(locations.c.id, locations.c.path).where(
            locations.c.org_id == org_id, locations.c.id.in_(sorted(ids))
        )
    ).all()
    return {r.id: r.path for r in rows}


def _expand_one(
    data: dict[str, Any], i: int, orders: dict[int, dict[str, Any]],
    lines: dict[int, dict[str, Any]], paths: dict[int, str], home: str,
    wanted: dict[int, Decimal],
) -> tuple[dict[str, Any], list[int]]:  # fmt: skip
    po = orders[data["purchase_order_id"]]
    raw = data.get("lines")
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("a document needs at least one line", {"field": "lines"})
    new_lines, links, dests = [], [], set()
    for n, ln in enumerate(raw):
        where = {"document": i, "line": n}
        if not isinstance(ln, dict):
            raise ValidationFailed("each line is an object", where)
        unknown = set(ln) - LINE_KEYS
        if unknown:
            raise ValidationFailed(f"unknown line fields {sorted(unknown)}", where)
        line_id = _id(ln.get("purchase_order_line_id"), "purchase_order_line_id", where)
        line = lines.get(line_id)
        if line is None or line["purchase_order_id"] != po["id"]:
            raise NotFound(
                f"purchase order {po['id']} has no line {line_id}",
                {**where, "purchase_order_line_id": line_id},
            )
        if ln.get("variant_id") not in (None, line["variant_id"]):
            raise ValidationFailed("variant_id differs from the purchase order line's", where)
        qty = parse_decimal(ln.get("qty"), f"lines[{n}].qty")
        if qty <= 0:
            raise ValidationFailed("qty must be greater than zero", where)
        wanted[line_id] += qty
        cost = ln.get("unit_cost")
        if cost is None:
            if po["currency"] != home:
                raise ValidationFailed(
                    f"the order is in {po['currency']}, not {home}: give unit_cost in {home}",
                    where, code="unit_cost_required",
                )  # fmt: skip
            cost = line["unit_price"]
        new_lines.append(
            {"variant_id": line["variant_id"], "qty": qty, "unit_cost": cost,
             **{k: ln[k] for k in ("lot", "expiry", "serials") if ln.get(k) is not None}}
        )  # fmt: skip
        links.append(line_id)
        dests.add(line["location_id"])
    to = data.get("to_location_id") or data.get("location_id")
    if to is None:
        if len(dests) > 1:
            raise ValidationFailed(
                "these lines are bound for different locations: receive them in separate "
                "receipts (POST /purchase-orders/{id}/receive splits them for you)",
                {"document": i, "locations": sorted(dests)}, code="mixed_locations",
            )  # fmt: skip
        to = dests.pop()
    elif isinstance(to, int) and to in paths:
        outside = sorted(d for d in dests if not paths[to].startswith(paths.get(d, "\0")))
        if outside:
            raise ValidationFailed(
                "to_location_id must be each line's location or a location under it",
                {"document": i, "field": "to_location_id", "line_locations": outside},
                code="location_mismatch",
            )  # fmt: skip
    doc = {k: v for k, v in data.items() if k not in ("location_id", "lines")}
    return {**doc, "to_location_id": to, "lines": new_lines}, links


# ------------------------------------------------------------------ after the lines are written


def link(conn: Connection, doc_links: list[tuple[int, list[int]]]) -> None:
    """Write each document line's purchase-order line (one statement for the batch)."""
    rows = [
        {"b_doc": doc_id, "b_no": n, "b_pol": line_id}
        for doc_id, ids in doc_links for n, line_id in enumerate(ids, 1)
    ]  # fmt: skip
    if rows:
        conn.execute(
            update(document_lines)
            .where(document_lines.c.document_id == bindparam("b_doc"),
                   document_lines.c.line_no == bindparam("b_no"))
            .values(purchase_order_line_id=bindparam("b_pol")),
            rows,
        )  # fmt: skip


# ------------------------------------------------------------------ when a receipt posts


def on_posting(conn: Connection, actor: Actor, items: list[Any], reversal: bool) -> list[int]:
    """Before the moves of these documents post: count (or, for a reversal, give back) the
    receipts' quantities on their purchase-order lines and move each order's status. 409
    (nothing written) when the order no longer takes receipts or the receipt is more than is
    open. Returns the variants whose incoming changed."""
    docs = [d for d, _, _ in items if d.get("purchase_order_id") and d["type"] == "receipt"]
    if not docs:
        return []
    doc_ids = [d["id"] for d in docs]
    delta: dict[int, Decimal] = defaultdict(Decimal)
    for r in conn.execute(
        select(document_lines.c.purchase_order_line_id, document_lines.c.qty).where(
            document_lines.c.document_id.in_(doc_ids),
            document_lines.c.purchase_order_line_id.is_not(None),
        )
    ):
        delta[r.purchase_order_line_id] += r.qty
    po_ids = sorted({d["purchase_order_id"] for d in docs})
    orders = lock_orders(conn, actor.org_id, po_ids)
    lines = order_lines(conn, po_ids)
    if not reversal:
        for po in orders.values():
            rules.check_receiving(po["status"])
        rules.raise_over_receipt(
            rules.over_receipts(delta, {k: open_of(lines[k]) for k in delta if k in lines})
        )
    sign = -1 if reversal else 1
    changed = []
    for line_id, qty in delta.items():
        line = lines[line_id]
        line["received_qty"] = max(line["received_qty"] + sign * qty, ZERO)
        changed.append({"b_id": line_id, "b_qty": line["received_qty"]})
    conn.execute(
        update(pol).where(pol.c.id == bindparam("b_id")).values(received_qty=bindparam("b_qty")),
        changed,
    )
    now = datetime.now(UTC)
    by_po: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines.values():
        by_po[line["purchase_order_id"]].append(line)
    entries = []
    for po_id, po in orders.items():
        before = po["status"]
        after = rules.status_after_receipts(
            before, [(ln["qty"], ln["received_qty"]) for ln in by_po[po_id]], po["closed_short"]
        )
        values: dict[str, Any] = {"updated_at": now}
        if after != before:
            values["status"] = after.value
            if after == POStatus.received:
                values["received_at"] = now
        conn.execute(update(purchase_orders).where(purchase_orders.c.id == po_id).values(**values))
        received = {
            ln["id"]: ln["received_qty"] for ln in by_po[po_id] if ln["id"] in delta
        }  # fmt: skip
        entries.append(
            ("purchase_order.unreceive" if reversal else "purchase_order.receive",
             "purchase_order", po_id, {"status": before},
             {"status": after.value, "received_qty": received, "documents": doc_ids})
        )  # fmt: skip
        if after != before and after == POStatus.received:
            emit_received(conn, {**po, **values})
    audit.record_many(conn, actor, entries)
    if reversal:  # an ASN received by a cancelled receipt is expected again
        conn.execute(
            update(asns)
            .where(asns.c.org_id == actor.org_id, asns.c.receipt_document_id.in_(doc_ids))
            .values(status="open", receipt_document_id=None)
        )
    return sorted({lines[k]["variant_id"] for k in delta})


def emit_received(conn: Connection, po: dict[str, Any]) -> None:
    events.emit(
        conn, po["org_id"], "purchase_order.received",
        {"purchase_order_id": po["id"], "supplier_id": po["supplier_id"],
         "status": po["status"], "closed_short": bool(po["closed_short"])},
        title="Purchase order received",
        body=f"Purchase order {po['id']} is received"
        + (" (closed short)." if po["closed_short"] else " in full."),
    )  # fmt: skip
