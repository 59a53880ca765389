"""Orders: order requests to accept or decline before their deadline, orders by status, and
each order's timeline. Laid out as cards, so it works one-handed on a phone."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.domain.orders import OrderStatus
from hoop.entrypoints.web.common import PathId, Web, WebDep, page_cursor, redirect, web_router
from hoop.service import orders as orders_svc
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
PAGE = 20
STATUSES = [s.value for s in OrderStatus]


@router.get("/orders")
def order_list(web: WebDep, request: Request) -> Response:
    p = request.query_params
    status = p.get("status") if p.get("status") in STATUSES else None
    after = page_cursor(p.get("cursor"))

    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        items = orders_svc.list_orders(conn, actor, status, PAGE, after)
        lines = wq.order_line_summaries(conn, actor, [o["id"] for o in items])
        for o in items:
            o["lines"] = lines.get(o["id"], [])
        return {"items": items}

    data = web.read(load, "orders.read")
    items = data["items"]
    nxt = str(items[-1]["id"]) if len(items) == PAGE else None
    params = {"status": status, "cursor": p.get("cursor") if after else None}
    return web.page("orders.html", items=items, status=status, statuses=STATUSES,
                    params=params, next_cursor=nxt)  # fmt: skip


@router.get("/orders/{order_id}")
def order_page(order_id: PathId, web: WebDep) -> Response:
    order, names = web.read(
        lambda conn, actor: (orders_svc.get_order(conn, actor, order_id),
                             wq.location_names(conn, actor)),
        "orders.read",
    )  # fmt: skip
    return web.page("order.html", order=order, names=names)


def _back(web: Web, order_id: int) -> str:
    back = web.field("back")
    return back if back.startswith("/orders") and not back.startswith("//") else (
        f"/orders/{order_id}")  # fmt: skip


@router.post("/orders/{order_id}/accept")
def accept(order_id: PathId, web: WebDep) -> Response:
    web.write(lambda conn, actor: orders_svc.accept(conn, actor, order_id))
    return redirect(_back(web, order_id), f"Order #{order_id} accepted: the buyer is asked to pay.",
                    web.request)  # fmt: skip


@router.post("/orders/{order_id}/decline")
def decline(order_id: PathId, web: WebDep) -> Response:
    reason = web.field("reason")[:2000] or None
    web.write(lambda conn, actor: orders_svc.decline(conn, actor, order_id, reason))
    return redirect(_back(web, order_id), f"Order #{order_id} declined.", web.request)


@router.post("/orders/{order_id}/pickup")
def pickup(order_id: PathId, web: WebDep) -> Response:
    status = web.field("status")
    web.write(lambda conn, actor: orders_svc.pickup(conn, actor, order_id, status))
    return redirect(_back(web, order_id), f"Order #{order_id}: {status.replace('_', ' ')}.",
                    web.request)  # fmt: skip


@router.post("/orders/{order_id}/cancel")
def cancel(order_id: PathId, web: WebDep) -> Response:
    web.write(lambda conn, actor: orders_svc.cancel(conn, actor, order_id, None))
    return redirect(_back(web, order_id), f"Order #{order_id} cancelled.", web.request)
