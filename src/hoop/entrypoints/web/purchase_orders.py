"""Purchase orders: the list by status, and each order's page with its lines, expected arrivals
(ASNs), receipts, its life-cycle actions and the receive form (one quantity per open line,
prefilled with what is open or with an ASN's lines).

Every rule is the service's (`service.purchasing`, `service.deliveries`); a refused receipt
shows its message next to the line it is about and keeps what was typed."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.domain.errors import HoopError
from hoop.domain.purchasing import POStatus
from hoop.entrypoints.web.common import (
    PathId,
    Web,
    WebDep,
    can,
    int_or_none,
    page_cursor,
    redirect,
    web_router,
)
from hoop.entrypoints.web.render import qty
from hoop.service import deliveries, purchasing, suppliers
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
PAGE = 25
STATUSES = [s.value for s in POStatus]


@router.get("/purchase-orders")
def purchase_order_list(web: WebDep, request: Request) -> Response:
    p = request.query_params
    status = p.get("status") if p.get("status") in STATUSES else None
    after = page_cursor(p.get("cursor"))
    items = web.read(
        lambda conn, actor: purchasing.list_purchase_orders(conn, actor, status, None, PAGE, after)
    )
    nxt = str(items[-1]["id"]) if len(items) == PAGE else None
    params = {"status": status, "cursor": p.get("cursor") if after else None}
    return web.page("purchase_orders.html", items=items, status=status, statuses=STATUSES,
                    params=params, next_cursor=nxt)  # fmt: skip


def _load(po_id: int, asn_id: int | None) -> Any:
    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        po = purchasing.get_purchase_order(conn, actor, po_id)
        asns = deliveries.list_asns(conn, actor, None, 100, 0, po_id)
        prefill = None
        if asn_id is not None and any(a["id"] == asn_id and a["status"] == "open" for a in asns):
            prefill = deliveries.asn_receipt(conn, actor, asn_id)["lines"]
        return {
            "po": po,
            "asns": asns,
            "prefill": prefill,
            "names": wq.location_names(conn, actor),
            "products": wq.product_ids(conn, actor, [ln["variant_id"] for ln in po["lines"]]),
        }

    return load


def _values_from(po: dict[str, Any], prefill: list[dict[str, Any]] | None) -> dict[str, str]:
    """The receive form's first values: each open line's open qty, or the ASN's lines."""
    values: dict[str, str] = {}
    if prefill is None:
        for ln in po["lines"]:
            if ln["open_qty"] > 0:
                values[f"qty-{ln['id']}"] = qty(ln["open_qty"]).replace(",", "")
        return values
    for ln in prefill:
        key = ln["purchase_order_line_id"]
        values[f"qty-{key}"] = qty(ln["qty"]).replace(",", "")
        if ln.get("lot"):
            values[f"lot-{key}"] = ln["lot"]
        if ln.get("expiry"):
            values[f"expiry-{key}"] = str(ln["expiry"])[:10]
    return values


def _page(web: Web, po_id: int, asn_id: int | None, values: dict[str, str] | None,
          errors: dict[str, str], status: int = 200) -> Response:  # fmt: skip
    data = web.read(_load(po_id, asn_id))
    if values is None:
        values = _values_from(data["po"], data["prefill"])
    open_asns = [a for a in data["asns"] if a["status"] == "open"]
    return web.page("purchase_order.html", status, values=values, errors=errors,
                    asn_id=asn_id if data["prefill"] is not None else None, open_asns=open_asns,
                    **data)  # fmt: skip


ROWS = 5


def _new_form(web: Web, values: dict[str, str], rows: list[dict[str, str]],
              errors: dict[str, str], status: int = 200) -> Response:  # fmt: skip
    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        actor.require("purchasing.write")
        sups = suppliers.list_suppliers(conn, actor, 500, None, True)
        return {"suppliers": sups, "locations": wq.internal_locations(conn, actor)}

    ctx = web.read(load)
    while len(rows) < ROWS:
        rows.append({"sku": "", "qty": "", "price": ""})
    return web.page("purchase_order_new.html", status, values=values, rows=rows, errors=errors,
                    **ctx)  # fmt: skip


@router.get("/purchase-orders/new")
def new_purchase_order(web: WebDep) -> Response:
    return _new_form(web, {}, [], {})


@router.post("/purchase-orders/new")
def create_purchase_order(web: WebDep) -> Response:
    values = {k: web.field(k)[:500] for k in ("supplier_id", "location_id", "note")}
    skus, qtys, prices = web.fields("line_sku"), web.fields("line_qty"), web.fields("line_price")
    rows = [
        {"sku": (skus[i] if i < len(skus) else "")[:64],
         "qty": (qtys[i] if i < len(qtys) else "")[:40],
         "price": (prices[i] if i < len(prices) else "")[:40]}
        for i in range(min(max(len(skus), len(qtys), len(prices)), 200))
    ]  # fmt: skip
    used = [i for i, r in enumerate(rows) if r["sku"] or r["qty"] or r["price"]]
    errors: dict[str, str] = {}
    for f in ("supplier_id", "location_id"):
        if values[f] and int_or_none(values[f]) is None:
            errors[f] = "choose one from the list"
    if not values["supplier_id"]:
        errors["supplier_id"] = "choose a supplier"
    if not used:
        errors["_"] = "add at least one line: a SKU and a quantity"
    if errors:
        errors.setdefault("_", "Check the fields marked below.")
        return _new_form(web, values, rows, errors, 422)
    data: dict[str, Any] = {"supplier_id": int(values["supplier_id"]), "lines": []}
    if values["location_id"]:
        data["location_id"] = int(values["location_id"])
    if values["note"]:
        data["note"] = values["note"]
    for i in used:
        ln: dict[str, Any] = {"sku": rows[i]["sku"], "qty": rows[i]["qty"]}
        if rows[i]["price"]:
            ln["unit_price"] = rows[i]["price"]
        data["lines"].append(ln)
    try:
        po = web.write(lambda conn, actor: purchasing.create_purchase_order(conn, actor, data))
    except HoopError as exc:
        if exc.status in (401, 402, 403) or exc.status >= 500:
            raise
        d = exc.details if isinstance(exc.details, dict) else {}
        errors = {"_": exc.message}
        n = d.get("line")
        field = d.get("field") if isinstance(d.get("field"), str) else ""
        if n is None and field.startswith("lines["):
            n = int_or_none(field[6:].split("]")[0])
        if isinstance(n, int) and 0 <= n < len(used):
            errors[f"line-{used[n]}"] = exc.message
        elif field in ("supplier_id", "location_id"):
            errors[field] = exc.message
        elif "supplier_id" in d:
            errors["supplier_id"] = exc.message
        return _new_form(web, values, rows, errors, 422)
    msg = f"Draft purchase order #{po['id']} created: review it and send it."
    return redirect(f"/purchase-orders/{po['id']}", msg)


@router.get("/purchase-orders/{po_id}")
def purchase_order_page(po_id: PathId, web: WebDep, request: Request) -> Response:
    return _page(web, po_id, int_or_none(request.query_params.get("asn")), None, {})


def _receipt(web: Web, po: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The form's lines as the service's receipt lines, and the values to show again."""
    lines, values = [], {}
    for ln in po["lines"]:
        lid = ln["id"]
        q, lot, exp = (web.field(f"{k}-{lid}")[:40] for k in ("qty", "lot", "expiry"))
        values.update({f"qty-{lid}": q, f"lot-{lid}": lot, f"expiry-{lid}": exp})
        if q in ("", "0") or (q.replace(".", "", 1).isdigit() and float(q) == 0):
            continue
        line: dict[str, Any] = {"purchase_order_line_id": lid, "qty": q}
        if lot:
            line["lot"] = lot
        if exp:
            line["expiry"] = exp
        lines.append(line)
    return lines, values


def _line_errors(exc: HoopError, sent: list[dict[str, Any]],
                 dest: dict[int, int]) -> dict[str, str]:  # fmt: skip
    """A refused receipt's message next to the qty of the line it names: over_receipt names
    line ids; a document error names (document, line) in the order `deliveries.receive`
    builds them (one document per destination, sorted)."""
    d = exc.details if isinstance(exc.details, dict) else {}
    errors: dict[str, str] = {"_": exc.message}
    for p in d.get("lines", []) if isinstance(d.get("lines"), list) else []:
        if isinstance(p, dict) and "purchase_order_line_id" in p:
            errors[f"qty-{p['purchase_order_line_id']}"] = (
                f"more than is open ({p.get('open_qty')})"
            )
    docs: dict[int, list[int]] = {}
    for ln in sent:
        docs.setdefault(dest[ln["purchase_order_line_id"]], []).append(ln["purchase_order_line_id"])
    order = [ids for _, ids in sorted(docs.items())]
    doc_i, inner = (d.get("document"), d.get("details")) if "document" in d else (0, d)
    inner = inner if isinstance(inner, dict) else {}
    n = inner.get("line")
    field = inner.get("field") if isinstance(inner.get("field"), str) else ""
    if n is None and field.startswith("lines["):
        n = int_or_none(field[6:].split("]")[0])
        field = field.split(".")[-1]
    if (
        isinstance(doc_i, int)
        and isinstance(n, int)
        and doc_i < len(order)
        and n < len(order[doc_i])
    ):
        lid = order[doc_i][n]
        key = field if field in ("lot", "expiry") else "qty"
        errors[f"{key}-{lid}"] = exc.message
    return errors


@router.post("/purchase-orders/{po_id}/receive")
def receive(po_id: PathId, web: WebDep) -> Response:
    po = web.read(lambda conn, actor: purchasing.get_purchase_order(conn, actor, po_id))
    lines, values = _receipt(web, po)
    asn_id = int_or_none(web.field("asn_id"))
    note = web.field("note")[:500]
    values["note"] = note
    if not lines:
        return _page(web, po_id, asn_id, values, {"_": "Enter a quantity on at least one line."},
                     422)  # fmt: skip
    data: dict[str, Any] = {"lines": lines}
    if asn_id is not None:
        data["asn_id"] = asn_id
    if note:
        data["note"] = note
    try:
        out = web.write(lambda conn, actor: deliveries.receive(conn, actor, po_id, data))
    except HoopError as exc:
        if exc.status in (401, 403) or exc.status >= 500:
            raise
        dest = {ln["id"]: ln["location_id"] for ln in po["lines"]}
        return _page(web, po_id, asn_id, values, _line_errors(exc, lines, dest), 422)
    docs = out["documents"]
    pending = [d for d in docs if d["state"] != "done"]
    msg = "Received: " + ", ".join(f"receipt #{d['id']}" for d in docs) + "."
    if pending:
        msg += " It waits for approval before the stock counts."
    return redirect(f"/purchase-orders/{po_id}", msg, web.request)


def _command(name: str, po_id: int, web: Web) -> Response:
    fn = {"send": purchasing.send, "cancel": purchasing.cancel, "close": purchasing.close}[name]
    web.write(lambda conn, actor: fn(conn, actor, po_id))
    done = {"send": "sent to the supplier", "cancel": "cancelled",
            "close": "closed short: the rest is no longer expected"}[name]  # fmt: skip
    return redirect(f"/purchase-orders/{po_id}", f"Purchase order #{po_id} {done}.", web.request)


@router.post("/purchase-orders/{po_id}/send")
def send(po_id: PathId, web: WebDep) -> Response:
    return _command("send", po_id, web)


@router.post("/purchase-orders/{po_id}/cancel")
def cancel(po_id: PathId, web: WebDep) -> Response:
    return _command("cancel", po_id, web)


@router.post("/purchase-orders/{po_id}/close")
def close(po_id: PathId, web: WebDep) -> Response:
    return _command("close", po_id, web)


__all__ = ["router", "can"]
