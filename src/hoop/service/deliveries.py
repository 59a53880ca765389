"""What arrives against purchase orders: advance shipping notices (ASNs) and the receive
command, which makes the receipt documents through `service/stock.py` (where
`service/receiving.py` counts them on the order lines)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hoop.adapters.db.tables import asn_lines, asns, variants
from hoop.domain import purchasing as rules
from hoop.domain.errors import Conflict, NotFound, ValidationFailed
from hoop.domain.fields import text
from hoop.domain.quantities import ZERO, parse_decimal
from hoop.service import audit, events, purchasing, receiving, stock
from hoop.service.context import Actor


def receive(conn: Connection, actor: Actor, po_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Receive against the order: `lines` [{purchase_order_line_id, qty, lot?, expiry?,
    unit_cost?, serials?}], or the lines of `asn_id` when none are given. Makes one receipt
    document per destination (usually one) through the ordinary document path (approval rules
    apply: a receipt pending approval counts once approved). Returns {purchase_order,
    documents}."""
    actor.require("purchasing.receive")
    purchasing.check_keys(data, {"lines", "asn_id", "effective_at", "note"}, "receipt", {})
    po = purchasing.lock(conn, actor.org_id, po_id)
    rules.check_receiving(po["status"])
    raw = data.get("lines")
    asn = None
    if data.get("asn_id") is not None:
        asn = _load_asn(conn, actor.org_id, purchasing.parse_id(data["asn_id"], "asn_id"))
        if asn["purchase_order_id"] != po_id:
            raise ValidationFailed(
                f"ASN {asn['id']} is for another purchase order", {"field": "asn_id"}
            )
        if asn["status"] != "open":
            raise Conflict(
                f"ASN {asn['id']} is {asn['status']}",
                {"asn_id": asn["id"], "status": asn["status"]}, code="invalid_state",
            )  # fmt: skip
        if not raw:
            raw = [
                {k: ln[k] for k in ("purchase_order_line_id", "qty", "lot", "expiry") if ln[k]}
                for ln in _prefill(conn, asn)
            ]
            if not raw:
                raise Conflict(
                    "nothing on this ASN is still open on the order",
                    {"asn_id": asn["id"]}, code="over_receipt",
                )  # fmt: skip
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("give lines, or an asn_id to receive its lines", {"field": "lines"})
    lines = receiving.order_lines(conn, [po_id])
    by_dest: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for j, ln in enumerate(raw):
        purchasing.check_keys(ln, receiving.LINE_KEYS - {"sku", "variant_id"}, "line", {"line": j})
        line_id = purchasing.parse_id(
            ln.get("purchase_order_line_id"), "purchase_order_line_id", {"line": j}
        )
        if line_id not in lines:
            raise NotFound(f"purchase order {po_id} has no line {line_id}", {"line": j})
        by_dest[lines[line_id]["location_id"]].append(ln)
    docs = [
        {"type": "receipt", "purchase_order_id": po_id, "to_location_id": dest, "lines": ls,
         **{k: data[k] for k in ("effective_at", "note") if data.get(k) is not None}}
        for dest, ls in sorted(by_dest.items())
    ]  # fmt: skip
    created = stock.create_documents(conn, actor, docs)
    if asn is not None:
        conn.execute(
            update(asns)
            .where(asns.c.id == asn["id"])
            .values(status="received", receipt_document_id=created[0]["id"])
        )
        audit.record(conn, actor, "asn.receive", "asn", asn["id"], {"status": "open"},
                     {"status": "received", "documents": [d["id"] for d in created]})  # fmt: skip
    return {
        "purchase_order": purchasing.get_purchase_order(conn, actor, po_id, check=False),
        "documents": created,
    }


# ------------------------------------------------------------------ ASNs


def create_asn(conn: Connection, actor: Actor, po_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """An advance shipping notice: what the supplier says is on its way, and when."""
    actor.require("purchasing.write")
    purchasing.check_keys(
        data, {"reference", "ship_date", "arrive_from", "arrive_to", "lines"}, "ASN", {}
    )
    reference = text(data.get("reference"), "reference", 100, required=False)
    ship_date = data.get("ship_date")
    if ship_date is not None:
        try:
            ship_date = date.fromisoformat(str(ship_date)).isoformat()
        except ValueError:
            raise ValidationFailed(
                "ship_date must be a date YYYY-MM-DD", {"field": "ship_date"}
            ) from None
    arrive_from = purchasing.parse_time(data.get("arrive_from"), "arrive_from")
    arrive_to = purchasing.parse_time(data.get("arrive_to"), "arrive_to")
    rules.check_window(arrive_from, arrive_to)
    raw = data.get("lines")
    if not isinstance(raw, list) or not raw or len(raw) > purchasing.MAX_LINES:
        raise ValidationFailed(
            f"an ASN needs 1 to {purchasing.MAX_LINES} lines", {"field": "lines"}
        )
    po = purchasing.lock(conn, actor.org_id, po_id)
    rules.check_receiving(po["status"])
    lines = receiving.order_lines(conn, [po_id])
    rows, wanted = [], defaultdict(Decimal)
    for j, ln in enumerate(raw):
        purchasing.check_keys(
            ln, {"purchase_order_line_id", "qty", "lot", "expiry"}, "line", {"line": j}
        )
        line_id = purchasing.parse_id(
            ln.get("purchase_order_line_id"), "purchase_order_line_id", {"line": j}
        )
        if line_id not in lines:
            raise NotFound(f"purchase order {po_id} has no line {line_id}", {"line": j})
        qty = parse_decimal(ln.get("qty"), f"lines[{j}].qty")
        if qty <= 0:
            raise ValidationFailed("qty must be greater than zero", {"line": j})
        lot = ln.get("lot") or ""
        if lot and (not isinstance(lot, str) or not stock.LOT_RE.match(lot)):
            raise ValidationFailed("lot must be 1-64 letters, digits or . _ / -", {"line": j})
        expiry = ln.get("expiry")
        if expiry is not None:
            try:
                expiry = date.fromisoformat(str(expiry)).isoformat()
            except ValueError:
                raise ValidationFailed("expiry must be a date YYYY-MM-DD", {"line": j}) from None
        wanted[line_id] += qty
        rows.append({"org_id": actor.org_id, "purchase_order_line_id": line_id,
                     "variant_id": lines[line_id]["variant_id"], "qty": qty, "lot": lot,
                     "expiry": expiry})  # fmt: skip
    rules.raise_over_receipt(
        rules.over_receipts(wanted, {k: receiving.open_of(v) for k, v in lines.items()})
    )
    asn_id = conn.execute(
        insert(asns).values(
            org_id=actor.org_id, purchase_order_id=po_id, status="open", reference=reference,
            ship_date=ship_date, arrive_from=arrive_from, arrive_to=arrive_to,
            created_by=actor.user_id, created_at=datetime.now(UTC),
        ).returning(asns.c.id)
    ).scalar_one()  # fmt: skip
    conn.execute(insert(asn_lines), [{**r, "asn_id": asn_id} for r in rows])
    audit.record(conn, actor, "asn.create", "asn", asn_id, None,
                 {"purchase_order_id": po_id, "lines": len(rows)})  # fmt: skip
    events.emit(
        conn, actor.org_id, "asn.created",
        {"asn_id": asn_id, "purchase_order_id": po_id, "reference": reference,
         "arrive_from": arrive_from.isoformat() if arrive_from else None,
         "arrive_to": arrive_to.isoformat() if arrive_to else None},
        title="Shipment announced",
        body=f"ASN {asn_id} announces a delivery for purchase order {po_id}.",
    )  # fmt: skip
    return get_asn(conn, actor, asn_id, check=False)


def _load_asn(conn: Connection, org_id: int, asn_id: int) -> dict[str, Any]:
    row = conn.execute(select(asns).where(asns.c.id == asn_id, asns.c.org_id == org_id)).first()
    if row is None:
        raise NotFound("no such ASN", {"id": asn_id})
    return dict(row._mapping)


def _asn_lines(conn: Connection, asn_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not asn_ids:
        return out
    for r in conn.execute(
        select(asn_lines, variants.c.sku)
        .join(variants, variants.c.id == asn_lines.c.variant_id)
        .where(asn_lines.c.asn_id.in_(asn_ids))
        .order_by(asn_lines.c.id)
    ):
        out[r.asn_id].append(
            {"id": r.id, "purchase_order_line_id": r.purchase_order_line_id, "sku": r.sku,
             "variant_id": r.variant_id, "qty": r.qty, "lot": r.lot or None,
             "expiry": r.expiry}
        )  # fmt: skip
    return out


def _asn_out(a: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("id", "purchase_order_id", "status", "reference", "ship_date", "arrive_from",
            "arrive_to", "receipt_document_id", "created_at")  # fmt: skip
    return {**{k: a[k] for k in keys}, "lines": lines}


def get_asn(conn: Connection, actor: Actor, asn_id: int, check: bool = True) -> dict[str, Any]:
    if check:
        actor.require("purchasing.read")
    a = _load_asn(conn, actor.org_id, asn_id)
    return _asn_out(a, _asn_lines(conn, [asn_id])[asn_id])


def list_asns(
    conn: Connection, actor: Actor, status: str | None, limit: int, offset: int,
    purchase_order_id: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Expected arrivals: ordered by arrival window (unknown windows last), then id."""
    actor.require("purchasing.read")
    stmt = select(asns).where(asns.c.org_id == actor.org_id)
    if status is not None:
        stmt = stmt.where(asns.c.status == status)
    if purchase_order_id is not None:
        stmt = stmt.where(asns.c.purchase_order_id == purchase_order_id)
    stmt = stmt.order_by(
        asns.c.arrive_from.is_(None), asns.c.arrive_from, asns.c.arrive_to, asns.c.id
    )
    rows = [dict(r._mapping) for r in conn.execute(stmt.offset(offset).limit(limit))]
    lines = _asn_lines(conn, [r["id"] for r in rows])
    return [_asn_out(r, lines[r["id"]]) for r in rows]


def _prefill(conn: Connection, asn: dict[str, Any]) -> list[dict[str, Any]]:
    """The ASN's lines as receipt lines, each capped at what is still open on its order line
    (lines with nothing open are left out)."""
    lines = _asn_lines(conn, [asn["id"]])[asn["id"]]
    po_lines = receiving.order_lines(conn, [asn["purchase_order_id"]])
    left = {k: receiving.open_of(v) for k, v in po_lines.items()}
    out = []
    for ln in lines:
        qty = min(ln["qty"], left.get(ln["purchase_order_line_id"], ZERO))
        if qty > 0:
            left[ln["purchase_order_line_id"]] -= qty
            po_line = po_lines[ln["purchase_order_line_id"]]
            out.append({"purchase_order_line_id": ln["purchase_order_line_id"], "sku": ln["sku"],
                        "variant_id": ln["variant_id"], "qty": qty, "lot": ln["lot"],
                        "expiry": ln["expiry"], "location_id": po_line["location_id"],
                        "unit_price": purchasing.money(po_line["unit_price"])})  # fmt: skip
    return out


def asn_receipt(conn: Connection, actor: Actor, asn_id: int) -> dict[str, Any]:
    """The receipt an ASN prefills: POST its `lines` to /purchase-orders/{id}/receive (or send
    just `asn_id`)."""
    actor.require("purchasing.read")
    asn = _load_asn(conn, actor.org_id, asn_id)
    return {"asn_id": asn_id, "purchase_order_id": asn["purchase_order_id"],
            "status": asn["status"], "lines": _prefill(conn, asn)}  # fmt: skip
