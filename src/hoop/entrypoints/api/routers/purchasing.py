"""Purchasing: suppliers and their items, purchase orders, receipts against them, ASNs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api import schemas_purchasing as sp
from hoop.entrypoints.api.deps import CurrentActor, Page, PathId, ReadAs, UoW, dump, mutate, respond
from hoop.entrypoints.api.encoding import encode
from hoop.service import deliveries, purchasing, suppliers

router = APIRouter(tags=["purchasing"])
QId = Annotated[int | None, Query(ge=1, le=2**62)]
Sku = Annotated[str | None, Query(min_length=1, max_length=64)]


# ------------------------------------------------------------------ suppliers


@router.post("/suppliers", status_code=201, response_model=sp.SupplierOut)
def create_supplier(
    body: sp.SupplierIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """`currency` defaults to the org's."""
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: suppliers.create_supplier(conn, actor, dump(body)),
        201,
    )


@router.get("/suppliers", response_model=s.Page[sp.SupplierOut])
def list_suppliers(
    read: ReadAs, page: Page, active: Annotated[bool | None, Query()] = None
) -> JSONResponse:
    items = read(
        "purchasing.read",
        lambda conn, actor: suppliers.list_suppliers(conn, actor, page.limit, page.after, active),
    )
    return respond(page.page(items))


@router.get("/suppliers/{supplier_id}", response_model=sp.SupplierOut)
def get_supplier(supplier_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(read("purchasing.read", lambda c, a: suppliers.get_supplier(c, a, supplier_id)))


@router.patch("/suppliers/{supplier_id}", response_model=sp.SupplierOut)
def patch_supplier(
    supplier_id: PathId, body: sp.SupplierPatch, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: suppliers.update_supplier(conn, actor, supplier_id, dump(body)),
    )


# ------------------------------------------------------------------ supplier items


@router.post("/supplier-items", status_code=201, response_model=sp.SupplierItemOut)
def create_supplier_item(
    body: sp.SupplierItemIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """What a supplier sells us. A second item for the same supplier and variant is 409
    `duplicate_supplier_item`; `preferred: true` unsets the variant's other preferred item."""
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: suppliers.create_item(conn, actor, dump(body)),
        201,
    )


@router.get("/supplier-items", response_model=s.Page[sp.SupplierItemOut])
def list_supplier_items(
    read: ReadAs, page: Page, sku: Sku = None, supplier_id: QId = None
) -> JSONResponse:
    items = read(
        "purchasing.read",
        lambda conn, actor: suppliers.list_items(
            conn, actor, page.limit, page.after, sku, supplier_id
        ),
    )
    return respond(page.page(items))


@router.get("/supplier-items/{item_id}", response_model=sp.SupplierItemOut)
def get_supplier_item(item_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(read("purchasing.read", lambda c, a: suppliers.get_item(c, a, item_id)))


@router.patch("/supplier-items/{item_id}", response_model=sp.SupplierItemOut)
def patch_supplier_item(
    item_id: PathId, body: sp.SupplierItemPatch, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: suppliers.update_item(conn, actor, item_id, dump(body)),
    )


@router.delete("/supplier-items/{item_id}", status_code=204, response_class=Response)
def delete_supplier_item(item_id: PathId, actor: CurrentActor, uow: UoW) -> Response:
    uow.write(lambda conn: suppliers.delete_item(conn, actor, item_id))
    return Response(status_code=204)


# ------------------------------------------------------------------ purchase orders


@router.post("/purchase-orders", status_code=201, response_model=sp.PurchaseOrderOut)
def create_purchase_order(
    body: sp.PurchaseOrderIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """A draft. `unit_price` defaults from the supplier item (422 `unit_price_required` when
    there is none); `location_id` defaults to the org's default shipping location, else its
    first warehouse."""
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: purchasing.create_purchase_order(conn, actor, dump(body)),
        201,
    )


@router.get("/purchase-orders", response_model=s.Page[sp.PurchaseOrderSummary])
def list_purchase_orders(
    read: ReadAs,
    page: Page,
    status: Annotated[sp.POStatus | None, Query()] = None,
    supplier_id: QId = None,
) -> JSONResponse:
    """Newest first."""
    items = read(
        "purchasing.read",
        lambda conn, actor: purchasing.list_purchase_orders(
            conn, actor, status, supplier_id, page.limit, page.after
        ),
    )
    return respond(page.page(items))


@router.get("/purchase-orders/{po_id}", response_model=sp.PurchaseOrderOut)
def get_purchase_order(po_id: PathId, read: ReadAs) -> JSONResponse:
    """Lines with qty, received_qty and open_qty; the order's ASNs and receipts."""
    return respond(read("purchasing.read", lambda c, a: purchasing.get_purchase_order(c, a, po_id)))


def _command(name: str, doc: str):  # type: ignore[no-untyped-def]
    def handler(po_id: PathId, actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
        fn = getattr(purchasing, name)
        return mutate(request, uow, actor.org_id, None, lambda conn: fn(conn, actor, po_id))

    handler.__name__ = f"{name}_purchase_order"
    handler.__doc__ = doc
    return handler


for _name, _doc in (
    ("send", "draft -> sent."),
    ("cancel", "draft or sent with nothing received -> cancelled (a partly received order "
               "is closed short instead: 409 invalid_state)."),
    ("close", "partially_received -> received with `closed_short: true`; open lines closed."),
):  # fmt: skip
    router.add_api_route(
        f"/purchase-orders/{{po_id}}/{_name}",
        _command(_name, _doc),  # type: ignore[arg-type]
        methods=["POST"],
        response_model=sp.PurchaseOrderOut,
        name=f"{_name}_purchase_order",
    )


@router.post("/purchase-orders/{po_id}/receive", status_code=201, response_model=sp.ReceiveOut)
def receive(
    po_id: PathId, body: sp.ReceiveIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """Receipt documents against the order's lines (one per destination), or the lines of
    `asn_id` when no lines are given. More than a line has open: 409 `over_receipt`."""
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: deliveries.receive(conn, actor, po_id, dump(body)),
        201,
    )


# ------------------------------------------------------------------ ASNs


@router.post("/purchase-orders/{po_id}/asns", status_code=201, response_model=sp.AsnOut)
def create_asn(
    po_id: PathId, body: sp.AsnIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """The supplier announces a delivery: each line at most the order line's open qty."""
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: deliveries.create_asn(conn, actor, po_id, dump(body)),
        201,
    )


@router.get("/asns", response_model=s.Page[sp.AsnOut])
def list_asns(
    read: ReadAs,
    page: Page,
    status: Annotated[sp.AsnStatus | None, Query()] = None,
    purchase_order_id: QId = None,
) -> JSONResponse:
    """Expected arrivals ordered by arrival window (unknown windows last). The cursor is an
    offset into that order."""
    offset = page.after or 0
    items = read(
        "purchasing.read",
        lambda conn, actor: deliveries.list_asns(
            conn, actor, status, page.limit, offset, purchase_order_id
        ),
    )
    nxt = str(offset + page.limit) if len(items) == page.limit else None
    return respond({"items": encode(items), "next_cursor": nxt})


@router.get("/asns/{asn_id}", response_model=sp.AsnOut)
def get_asn(asn_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(read("purchasing.read", lambda c, a: deliveries.get_asn(c, a, asn_id)))


@router.get("/asns/{asn_id}/receipt", response_model=sp.AsnReceiptOut)
def asn_receipt(asn_id: PathId, read: ReadAs) -> JSONResponse:
    """The receipt lines this ASN prefills (each capped at what is still open)."""
    return respond(read("purchasing.read", lambda c, a: deliveries.asn_receipt(c, a, asn_id)))
