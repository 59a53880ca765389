"""Marketplace orders: placing, the seller's decision, payment, cancellation, pickup."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api import schemas_orders as so
from hoop.entrypoints.api.deps import (
    Page,
    PathId,
    ReadAs,
    WriteAs,
    body_of,
    documented_body,
    dump,
    in_thread,
    respond,
    writer_of,
)  # fmt: skip
from hoop.service import orders

router = APIRouter(tags=["orders"])


@router.post(
    "/orders", status_code=201, response_model=so.OrderOut,
    openapi_extra=documented_body(so.OrderIn),
)  # fmt: skip
async def place_order(request: Request) -> JSONResponse:
    """Confirmed at once (stock reserved) when every line is in stock; otherwise an order
    request (`pending_seller`) the seller must answer by `respond_by`."""
    write = await writer_of(request)  # the busiest route: no dependency injection (deps)
    body = await body_of(request, so.OrderIn)
    data = dump(body)
    if write.idempotency_key is None:  # no response to store with it: no transaction around it
        place = orders.place_order_statementwise
        return await in_thread(
            request, lambda: respond(place(write.uow, write.token, data, write.seen), 201)
        )
    return await in_thread(
        request, lambda: write(body, lambda conn, actor: orders.place_order(conn, actor, data), 201)
    )


# Served ahead of the router's own routes (entrypoints/api/app._api): the same endpoint as a
# plain Starlette route skips FastAPI's request handler (dependency solving with nothing to
# solve, response-model bookkeeping), ~10% of the server's CPU samples in a burst of orders.
# The route above still documents it in /openapi.json.
fast_routes = [Route("/orders", place_order, methods=["POST"])]


@router.get("/orders", response_model=s.Page[so.OrderSummary])
def list_orders(
    read: ReadAs, page: Page, status: Annotated[so.Status | None, Query()] = None
) -> JSONResponse:
    items = read(
        "orders.read",
        lambda conn, actor: orders.list_orders(conn, actor, status, page.limit, page.after),
    )
    return respond(page.page(items))


@router.get("/orders/{order_id}", response_model=so.OrderOut)
def get_order(order_id: PathId, read: ReadAs) -> JSONResponse:
    """The order with its lines, reservations, pickup and timeline."""
    return respond(read("orders.read", lambda conn, actor: orders.get_order(conn, actor, order_id)))


@router.post("/orders/{order_id}/accept", response_model=so.OrderOut)
def accept(order_id: PathId, write: WriteAs) -> JSONResponse:
    return write(None, lambda conn, actor: orders.accept(conn, actor, order_id))


@router.post("/orders/{order_id}/pay", response_model=so.OrderOut)
def pay(order_id: PathId, write: WriteAs) -> JSONResponse:
    return write(None, lambda conn, actor: orders.pay(conn, actor, order_id))


@router.post("/orders/{order_id}/decline", response_model=so.OrderOut)
def decline(order_id: PathId, write: WriteAs, body: so.ReasonIn | None = None) -> JSONResponse:
    reason = dump(body).get("reason") if body else None
    return write(body, lambda conn, actor: orders.decline(conn, actor, order_id, reason))


@router.post("/orders/{order_id}/cancel", response_model=so.OrderOut)
def cancel(order_id: PathId, write: WriteAs, body: so.ReasonIn | None = None) -> JSONResponse:
    reason = dump(body).get("reason") if body else None
    return write(body, lambda conn, actor: orders.cancel(conn, actor, order_id, reason))


@router.post("/orders/{order_id}/pickup", response_model=so.OrderOut)
def pickup(order_id: PathId, body: so.PickupIn, write: WriteAs) -> JSONResponse:
    """`picked_up` posts the shipment (reserved units, the rest from `untracked`);
    `delivered` closes the order."""
    return write(body, lambda conn, actor: orders.pickup(conn, actor, order_id, body.status))
