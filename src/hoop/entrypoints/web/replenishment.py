"""Replenishment and purchasing pages: a placeholder until the replenishment service lands.

The hooks the rest of the web app already calls, so wiring it later touches only this module:
- `low_stock_alerts` feeds the dashboard's alert panel (`_low_stock.html`);
- `projection` feeds the dashed projected-on-hand line of a product's chart.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import Response
from sqlalchemy import Connection

from hoop.entrypoints.web.common import WebDep, web_router
from hoop.service.context import Actor

router = web_router()


def low_stock_alerts(conn: Connection, actor: Actor, limit: int = 8) -> list[dict[str, Any]]:
    """Open low-stock alerts for the dashboard, each {sku, product_id, location_code, available,
    incoming, reorder_point}. Empty until the replenishment service exists (it will call
    that service's open-alerts query)."""
    return []


def projection(conn: Connection, actor: Actor, variant_id: int) -> list[tuple[date, Decimal]]:
    """Projected on hand for the coming days (demand against incoming purchase orders and
    the reorder policy); drawn dashed after the history. Empty until replenishment exists."""
    return []


@router.get("/replenishment")
def replenishment_page(web: WebDep) -> Response:
    web.read(lambda conn, actor: None, "stock.read")
    return web.page("replenishment.html")
