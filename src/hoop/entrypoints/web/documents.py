"""Stock documents: the list, line entry by scanned or typed SKU/GTIN, submit, and the
approvals inbox. Every rule is the service's (`service.stock`); this module only shapes forms."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.domain.documents import STANDARD_REASONS
from hoop.domain.errors import HoopError, ValidationFailed
from hoop.entrypoints.web.common import (
    PathId,
    Web,
    WebDep,
    can,
    field_errors,
    page_cursor,
    redirect,
    web_router,
)
from hoop.service import access, stock
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
PAGE = 25
TYPES = ("receipt", "transfer", "adjustment", "shipment", "scrap")
STATES = ("draft", "pending_approval", "done", "in_transit", "rejected", "cancelled")
# which location fields each type's form shows
PLACES = {
    "receipt": ("to_location_id",),
    "transfer": ("from_location_id", "to_location_id"),
    "adjustment": ("location_id",),
    "shipment": ("from_location_id",),
    "scrap": ("from_location_id",),
}
BLANK_ROWS = 3


@router.get("/documents")
def document_list(web: WebDep, request: Request) -> Response:
    p = request.query_params
    state = p.get("state") if p.get("state") in STATES else None
    type_ = p.get("type") if p.get("type") in TYPES else None
    after = page_cursor(p.get("cursor"))
    items, names = web.read(
        lambda conn, actor: (stock.list_documents(conn, actor, PAGE, after, state, type_),
                             wq.location_names(conn, actor)),
        "stock.read",
    )  # fmt: skip
    nxt = str(items[-1]["id"]) if len(items) == PAGE else None
    params = {"state": state, "type": type_, "cursor": p.get("cursor") if after else None}
    return web.page("documents.html", items=items, names=names, state=state, type=type_,
                    params=params, next_cursor=nxt, types=TYPES, states=STATES)  # fmt: skip


def _form_context(conn: Connection, actor: Actor) -> dict[str, Any]:
    codes = access.get_org(conn, actor).get("reason_codes") or []
    return {
        "locations": wq.internal_locations(conn, actor),
        "reasons": list(STANDARD_REASONS) + [c for c in codes if c not in STANDARD_REASONS],
    }


def _render_form(web: Web, values: dict[str, Any], rows: list[dict[str, str]],
                 errors: dict[str, str], status: int = 200) -> Response:  # fmt: skip
    ctx = web.read(_form_context, "documents.write")
    return web.page("document_new.html", status, values=values, rows=rows, errors=errors,
                    types=TYPES, places=PLACES, **ctx)  # fmt: skip


@router.get("/documents/new")
def new_document(web: WebDep, request: Request) -> Response:
    type_ = request.query_params.get("type")
    values = {"type": type_ if type_ in TYPES else "receipt"}
    rows = [{"code": "", "qty": "", "cost": ""} for _ in range(BLANK_ROWS)]
    return _render_form(web, values, rows, {})


def _rows(web: Web) -> list[dict[str, str]]:
    codes, qtys, costs = web.fields("line_code"), web.fields("line_qty"), web.fields("line_cost")
    n = max(len(codes), len(qtys), len(costs))
    rows = []
    for i in range(min(n, 2000)):
        row = {"code": codes[i] if i < len(codes) else "", "qty": qtys[i] if i < len(qtys) else "",
               "cost": costs[i] if i < len(costs) else ""}  # fmt: skip
        rows.append({k: v[:100] for k, v in row.items()})
    return rows


def _int(raw: str, field: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed("choose a location from the list", {"field": field})
    return int(raw)


def _build(conn: Connection, actor: Actor, values: dict[str, str],
           rows: list[dict[str, str]]) -> dict[str, Any]:  # fmt: skip
    """The service's document from the form: codes resolved to SKUs (a GTIN is accepted)."""
    type_ = values["type"]
    if type_ not in TYPES:
        raise ValidationFailed("choose a document type", {"field": "type"})
    data: dict[str, Any] = {"type": type_, "submit": values["action"] != "draft"}
    for f in PLACES[type_]:
        data[f] = _int(values.get(f, ""), f)
    if values.get("reason"):
        data["reason"] = values["reason"][:64]
    if values.get("note"):
        data["note"] = values["note"]
    lines = []
    for i, row in enumerate(rows):
        if not row["code"] and not row["qty"]:
            continue
        if not row["code"]:
            raise ValidationFailed("scan or type a SKU or GTIN", {"line": i})
        hit = wq.resolve_code(conn, actor, row["code"])
        if hit is None:
            raise ValidationFailed(f"no product has the SKU or GTIN {row['code']!r}", {"line": i})
        if not row["qty"]:
            raise ValidationFailed("enter a quantity", {"line": i})
        line: dict[str, Any] = {"sku": hit["sku"], "qty": row["qty"]}
        if row["cost"] and type_ == "receipt":
            line["unit_cost"] = row["cost"]
        lines.append((i, line))
    if not lines:
        raise ValidationFailed("add at least one line", {"field": "lines"})
    data["lines"] = [ln for _, ln in lines]
    data["_rows"] = [i for i, _ in lines]
    return data


@router.post("/documents/new")
def create_document(web: WebDep) -> Response:
    values = {k: web.field(k) for k in ("type", "from_location_id", "to_location_id",
                                         "location_id", "reason", "note", "action")}  # fmt: skip
    rows = _rows(web)
    row_of: list[int] = []

    def run(conn: Connection, actor: Actor) -> dict[str, Any]:
        data = _build(conn, actor, values, rows)
        row_of.extend(data.pop("_rows"))
        return stock.create_document(conn, actor, data)

    try:
        doc = web.write(run)
    except HoopError as exc:
        if exc.status in (401, 402, 403):
            raise
        errors = field_errors(exc)
        if row_of:  # the service numbers lines it was given; the form numbers its rows
            errors = {(f"line-{row_of[int(k[5:])]}" if k.startswith("line-") and
                       int(k[5:]) < len(row_of) else k): v for k, v in errors.items()}  # fmt: skip
        while len(rows) < BLANK_ROWS:
            rows.append({"code": "", "qty": "", "cost": ""})
        return _render_form(web, values, rows, errors, 422)
    what = {"done": "posted", "pending_approval": "waiting for approval", "draft": "saved as draft",
            "in_transit": "in transit"}.get(doc["state"], doc["state"])  # fmt: skip
    return redirect(f"/documents/{doc['id']}", f"{doc['type'].capitalize()} #{doc['id']} {what}.")


@router.get("/documents/line")
def line_row(web: WebDep, request: Request) -> Response:
    """htmx: one line row for a scanned or typed code (SKU or GTIN), or an error message."""
    code = (request.query_params.get("code") or "").strip()[:64]
    show_cost = request.query_params.get("type") == "receipt"
    if request.query_params.get("blank"):
        web.read(lambda conn, actor: None, "stock.read")
        return web.page("_line_row.html", row={"code": "", "qty": "", "cost": ""}, hint="",
                        show_cost=show_cost, errors={}, index=None)  # fmt: skip
    hit = web.read(lambda conn, actor: wq.resolve_code(conn, actor, code), "stock.read")
    if hit is None:
        raise ValidationFailed(f"no product has the SKU or GTIN {code!r}" if code
                               else "scan or type a SKU or GTIN first")  # fmt: skip
    row = {"code": hit["sku"], "qty": "1", "cost": ""}
    return web.page(
        "_line_row.html",
        row=row,
        hint=hit["product_name"],
        show_cost=show_cost,
        errors={},
        index=None,
    )


@router.get("/documents/approvals")
def approvals(web: WebDep) -> Response:
    data = web.read(lambda conn, actor: wq.awaiting_my_approval(conn, actor, 200),
                    "documents.approve")  # fmt: skip
    return web.page("approvals.html", **data)


@router.get("/documents/{doc_id}")
def document_page(doc_id: PathId, web: WebDep) -> Response:
    doc, names = web.read(
        lambda conn, actor: (stock.get_document(conn, actor, doc_id),
                             wq.location_names(conn, actor)),
        "stock.read",
    )  # fmt: skip
    mine = doc["created_by"] == (web.actor.user_id if web.actor else None)
    return web.page("document.html", doc=doc, names=names, mine=mine)


def _command(name: str, doc_id: int, web: Web) -> Response:
    fn = {"submit": stock.submit, "approve": stock.approve, "cancel": stock.cancel,
          "receive": stock.receive}[name]  # fmt: skip
    doc = web.write(lambda conn, actor: fn(conn, actor, doc_id))
    done = {"submit": "submitted", "approve": "approved and posted", "cancel": "cancelled",
            "receive": "received"}[name]  # fmt: skip
    back = "/documents/approvals" if web.field("back") == "approvals" else f"/documents/{doc_id}"
    return redirect(back, f"{doc['type'].capitalize()} #{doc_id} {done}.", web.request)


@router.post("/documents/{doc_id}/submit")
def submit(doc_id: PathId, web: WebDep) -> Response:
    return _command("submit", doc_id, web)


@router.post("/documents/{doc_id}/approve")
def approve(doc_id: PathId, web: WebDep) -> Response:
    return _command("approve", doc_id, web)


@router.post("/documents/{doc_id}/cancel")
def cancel(doc_id: PathId, web: WebDep) -> Response:
    return _command("cancel", doc_id, web)


@router.post("/documents/{doc_id}/receive")
def receive(doc_id: PathId, web: WebDep) -> Response:
    return _command("receive", doc_id, web)


@router.post("/documents/{doc_id}/reject")
def reject(doc_id: PathId, web: WebDep) -> Response:
    reason = web.field("reason")[:2000]
    web.write(lambda conn, actor: stock.reject(conn, actor, doc_id, reason))
    back = "/documents/approvals" if web.field("back") == "approvals" else f"/documents/{doc_id}"
    return redirect(back, f"Document #{doc_id} rejected.", web.request)


__all__ = ["router", "can"]
