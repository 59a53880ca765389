"""The dashboard: the figures and queues a user of any role starts the day with."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from sqlalchemy import Connection

from hoop.entrypoints.web import replenishment
from hoop.entrypoints.web.charts import line_chart
from hoop.entrypoints.web.common import WebDep, can, web_router
from hoop.entrypoints.web.render import money
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()


def _dashboard(conn: Connection, actor: Actor) -> dict[str, Any]:
    actor.require("stock.read")
    out: dict[str, Any] = {"totals": wq.stock_totals(conn, actor)}
    if can(actor, "reports.read"):
        out["series"] = wq.stock_value_series(conn, actor, 90, out["totals"]["value"])
    if can(actor, "orders.read"):
        out["requests"] = wq.open_order_requests(conn, actor)
    if can(actor, "documents.approve"):
        out["approvals"] = wq.awaiting_my_approval(conn, actor)
    out["alerts"] = replenishment.low_stock_alerts(conn, actor)
    out["moves"] = wq.recent_moves(conn, actor)
    out["locations"] = wq.location_names(conn, actor)
    return out


@router.get("/")
def dashboard(web: WebDep) -> Response:
    data = web.read(_dashboard)
    chart = None
    if "series" in data:
        cur = web.org["currency"]
        chart = line_chart(data["series"], label=lambda v: money(v, cur).split(".")[0],
                           title="Stock value, last 90 days")  # fmt: skip
    return web.page("dashboard.html", chart=chart, **data)
