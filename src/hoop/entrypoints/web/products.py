"""Products: a searchable, paginated list with stock per site, and a product page with its
variants, stock per location, the stock card and the on-hand chart."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.domain.errors import NotFound
from hoop.entrypoints.web import replenishment
from hoop.entrypoints.web.charts import line_chart
from hoop.entrypoints.web.common import (
    PathId,
    Web,
    WebDep,
    int_or_none,
    page_cursor,
    redirect,
    web_router,
)
from hoop.entrypoints.web.render import qty
from hoop.service import catalog, queries
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
PAGE = 25
STATUSES = ("active", "draft", "archived")


@router.get("/products")
def product_list(web: WebDep, request: Request) -> Response:
    p = request.query_params
    q = (p.get("q") or "").strip()[:100]
    status = p.get("status") if p.get("status") in STATUSES else None
    after = page_cursor(p.get("cursor"))

    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        if q.isdigit() and 8 <= len(q) <= 14:  # a scanned GTIN opens its product
            hit = wq.resolve_code(conn, actor, q)
            if hit:
                return {"goto": f"/products/{hit['product_id']}?variant={hit['id']}"}
        items = catalog.list_products(conn, actor, PAGE, after, q or None, status)
        ids = [v["id"] for it in items for v in it["variants"][:10]]
        return {
            "items": items,
            "stock": wq.stock_by_site(conn, actor, ids),
            "sites": [loc for loc in wq.internal_locations(conn, actor) if loc["depth"] == 0],
        }

    data = web.read(load, "catalog.read")
    if "goto" in data:
        return redirect(data["goto"], request=request)
    nxt = str(data["items"][-1]["id"]) if len(data["items"]) == PAGE else None
    params = {"q": q, "status": status, "cursor": p.get("cursor") if after else None}
    return web.page("products.html", q=q, status=status, params=params, next_cursor=nxt,
                    statuses=STATUSES, **data)  # fmt: skip


@router.get("/products/{product_id}")
def product_page(product_id: PathId, web: WebDep, request: Request) -> Response:
    p = request.query_params
    return _product(web, product_id, p.get)


def _product(web: Web, product_id: int, get: Any, policy: dict[str, Any] | None = None,
             status: int = 200) -> Response:  # fmt: skip
    """The product page; `policy` carries the policy form's values and errors when a set
    policy was refused."""
    wanted = int_or_none(get("variant"))
    location = int_or_none(get("location"))
    card_cursor = (get("card") or "")[:40] or None

    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        product = catalog.get_product(conn, actor, product_id)
        variants = product["variants"]
        chosen = next((v for v in variants if v["id"] == wanted), variants[0] if variants else None)
        if chosen is None:
            raise NotFound("this product has no variants")
        vid = chosen["id"]
        return {
            "product": product, "chosen": chosen,
            "stock": wq.stock_by_site(conn, actor, [v["id"] for v in variants]),
            "avail": queries.availability(conn, actor, variant_id=vid, location_id=location),
            "card": wq.stock_card(conn, actor, vid, location, 25, card_cursor),
            "series": wq.on_hand_series(conn, actor, vid),
            "projection": replenishment.projection(conn, actor, vid),
            "policies": replenishment.policies_for(conn, actor, chosen["sku"]),
            "names": wq.location_names(conn, actor),
            "locations": wq.internal_locations(conn, actor),
        }  # fmt: skip

    data = web.read(load, "catalog.read")
    chart = line_chart(data["series"], projection=data["projection"], label=qty,
                       title="On hand, last 90 days")  # fmt: skip
    params = {"variant": data["chosen"]["id"], "location": location}
    policy = policy or {"values": {"method": "minmax"}, "errors": {}}
    return web.page("product.html", status, chart=chart, params=params, location=location,
                    policy=policy, **data)  # fmt: skip


@router.post("/products/{product_id}/policies")
def set_policy(product_id: PathId, web: WebDep) -> Response:
    """Set (create or replace) the chosen variant's policy at a location from the panel."""
    sku = web.field("sku")[:64]
    values = replenishment.policy_values(web)
    done, errors = replenishment.put_policy(web, sku, values)
    variant = int_or_none(web.field("variant"))
    if done is None:
        get = {"variant": str(variant) if variant else None}.get
        return _product(web, product_id, get, {"values": values, "errors": errors}, 422)
    back = f"/products/{product_id}" + (f"?variant={variant}" if variant else "")
    return redirect(back + "#policies",
                    f"Policy set for {sku}: reorder point {qty(done['reorder_point'])}.",
                    web.request)  # fmt: skip
