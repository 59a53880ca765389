"""Replenishment: purchase suggestions with their reasons, turned into draft purchase orders in
one step; reorder policies set from a product's page; and the two hooks the rest of the app
calls (`low_stock_alerts` for the dashboard, `projection` for a product's chart).

Every rule is the service's (`service.replenishment`, `service.alerts`); this module shapes
forms and pages. Suggestions are read a page at a time (`limit`/`after`): the service evaluates
policies in chunks until the page is full, never the whole catalogue for one screen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection, select

from hoop.adapters.db.tables import suppliers
from hoop.domain.errors import HoopError, ValidationFailed
from hoop.entrypoints.web.common import (
    PathId,
    Web,
    WebDep,
    can,
    field_errors,
    int_or_none,
    page_cursor,
    redirect,
    web_router,
)
from hoop.service import alerts
from hoop.service import replenishment as repl
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
PAGE = 25
MAX_SELECTED = 500
POLICY_FIELDS = ("min", "max", "safety_stock", "service_level", "lead_time_days", "order_cost",
                 "holding_rate", "demand_window_days")  # fmt: skip


# ------------------------------------------------------------------ hooks


def low_stock_alerts(conn: Connection, actor: Actor, limit: int = 8) -> list[dict[str, Any]]:
    """Open low-stock alerts for the dashboard, newest first, each {id, sku, product_id,
    location_id, location_name, position, reorder_point, raised_at}; empty for a role that
    does not read alerts."""
    if not can(actor, "alerts.read"):
        return []
    items = alerts.list_alerts(conn, actor, "low_stock", "open", limit, None)
    products = wq.product_ids(conn, actor, [a["variant_id"] for a in items])
    for a in items:
        a["product_id"] = products.get(a["variant_id"])
    return items


def projection(conn: Connection, actor: Actor, variant_id: int) -> list[tuple[date, Decimal]]:
    """Projected available stock for the coming days (demand against the open purchase-order
    lines), drawn dashed after the history. Empty without Pro (no error: the product page
    still shows), for a role that cannot read replenishment, and when nothing would move."""
    if not can(actor, "replenishment.read", repl.FEATURE):
        return []
    p = repl.projection(conn, actor, None, variant_id)
    if not p["daily_demand"] and not p["receipts"]:
        return []
    today = p["as_of"].date()
    return [(pt["date"], pt["projected_available"]) for pt in p["points"] if pt["date"] > today]


def policies_for(conn: Connection, actor: Actor, sku: str) -> list[dict[str, Any]] | None:
    """The variant's reorder policies for its product page (None: the role cannot read them)."""
    if not can(actor, "replenishment.read"):
        return None
    return repl.list_policies(conn, actor, sku, None, 100, None)


# ------------------------------------------------------------------ suggestions


def _supplier_names(conn: Connection, actor: Actor) -> dict[int, str]:
    rows = conn.execute(
        select(suppliers.c.id, suppliers.c.name)
        .where(suppliers.c.org_id == actor.org_id)
        .order_by(suppliers.c.name)
        .limit(500)
    ).all()
    return {r.id: r.name for r in rows}


def _filters(get: Any) -> dict[str, int | None]:
    return {"location": int_or_none(get("location")), "supplier": int_or_none(get("supplier"))}


def _render(
    web: Web, filters: dict[str, int | None], after: int | None, errors: dict[str, str],
    status: int = 200, selected: set[int] | None = None,
) -> Response:  # fmt: skip
    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        locs = wq.internal_locations(conn, actor)
        location = filters["location"] if filters["location"] in {x["id"] for x in locs} else None
        items = repl.suggestions(
            conn, actor, location_id=location, supplier_id=filters["supplier"], limit=PAGE,
            after=after,
        )  # fmt: skip
        vids = [s["variant_id"] for s in items]
        return {"items": items, "locations": locs, "supplier_names": _supplier_names(conn, actor),
                "products": wq.product_ids(conn, actor, vids)}  # fmt: skip

    data = web.read(load, "replenishment.read")
    items = data["items"]
    nxt = str(items[-1]["policy_id"]) if len(items) == PAGE else None
    params = {"location": filters["location"], "supplier": filters["supplier"],
              "cursor": str(after) if after else None}  # fmt: skip
    return web.page("replenishment.html", status, params=params, next_cursor=nxt,
                    errors=errors, selected=selected, **data)  # fmt: skip


@router.get("/replenishment")
def replenishment_page(web: WebDep, request: Request) -> Response:
    p = request.query_params
    return _render(web, _filters(p.get), page_cursor(p.get("cursor")), {})


@router.post("/replenishment/purchase-orders")
def create_purchase_orders(web: WebDep) -> Response:
    filters = _filters(web.field)
    # each ticked row is one suggestion (one variant at one location): its policy id, so a
    # sku suggested at several locations is ordered only where it was ticked
    picked = sorted({p for p in map(int_or_none, web.fields("policy")) if p})[:MAX_SELECTED]
    if not picked:
        return _render(web, filters, None, {"_": "Select at least one suggestion to order."},
                       422, set())  # fmt: skip
    data: dict[str, Any] = {"policy_ids": picked}
    if filters["location"] is not None:
        data["location_id"] = filters["location"]
    if filters["supplier"] is not None:
        data["supplier_id"] = filters["supplier"]
    try:
        made = web.write(lambda conn, actor: repl.suggestions_to_purchase_orders(conn, actor, data))
    except HoopError as exc:
        if exc.status in (401, 402, 403) or exc.status >= 500:
            raise
        msg = exc.message
        if isinstance(exc.details, dict) and exc.details.get("policy_ids"):
            msg += " (the suggestions changed since the page was shown; check and try again)"
        return _render(web, filters, None, {"_": msg}, 422, set(picked))
    names = web.read(lambda conn, actor: wq.location_names(conn, actor))
    return web.page("replenishment_created.html", made=made, names=names)


# ------------------------------------------------------------------ policies (product page)


def policy_values(web: Web) -> dict[str, str]:
    keys = ("location_id", "method", *POLICY_FIELDS)
    return {k: web.field(k)[:40] for k in keys}


def _policy_data(sku: str, values: dict[str, str]) -> dict[str, Any]:
    loc = values["location_id"]
    if not loc.isdigit() or len(loc) > 18:
        raise ValidationFailed("choose a location", {"field": "location_id"})
    data: dict[str, Any] = {"sku": sku, "location_id": int(loc), "method": values["method"]}
    for f in POLICY_FIELDS:
        if values[f] == "":
            continue
        if f == "demand_window_days":
            if not values[f].isdigit() or len(values[f]) > 6:
                raise ValidationFailed("whole days, 1 to 730", {"field": f})
            data[f] = int(values[f])
        else:
            data[f] = values[f]
    return data


def put_policy(web: Web, sku: str, values: dict[str, str]) -> tuple[dict[str, Any] | None,
                                                                   dict[str, str]]:  # fmt: skip
    """Set a policy from the product page's form: (the policy, {}) or (None, field errors)."""
    try:
        data = _policy_data(sku, values)
        return web.write(lambda conn, actor: repl.put_policy(conn, actor, data)), {}
    except HoopError as exc:
        if exc.status in (401, 402, 403) or exc.status >= 500:
            raise
        errors = field_errors(exc)
        errors.setdefault("_", exc.message)
        return None, errors


@router.post("/products/{product_id}/policies/{policy_id}/delete")
def delete_policy(product_id: PathId, policy_id: PathId, web: WebDep) -> Response:
    web.write(lambda conn, actor: repl.delete_policy(conn, actor, policy_id))
    back = f"/products/{product_id}"
    variant = int_or_none(web.field("variant"))
    if variant:
        back += f"?variant={variant}"
    return redirect(back + "#policies", "Replenishment policy deleted.", web.request)
